//! How long a walk may run and how many objects it may visit.

use std::sync::OnceLock;

/// The walk's caps: seconds (`GPULEAK_HOLDERS_SECONDS`, 2 by default) and objects visited
/// (`GPULEAK_HOLDERS_OBJECTS`, 5,000,000).
pub fn caps() -> (f64, u64) {
    static CAPS: OnceLock<(f64, u64)> = OnceLock::new();
    *CAPS.get_or_init(|| {
        let seconds = std::env::var("GPULEAK_HOLDERS_SECONDS")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(2.0);
        let objects = std::env::var("GPULEAK_HOLDERS_OBJECTS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(5_000_000);
        (seconds, objects)
    })
}
