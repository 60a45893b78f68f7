//! Streaming replay of a trace: the live set, totals, sites and out-of-memory failures.
//!
//! Memory grows with live allocations, unique stacks and loaded modules, never with the number of
//! events, so an hours-long trace replays in the space of its end state. Records can be fed one at
//! a time ([`Replay::apply`]), which is how a growing file will be followed live.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use gpuleak_trace::{
    Api, DecodeError, Event, Header, Holders, LaunchApi, LiveSet, MemoryKind, Module, Op, PyCode,
    PyFrame, Range, RangeOp, Reader, Record, Segment, Trailer,
};

use crate::figures::AddressSpace;
pub use crate::figures::{
    BoundarySeries, DroppedSegments, Frame, LiveAlloc, LiveGroup, MAX_RANGES, OOM_SITES,
    OomAnatomy, OomEvent, PoolStats, RETRY_WINDOW_EVENTS, RangeStats, SiteSeries, SiteStats,
    TIME_WINDOWS, Totals,
};
use crate::holders::HeldSnapshot;
use crate::memory::{FastHasher, FastMap, on_gpu};
pub use crate::memory::{LiveKey, MEMORY_KINDS, MemoryClass, SiteKey, holds_own_memory, kind_name};
use crate::period::Auto;

mod at_failure;
mod holders;
mod processes;
mod read;

/// The driver's `CUDA_ERROR_OUT_OF_MEMORY`.
const CUDA_ERROR_OUT_OF_MEMORY: u32 = 2;
/// The runtime's `cudaErrorMemoryAllocation`.
const CUDA_ERROR_MEMORY_ALLOCATION: u32 = 2;

/// Whether `result` from `api` means the allocation failed for lack of memory.
pub fn is_out_of_memory(api: Api, result: u32) -> bool {
    // The two families number their errors independently; they agree on this one by chance.
    let code = if api.is_runtime() {
        CUDA_ERROR_MEMORY_ALLOCATION
    } else {
        CUDA_ERROR_OUT_OF_MEMORY
    };
    result == code
}

#[derive(Debug, Default)]
pub struct Replay {
    header: Option<Header>,
    modules: Vec<Module>,
    space: AddressSpace,
    stacks: FastMap<u32, Vec<Frame>>,
    /// The Python frames of stacks recorded with them, innermost first.
    python_stacks: FastMap<u32, Vec<PyFrame>>,
    /// Python code objects by id, as the trace defined them.
    python_codes: HashMap<u32, PyCode>,
    /// What is live, kept by the trace format's rules (namespaces, mappings and reservations
    /// apart, unmap by range).
    live: LiveSet<LiveAlloc, FastHasher>,
    /// What the free being applied gave back (kept empty between events).
    freed: Vec<LiveAlloc>,
    /// Indexed by `MemoryClass as usize`.
    classes: [Totals; 7],
    kinds: BTreeMap<MemoryKind, Totals>,
    pools: PoolStats,
    /// The last reserved-bytes sample of each pool.
    pool_reserved: HashMap<u64, u64>,
    /// Device plus physical memory live, and its high-water mark.
    /// Device plus physical memory: what fills the GPU.
    gpu: Totals,
    /// The same, per device ordinal.
    gpu_by_device: BTreeMap<i32, Totals>,
    /// The largest total each device's cuMemGetInfo reported, by ordinal.
    device_totals: BTreeMap<i32, u64>,
    /// Successful stream-ordered allocations (cudaMallocAsync and its kin).
    stream_ordered: u64,
    sites: FastMap<SiteKey, SiteStats>,
    ooms: Vec<OomEvent>,
    /// Indices into `ooms` of failures whose retry may still come.
    unretried: Vec<usize>,
    /// Indices into `ooms` of failures that keep their split by age, oldest first.
    anatomies: std::collections::VecDeque<usize>,
    markers: u64,
    /// Marker labels and how many markers carried each, in the order first seen (at most
    /// [`crate::thresholds::MAX_MARKER_LABELS`]).
    marker_labels: Vec<(String, u64)>,
    /// Distinct NVTX ranges, in the order first seen (at most [`MAX_RANGES`]).
    ranges: Vec<RangeStats>,
    /// NVTX range openings seen, of every range: allocations made between the same two are
    /// of the same iteration whichever range marks them.
    range_openings: u64,
    /// Open pushes per thread and domain, for nesting depth within a domain.
    range_depth: HashMap<(u32, Option<String>), u32>,
    /// Kernel launches seen (Launch records).
    launches: u64,
    /// When the first kernel or graph was launched: before it, a program loads (its weights).
    first_launch_ns: Option<u64>,
    /// Iterations looked for in the launch sequence.
    auto: Auto,
    /// Device and physical sites' live bytes at iteration and time-window boundaries.
    series: FastMap<SiteKey, SiteSeries>,
    /// The fallback's time windows: the first starts here, each is `window_ns` long, and
    /// `windows` of them are complete.
    window_start: Option<u64>,
    window_ns: u64,
    windows: u32,
    /// The largest device total any cuMemGetInfo recorded in the trace reported.
    device_total: Option<u64>,
    /// The device of the latest event that carried cuMemGetInfo's figures.
    mem_info_device: Option<i32>,
    dropped: u64,
    unmatched_frees: u64,
    replaced_allocations: u64,
    events: u64,
    notes: Vec<String>,
    trailer: Option<Trailer>,
    truncated_at: Option<u64>,
    last_time_ns: u64,
    /// Segment records seen (traces written under a size cap).
    segments_seen: u64,
    /// What a capped trace dropped before the first segment read.
    dropped_segments: Option<DroppedSegments>,
    /// The sequence number after the latest event.
    seq_now: u64,
    /// `seq_now` at the latest iteration boundary: a marker, an NVTX range opening, or (with
    /// neither in the trace) a launch. What the program frees at exit was allocated before it.
    boundary_seq: u64,
    /// The trailing run of frees so far that began with memory older than the last boundary:
    /// the epilogue, if the trace ends in it. Any allocation, boundary or launch ends the run
    /// (it was no teardown).
    in_epilogue: bool,
    /// Each device or physical site's live bytes before the epilogue changed it (the first
    /// entry for a site is the one that counts). Kept when a run ends, to reuse its memory.
    epilogue_log: Vec<(SiteKey, u64)>,
    /// What kept device memory alive, each time the walk inside a Python program ran.
    holders: Vec<Holders>,
    /// The same walks, each holder matched to the live block that contains it then.
    held: Vec<HeldSnapshot>,
}

impl Replay {
    pub fn new() -> Replay {
        Replay::default()
    }

    /// Replays every record the reader has. A stream that ends inside a record is not an error:
    /// the complete records before it count and [`Replay::truncated_at`] says where it stopped.
    pub fn from_reader<R: Read>(reader: &mut Reader<R>) -> Result<Replay, DecodeError> {
        let mut replay = Replay::new();
        replay.read_from(reader)?;
        Ok(replay)
    }

    /// Applies the records the reader has now; call again to pick up what a live file gained.
    pub fn read_from<R: Read>(&mut self, reader: &mut Reader<R>) -> Result<(), DecodeError> {
        while let Some(record) = reader.next_record()? {
            self.apply(record);
        }
        self.truncated_at = reader.truncated().map(|(offset, _)| offset);
        Ok(())
    }

    fn define_stack(&mut self, id: u32, ips: &[u64]) {
        // Resolved now: a module unloaded later must not claim these addresses back.
        let frames = ips
            .iter()
            .map(|&ip| Frame {
                ip,
                module: self.space.find(ip.saturating_sub(1)),
            })
            .collect();
        self.stacks.insert(id, frames);
    }

    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Header(h) => {
                self.last_time_ns = h.start_mono_ns;
                self.window_start.get_or_insert(h.start_mono_ns);
                self.header = Some(h);
            }
            Record::Module(m) => {
                let index = self.modules.len() as u32;
                self.space.insert(m.start, m.end, index);
                self.modules.push(m);
            }
            Record::Stack(s) => {
                self.define_stack(s.id, &s.frames);
                self.python_stacks.remove(&s.id);
            }
            Record::PyStack(s) => {
                self.define_stack(s.id, &s.frames);
                for c in s.codes {
                    self.python_codes.insert(c.id, c);
                }
                self.python_stacks.insert(s.id, s.python);
            }
            Record::Event(e) => self.event(&e),
            Record::Marker(m) => {
                self.boundary();
                self.advance_windows(m.time_ns);
                for (key, series) in &mut self.series {
                    let live = self.sites.get(key).map_or(0, |s| s.live_bytes);
                    series.at_markers.push(live);
                }
                self.markers += 1;
                if let Some(label) = m.label {
                    self.count_marker_label(label);
                }
                self.last_time_ns = self.last_time_ns.max(m.time_ns);
            }
            Record::Dropped { time_ns, count } => {
                self.dropped = self.dropped.saturating_add(count);
                self.last_time_ns = self.last_time_ns.max(time_ns);
            }
            Record::Launch(l) => {
                self.in_epilogue = false;
                if self.markers == 0 && self.ranges.is_empty() {
                    self.boundary_seq = self.seq_now;
                }
                let (sites, series) = (&self.sites, &self.series);
                let graph = matches!(l.api, LaunchApi::CudaGraphLaunch | LaunchApi::CuGraphLaunch);
                self.auto
                    .launch(self.launches, l.function, graph, l.time_ns, || {
                        series
                            .keys()
                            .map(|k| (*k, sites.get(k).map_or(0, |s| s.live_bytes)))
                            .collect()
                    });
                self.launches += 1;
                self.first_launch_ns.get_or_insert(l.time_ns);
                self.last_time_ns = self.last_time_ns.max(l.time_ns);
            }
            Record::Range(r) => self.range(r),
            Record::Note(n) => self.notes.push(n),
            Record::Trailer(t) => {
                self.last_time_ns = self.last_time_ns.max(t.end_mono_ns);
                self.trailer = Some(t);
            }
            Record::Resume(_) => {}
            Record::Segment(s) => self.segment(s),
            Record::Holders(h) => {
                self.last_time_ns = self.last_time_ns.max(h.time_ns);
                let matched =
                    holders::match_walk(&h, &self.live, self.gpu.live_bytes, self.ooms.len());
                self.held.push(matched);
                self.holders.push(h);
            }
            Record::Processes(p) => {
                self.last_time_ns = self.last_time_ns.max(p.time_ns);
                processes::answer(&mut self.ooms, &p);
            }
        }
    }

    fn count_marker_label(&mut self, label: String) {
        let labels = &mut self.marker_labels;
        if let Some((_, n)) = labels.iter_mut().find(|(l, _)| *l == label) {
            *n += 1;
        } else if labels.len() < crate::thresholds::MAX_MARKER_LABELS {
            labels.push((label, 1));
        }
    }

    /// A capped trace's segment start. Read in order, the replay already holds what was live
    /// then; read from a later segment (the ones before were dropped), what was live becomes
    /// the starting point: allocations as they were made, at their own stacks and times.
    fn segment(&mut self, s: Segment) {
        self.last_time_ns = self.last_time_ns.max(s.time_ns);
        if self.segments_seen == 0 && s.index > 0 {
            self.dropped_segments = Some(DroppedSegments {
                segments: s.index,
                events: s.next_seq,
            });
            for &(device, total) in &s.totals {
                self.device_total = Some(self.device_total.map_or(total, |t| t.max(total)));
                if device >= 0 {
                    let t = self.device_totals.entry(device).or_insert(0);
                    *t = (*t).max(total);
                }
            }
            for l in s.live {
                self.alloc(&Event {
                    seq: l.seq,
                    time_ns: l.time_ns,
                    tid: 0,
                    api: l.api,
                    device: l.device,
                    stream: l.stream,
                    address: l.address,
                    size: l.size,
                    result: 0,
                    stack: l.stack,
                    mem_info: None,
                    aux: l.aux,
                    pool_reserved: None,
                });
            }
        }
        self.segments_seen = self.segments_seen.saturating_add(1);
    }

    /// An NVTX range opening is a boundary of that range's iterations: every device or physical site's live
    /// bytes are kept there, as at markers.
    fn range(&mut self, r: Range) {
        self.advance_windows(r.time_ns);
        self.last_time_ns = self.last_time_ns.max(r.time_ns);
        let depth = match r.op {
            RangeOp::Push => {
                let open = self
                    .range_depth
                    .entry((r.tid, r.domain.clone()))
                    .or_insert(0);
                let before = *open;
                *open = open.saturating_add(1);
                // The hook's depth counts every domain; the smaller is the depth in this one.
                before.min(r.depth)
            }
            RangeOp::Pop => {
                if let Some(open) = self.range_depth.get_mut(&(r.tid, r.domain.clone())) {
                    *open = open.saturating_sub(1);
                }
                return;
            }
            RangeOp::Start => 0,
            RangeOp::End => return,
        };
        self.boundary();
        self.range_openings += 1;
        let Some(name) = r.name else { return };
        let index = match self
            .ranges
            .iter()
            .position(|s| s.name == name && s.domain == r.domain)
        {
            Some(i) => i,
            None if self.ranges.len() < MAX_RANGES => {
                self.ranges.push(RangeStats {
                    domain: r.domain,
                    name,
                    count: 0,
                    min_depth: depth,
                    first_seq: self.seq_now,
                    last_seq: self.seq_now,
                });
                self.ranges.len() - 1
            }
            None => return,
        };
        let stats = &mut self.ranges[index];
        stats.min_depth = stats.min_depth.min(depth);
        stats.last_seq = self.seq_now;
        let before = stats.count;
        stats.count += 1;
        for (key, series) in &mut self.series {
            let live = self.sites.get(key).map_or(0, |s| s.live_bytes);
            if series.at_ranges.len() <= index {
                // Ranges that appeared after this site: it existed before their first opening.
                series
                    .at_ranges
                    .resize_with(index + 1, BoundarySeries::default);
            }
            let b = &mut series.at_ranges[index];
            // A site made before this range first appeared existed at every earlier opening.
            b.at.resize(before as usize, 0);
            b.at.push(live);
        }
    }

    /// An iteration boundary: what is freed after it and was allocated before is a candidate
    /// for the teardown.
    fn boundary(&mut self) {
        self.boundary_seq = self.seq_now;
        self.in_epilogue = false;
    }

    fn event(&mut self, e: &Event) {
        self.events += 1;
        self.seq_now = self.seq_now.max(e.seq.saturating_add(1));
        self.advance_windows(e.time_ns);
        self.last_time_ns = self.last_time_ns.max(e.time_ns);
        if let Some(m) = e.mem_info {
            self.device_total = Some(self.device_total.map_or(m.total, |t| t.max(m.total)));
            if e.device >= 0 {
                self.mem_info_device = Some(e.device);
                let t = self.device_totals.entry(e.device).or_insert(0);
                *t = (*t).max(m.total);
            }
        }
        self.sample_pool(e);
        match e.api.op() {
            Op::Alloc => self.alloc(e),
            Op::Free => self.free(e),
            Op::Control => self.control(e),
        }
    }

    /// Sites of `class` holding memory now, largest first; for device or physical memory, sites
    /// of both, on `device` when it is known.
    fn live_by_site(&self, class: MemoryClass, device: i32) -> Vec<(SiteKey, SiteStats)> {
        let same = |other: MemoryClass| other == class || (on_gpu(class) && on_gpu(other));
        let on_device = |k: &SiteKey| device < 0 || !on_gpu(class) || k.device == device;
        let mut v: Vec<(SiteKey, SiteStats)> = self
            .sites
            .iter()
            .filter(|(k, s)| same(MemoryClass::of_kind(k.kind)) && on_device(k) && s.live_bytes > 0)
            .map(|(k, s)| (*k, *s))
            .collect();
        v.sort_by(|a, b| b.1.live_bytes.cmp(&a.1.live_bytes).then(a.0.cmp(&b.0)));
        v.truncate(OOM_SITES);
        v
    }

    /// A successful allocation may be the retry of a recent failure: same thread, same call,
    /// same size.
    fn match_retry(&mut self, e: &Event) {
        let ooms = &mut self.ooms;
        self.unretried.retain(|&i| {
            let o = &mut ooms[i];
            if e.seq.saturating_sub(o.seq) > RETRY_WINDOW_EVENTS {
                return false;
            }
            let same = o.tid == e.tid && o.api == e.api && o.requested_bytes == e.size;
            o.retried |= same;
            if same {
                // A failure retried with success is never the one a program died of.
                o.anatomy = None;
            }
            !same
        });
    }

    fn alloc(&mut self, e: &Event) {
        let kind = e.api.memory();
        let class = MemoryClass::of_kind(kind);
        let key = SiteKey {
            stack: e.stack,
            kind,
            device: e.device,
        };
        if !e.ok() {
            self.totals_mut(class).failed_allocations += 1;
            if on_gpu(class) {
                self.gpu.failed_allocations += 1;
            }
            self.kinds.entry(kind).or_default().failed_allocations += 1;
            self.sites.entry(key).or_default().failed_allocations += 1;
            if is_out_of_memory(e.api, e.result) {
                self.ooms.push(OomEvent {
                    seq: e.seq,
                    time_ns: e.time_ns,
                    api: e.api,
                    class,
                    requested_bytes: e.size,
                    // Device and physical memory fill the same GPU: either's failure is judged
                    // against both.
                    live_bytes: if on_gpu(class) {
                        // The failing device's own memory: another GPU's does not fill it.
                        match self.gpu_by_device.get(&e.device) {
                            Some(t) if e.device >= 0 => t.live_bytes,
                            _ => self.gpu.live_bytes,
                        }
                    } else {
                        self.totals(class).live_bytes
                    },
                    device: e.device,
                    mem_info: e.mem_info,
                    stack: e.stack,
                    markers_before: self.markers,
                    launches_before: self.launches,
                    ranges_before: self.ranges.iter().map(|r| r.count).collect(),
                    live_by_site: self.live_by_site(class, e.device),
                    tid: e.tid,
                    retried: false,
                    other_processes: None,
                    own_process_bytes: None,
                    anatomy: on_gpu(class).then(|| {
                        let now = at_failure::Now {
                            live: &self.live,
                            gpu: &self.gpu,
                            gpu_by_device: &self.gpu_by_device,
                            pool_reserved_bytes: self.pools.reserved_bytes,
                            ranges: &self.ranges,
                        };
                        Box::new(now.split(e.device))
                    }),
                });
                self.unretried.push(self.ooms.len() - 1);
                processes::inherit(&mut self.ooms);
                if on_gpu(class) {
                    let last = self.ooms.len() - 1;
                    at_failure::let_go_of_old(&mut self.anatomies, &mut self.ooms, last);
                }
            }
            return;
        }
        if !self.unretried.is_empty() {
            self.match_retry(e);
        }
        if on_gpu(class) {
            self.in_epilogue = false;
        }
        if matches!(
            e.api,
            Api::CudaMallocAsync | Api::CuMemAllocAsync | Api::CuMemAllocFromPoolAsync
        ) {
            self.stream_ordered += 1;
        }
        let new = LiveAlloc {
            size: e.size,
            stack: e.stack,
            api: e.api,
            seq: e.seq,
            device: e.device,
            aux: e.aux,
            launches: self.launches,
            markers: self.markers,
            openings: self.range_openings,
            time_ns: e.time_ns,
        };
        let old = self.live.insert(e.api, e.address, new);
        // An address handed out again while we think it live was freed by a path the trace
        // does not see; keeping both would count its bytes twice.
        if let Some(old) = old {
            self.replaced_allocations += 1;
            self.release(old, None);
        }
        self.classes[class as usize].allocated(e.size);
        self.kinds.entry(kind).or_default().allocated(e.size);
        if on_gpu(class) {
            self.gpu.allocated(e.size);
            self.gpu_by_device
                .entry(e.device)
                .or_default()
                .allocated(e.size);
        }
        if on_gpu(class) {
            let (markers, windows, ranges) = (self.markers, self.windows, &self.ranges);
            self.series.entry(key).or_insert_with(|| SiteSeries {
                first_marker: markers,
                first_window: windows,
                at_markers: vec![0; markers as usize],
                at_windows: vec![0; windows as usize],
                at_ranges: ranges
                    .iter()
                    .map(|r| BoundarySeries {
                        first: r.count,
                        at: vec![0; r.count as usize],
                    })
                    .collect(),
            });
        }
        let s = self.sites.entry(key).or_default();
        s.allocations += 1;
        s.bytes_allocated = s.bytes_allocated.saturating_add(e.size);
        s.live_bytes = s.live_bytes.saturating_add(e.size);
        s.live_allocations += 1;
        if on_gpu(class) {
            let live = s.live_bytes;
            self.auto.site_changed(self.launches, key, live);
        }
    }

    fn free(&mut self, e: &Event) {
        // cudaFree(NULL) is how programs create their context; it frees nothing.
        if !e.ok() || e.address == 0 {
            return;
        }
        // Reused from free to free: most frees give back one allocation, and none allocates.
        let mut freed = std::mem::take(&mut self.freed);
        self.live
            .remove(e.api, e.address, e.size, |old| freed.push(old));
        if freed.is_empty() {
            self.unmatched_frees += 1;
        }
        for old in freed.drain(..) {
            self.release(old, Some(e.api));
        }
        self.freed = freed;
    }

    /// Closes every time window that ends at or before `t`, recording each device or physical site's live
    /// bytes at its end. Windows start 1 ns long and double (merging pairs) whenever
    /// `2 * TIME_WINDOWS` are complete, so however long the trace, `TIME_WINDOWS` to
    /// `2 * TIME_WINDOWS` windows cover it.
    fn advance_windows(&mut self, t: u64) {
        let start = *self.window_start.get_or_insert(t);
        if self.window_ns == 0 {
            self.window_ns = 1;
        }
        loop {
            let end =
                start.saturating_add((u64::from(self.windows) + 1).saturating_mul(self.window_ns));
            if t < end || end == u64::MAX {
                break;
            }
            for (key, series) in &mut self.series {
                let live = self.sites.get(key).map_or(0, |s| s.live_bytes);
                series.at_windows.push(live);
            }
            self.windows += 1;
            if self.windows == 2 * TIME_WINDOWS {
                for series in self.series.values_mut() {
                    series.at_windows = series
                        .at_windows
                        .iter()
                        .skip(1)
                        .step_by(2)
                        .copied()
                        .collect();
                    series.first_window /= 2;
                }
                self.windows = TIME_WINDOWS;
                self.window_ns = self.window_ns.saturating_mul(2);
            }
        }
    }

    /// A pool's reserved bytes as the driver reported them with this event, if it did.
    fn sample_pool(&mut self, e: &Event) {
        let Some(reserved) = e.pool_reserved else {
            return;
        };
        let pool = if e.api == Api::CuMemPoolTrimTo {
            e.address
        } else {
            e.aux
        };
        self.pool_reserved.insert(pool, reserved);
        let total = self
            .pool_reserved
            .values()
            .fold(0u64, |a, &b| a.saturating_add(b));
        self.pools.reserved_bytes = total;
        self.pools.peak_reserved_bytes = self.pools.peak_reserved_bytes.max(total);
    }

    /// Trims and thresholds change what pools keep, never what the program holds.
    fn control(&mut self, e: &Event) {
        if !e.ok() {
            return;
        }
        match e.api {
            Api::CuMemPoolTrimTo => {
                self.pools.trims += 1;
                self.pools.last_trim_reserved_bytes = e.pool_reserved;
            }
            Api::CuMemPoolSetAttribute => self.pools.release_threshold_bytes = Some(e.size),
            Api::CuDeviceGraphMemTrim => self.pools.graph_trims += 1,
            _ => {}
        }
    }

    /// Takes an allocation already removed from the live set off the totals. `freed_by` is the
    /// free that matched it, `None` when a new allocation at its address replaced it.
    fn release(&mut self, old: LiveAlloc, freed_by: Option<Api>) {
        let kind = old.kind();
        let class = MemoryClass::of_kind(kind);
        let counted_free = freed_by.is_some();
        self.classes[class as usize].released(old.size, counted_free);
        self.kinds
            .entry(kind)
            .or_default()
            .released(old.size, counted_free);
        if on_gpu(class) {
            self.gpu.released(old.size, counted_free);
            if let Some(t) = self.gpu_by_device.get_mut(&old.device) {
                t.released(old.size, counted_free);
            }
        }
        if matches!(freed_by, Some(Api::CudaFreeAsync | Api::CuMemFreeAsync)) {
            self.pools.returned_bytes = self.pools.returned_bytes.saturating_add(old.size);
            self.pools.returned_frees += 1;
        }
        let key = SiteKey {
            stack: old.stack,
            kind,
            device: old.device,
        };
        if counted_free && on_gpu(class) {
            if !self.in_epilogue && old.seq < self.boundary_seq {
                self.in_epilogue = true;
                self.epilogue_log.clear();
            }
            if self.in_epilogue {
                let before = self.sites.get(&key).map_or(0, |s| s.live_bytes);
                self.epilogue_log.push((key, before));
            }
        }
        if let Some(s) = self.sites.get_mut(&key) {
            s.live_bytes = s.live_bytes.saturating_sub(old.size);
            s.live_allocations = s.live_allocations.saturating_sub(1);
            if counted_free {
                s.frees += 1;
            }
            if on_gpu(class) {
                let live = s.live_bytes;
                self.auto.site_changed(self.launches, key, live);
            }
        }
    }

    fn totals_mut(&mut self, class: MemoryClass) -> &mut Totals {
        &mut self.classes[class as usize]
    }
}
