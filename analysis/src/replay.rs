//! Streaming replay of a trace: the live set, totals, sites and out-of-memory failures.
//!
//! Memory grows with live allocations, unique stacks and loaded modules, never with the number of
//! events, so an hours-long trace replays in the space of its end state. Records can be fed one at
//! a time ([`Replay::apply`]), which is how a growing file will be followed live.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use gpuleak_trace::{
    Api, DecodeError, Event, Header, MemInfo, MemoryKind, Module, NO_STACK, Op, Reader, Record,
    Trailer,
};
use serde::Serialize;

/// The two kinds of memory a report keeps apart. Managed memory counts as device memory: it is
/// backed by the GPU and fills it, and `nvidia-smi` shows it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryClass {
    Device,
    PinnedHost,
}

impl MemoryClass {
    pub fn of(api: Api) -> MemoryClass {
        match api.memory() {
            MemoryKind::Device | MemoryKind::Managed => MemoryClass::Device,
            MemoryKind::PinnedHost => MemoryClass::PinnedHost,
        }
    }
}

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

/// An allocation handed to the program and not yet given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveAlloc {
    pub size: u64,
    pub stack: u32,
    pub api: Api,
    pub seq: u64,
}

/// Running figures for one memory class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Successful allocations.
    pub allocations: u64,
    /// Successful frees of allocations the trace saw made.
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub live_bytes: u64,
    pub live_allocations: u64,
    pub peak_live_bytes: u64,
}

/// Where allocations come from: a call stack and the kind of memory it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteKey {
    pub stack: u32,
    pub class: MemoryClass,
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
    /// Live bytes of the same memory class the trace accounts for at the moment of failure.
    pub live_bytes: u64,
    pub mem_info: Option<MemInfo>,
    pub stack: u32,
}

/// One frame of a recorded stack, with the module that held it when the stack was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// As recorded: a return address (the instruction after the call).
    pub ip: u64,
    /// Index into [`Replay::modules`].
    pub module: Option<u32>,
}

/// The address space as the Module records so far describe it. A module loaded where another was
/// (dlclose, then dlopen) replaces it, so a lookup finds the latest one covering an address.
#[derive(Debug, Default)]
struct AddressSpace {
    /// start → (end, index into the module list); ranges never overlap.
    ranges: BTreeMap<u64, (u64, u32)>,
}

impl AddressSpace {
    fn insert(&mut self, start: u64, end: u64, index: u32) {
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

    fn find(&self, addr: u64) -> Option<u32> {
        let (_, (end, index)) = self.ranges.range(..=addr).next_back()?;
        (addr < *end).then_some(*index)
    }
}

#[derive(Debug, Default)]
pub struct Replay {
    header: Option<Header>,
    modules: Vec<Module>,
    space: AddressSpace,
    stacks: HashMap<u32, Vec<Frame>>,
    live: HashMap<u64, LiveAlloc>,
    device: Totals,
    pinned_host: Totals,
    sites: HashMap<SiteKey, SiteStats>,
    ooms: Vec<OomEvent>,
    markers: u64,
    dropped: u64,
    unmatched_frees: u64,
    replaced_allocations: u64,
    events: u64,
    notes: Vec<String>,
    trailer: Option<Trailer>,
    truncated_at: Option<u64>,
    last_time_ns: u64,
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

    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Header(h) => {
                self.last_time_ns = h.start_mono_ns;
                self.header = Some(h);
            }
            Record::Module(m) => {
                let index = self.modules.len() as u32;
                self.space.insert(m.start, m.end, index);
                self.modules.push(m);
            }
            Record::Stack(s) => {
                // Resolved now: a module unloaded later must not claim these addresses back.
                let frames = s
                    .frames
                    .iter()
                    .map(|&ip| Frame {
                        ip,
                        module: self.space.find(ip.saturating_sub(1)),
                    })
                    .collect();
                self.stacks.insert(s.id, frames);
            }
            Record::Event(e) => self.event(&e),
            Record::Marker(m) => {
                self.markers += 1;
                self.last_time_ns = self.last_time_ns.max(m.time_ns);
            }
            Record::Dropped { time_ns, count } => {
                self.dropped = self.dropped.saturating_add(count);
                self.last_time_ns = self.last_time_ns.max(time_ns);
            }
            Record::Note(n) => self.notes.push(n),
            Record::Trailer(t) => {
                self.last_time_ns = self.last_time_ns.max(t.end_mono_ns);
                self.trailer = Some(t);
            }
        }
    }

    fn event(&mut self, e: &Event) {
        self.events += 1;
        self.last_time_ns = self.last_time_ns.max(e.time_ns);
        match e.api.op() {
            Op::Alloc => self.alloc(e),
            Op::Free => self.free(e),
        }
    }

    fn alloc(&mut self, e: &Event) {
        let class = MemoryClass::of(e.api);
        let key = SiteKey {
            stack: e.stack,
            class,
        };
        if !e.ok() {
            self.totals_mut(class).failed_allocations += 1;
            self.sites.entry(key).or_default().failed_allocations += 1;
            if is_out_of_memory(e.api, e.result) {
                self.ooms.push(OomEvent {
                    seq: e.seq,
                    time_ns: e.time_ns,
                    api: e.api,
                    class,
                    requested_bytes: e.size,
                    live_bytes: self.totals(class).live_bytes,
                    mem_info: e.mem_info,
                    stack: e.stack,
                });
            }
            return;
        }
        // An address handed out again while we think it live was freed by a path the trace
        // does not see; keeping both would count its bytes twice.
        if let Some(old) = self.live.get(&e.address).copied() {
            self.replaced_allocations += 1;
            self.release(e.address, old, false);
        }
        self.live.insert(
            e.address,
            LiveAlloc {
                size: e.size,
                stack: e.stack,
                api: e.api,
                seq: e.seq,
            },
        );
        let t = self.totals_mut(class);
        t.allocations += 1;
        t.bytes_allocated = t.bytes_allocated.saturating_add(e.size);
        t.live_bytes = t.live_bytes.saturating_add(e.size);
        t.live_allocations += 1;
        t.peak_live_bytes = t.peak_live_bytes.max(t.live_bytes);
        let s = self.sites.entry(key).or_default();
        s.allocations += 1;
        s.bytes_allocated = s.bytes_allocated.saturating_add(e.size);
        s.live_bytes = s.live_bytes.saturating_add(e.size);
        s.live_allocations += 1;
    }

    fn free(&mut self, e: &Event) {
        // cudaFree(NULL) is how programs create their context; it frees nothing.
        if !e.ok() || e.address == 0 {
            return;
        }
        match self.live.get(&e.address).copied() {
            Some(old) => self.release(e.address, old, true),
            None => self.unmatched_frees += 1,
        }
    }

    fn release(&mut self, address: u64, old: LiveAlloc, counted_free: bool) {
        self.live.remove(&address);
        let class = MemoryClass::of(old.api);
        let t = self.totals_mut(class);
        t.live_bytes = t.live_bytes.saturating_sub(old.size);
        t.live_allocations = t.live_allocations.saturating_sub(1);
        if counted_free {
            t.frees += 1;
        }
        let key = SiteKey {
            stack: old.stack,
            class,
        };
        if let Some(s) = self.sites.get_mut(&key) {
            s.live_bytes = s.live_bytes.saturating_sub(old.size);
            s.live_allocations = s.live_allocations.saturating_sub(1);
            if counted_free {
                s.frees += 1;
            }
        }
    }

    fn totals_mut(&mut self, class: MemoryClass) -> &mut Totals {
        match class {
            MemoryClass::Device => &mut self.device,
            MemoryClass::PinnedHost => &mut self.pinned_host,
        }
    }

    pub fn totals(&self, class: MemoryClass) -> &Totals {
        match class {
            MemoryClass::Device => &self.device,
            MemoryClass::PinnedHost => &self.pinned_host,
        }
    }

    /// Device figures; managed memory included.
    pub fn device(&self) -> &Totals {
        &self.device
    }

    pub fn pinned_host(&self) -> &Totals {
        &self.pinned_host
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

    pub fn live(&self) -> &HashMap<u64, LiveAlloc> {
        &self.live
    }

    pub fn sites(&self) -> &HashMap<SiteKey, SiteStats> {
        &self.sites
    }

    pub fn ooms(&self) -> &[OomEvent] {
        &self.ooms
    }

    pub fn markers(&self) -> u64 {
        self.markers
    }

    /// Events the hook could not record, summed over every Dropped record.
    pub fn dropped(&self) -> u64 {
        self.dropped
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
