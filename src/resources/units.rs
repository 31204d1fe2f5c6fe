//! docker's units: sizes (`64m`, `1.5g`, `512k`: go-units' RAMInBytes,
//! binary multiples) and CPU counts (`1.5`: a rational number of CPUs,
//! stored as nano-CPUs), with docker's error texts.

/// go-units RAMInBytes: a decimal number, then an optional b, k, m, g, t or
/// p (any case, optionally followed by `b`/`ib`), 1024-based.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') && num.len() == 1 {
        return Err(invalid());
    }
    let n: f64 = num.parse().map_err(|_| invalid())?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(&unit);
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(invalid()),
    };
    let bytes = n * mult;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as i64)
}

/// docker's NanoCPUs: a rational number of CPUs times 10^9, which must come
/// out whole ("1.5" is 1500000000; "0.0000000001" is too precise).
pub fn nano_cpus(s: &str) -> Result<i64, String> {
    let bad = || format!("failed to parse {s} as a rational number");
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > 9 {
        return Err("value is too precise".into());
    }
    let whole: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    whole
        .checked_mul(1_000_000_000)
        .and_then(|w| w.checked_add(frac_nanos))
        .ok_or_else(bad)
}

/// Bytes the way a person would have typed them (`33554432` → `32m`).
pub fn human_bytes(b: i64) -> String {
    for (unit, size) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if b >= size && b % size == 0 {
            return format!("{}{unit}", b / size);
        }
    }
    b.to_string()
}

/// Nano-CPUs back as docker prints a CPU count (`500000000` → `0.5`).
pub fn human_cpus(nano: i64) -> String {
    let whole = nano / 1_000_000_000;
    let frac = nano % 1_000_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let f = format!("{frac:09}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// A CPU or memory-node list as cpuset takes it (`0-2,4`), expanded;
/// None when it is not one.
pub fn parse_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_reads_them() {
        assert_eq!(ram_in_bytes("32m"), Ok(33554432));
        assert_eq!(ram_in_bytes("64M"), Ok(67108864));
        assert_eq!(ram_in_bytes("512k"), Ok(524288));
        assert_eq!(ram_in_bytes("1.5g"), Ok(1610612736));
        assert_eq!(ram_in_bytes("64mb"), Ok(67108864));
        assert_eq!(ram_in_bytes("100"), Ok(100));
        assert_eq!(ram_in_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(ram_in_bytes("64x"), Err("invalid size: '64x'".into()));
        assert!(ram_in_bytes("m").is_err());
        assert!(ram_in_bytes("").is_err());
        assert!(ram_in_bytes("-1").is_err());
    }

    #[test]
    fn cpus_as_docker_reads_them() {
        assert_eq!(nano_cpus("0.5"), Ok(500_000_000));
        assert_eq!(nano_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("2"), Ok(2_000_000_000));
        assert_eq!(nano_cpus(".25"), Ok(250_000_000));
        assert_eq!(
            nano_cpus("abc"),
            Err("failed to parse abc as a rational number".into())
        );
        assert_eq!(
            nano_cpus("0.0000000001"),
            Err("value is too precise".into())
        );
        assert_eq!(human_cpus(500_000_000), "0.5");
        assert_eq!(human_cpus(2_000_000_000), "2");
        assert_eq!(human_bytes(33554432), "32m");
        assert_eq!(human_bytes(1000), "1000");
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_list("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert_eq!(parse_list("1"), Some(vec![1]));
        assert_eq!(parse_list("a"), None);
        assert_eq!(parse_list("2-1"), None);
    }
}
