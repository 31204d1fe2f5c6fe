//! Output as docker prints it: tab-aligned tables (min width 10, padding 3),
//! human durations ("About a minute", "3 days") and sizes ("4.26MB").

use std::io::Write;

/// A table laid out like docker's tabwriter: each column as wide as its widest
/// cell plus three spaces (at least ten), the last column unpadded.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|s| s.to_string()).collect()],
        }
    }
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    pub fn render(&self) -> String {
        format_table(&self.rows)
    }
    pub fn print(&self) {
        let _ = std::io::stdout().write_all(self.render().as_bytes());
    }
}

/// Lay out rows like docker's tabwriter (min width 10, padding 3); the last
/// column is not padded.
pub fn format_table(rows: &[Vec<String>]) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count() + 3).max(10);
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// go-units' HumanDuration, which docker uses for CREATED and STATUS.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let minutes = s / 60;
    let hours = ((s as f64) / 3600.0 + 0.5) as i64;
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// Seconds from an RFC 3339 time until now (0 if unparsable).
pub fn seconds_since(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| (crate::clock::now() - t.with_timezone(&chrono::Utc)).num_seconds())
        .unwrap_or(0)
}

/// "3 minutes ago", as docker's CREATED column ("N/A" for an unreadable time).
pub fn ago(rfc3339: &str) -> String {
    ago_at(rfc3339, crate::clock::now())
}

/// `ago` as seen at `now` (for tests).
pub fn ago_at(rfc3339: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => format!(
            "{} ago",
            human_duration(
                now.signed_duration_since(t.with_timezone(&chrono::Utc))
                    .num_seconds()
            )
        ),
        Err(_) => "N/A".to_string(),
    }
}

/// go-units' HumanSize as docker's CLI uses it: 1000-based units, three
/// significant digits ("4.26MB", "1.2kB", "0B").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let mut text = three_significant(value);
    // 999.95kB rounds to "1000kB": carry into the next unit instead.
    if text == "1000" && unit < UNITS.len() - 1 {
        unit += 1;
        text = "1".into();
    }
    format!("{text}{}", UNITS[unit])
}

/// Go's "%.3g" for 0 <= v < 1000: three significant digits, no trailing zeros.
fn three_significant(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let int_digits = if value < 1.0 {
        1
    } else {
        (value.log10().floor() as usize) + 1
    };
    let decimals = 3usize.saturating_sub(int_digits);
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(61), "About a minute");
        assert_eq!(human_duration(3 * 60), "3 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            ago_at("2024-01-01T00:08:00.123Z", now),
            "About a minute ago"
        );
        assert_eq!(ago_at("not a time", now), "N/A");
    }

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1200), "1.2kB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234_567_890), "1.23GB");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(187_000_000), "187MB");
        assert_eq!(human_size(999_999), "1MB");
        assert_eq!(human_size(12_345), "12.3kB");
    }

    #[test]
    fn table_matches_docker_layout() {
        let mut t = Table::new(&["CONTAINER ID", "IMAGE", "COMMAND", "PORTS", "NAMES"]);
        t.row(vec![
            "container_id".into(),
            "busybox:latest".into(),
            "\"top\"".into(),
            "".into(),
            "c1".into(),
        ]);
        let text = t.render();
        assert_eq!(
            text,
            "CONTAINER ID   IMAGE            COMMAND   PORTS     NAMES\ncontainer_id   busybox:latest   \"top\"               c1\n"
        );
    }
}
