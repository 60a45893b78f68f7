//! What a replay tells: totals, sites, failures, series, stacks and what the trace said about
//! itself, read once the records are applied.

use std::collections::{BTreeMap, HashMap};

use gpuleak_trace::{Header, MemoryKind, Module, NO_STACK, PyCode, PyFrame, Trailer};

use super::{
    DroppedSegments, Frame, LiveAlloc, LiveKey, MemoryClass, OomEvent, PoolStats, RangeStats,
    Replay, SiteKey, SiteSeries, SiteStats, Totals,
};
use crate::holders::HeldSnapshot;
use crate::memory::FastMap;
use crate::period::AutoIterations;
use crate::thresholds::{MARKER_LABEL_MAX_CHARS, MARKER_LABEL_SHARE};

impl Replay {
    pub fn totals(&self, class: MemoryClass) -> &Totals {
        &self.classes[class as usize]
    }

    /// Device figures: device, managed, array and graph memory.
    pub fn device(&self) -> &Totals {
        self.totals(MemoryClass::Device)
    }

    pub fn pinned_host(&self) -> &Totals {
        self.totals(MemoryClass::PinnedHost)
    }

    /// Figures for one kind of memory; zeros for a kind the trace never allocated.
    pub fn kind_totals(&self, kind: MemoryKind) -> Totals {
        self.kinds.get(&kind).copied().unwrap_or_default()
    }

    /// Figures for every kind the trace allocated or failed to allocate.
    pub fn kinds(&self) -> &BTreeMap<MemoryKind, Totals> {
        &self.kinds
    }

    pub fn pools(&self) -> &PoolStats {
        &self.pools
    }

    /// Device plus physical (VMM) memory live now: what this process holds on the GPU through
    /// the calls the hook sees.
    pub fn gpu_live_bytes(&self) -> u64 {
        self.gpu.live_bytes
    }

    /// Successful stream-ordered allocations (`cudaMallocAsync`, `cuMemAllocAsync`, from a
    /// pool): PyTorch's cudaMallocAsync backend makes one per tensor.
    pub fn stream_ordered_allocations(&self) -> u64 {
        self.stream_ordered
    }

    /// [`Replay::gpu`] per device ordinal (`NO_DEVICE` for events that did not say), in order.
    pub fn gpu_by_device(&self) -> &BTreeMap<i32, Totals> {
        &self.gpu_by_device
    }

    /// The total memory of one device, as the largest of its cuMemGetInfo reports; `None` when
    /// none was recorded for it.
    pub fn device_total_of(&self, device: i32) -> Option<u64> {
        self.device_totals.get(&device).copied()
    }

    /// Device and physical (VMM) memory as one class: every figure the headline lines give.
    /// Mappings and reserved address space are views and ranges of it, never counted again.
    pub fn gpu(&self) -> &Totals {
        &self.gpu
    }

    /// The high-water mark of [`Replay::gpu_live_bytes`].
    pub fn gpu_peak_live_bytes(&self) -> u64 {
        self.gpu.peak_live_bytes
    }

    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Every Module record in stream order; [`Frame::module`] indexes this.
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// The frames of a recorded stack, innermost first; `None` for `NO_STACK` or an id the trace
    /// never defined.
    pub fn stack(&self, id: u32) -> Option<&[Frame]> {
        if id == NO_STACK {
            return None;
        }
        self.stacks.get(&id).map(Vec::as_slice)
    }

    /// The Python frames of a recorded stack, innermost first: `None` when the stack was
    /// recorded without them (native stacks, a thread that was not running Python or did not
    /// hold the GIL). Resolve each frame's code with [`Replay::python_code`].
    pub fn python_stack(&self, id: u32) -> Option<&[PyFrame]> {
        if id == NO_STACK {
            return None;
        }
        self.python_stacks.get(&id).map(Vec::as_slice)
    }

    /// A Python code object (file, function, first line) the trace defined.
    pub fn python_code(&self, code: u32) -> Option<&PyCode> {
        self.python_codes.get(&code)
    }

    /// Live allocations of every kind but mappings and reservations.
    pub fn live(&self) -> &FastMap<LiveKey, LiveAlloc> {
        self.live.plain()
    }

    /// Live cuMemMap mappings by start address.
    pub fn mappings(&self) -> &BTreeMap<u64, LiveAlloc> {
        self.live.mappings()
    }

    /// Live cuMemAddressReserve reservations by start address.
    pub fn reservations(&self) -> &BTreeMap<u64, LiveAlloc> {
        self.live.reservations()
    }

    pub fn sites(&self) -> &FastMap<SiteKey, SiteStats> {
        &self.sites
    }

    pub fn ooms(&self) -> &[OomEvent] {
        &self.ooms
    }

    /// The failures, to fill in what a record this crate's tests cannot write yet would carry.
    #[cfg(test)]
    pub(crate) fn ooms_mut(&mut self) -> &mut [OomEvent] {
        &mut self.ooms
    }

    pub fn launches(&self) -> u64 {
        self.launches
    }

    /// When the first kernel or CUDA graph was launched; `None` when none was.
    pub fn first_launch_ns(&self) -> Option<u64> {
        self.first_launch_ns
    }

    /// When the program's steps began: its first kernel launch, or, when its launches open
    /// with a model built on the device (one kernel per parameter while memory only climbs),
    /// the first launch after that. `None` before any launch.
    pub fn steps_begin_ns(&self) -> Option<u64> {
        self.auto.loading_ended_ns().or(self.first_launch_ns)
    }

    /// Whether the program is inside its first step: its kernels repeat, but the launches its
    /// steps opened with have not come again. A trace that stops there holds no step's end.
    pub fn in_first_step(&self) -> bool {
        self.auto.in_first_step()
    }

    /// Whether the program runs steps: its kernels repeat, whether or not the launch
    /// sequence's period has been found yet. Time windows over such a program may cut its
    /// steps apart.
    pub fn has_steps(&self) -> bool {
        self.auto.has_steps()
    }

    pub fn markers(&self) -> u64 {
        self.markers
    }

    /// What the program calls an iteration: the label most of its markers carry ("request",
    /// "step"), when at least [`MARKER_LABEL_SHARE`] of them carry it and it is a word or two
    /// (not empty, at most [`MARKER_LABEL_MAX_CHARS`]). `None` for unlabelled markers, or labels
    /// that name each marker apart ("request 17").
    pub fn marker_label(&self) -> Option<&str> {
        let (label, n) = self.marker_labels.iter().max_by_key(|(_, n)| *n)?;
        let label = label.trim();
        let enough = *n as f64 >= MARKER_LABEL_SHARE * self.markers as f64;
        let word = !label.is_empty()
            && label.chars().count() <= MARKER_LABEL_MAX_CHARS
            && !label.chars().any(char::is_control);
        (enough && word).then_some(label)
    }

    /// Distinct NVTX ranges (domain and name) in the order first seen, at most [`crate::thresholds::MAX_RANGES`].
    pub fn ranges(&self) -> &[RangeStats] {
        &self.ranges
    }

    /// Iterations found in the launch sequence: its period, the launch positions where
    /// iterations start, and device and physical sites' live bytes there; `None` when launches do not repeat
    /// (at least three times, at 90% of positions). Computed on demand while the prefix of the
    /// sequence is still being collected.
    pub fn auto_iterations(&self) -> Option<AutoIterations> {
        self.auto.iterations()
    }

    /// [`Replay::auto_iterations`], and whether the launches so far are a model being loaded,
    /// not a step ([`crate::period`]): one kernel repeating while memory only climbs.
    pub fn auto_outcome(&self) -> (Option<AutoIterations>, bool) {
        self.auto.outcome()
    }

    /// A device or physical site's live bytes at iteration boundaries; `None` for other memory.
    pub fn site_series(&self, key: &SiteKey) -> Option<&SiteSeries> {
        self.series.get(key)
    }

    /// The fallback's time windows: where the first starts, how long each is, and how many are
    /// complete (the trace's end closes one more, partial).
    pub fn time_windows(&self) -> (u64, u64, u32) {
        (
            self.window_start.unwrap_or(0),
            self.window_ns.max(1),
            self.windows,
        )
    }

    /// The name of the device this process works on, from the header's device list: the one whose
    /// memory figures were recorded last, or the only one; `None` when the trace names none.
    pub fn device_name(&self) -> Option<&str> {
        let devices = &self.header.as_ref()?.devices;
        let name = match self.mem_info_device {
            Some(d) => devices.get(usize::try_from(d).ok()?)?,
            None if devices.len() == 1 => &devices[0],
            None => return None,
        };
        (!name.is_empty()).then_some(name.as_str())
    }

    /// The largest device total memory any recorded cuMemGetInfo reported.
    pub fn device_total_bytes(&self) -> Option<u64> {
        self.device_total
    }

    /// Events the hook could not record, summed over every Dropped record.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// For a trace written under a size cap (`--max-size`) whose oldest segments were dropped:
    /// how many, and how many events they held. Live figures stay exact (each kept segment
    /// starts with what was live); totals and iterations count from the first kept segment.
    pub fn dropped_segments(&self) -> Option<DroppedSegments> {
        self.dropped_segments
    }

    /// Successful frees of addresses the trace never saw allocated (made before tracing began,
    /// or by an entry point the hook does not intercept).
    pub fn unmatched_frees(&self) -> u64 {
        self.unmatched_frees
    }

    /// Allocations at an address still live in the replay: the earlier one was freed unseen.
    pub fn replaced_allocations(&self) -> u64 {
        self.replaced_allocations
    }

    /// Events read, not counting dropped ones.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Every holders snapshot of the trace as the hook wrote it, in trace order;
    /// [`Replay::held_snapshots`] has them matched to the live memory.
    pub fn holders(&self) -> &[gpuleak_trace::Holders] {
        &self.holders
    }

    /// Every holders snapshot of the trace, matched to the live memory of its moment
    /// ([`HeldSnapshot`]: each holder's block and site, grouped holders, totals by role and
    /// model, what no owner covers), in trace order.
    pub fn held_snapshots(&self) -> &[HeldSnapshot] {
        &self.held
    }

    /// The last snapshot that found holders (complete or capped): the one a report names
    /// holders from; `None` when the trace has none (a native program, an old trace, a killed
    /// process).
    pub fn last_held_snapshot(&self) -> Option<&HeldSnapshot> {
        self.held.iter().rev().find(|s| !s.entries.is_empty())
    }

    /// The epilogue of a trace that exited cleanly: the run of frees it ends in, from the first
    /// that gave back memory held since before the last iteration began (the teardown at exit:
    /// weights, caches, a list of tensors emptied at shutdown). Each device or physical site's
    /// live bytes when it began, for the sites it changed; `None` for a trace that did not exit
    /// cleanly or freed nothing old at its end.
    pub fn epilogue(&self) -> Option<HashMap<SiteKey, u64>> {
        if !self.complete() || !self.in_epilogue {
            return None;
        }
        let mut before = HashMap::new();
        for &(key, live) in &self.epilogue_log {
            before.entry(key).or_insert(live);
        }
        Some(before)
    }

    /// The last trailer; present when the process exited cleanly.
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }

    /// The byte offset where the stream ended inside a record, if it did.
    pub fn truncated_at(&self) -> Option<u64> {
        self.truncated_at
    }

    /// A trailer was seen and nothing after it was cut off. A trailer alone is not enough: late
    /// frees after exit handlers follow it, and a kill among them loses data.
    pub fn complete(&self) -> bool {
        self.trailer.is_some() && self.truncated_at.is_none()
    }

    /// The latest time any record carried, on the trace's monotonic clock.
    pub fn last_time_ns(&self) -> u64 {
        self.last_time_ns
    }
}
