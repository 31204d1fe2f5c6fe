//! What time it is for this glassbox process: the real clock, or the
//! simulated host's clock when the process works on the simulated host.
//!
//! The simulated clock follows the real one (a container made two seconds
//! ago was made two seconds ago) plus the time the simulation itself made
//! pass (`stop -t 10` of a container that ignores SIGTERM moves it ten
//! seconds on without waiting for them). `GLASSBOX_SIM_CLOCK=SECS[+STEP]`
//! pins it for tests: it starts at SECS since the epoch and each simulated
//! command moves it STEP seconds on, so snapshots repeat exactly.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

struct Simulated {
    /// A pinned base instant (ms since the epoch) instead of the real clock.
    pinned_ms: Option<u64>,
    /// Time the simulation made pass beyond the base.
    skew_ms: AtomicU64,
}

static SIMULATED: OnceLock<Simulated> = OnceLock::new();

/// A pinned clock from `GLASSBOX_SIM_CLOCK`: (base ms, step ms per command).
pub fn pinned_from_env() -> Option<(u64, u64)> {
    let v = std::env::var("GLASSBOX_SIM_CLOCK").ok()?;
    let (base, step) = v.split_once('+').unwrap_or((&v, "0"));
    let base: f64 = base.trim().parse().ok()?;
    let step: f64 = step.trim().parse().ok()?;
    Some(((base * 1000.0) as u64, (step * 1000.0) as u64))
}

/// Make this process tell the simulated host's time from now on.
pub fn use_simulated(pinned_ms: Option<u64>, skew_ms: u64) {
    let s = SIMULATED.get_or_init(|| Simulated {
        pinned_ms,
        skew_ms: AtomicU64::new(skew_ms),
    });
    s.skew_ms.store(skew_ms, Ordering::SeqCst);
}

/// Whether this process tells simulated time.
pub fn is_simulated() -> bool {
    SIMULATED.get().is_some()
}

/// Whether the simulated clock is pinned: it moves only when the
/// simulation makes time pass, never by itself.
pub fn is_pinned() -> bool {
    SIMULATED.get().is_some_and(|s| s.pinned_ms.is_some())
}

/// The simulated skew changed (another command of ours moved the clock).
pub fn set_skew(skew_ms: u64) {
    if let Some(s) = SIMULATED.get() {
        s.skew_ms.store(skew_ms, Ordering::SeqCst);
    }
}

fn real_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the epoch, real or simulated.
pub fn now_ms() -> u64 {
    match SIMULATED.get() {
        Some(s) => s.pinned_ms.unwrap_or_else(real_ms) + s.skew_ms.load(Ordering::SeqCst),
        None => real_ms(),
    }
}

/// The current time, real or simulated.
pub fn now() -> DateTime<Utc> {
    at(now_ms())
}

/// A time in ms since the epoch.
pub fn at(ms: u64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms as i64)
        .single()
        .unwrap_or_else(Utc::now)
}

/// RFC 3339 with nanoseconds, as records and logs carry times.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `now()` as RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339(now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_clock_parses_base_and_step() {
        std::env::set_var("GLASSBOX_SIM_CLOCK", "1767225600+2.5");
        assert_eq!(pinned_from_env(), Some((1_767_225_600_000, 2_500)));
        std::env::remove_var("GLASSBOX_SIM_CLOCK");
    }
}
