//! Where the program's work began, as a site's series can tell it: what the site held then
//! (what it loaded in the prologue) and its iteration ends after, for [`crate::quiet`].

use crate::growth;
use crate::memory::SiteKey;
use crate::model::Source;
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
