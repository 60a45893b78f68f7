//! Which verdicts are findings: a site judged a plateau or a sawtooth is not one when its memory
//! was loaded before the work began and held since (a model's weights), or when it is too small
//! to matter ([`Quiet`]). The one definition every list of findings asks (text, HTML, live view).

use serde::Serialize;

use crate::growth::Verdict;
use crate::thresholds::{FLAT_TOLERANCE_DIVISOR, NEGLIGIBLE_DEVICE_SHARE, NEGLIGIBLE_PEAK_SHARE};

/// Why a site whose verdict would be a finding is not one (`sites[].quiet` in the JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quiet {
    /// Allocated before the work began (the program's prologue: loading a model) and no more
    /// than that since: loading is not a finding.
    Loaded,
    /// A negligible share of the device and of the process's peak.
    Negligible,
}

impl Quiet {
    /// The name the JSON report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Quiet::Loaded => "loaded",
            Quiet::Negligible => "negligible",
        }
    }

    /// Why it is not a finding, in words ("loaded before the work began, held since").
    pub fn reason(self) -> &'static str {
        match self {
            Quiet::Loaded => "loaded before the work began, held since",
            Quiet::Negligible => "too small to matter",
        }
    }
}

/// A site's memory as the rule reads it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SiteMemory<'a> {
    /// The site's verdict.
    pub verdict: Option<Verdict>,
    /// Its live bytes where the work began ([`crate::report::site_loaded_bytes`]); `None` when
    /// the trace cannot tell where that was.
    pub loaded: Option<u64>,
    /// Its live bytes at each judged iteration end after the work began.
    pub after: &'a [u64],
    /// The most it held (at an iteration's end, or now).
    pub peak: u64,
}

/// The process's device memory, for what is negligible beside it.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeviceMemory {
    /// The device's total memory, when the trace knows it.
    pub total: Option<u64>,
    /// The process's peak of live device memory.
    pub peak: u64,
}

/// Why `site` is not a finding though its verdict is one; `None` when it is a finding (or its
/// verdict is none). A leak is always a finding: what it holds has no bound.
pub fn quiet(site: SiteMemory, device: DeviceMemory) -> Option<Quiet> {
    if !matches!(site.verdict, Some(Verdict::Plateau | Verdict::Sawtooth)) {
        return None;
    }
    if site
        .loaded
        .is_some_and(|l| held_since_loading(l, site.after))
    {
        return Some(Quiet::Loaded);
    }
    negligible(site.peak, device).then_some(Quiet::Negligible)
}

/// The site held memory when the work began and never more than that since (within the
/// tolerance a flat series has): what it grew, it grew while loading.
fn held_since_loading(loaded: u64, after: &[u64]) -> bool {
    let tol = loaded / FLAT_TOLERANCE_DIVISOR;
    loaded > 0 && after.iter().all(|&v| v <= loaded.saturating_add(tol))
}

/// `peak` bytes are under both shares (of the device, when its total is known, and of the
/// process's peak).
fn negligible(peak: u64, device: DeviceMemory) -> bool {
    let of_device = device
        .total
        .is_none_or(|t| (peak as f64) < NEGLIGIBLE_DEVICE_SHARE * t as f64);
    of_device && (peak as f64) < NEGLIGIBLE_PEAK_SHARE * device.peak as f64
}

/// Whether a site with this verdict and this quiet reason is a finding.
pub fn is_finding(verdict: Option<Verdict>, quiet: Option<Quiet>) -> bool {
    quiet.is_none() && matches!(verdict, Some(v) if v != Verdict::Steady)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn plateau(loaded: Option<u64>, after: &[u64], peak: u64) -> SiteMemory<'_> {
        SiteMemory {
            verdict: Some(Verdict::Plateau),
            loaded,
            after,
            peak,
        }
    }

    const DEVICE: DeviceMemory = DeviceMemory {
        total: Some(4 * GIB),
        peak: 3 * GIB,
    };

    #[test]
    fn weights_loaded_before_the_work_and_held_are_loaded() {
        let after = [64 * MIB; 10];
        let site = plateau(Some(64 * MIB), &after, 64 * MIB);
        assert_eq!(quiet(site, DEVICE), Some(Quiet::Loaded));
    }

    #[test]
    fn a_plateau_that_grew_after_the_work_began_is_a_finding() {
        let after = [0, 32 * MIB, 64 * MIB, 64 * MIB, 64 * MIB];
        assert_eq!(quiet(plateau(Some(0), &after, 64 * MIB), DEVICE), None);
        let after = [32 * MIB, 64 * MIB, 64 * MIB, 64 * MIB];
        assert_eq!(
            quiet(plateau(Some(32 * MIB), &after, 64 * MIB), DEVICE),
            None
        );
    }

    #[test]
    fn a_leak_is_never_quiet_however_small_or_early() {
        let after = [616, 616, 616];
        let site = SiteMemory {
            verdict: Some(Verdict::Leak),
            ..plateau(Some(616), &after, 616)
        };
        assert_eq!(quiet(site, DEVICE), None);
    }

    #[test]
    fn six_hundred_bytes_beside_gigabytes_are_negligible_but_not_beside_kilobytes() {
        let after = [0, 616, 616, 616];
        assert_eq!(
            quiet(plateau(Some(0), &after, 616), DEVICE),
            Some(Quiet::Negligible)
        );
        let small = DeviceMemory {
            total: Some(4 * GIB),
            peak: 8 << 10,
        };
        assert_eq!(quiet(plateau(Some(0), &after, 616), small), None);
    }

    #[test]
    fn quiet_sites_and_steady_ones_are_not_findings() {
        assert!(is_finding(Some(Verdict::Plateau), None));
        assert!(!is_finding(Some(Verdict::Plateau), Some(Quiet::Loaded)));
        assert!(!is_finding(Some(Verdict::Steady), None));
        assert!(!is_finding(None, None));
    }
}
