//! The tables' rows built from a replay: the live allocations, the iterations, and a site's
//! live bytes at each iteration's end.

use gpuleak_analysis::{AutoIterations, LiveAlloc, Replay, Site, SiteKey, growth};
use gpuleak_trace::MemoryKind;

use crate::findings::IterationSource;
use crate::tui::follow::Mark;

/// The records that start iterations, as the report counts them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boundary {
    /// gpuleak_mark_iteration markers.
    Marker,
    /// The launches at these positions (launches before each), ascending.
    Launch(Vec<u64>),
    /// Pushes and starts of one NVTX range.
    Range {
        domain: Option<String>,
        name: String,
    },
}

/// One live allocation, as the allocations table lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocRow {
    pub address: u64,
    pub size: u64,
    pub kind: MemoryKind,
    pub seq: u64,
    pub stack: u32,
    pub device: i32,
}

/// The replay's key of a report's site.
pub fn site_key(site: &Site) -> SiteKey {
    SiteKey {
        stack: site.stack_id,
        kind: site.memory,
        device: site.device.unwrap_or(gpuleak_trace::NO_DEVICE),
    }
}

/// The live set of a replay, largest first (oldest first among equals).
pub fn alloc_rows(replay: &Replay) -> Vec<AllocRow> {
    let row = |address: u64, a: &LiveAlloc| AllocRow {
        address,
        size: a.size,
        kind: a.kind(),
        seq: a.seq,
        stack: a.stack,
        device: a.device,
    };
    let mut rows: Vec<AllocRow> = replay
        .live()
        .iter()
        .map(|(&(_, address), a)| row(address, a))
        .chain(
            replay
                .mappings()
                .iter()
                .chain(replay.reservations())
                .map(|(&address, a)| row(address, a)),
        )
        .collect();
    rows.sort_unstable_by_key(|r| (std::cmp::Reverse(r.size), r.seq));
    rows
}

/// One iteration's device memory: allocated, freed, net change, live at its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IterRow {
    pub index: u64,
    /// `None` where only the live figure is known (time windows, or past the launches or NVTX
    /// openings whose figures are kept).
    pub allocated: Option<u64>,
    pub freed: Option<u64>,
    pub net: i64,
    pub live_end: u64,
}

/// The iteration (0-based, as `bounds` start them) during which event `seq` happened; `None`
/// before the first.
pub fn iteration_of_seq(bounds: &[Mark], seq: u64) -> Option<u64> {
    let n = bounds.partition_point(|m| m.seq <= seq);
    (n > 0).then(|| n as u64 - 1)
}

/// Per iteration: from the device figures where each starts, where known (allocated, freed and
/// net), else from the live series alone (net only).
pub fn iteration_rows(
    bounds: &[Mark],
    partial: bool,
    series: &[u64],
    replay: &Replay,
) -> Vec<IterRow> {
    let d = replay.gpu();
    let now = Mark {
        time_ns: 0,
        seq: 0,
        allocated: d.bytes_allocated,
        live: d.live_bytes,
    };
    let count = if bounds.is_empty() || partial {
        series.len().max(bounds.len())
    } else {
        bounds.len()
    };
    (0..count)
        .map(|i| {
            let end = match bounds.get(i + 1) {
                Some(next) => Some(next),
                None if !partial && i + 1 == bounds.len() => Some(&now),
                None => None,
            };
            if let (Some(start), Some(end)) = (bounds.get(i), end) {
                let allocated = end.allocated.saturating_sub(start.allocated);
                let net = end.live as i64 - start.live as i64;
                return IterRow {
                    index: i as u64,
                    allocated: Some(allocated),
                    freed: Some((allocated as i64 - net).max(0) as u64),
                    net,
                    live_end: end.live,
                };
            }
            let live = series.get(i).copied().unwrap_or(0);
            let before = match i {
                0 => 0,
                _ => series.get(i - 1).copied().unwrap_or(0),
            };
            IterRow {
                index: i as u64,
                allocated: None,
                freed: None,
                net: live as i64 - before as i64,
                live_end: live,
            }
        })
        .collect()
}

/// A site's live bytes at the end of each iteration, as the report's iterations count them.
pub fn site_ends(
    replay: &Replay,
    source: Option<IterationSource>,
    range_index: Option<usize>,
    auto: Option<&AutoIterations>,
    key: &SiteKey,
    live_now: u64,
) -> Vec<u64> {
    let Some(series) = replay.site_series(key) else {
        return Vec::new();
    };
    match source {
        Some(IterationSource::Marker) => growth::iteration_ends(&series.at_markers, live_now),
        Some(IterationSource::Nvtx) => range_index
            .and_then(|i| series.at_ranges.get(i))
            .map_or_else(Vec::new, |b| growth::iteration_ends(&b.at, live_now)),
        Some(IterationSource::Auto) => auto
            .and_then(|a| a.series.get(key))
            .map(|s| growth::iteration_ends(&s.at, live_now))
            .unwrap_or_default(),
        Some(IterationSource::Time) | None => {
            let mut ends = series.at_windows.clone();
            ends.push(live_now);
            ends
        }
    }
}
