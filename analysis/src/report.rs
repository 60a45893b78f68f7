//! The report: what a replay found, in the shape `gpuleak report --format json` prints.
//!
//! The JSON is an interface other tools read: field names are fixed, new fields are only ever
//! added beside old ones, and `schema` changes when a field changes meaning.

use std::collections::HashMap;

use gpuleak_trace::{Api, MemoryKind};
use regex::Regex;
use serde::{Serialize, Serializer};

use crate::growth::{self, Judgement, Verdict};
use crate::period::AutoIterations;
use crate::replay::{
    MEMORY_KINDS, MemoryClass, OomEvent, Replay, SiteKey, SiteStats, Totals, holds_own_memory,
    kind_name,
};
use crate::symbols::Symbolizer;

pub const SCHEMA: u32 = 1;

/// Choices that change how a report reads the trace.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// NVTX ranges whose name matches mark iterations (`--iteration-range`); when several names
    /// match, the one that occurs most often. Without it, the outermost range that repeats.
    pub iteration_range: Option<Regex>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub schema: u32,
    /// Who was traced; null when the trace ends before its header.
    pub process: Option<Process>,
    /// The process exited cleanly (a trailer was written) and nothing after it was cut off.
    pub complete: bool,
    /// Where the stream ends inside a record (the process was killed mid-write), if it does.
    pub truncated_at: Option<u64>,
    /// Device memory this process allocated through allocation calls: device, managed, array
    /// and graph memory.
    pub totals: DeviceTotals,
    pub pinned_host: PinnedHostTotals,
    /// Existing host memory page-locked with cuMemHostRegister: no new memory.
    pub host_registered: ClassTotals,
    /// Physical device memory made with cuMemCreate (VMM).
    pub physical: ClassTotals,
    /// Device and physical memory together: what fills the GPU, as the headline lines count it
    /// (`gpuleak run`'s closing line, the text report, the live view).
    pub gpu: ClassTotals,
    /// Ranges mapped onto physical memory with cuMemMap: views of `physical`, not more memory.
    pub mapped: ClassTotals,
    /// Virtual address space reserved with cuMemAddressReserve: no memory.
    pub address_space: ClassTotals,
    /// Another process's memory opened or imported here (IPC, shareable handles).
    pub imported: ClassTotals,
    /// What async frees handed back to pools, and what the program told its pools.
    pub pools: Pools,
    /// The figures above side by side, and every kind of memory the trace saw.
    pub memory: MemorySummary,
    /// Allocation sites, largest live bytes at the end first, then most bytes allocated.
    pub sites: Vec<Site>,
    pub iterations: Iterations,
    pub ooms: Vec<Oom>,
    pub dropped_events: u64,
    /// A trace written under a size cap (`--max-size`): the oldest segments it dropped. Live
    /// figures stay exact; totals and iterations count from the first kept segment.
    pub dropped_segments: Option<crate::replay::DroppedSegments>,
    pub unmatched_frees: u64,
    /// Allocations at an address the replay still held live: the earlier one was freed unseen.
    pub replaced_allocations: u64,
    /// Messages the hook left in the trace.
    pub notes: Vec<String>,
    /// What the trace can and cannot show: a run with no growth is called healthy only when a
    /// leak would have shown ([`Visibility`]).
    pub visibility: Visibility,
    /// Each device the process allocated on, by ordinal, with its own figures.
    pub devices: Vec<DeviceFigures>,
    /// Why memory ran out, or would: the figures above read as sentences, most important first
    /// ([`crate::diagnosis`]).
    pub diagnosis: Vec<crate::diagnosis::Diagnosis>,
}

/// One device's share of the process: device and physical memory allocated on it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DeviceFigures {
    pub ordinal: i32,
    /// As the header names it; null when the trace does not say.
    pub name: Option<String>,
    /// Its total memory, the largest its cuMemGetInfo reported; null when none was recorded.
    pub total_bytes: Option<u64>,
    pub allocations: u64,
    pub live_bytes_at_end: u64,
    pub peak_live_bytes: u64,
    /// What it held when the last iteration began (in a trace that exited cleanly), else live
    /// at the end: what "full at iteration" starts from.
    pub held_at_last_iteration: u64,
    /// Its memory over iterations, judged like a site's; null with fewer than 3 iterations.
    pub verdict: Option<String>,
    pub bytes_per_iteration: Option<i64>,
}

/// What one recorded allocation stands for, and what a run needs before "no leak" means
/// anything.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Visibility {
    /// "tensors": a caching allocator's every block is an event (PyTorch's cudaMallocAsync
    /// backend, `gpuleak run --torch-tensors`); "segments": a caching allocator sits between the
    /// program and the driver and only its segments are seen, so blocks it hands out again from
    /// its cache are not; "allocations": the program's own calls, as made.
    pub level: &'static str,
    /// The caching allocator behind "segments": "pytorch" (libc10_cuda in the process), "cupy"
    /// (its modules loaded), or "pool" (device memory was allocated and none was ever given
    /// back to the driver: something keeps what the program frees); null otherwise.
    pub cache: Option<&'static str>,
    /// Why a run whose memory does not grow is not called healthy: "hidden_by_cache" (growth
    /// smaller than the cache's unused part makes no allocation), "too_few_iterations"; empty
    /// when a leak would have shown.
    pub causes: Vec<&'static str>,
    /// How many more iterations a verdict of "no leak" needs; null when there are enough.
    pub iterations_needed: Option<u64>,
    /// The command that records what this trace could not see; null when there is none.
    pub command: Option<String>,
}

/// Fewer iterations than this and a run whose memory does not grow is not called healthy: after
/// the warm-up is left out, a verdict of "steady" rests on 5 points.
pub const HEALTHY_MIN_ITERATIONS: u64 = 6;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub exe: String,
    pub argv: Vec<String>,
    pub hostname: String,
    pub hook_version: String,
    /// How stacks were captured: "off", "native", "python" or "all" (see the trace format).
    pub stacks: String,
    /// The CUDA devices the process saw, by ordinal, as the driver names them; empty when the
    /// trace does not say.
    pub devices: Vec<String>,
    /// The one of them the process worked on (see [`Replay::device_name`]).
    pub device: Option<String>,
    /// `RANK` as a launcher (torchrun, accelerate) set it; null when unset or not a number.
    pub rank: Option<u32>,
    /// `LOCAL_RANK`, likewise.
    pub local_rank: Option<u32>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DeviceTotals {
    pub allocations: u64,
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub peak_live_bytes: u64,
    pub live_bytes_at_end: u64,
    pub live_allocations_at_end: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PinnedHostTotals {
    pub allocations: u64,
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub peak_live_bytes: u64,
    pub live_bytes_at_end: u64,
    pub live_allocations_at_end: u64,
}

/// The figures of one memory class; the same fields as `totals`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ClassTotals {
    pub allocations: u64,
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub peak_live_bytes: u64,
    pub live_bytes_at_end: u64,
    pub live_allocations_at_end: u64,
}

impl From<&Totals> for ClassTotals {
    fn from(t: &Totals) -> ClassTotals {
        ClassTotals {
            allocations: t.allocations,
            frees: t.frees,
            failed_allocations: t.failed_allocations,
            bytes_allocated: t.bytes_allocated,
            peak_live_bytes: t.peak_live_bytes,
            live_bytes_at_end: t.live_bytes,
            live_allocations_at_end: t.live_allocations,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Pools {
    /// Bytes of allocations freed with cudaFreeAsync/cuMemFreeAsync: handed back to a pool, which
    /// may keep them; not necessarily given back to the device.
    pub returned_bytes: u64,
    /// Those frees.
    pub returned_frees: u64,
    /// The pool's reserved bytes after the last cuMemPoolTrimTo, as the driver reported them;
    /// null when the program never trimmed or the hook could not ask.
    pub last_trim_reserved_bytes: Option<u64>,
    /// What pools held from the device at the last samples (every stream-ordered allocation and
    /// trim asks the driver), summed over pools: memory async frees left cached in pools, which
    /// `nvidia-smi` counts and `totals` does not.
    pub reserved_bytes_at_end: u64,
    pub peak_reserved_bytes: u64,
    /// The last release threshold set with cuMemPoolSetAttribute; null when never set.
    pub release_threshold_bytes: Option<u64>,
    /// Successful cuMemPoolTrimTo calls.
    pub trims: u64,
    /// Successful cuDeviceGraphMemTrim calls.
    pub graph_trims: u64,
}

/// Headline figures of every class side by side, in bytes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MemorySummary {
    /// `totals`: device, managed, array and graph memory.
    pub device_live_bytes_at_end: u64,
    pub device_peak_live_bytes: u64,
    /// The managed part of the device figures.
    pub managed_live_bytes_at_end: u64,
    pub managed_peak_live_bytes: u64,
    /// cuMemCreate memory.
    pub physical_live_bytes_at_end: u64,
    pub physical_peak_live_bytes: u64,
    /// Device plus physical: what this process holds on the GPU through the calls the hook sees.
    /// `nvidia-smi` shows more: context memory and what pools keep cached.
    pub device_plus_physical_live_bytes_at_end: u64,
    /// The high-water mark of the sum (not the sum of the two peaks).
    pub device_plus_physical_peak_live_bytes: u64,
    /// Mapped with cuMemMap: views of physical memory, not counted again.
    pub mapped_bytes_at_end: u64,
    pub reserved_address_space_bytes_at_end: u64,
    pub pinned_host_live_bytes_at_end: u64,
    pub pinned_host_peak_live_bytes: u64,
    pub host_registered_bytes_at_end: u64,
    pub imported_bytes_at_end: u64,
    /// `pools.returned_bytes`.
    pub returned_to_pools_bytes: u64,
    /// Every kind the trace allocated or failed to allocate, in a fixed order.
    pub by_kind: Vec<KindTotals>,
}

/// The figures of one kind of memory.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KindTotals {
    /// A kind name: "device", "managed", "array", "graph", "physical", "mapping",
    /// "address_space", "pinned_host", "host_registered" or "imported".
    #[serde(serialize_with = "serialize_kind")]
    pub kind: MemoryKind,
    /// The class whose totals include this kind.
    pub class: MemoryClass,
    pub allocations: u64,
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub peak_live_bytes: u64,
    pub live_bytes_at_end: u64,
    pub live_allocations_at_end: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Site {
    /// The site in one line, distinct from every other site's label in this report: the naming
    /// frame (`user_frame`) plus as few callers (or frames inside it, or the kind of memory) as
    /// tell it apart ([`crate::labels`]). Everything that names a site in a line uses it.
    pub label: String,
    /// Innermost first.
    pub frames: Vec<String>,
    /// Index into `frames` of the frame that names the site: the innermost of the program's own
    /// code, past allocator wrappers, frameworks and the language runtime
    /// ([`crate::symbols::is_library_frame`]); 0 when all are library code.
    pub user_frame: usize,
    /// The kind of memory allocated here, as in `memory.by_kind`: "device", "managed",
    /// "pinned_host", "physical", ...
    #[serde(serialize_with = "serialize_kind")]
    pub memory: MemoryKind,
    /// The device ordinal the site allocated on; null for host memory or when the trace does
    /// not say. One line allocating on two devices is two sites.
    pub device: Option<i32>,
    pub stack_id: u32,
    pub allocations: u64,
    pub frees: u64,
    pub failed_allocations: u64,
    pub bytes_allocated: u64,
    pub live_bytes_at_end: u64,
    pub live_allocations_at_end: u64,
    /// Live bytes when the last iteration began (the end of the one before it), as iteration
    /// boundaries record them; null without two iterations. Memory freed only at exit (a
    /// module-level list of tensors emptied at interpreter shutdown) shows here, not in
    /// `live_bytes_at_end`.
    pub live_bytes_at_last_iteration: Option<u64>,
    /// How live bytes at the end of each iteration moved, warm-up left out: "leak", "sawtooth",
    /// "plateau" or "steady"; null for memory other than device and physical memory and for
    /// sites seen in fewer than 3 iterations.
    pub verdict: Option<String>,
    /// The robust (Theil–Sen) slope of live bytes at iteration ends; for a sawtooth, the median
    /// of its rising steps (its slope over the run is about zero); null when no verdict.
    pub bytes_per_iteration: Option<i64>,
    /// How sure the verdict is, 0 to 1; null when no verdict.
    pub confidence: Option<f64>,
    /// For a leak: the iteration at which, at this rate, the device is full (its total memory
    /// as the trace last saw it, less the device and physical memory this process holds at the
    /// end, or held when its last iteration began if it exited cleanly after freeing it); null
    /// when the total is unknown or the site is no leak.
    pub full_at_iteration: Option<u64>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Iterations {
    pub count: u64,
    /// "marker" when the program marked its iterations (iteration i runs from marker i to the
    /// next, the last to the end of the trace); else "nvtx" when NVTX ranges mark them
    /// (iteration i starts at the i-th push or start of the range named in `range`); else
    /// "auto" when its launches (kernels, CUDA graphs) repeat (iterations are the repetitions of
    /// the launch sequence's period, each starting at a launch of the period's anchor); else
    /// "time", fixed time windows standing in for them; null for a trace with no events.
    pub source: Option<String>,
    /// The length of each window when `source` is "time", in nanoseconds; null otherwise.
    pub window_ns: Option<u64>,
    /// Kernel launches per iteration when `source` is "auto"; null otherwise.
    pub launches_per_iteration: Option<u64>,
    /// The NVTX range whose openings start iterations when `source` is "nvtx"; null otherwise.
    pub range: Option<String>,
    /// How the process's device memory as a whole moved over iterations, judged like a site's
    /// ("leak", "sawtooth", "plateau", "steady"); null with fewer than 3 iterations. Growth in
    /// all with no leaking site means the growing allocations come from many places (a caching
    /// allocator's segments).
    pub device_verdict: Option<String>,
    /// The whole device's bytes per iteration, as a site's.
    pub device_bytes_per_iteration: Option<i64>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Oom {
    pub requested_bytes: u64,
    /// Live bytes of the same memory as the request when it failed (for device or physical
    /// memory: both, on the failing device).
    pub live_bytes: u64,
    /// The device the request was made on; null when the trace does not say.
    pub device: Option<i32>,
    pub device_free_bytes: Option<u64>,
    pub device_total_bytes: Option<u64>,
    /// The iteration the failure happened in; null before the first marked iteration.
    pub iteration: Option<u64>,
    pub frames: Vec<String>,
    /// What held the memory when it failed: the largest live sites of the request's class.
    pub live_by_site: Vec<OomSite>,
    pub api: String,
    /// The class of the request: "device", "pinned_host", "physical", ...
    pub memory: MemoryClass,
    pub seq: u64,
    /// Nanoseconds since the trace started.
    pub time_ns: u64,
    /// The same thread made the same request again soon after and it succeeded: the program
    /// freed memory and retried (PyTorch's caching allocator empties its cache), so this
    /// failure was not what stopped it.
    pub retried: bool,
}

/// One site of an out-of-memory failure's live set.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OomSite {
    /// The label of the report's site with these frames ([`Site::label`]).
    pub label: String,
    pub frames: Vec<String>,
    /// As [`Site::user_frame`].
    pub user_frame: usize,
    pub live_bytes: u64,
    pub live_allocations: u64,
}

impl Report {
    pub fn build(replay: &Replay, symbols: &mut Symbolizer) -> Report {
        Report::build_with(replay, symbols, &ReportOptions::default())
    }

    pub fn build_with(
        replay: &Replay,
        symbols: &mut Symbolizer,
        options: &ReportOptions,
    ) -> Report {
        let d = replay.device();
        let p = replay.pinned_host();
        let pools = replay.pools();
        let start_ns = replay.header().map_or(0, |h| h.start_mono_ns);

        let mut ranked: Vec<(&SiteKey, &SiteStats)> = replay
            .sites()
            .iter()
            // Sites whose every allocation failed have nothing to say here; the OOM list does.
            .filter(|(_, s)| s.allocations > 0)
            .collect();
        ranked.sort_by(|(ka, a), (kb, b)| {
            // Memory first: a reservation of the whole card's address space is no leak.
            holds_own_memory(kb.kind)
                .cmp(&holds_own_memory(ka.kind))
                .then(b.live_bytes.cmp(&a.live_bytes))
                .then(b.bytes_allocated.cmp(&a.bytes_allocated))
                // Deterministic output for equal figures.
                .then(ka.cmp(kb))
        });
        let clock = Clock::of(replay, options.iteration_range.as_ref());
        let device_series = live_per_iteration(replay, &clock, |_| true);
        let device_growth = judge_whole(&device_series);
        // What the program held when its iterations ended: in a program that exited cleanly,
        // the start of the last iteration (its end takes in the teardown, which may free
        // everything); else what is live now.
        let held_at_last = |series: &[u64], live_now: u64| match series.len().checked_sub(2) {
            Some(i) if replay.complete() => series[i].max(live_now),
            _ => live_now,
        };
        // Per device: its own series, its own total. A single-device trace has one entry.
        let per_device: Vec<DeviceFigures> = replay
            .gpu_by_device()
            .iter()
            .filter(|(d, _)| **d >= 0)
            .map(|(&d, t)| {
                let series = live_per_iteration(replay, &clock, |k| k.device == d);
                let judged = judge_whole(&series);
                DeviceFigures {
                    ordinal: d,
                    name: replay
                        .header()
                        .and_then(|h| h.devices.get(d as usize))
                        .cloned(),
                    total_bytes: replay.device_total_of(d),
                    allocations: t.allocations,
                    live_bytes_at_end: t.live_bytes,
                    peak_live_bytes: t.peak_live_bytes,
                    held_at_last_iteration: held_at_last(&series, t.live_bytes),
                    verdict: judged.map(|j| j.verdict.name().to_string()),
                    bytes_per_iteration: judged.map(|j| j.bytes_per_iteration),
                }
            })
            .collect();
        let held_overall = held_at_last(&device_series, replay.gpu_live_bytes());
        let sites = ranked
            .into_iter()
            .map(|(k, s)| {
                let judged = clock.judge(replay, k, s.live_bytes);
                let full_at_iteration = judged
                    .filter(|j| j.verdict == Verdict::Leak && j.bytes_per_iteration > 0)
                    .and_then(|j| {
                        // Against the site's own device: another GPU's memory does not fill it.
                        let own = per_device.iter().find(|d| d.ordinal == k.device);
                        let total = own
                            .and_then(|d| d.total_bytes)
                            .or(replay.device_total_bytes())?;
                        let held = own.map_or(held_overall, |d| d.held_at_last_iteration);
                        let room = total.saturating_sub(held);
                        let slope = j.bytes_per_iteration as u64;
                        Some(clock.count.saturating_sub(1) + room.div_ceil(slope))
                    });
                let frames = symbols.stack(replay, k.stack);
                Site {
                    label: String::new(),
                    user_frame: crate::symbols::user_frame(&frames),
                    frames,
                    memory: k.kind,
                    device: (k.device >= 0).then_some(k.device),
                    stack_id: k.stack,
                    allocations: s.allocations,
                    frees: s.frees,
                    failed_allocations: s.failed_allocations,
                    bytes_allocated: s.bytes_allocated,
                    live_bytes_at_end: s.live_bytes,
                    live_allocations_at_end: s.live_allocations,
                    live_bytes_at_last_iteration: clock
                        .ends(replay, k, s.live_bytes)
                        .and_then(|e| e.len().checked_sub(2).map(|i| e[i])),
                    verdict: judged.map(|j| j.verdict.name().to_string()),
                    bytes_per_iteration: judged.map(|j| j.bytes_per_iteration),
                    confidence: judged.map(|j| j.confidence),
                    full_at_iteration,
                }
            })
            .collect();
        let mut sites: Vec<Site> = sites;
        let labels = crate::labels::labels(
            &sites
                .iter()
                .map(|s| crate::labels::Named {
                    frames: &s.frames,
                    user_frame: s.user_frame,
                    memory: s.memory,
                    device: s.device,
                    stack_id: s.stack_id,
                })
                .collect::<Vec<_>>(),
        );
        for (site, label) in sites.iter_mut().zip(labels) {
            site.label = label;
        }

        let ooms = replay
            .ooms()
            .iter()
            .map(|o| Oom {
                requested_bytes: o.requested_bytes,
                live_bytes: o.live_bytes,
                device: (o.device >= 0).then_some(o.device),
                device_free_bytes: o.mem_info.map(|m| m.free),
                device_total_bytes: o.mem_info.map(|m| m.total),
                iteration: clock.iteration_of(o),
                frames: symbols.stack(replay, o.stack),
                live_by_site: o
                    .live_by_site
                    .iter()
                    .map(|(k, s)| {
                        let frames = symbols.stack(replay, k.stack);
                        OomSite {
                            label: sites
                                .iter()
                                .find(|s| {
                                    s.stack_id == k.stack
                                        && s.memory == k.kind
                                        && s.device == (k.device >= 0).then_some(k.device)
                                })
                                .map_or_else(
                                    || {
                                        crate::labels::labels(&[crate::labels::Named {
                                            frames: &frames,
                                            user_frame: crate::symbols::user_frame(&frames),
                                            memory: k.kind,
                                            device: (k.device >= 0).then_some(k.device),
                                            stack_id: k.stack,
                                        }])
                                        .remove(0)
                                    },
                                    |s| s.label.clone(),
                                ),
                            user_frame: crate::symbols::user_frame(&frames),
                            frames,
                            live_bytes: s.live_bytes,
                            live_allocations: s.live_allocations,
                        }
                    })
                    .collect(),
                api: api_name(o.api),
                memory: o.class,
                seq: o.seq,
                time_ns: o.time_ns.saturating_sub(start_ns),
                retried: o.retried,
            })
            .collect();

        let mut report = Report {
            schema: SCHEMA,
            process: replay.header().map(|h| Process {
                pid: h.pid,
                ppid: h.ppid,
                exe: h.exe.clone(),
                argv: h.argv.clone(),
                hostname: h.hostname.clone(),
                hook_version: h.hook_version.clone(),
                stacks: h.stacks.clone(),
                devices: h.devices.clone(),
                device: replay.device_name().map(str::to_string),
                rank: h.launch_var("RANK").and_then(|v| v.parse().ok()),
                local_rank: h.launch_var("LOCAL_RANK").and_then(|v| v.parse().ok()),
            }),
            complete: replay.complete(),
            truncated_at: replay.truncated_at(),
            totals: DeviceTotals {
                allocations: d.allocations,
                frees: d.frees,
                failed_allocations: d.failed_allocations,
                bytes_allocated: d.bytes_allocated,
                peak_live_bytes: d.peak_live_bytes,
                live_bytes_at_end: d.live_bytes,
                live_allocations_at_end: d.live_allocations,
            },
            pinned_host: PinnedHostTotals {
                allocations: p.allocations,
                frees: p.frees,
                failed_allocations: p.failed_allocations,
                bytes_allocated: p.bytes_allocated,
                peak_live_bytes: p.peak_live_bytes,
                live_bytes_at_end: p.live_bytes,
                live_allocations_at_end: p.live_allocations,
            },
            host_registered: replay.totals(MemoryClass::HostRegistered).into(),
            physical: replay.totals(MemoryClass::Physical).into(),
            gpu: replay.gpu().into(),
            mapped: replay.totals(MemoryClass::Mapped).into(),
            address_space: replay.totals(MemoryClass::AddressSpace).into(),
            imported: replay.totals(MemoryClass::Imported).into(),
            pools: Pools {
                returned_bytes: pools.returned_bytes,
                returned_frees: pools.returned_frees,
                last_trim_reserved_bytes: pools.last_trim_reserved_bytes,
                reserved_bytes_at_end: pools.reserved_bytes,
                peak_reserved_bytes: pools.peak_reserved_bytes,
                release_threshold_bytes: pools.release_threshold_bytes,
                trims: pools.trims,
                graph_trims: pools.graph_trims,
            },
            memory: summary(replay),
            sites,
            iterations: Iterations {
                device_verdict: device_growth.map(|j| j.verdict.name().to_string()),
                device_bytes_per_iteration: device_growth.map(|j| j.bytes_per_iteration),
                count: clock.count,
                source: clock.source.map(|s| s.to_string()),
                window_ns: (clock.source == Some("time")).then_some(clock.width_ns),
                launches_per_iteration: clock.auto.as_ref().map(|a| a.period),
                range: clock
                    .range
                    .and_then(|i| replay.ranges().get(i))
                    .map(|r| r.name.clone()),
            },
            ooms,
            dropped_events: replay.dropped(),
            dropped_segments: replay.dropped_segments(),
            unmatched_frees: replay.unmatched_frees(),
            replaced_allocations: replay.replaced_allocations(),
            notes: replay.notes().iter().cloned().chain(clock.notes).collect(),
            visibility: visibility(replay, clock.count),
            devices: per_device,
            diagnosis: Vec::new(),
        };
        report.diagnosis = crate::diagnosis::diagnose(&report);
        report
    }

    pub fn to_json(&self) -> String {
        // Only strings, integers, floats from integer ratios and options: cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Fewer iterations found in the launch sequence than this and time windows stand in.
const MIN_AUTO_ITERATIONS: usize = 3;

/// NVTX ranges occurring fewer times than this are not taken for iterations unless asked for.
const MIN_RANGE_ITERATIONS: u64 = 3;

/// The NVTX range whose openings are iterations: with a pattern, the matching name that occurs
/// most often; without, the most frequent outermost name occurring at least 3 times. Ties go to
/// the range seen first.
fn choose_range(replay: &Replay, pattern: Option<&Regex>) -> Option<usize> {
    replay
        .ranges()
        .iter()
        .enumerate()
        .filter(|(_, r)| match pattern {
            Some(p) => r.count > 0 && p.is_match(&r.name),
            None => r.min_depth == 0 && r.count >= MIN_RANGE_ITERATIONS,
        })
        .min_by_key(|(i, r)| (std::cmp::Reverse(r.count), *i))
        .map(|(i, _)| i)
}

/// Where the report's iterations come from: markers, else NVTX ranges, else the launch
/// sequence's period, else fixed time windows.
struct Clock {
    source: Option<&'static str>,
    /// Index into [`Replay::ranges`]; present only when `source` is "nvtx".
    range: Option<usize>,
    /// What the report should say about the choice.
    notes: Vec<String>,
    count: u64,
    start_ns: u64,
    width_ns: u64,
    /// Present only when `source` is "auto".
    auto: Option<AutoIterations>,
    /// Sites' live bytes when the epilogue began ([`Replay::epilogue`]): where the last
    /// iteration ends for them; empty when there is no epilogue.
    epilogue: HashMap<SiteKey, u64>,
}

impl Clock {
    fn of(replay: &Replay, pattern: Option<&Regex>) -> Clock {
        let (start_ns, width_ns, windows) = replay.time_windows();
        let mut notes = Vec::new();
        let range = if replay.markers() == 0 {
            choose_range(replay, pattern)
        } else {
            None
        };
        if let Some(p) = pattern {
            if replay.markers() > 0 {
                notes.push(format!(
                    "--iteration-range {p}: the program marks its iterations \
                     (gpuleak_mark_iteration); markers are used instead"
                ));
            } else if range.is_none() {
                notes.push(format!(
                    "--iteration-range {p}: no NVTX range in the trace matches"
                ));
            }
        }
        let auto = if replay.markers() == 0 && range.is_none() {
            replay
                .auto_iterations()
                .filter(|a| a.boundaries.len() >= MIN_AUTO_ITERATIONS)
        } else {
            None
        };
        let (source, count) = if replay.markers() > 0 {
            (Some("marker"), replay.markers())
        } else if let Some(i) = range {
            (Some("nvtx"), replay.ranges()[i].count)
        } else if let Some(a) = &auto {
            (Some("auto"), a.boundaries.len() as u64)
        } else if replay.events() > 0 {
            (Some("time"), u64::from(windows) + 1)
        } else {
            (None, 0)
        };
        Clock {
            source,
            range,
            notes,
            count,
            start_ns,
            width_ns,
            auto,
            epilogue: replay.epilogue().unwrap_or_default(),
        }
    }

    /// A site's live bytes at the end of the last iteration: before the epilogue, if the trace
    /// has one, else now.
    fn last_end(&self, key: &SiteKey, live_now: u64) -> u64 {
        self.epilogue.get(key).copied().unwrap_or(live_now)
    }

    /// A device or physical site's growth over the iterations it was seen in, warm-up left out.
    fn judge(&self, replay: &Replay, key: &SiteKey, live_now: u64) -> Option<Judgement> {
        let series = replay.site_series(key)?;
        let live_now = self.last_end(key, live_now);
        let (ends, first) = match self.source? {
            "marker" => (
                growth::iteration_ends(&series.at_markers, live_now),
                series.first_marker.saturating_sub(1) as usize,
            ),
            "nvtx" => {
                let b = series
                    .at_ranges
                    .get(self.range?)
                    .cloned()
                    .unwrap_or_default();
                (
                    growth::iteration_ends(&b.at, live_now),
                    b.first.saturating_sub(1) as usize,
                )
            }
            "auto" => {
                let s = self.auto.as_ref()?.series.get(key)?;
                (
                    growth::iteration_ends(&s.at, live_now),
                    s.first.saturating_sub(1) as usize,
                )
            }
            _ => {
                let mut ends = series.at_windows.clone();
                ends.push(live_now);
                (ends, series.first_window as usize)
            }
        };
        let warm = growth::warm_up(ends.len());
        let from = warm.max(first);
        let judged = growth::judge(ends.get(from..)?)?;
        // A site born after the warm-up: its birth is a step too. Through a caching allocator a
        // leak's first segment comes from its line like the later ones (earlier leaked blocks
        // landed in other sites' segments), and without it a run of a few segments shows one
        // step less than it climbed. Only a staircase counts it: a site born once and flat since
        // is no leak.
        if first > warm
            && judged.verdict != Verdict::Sawtooth
            && let Some(stairs) = ends.get(warm..).and_then(growth::staircase)
        {
            return Some(stairs);
        }
        if judged.verdict == Verdict::Steady {
            // Growth that stopped within the warm-up (a cache filled in the first steps) is
            // still a plateau: warm-up is left out to avoid false leaks, not to hide growth.
            if let Some(whole) = ends.get(first..).and_then(growth::judge)
                && whole.verdict == Verdict::Plateau
            {
                return Some(whole);
            }
        }
        Some(judged)
    }

    fn iteration_of(&self, o: &OomEvent) -> Option<u64> {
        match self.source? {
            "marker" => o.markers_before.checked_sub(1),
            "nvtx" => o.ranges_before.get(self.range?)?.checked_sub(1),
            "auto" => self.auto.as_ref()?.iteration_after(o.launches_before),
            _ => Some(
                (o.time_ns.saturating_sub(self.start_ns) / self.width_ns)
                    .min(self.count.saturating_sub(1)),
            ),
        }
    }
}

/// Judges the whole device's live bytes per iteration as a site's, the warm-up left out (the
/// epilogue is no iteration: [`Clock::last_end`]).
fn judge_whole(ends: &[u64]) -> Option<growth::Judgement> {
    growth::judge(ends.get(growth::warm_up(ends.len())..)?)
}

/// Device and physical memory live at the end of each iteration (as the report counts iterations, warm-up
/// included): the sum over device and physical sites of each site's live bytes at that iteration's end; the
/// last entry is what is live now. Empty for a trace with no device allocations.
pub fn device_live_per_iteration(replay: &Replay, options: &ReportOptions) -> Vec<u64> {
    let clock = Clock::of(replay, options.iteration_range.as_ref());
    live_per_iteration(replay, &clock, |_| true)
}

/// Each device or physical site's live bytes at the end of every iteration, as
/// [`device_live_per_iteration`] sums them (the last entry is what is live now): for charts of
/// memory over iterations by site.
pub fn site_live_per_iteration(
    replay: &Replay,
    options: &ReportOptions,
) -> HashMap<SiteKey, Vec<u64>> {
    let clock = Clock::of(replay, options.iteration_range.as_ref());
    replay
        .sites()
        .iter()
        .filter_map(|(key, stats)| Some((*key, clock.ends(replay, key, stats.live_bytes)?)))
        .collect()
}

/// [`device_live_per_iteration`] over the sites `keep` keeps.
fn live_per_iteration(replay: &Replay, clock: &Clock, keep: impl Fn(&SiteKey) -> bool) -> Vec<u64> {
    let mut total: Vec<u64> = Vec::new();
    for (key, stats) in replay.sites().iter().filter(|(k, _)| keep(k)) {
        let Some(ends) = clock.ends(replay, key, stats.live_bytes) else {
            continue;
        };
        if ends.len() > total.len() {
            total.resize(ends.len(), 0);
        }
        for (t, e) in total.iter_mut().zip(ends) {
            *t = t.saturating_add(e);
        }
    }
    total
}

impl Clock {
    /// A device or physical site's live bytes at the end of every iteration, from the first; `None` for
    /// sites of other memory or a trace with no iterations.
    fn ends(&self, replay: &Replay, key: &SiteKey, live_now: u64) -> Option<Vec<u64>> {
        let series = replay.site_series(key)?;
        let live_now = self.last_end(key, live_now);
        Some(match self.source? {
            "marker" => growth::iteration_ends(&series.at_markers, live_now),
            "nvtx" => {
                let b = series
                    .at_ranges
                    .get(self.range?)
                    .cloned()
                    .unwrap_or_default();
                growth::iteration_ends(&b.at, live_now)
            }
            "auto" => {
                let s = self.auto.as_ref()?.series.get(key)?;
                growth::iteration_ends(&s.at, live_now)
            }
            _ => {
                let mut ends = series.at_windows.clone();
                ends.push(live_now);
                ends
            }
        })
    }
}

/// What the trace can show ([`Visibility`]).
fn visibility(replay: &Replay, iterations: u64) -> Visibility {
    let loaded = |needle: &str| replay.modules().iter().any(|m| m.path.contains(needle));
    let gpu = replay.gpu();
    let (level, cache) = if loaded("libc10_cuda.so") {
        if replay.stream_ordered_allocations() > 0 {
            ("tensors", None)
        } else {
            ("segments", Some("pytorch"))
        }
    } else if loaded("/cupy/") || loaded("cupy_backends") {
        ("segments", Some("cupy"))
    } else if gpu.allocations >= 2 && gpu.frees == 0 && replay.pools().returned_frees == 0 {
        ("segments", Some("pool"))
    } else {
        ("allocations", None)
    };
    let needed = HEALTHY_MIN_ITERATIONS.saturating_sub(iterations);
    let mut causes = Vec::new();
    if cache.is_some() {
        causes.push("hidden_by_cache");
    }
    if needed > 0 && iterations > 0 {
        causes.push("too_few_iterations");
    }
    let command = match cache {
        Some("pytorch") => replay
            .header()
            .filter(|h| !h.argv.is_empty())
            .map(|h| format!("gpuleak run --torch-tensors -- {}", shell_words(&h.argv))),
        _ => None,
    };
    Visibility {
        level,
        cache,
        causes,
        iterations_needed: (needed > 0 && iterations > 0).then_some(needed),
        command,
    }
}

/// A command line as a shell reads it back: words with anything but safe characters quoted.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            let safe = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if safe {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn api_name(api: Api) -> String {
    api.name().to_string()
}

fn summary(replay: &Replay) -> MemorySummary {
    let class = |c: MemoryClass| *replay.totals(c);
    let (device, physical, pinned) = (
        class(MemoryClass::Device),
        class(MemoryClass::Physical),
        class(MemoryClass::PinnedHost),
    );
    let managed = replay.kind_totals(MemoryKind::Managed);
    let by_kind = MEMORY_KINDS
        .iter()
        .filter_map(|&kind| {
            let t = replay.kinds().get(&kind)?;
            Some(KindTotals {
                kind,
                class: MemoryClass::of_kind(kind),
                allocations: t.allocations,
                frees: t.frees,
                failed_allocations: t.failed_allocations,
                bytes_allocated: t.bytes_allocated,
                peak_live_bytes: t.peak_live_bytes,
                live_bytes_at_end: t.live_bytes,
                live_allocations_at_end: t.live_allocations,
            })
        })
        .collect();
    MemorySummary {
        device_live_bytes_at_end: device.live_bytes,
        device_peak_live_bytes: device.peak_live_bytes,
        managed_live_bytes_at_end: managed.live_bytes,
        managed_peak_live_bytes: managed.peak_live_bytes,
        physical_live_bytes_at_end: physical.live_bytes,
        physical_peak_live_bytes: physical.peak_live_bytes,
        device_plus_physical_live_bytes_at_end: replay.gpu_live_bytes(),
        device_plus_physical_peak_live_bytes: replay.gpu_peak_live_bytes(),
        mapped_bytes_at_end: class(MemoryClass::Mapped).live_bytes,
        reserved_address_space_bytes_at_end: class(MemoryClass::AddressSpace).live_bytes,
        pinned_host_live_bytes_at_end: pinned.live_bytes,
        pinned_host_peak_live_bytes: pinned.peak_live_bytes,
        host_registered_bytes_at_end: class(MemoryClass::HostRegistered).live_bytes,
        imported_bytes_at_end: class(MemoryClass::Imported).live_bytes,
        returned_to_pools_bytes: replay.pools().returned_bytes,
        by_kind,
    }
}

fn serialize_kind<S: Serializer>(kind: &MemoryKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind_name(*kind))
}
