//! What a replay keeps and hands out: live allocations, running totals, pool and site figures,
//! out-of-memory failures, NVTX ranges, series at iteration boundaries, frames, and the
//! address space the module records describe.

use std::collections::BTreeMap;

use gpuleak_trace::{Api, MemInfo, MemoryKind};
use serde::Serialize;

use crate::memory::{MemoryClass, SiteKey};
pub use crate::thresholds::{
    MAX_RANGES, OOM_ANATOMIES, OOM_GROUPS, OOM_SITES, RETRY_WINDOW_EVENTS, TIME_WINDOWS,
};

/// An allocation handed to the program and not yet given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveAlloc {
    pub size: u64,
    pub stack: u32,
    pub api: Api,
    pub seq: u64,
    /// The device ordinal it was allocated on (`NO_DEVICE` for host memory or when unknown).
    pub device: i32,
    /// The second handle its event carried: for a mapping, the physical memory's handle, which
    /// tells whose memory a holder inside the mapping is.
    pub aux: u64,
    /// When it was made, on each clock a report may read iterations from: kernel launches and
    /// iteration markers seen before it, and its time (an NVTX range's openings are placed by
    /// `seq`). An out-of-memory report splits the device by age with them.
    pub launches: u64,
    pub markers: u64,
    /// NVTX range openings seen before it, of every range.
    pub openings: u64,
    pub time_ns: u64,
}

impl LiveAlloc {
    pub fn kind(&self) -> MemoryKind {
        self.api.memory()
    }
}

/// Running figures for one memory class or kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Successful allocations.
    pub allocations: u64,
    /// Allocations the trace saw made that a successful free gave back (an unmap covering several
    /// mappings gives back each).
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub live_bytes: u64,
    pub live_allocations: u64,
    pub peak_live_bytes: u64,
}

impl Totals {
    pub(crate) fn allocated(&mut self, size: u64) {
        self.allocations += 1;
        self.bytes_allocated = self.bytes_allocated.saturating_add(size);
        self.live_bytes = self.live_bytes.saturating_add(size);
        self.live_allocations += 1;
        self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
    }

    /// `counted_free`: a free gave it back (not an allocation at its address replacing it).
    pub(crate) fn released(&mut self, size: u64, counted_free: bool) {
        self.live_bytes = self.live_bytes.saturating_sub(size);
        self.live_allocations = self.live_allocations.saturating_sub(1);
        if counted_free {
            self.frees += 1;
        }
    }
}

/// What the trace says about memory pools. Pools keep what async frees return (PyTorch sets the
/// release threshold to the maximum), so these are "reserved", never "live".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes of allocations freed with cudaFreeAsync/cuMemFreeAsync: handed back to a pool, not
    /// necessarily to the device.
    pub returned_bytes: u64,
    /// Those frees.
    pub returned_frees: u64,
    /// Successful cuMemPoolTrimTo calls.
    pub trims: u64,
    /// The pool's reserved bytes after the last successful cuMemPoolTrimTo as the driver reported
    /// them; `None` before any trim or when the hook could not ask.
    pub last_trim_reserved_bytes: Option<u64>,
    /// The last release threshold set with cuMemPoolSetAttribute; `None` when never set.
    pub release_threshold_bytes: Option<u64>,
    /// Successful cuDeviceGraphMemTrim calls (the device's graph memory pool).
    pub graph_trims: u64,
    /// What all pools held from the device when last sampled (each stream-ordered allocation and
    /// each trim samples its pool), summed over pools; and the highest that sum was.
    pub reserved_bytes: u64,
    pub peak_reserved_bytes: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SiteStats {
    pub allocations: u64,
    pub bytes_allocated: u64,
    /// Frees of allocations made here, wherever the free was called from.
    pub frees: u64,
    pub failed_allocations: u64,
    pub live_bytes: u64,
    pub live_allocations: u64,
}

/// An allocation that failed for lack of memory, with what was live when it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OomEvent {
    pub seq: u64,
    pub time_ns: u64,
    pub api: Api,
    pub class: MemoryClass,
    pub requested_bytes: u64,
    /// Live bytes of the same memory class the trace accounts for at the moment of failure;
    /// device and physical memory together for either.
    pub live_bytes: u64,
    pub mem_info: Option<MemInfo>,
    pub stack: u32,
    /// Iteration markers seen before the failure: it happened in iteration `markers_before - 1`,
    /// or before the first iteration when 0.
    pub markers_before: u64,
    /// Kernel launches seen before the failure: places it among iterations found in the launch
    /// sequence.
    pub launches_before: u64,
    /// Occurrences of each NVTX range (indexed as [`crate::Replay::ranges`]) seen before the failure.
    pub ranges_before: Vec<u64>,
    /// The live set of the request's class at the moment of failure (device and physical memory
    /// together), by site, largest first (at most [`OOM_SITES`]): what filled the device.
    pub live_by_site: Vec<(SiteKey, SiteStats)>,
    pub tid: u32,
    /// The device the request was made on (`NO_DEVICE` when unknown).
    pub device: i32,
    /// The same thread then made the same request, and it succeeded (within
    /// [`RETRY_WINDOW_EVENTS`]): the program freed memory and tried again, as PyTorch's caching
    /// allocator does (it empties its cache), so this failure was not fatal.
    pub retried: bool,
    /// Device memory other processes held at the failure, as NVML reported it (pid, bytes),
    /// when the hook could ask; `None` when it could not.
    pub other_processes: Option<Vec<(u32, u64)>>,
    /// What NVML counted for the traced process itself at the failure: its context and
    /// everything it allocated (the trace's events do not see the context); `None` when the hook
    /// could not ask, or NVML did not list it.
    pub own_process_bytes: Option<u64>,
    /// The failing device's live memory by site and age, for the out-of-memory report; `None`
    /// for memory other than the GPU's, and for failures whose split was let go to bound the
    /// replay's memory (retried ones, and all but the latest [`OOM_ANATOMIES`]).
    pub anatomy: Option<Box<OomAnatomy>>,
}

/// The failing device's memory at an out-of-memory failure, as the replay saw it: its live
/// allocations grouped by where and when they were made, and what the pools reserved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OomAnatomy {
    /// Live device and physical allocations of the failing device, grouped by site and by the
    /// launches, markers and range openings seen when they were made, largest first (at most
    /// [`OOM_GROUPS`]).
    pub groups: Vec<LiveGroup>,
    /// Bytes of the allocations in groups past [`OOM_GROUPS`]: not split by age.
    pub ungrouped_bytes: u64,
    /// What every memory pool held from the device, as last sampled (all devices together).
    pub pool_reserved_bytes: u64,
    /// Live stream-ordered allocations (`cudaMallocAsync` and its kin) of the failing device:
    /// the part of the pools' reserve in use.
    pub stream_ordered_live_bytes: u64,
    /// For each NVTX range (indexed as [`crate::Replay::ranges`]), the sequence numbers of its
    /// first and latest opening before the failure: a range's iteration in flight began at the
    /// latest.
    pub range_openings: Vec<(u64, u64)>,
    /// Bytes of device and physical memory freed before the failure, over the whole run: what a
    /// retry freed is the difference between two failures' figures.
    pub freed_bytes: u64,
}

/// Live allocations of one site made between the same two launches, markers and NVTX range
/// openings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveGroup {
    pub site: SiteKey,
    pub launches: u64,
    pub markers: u64,
    /// The earliest of them: its sequence number and time.
    pub seq: u64,
    pub time_ns: u64,
    pub bytes: u64,
    pub allocations: u64,
}

/// One distinct NVTX range (domain and name) and how often it opened (pushes and starts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeStats {
    /// The NVTX domain's name; `None` for the default domain.
    pub domain: Option<String>,
    pub name: String,
    pub count: u64,
    /// The smallest nesting depth it was pushed at, counted within its domain on its thread
    /// (NVTX keeps one push/pop stack per domain); 0 for start/end ranges.
    pub min_depth: u32,
    /// The sequence numbers (the next event's) at its first and latest opening.
    pub first_seq: u64,
    pub last_seq: u64,
}

/// Live bytes at each occurrence of one boundary (an NVTX range's opening), like
/// [`SiteSeries::at_markers`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BoundarySeries {
    /// Occurrences seen when the site first allocated.
    pub first: u64,
    /// Live bytes at each occurrence (0 before the site existed).
    pub at: Vec<u64>,
}

/// One device or physical site's live bytes at iteration boundaries. Memory grows with sites times
/// iterations (and at most `2 * TIME_WINDOWS` windows), never with events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteSeries {
    /// Markers seen when the site first allocated: 0 means before the first iteration.
    pub first_marker: u64,
    /// Time windows complete when the site first allocated.
    pub first_window: u32,
    /// Live bytes at each marker (0 before the site existed): entry `i` is the end of iteration
    /// `i - 1` and the start of iteration `i`.
    pub at_markers: Vec<u64>,
    /// Live bytes at the end of each complete time window.
    pub at_windows: Vec<u64>,
    /// Live bytes at each opening of each NVTX range, indexed as [`crate::Replay::ranges`] (shorter
    /// when ranges appeared after the last update: missing ones have no entries).
    pub at_ranges: Vec<BoundarySeries>,
}

/// One frame of a recorded stack, with the module that held it when the stack was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// As recorded: a return address (the instruction after the call).
    pub ip: u64,
    /// Index into [`crate::Replay::modules`].
    pub module: Option<u32>,
}

/// The address space as the Module records so far describe it. A module loaded where another was
/// (dlclose, then dlopen) replaces it, so a lookup finds the latest one covering an address.
#[derive(Debug, Default)]
pub(crate) struct AddressSpace {
    /// start → (end, index into the module list); ranges never overlap.
    ranges: BTreeMap<u64, (u64, u32)>,
}

impl AddressSpace {
    pub(crate) fn insert(&mut self, start: u64, end: u64, index: u32) {
        if start >= end {
            return;
        }
        let overlapping: Vec<u64> = self
            .ranges
            .range(..end)
            .rev()
            .take_while(|(_, (e, _))| *e > start)
            .map(|(s, _)| *s)
            .collect();
        for s in overlapping {
            self.ranges.remove(&s);
        }
        self.ranges.insert(start, (end, index));
    }

    pub(crate) fn find(&self, addr: u64) -> Option<u32> {
        let (_, (end, index)) = self.ranges.range(..=addr).next_back()?;
        (addr < *end).then_some(*index)
    }
}

/// The oldest segments of a trace written under a size cap, dropped to keep it under the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DroppedSegments {
    /// How many segments were dropped.
    pub segments: u64,
    /// How many events they held: the first kept event's sequence number.
    pub events: u64,
}
