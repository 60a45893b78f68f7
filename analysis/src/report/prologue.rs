//! Where the program's work began, as a site's series can tell it: what the site held then
//! (what it loaded in the prologue) and its iteration ends after; and from them, against its
//! device, whether the site is quiet ([`crate::quiet`]).

use crate::growth;
use crate::memory::SiteKey;
use crate::model::{DeviceFigures, Source};
use crate::replay::Replay;

use super::clock::Clock;

/// A site's live bytes where the work began, and at each judged iteration end after.
pub(super) struct SinceStart {
    pub(super) loaded: u64,
    pub(super) after: Vec<u64>,
}

impl Clock {
    /// Where the work began for `key`: at the first iteration's start for markers, NVTX ranges
    /// and the launch sequence; over time windows, at the end of the window the steps began in
    /// (a window is the finest the series tells, so that window counts as the prologue's).
    /// `None` for sites with no series, or time windows in a trace with no launch.
    pub(super) fn since_start(
        &self,
        replay: &Replay,
        key: &SiteKey,
        live_now: u64,
    ) -> Option<SinceStart> {
        let series = replay.site_series(key)?;
        let ends = self.ends(replay, key, live_now)?;
        let (loaded, after) = match self.source? {
            Source::Marker => (series.at_markers.first().copied().unwrap_or(0), &ends[..]),
            Source::Nvtx => {
                let b = series.at_ranges.get(self.range?);
                (
                    b.and_then(|b| b.at.first()).copied().unwrap_or(0),
                    &ends[..],
                )
            }
            Source::Auto => {
                let s = self.auto.as_ref()?.series.get(key);
                (
                    s.and_then(|s| s.at.first()).copied().unwrap_or(0),
                    &ends[..],
                )
            }
            Source::Time => {
                let began = replay.steps_begin_ns()?;
                let k = (began.saturating_sub(self.start_ns) / self.width_ns.max(1)) as usize;
                let k = k.min(ends.len().checked_sub(1)?);
                (ends[k], &ends[k + 1..])
            }
        };
        let after = growth::judged_ends(after, 0, self.last_point(replay)).to_vec();
        Some(SinceStart { loaded, after })
    }
}

/// Why a site is not a finding ([`crate::quiet`]), against its own device's total and peak.
pub(super) fn quiet_of(
    replay: &Replay,
    clock: &Clock,
    per_device: &[DeviceFigures],
    key: &SiteKey,
    live_now: u64,
    judged: Option<crate::growth::Judgement>,
    since: &Option<SinceStart>,
) -> Option<crate::quiet::Quiet> {
    let own = per_device.iter().find(|d| d.ordinal == key.device);
    let peak = clock
        .ends(replay, key, live_now)
        .unwrap_or_default()
        .into_iter()
        .chain([live_now])
        .max()
        .unwrap_or(0);
    crate::quiet::quiet(
        crate::quiet::SiteMemory {
            verdict: judged.map(|j| j.verdict),
            loaded: since.as_ref().map(|s| s.loaded),
            after: since.as_ref().map_or(&[], |s| &s.after),
            peak,
        },
        crate::quiet::DeviceMemory {
            total: own
                .and_then(|d| d.total_bytes)
                .or(replay.device_total_bytes()),
            peak: own.map_or(replay.gpu_peak_live_bytes(), |d| d.peak_live_bytes),
        },
    )
}
