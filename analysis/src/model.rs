//! The report's data model: what a replay found, in the shape `gpuleak report --format json`
//! prints. Built by [`crate::report`], read by [`crate::diagnosis`] and every renderer.
//!
//! The JSON is an interface other tools read: field names are fixed, new fields are only ever
//! added beside old ones, and `schema` changes when a field changes meaning.

use std::fmt;

use gpuleak_trace::MemoryKind;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::growth::{Judgement, Verdict};

use crate::memory::{MemoryClass, kind_name};
use crate::quiet::Quiet;
use crate::replay::{DroppedSegments, Totals};

mod holders;
mod oom;
pub use holders::{HolderEntry, HolderGroup, Holding, KeptSegment, ModelBytes, RoleBytes};
pub use oom::{
    Advice, AdviceKind, FailedRequest, OomCause, OomPart, OomReport, PartKind, PartShare,
};

pub const SCHEMA: u32 = 1;

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
    /// The failure the program died of (the last one on a device not retried with success),
    /// explained: the request, what filled the device, the cause, the advice. Null when no
    /// device allocation failed for good.
    pub oom: Option<OomReport>,
    pub dropped_events: u64,
    /// A trace written under a size cap (`--max-size`): the oldest segments it dropped. Live
    /// figures stay exact; totals and iterations count from the first kept segment.
    pub dropped_segments: Option<DroppedSegments>,
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
    pub diagnosis: Vec<Diagnosis>,
    /// What kept device memory alive, each time the walk inside a Python program ran (at exit,
    /// after an out-of-memory failure, on demand), in trace order; empty for a native program
    /// or a trace without walks.
    pub holders: Vec<Holding>,
}

/// One device's share of the process: device and physical memory allocated on it.
#[derive(Clone, Debug, Serialize, PartialEq)]
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
    /// Its memory over iterations, judged like a site's; none with fewer than 3 iterations.
    /// In the JSON: `verdict` and `bytes_per_iteration`, null when none.
    #[serde(flatten, serialize_with = "device_growth_fields")]
    pub growth: Option<Judgement>,
}

impl DeviceFigures {
    pub fn verdict(&self) -> Option<Verdict> {
        self.growth.map(|g| g.verdict)
    }

    pub fn bytes_per_iteration(&self) -> Option<i64> {
        self.growth.map(|g| g.bytes_per_iteration)
    }
}

/// What one recorded allocation stands for, and what a run needs before "no leak" means
/// anything.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Visibility {
    /// "tensors": a caching allocator's every block is an event (PyTorch's cudaMallocAsync
    /// backend, `gpuleak run --torch-tensors`); "segments": a caching allocator sits between the
    /// program and the driver and only its segments are seen, so blocks it hands out again from
    /// its cache are not; "allocations": the program's own calls, as made.
    pub level: Level,
    /// The caching allocator behind "segments": "pytorch" (libc10_cuda in the process), "cupy"
    /// (its modules loaded), or "pool" (device memory was allocated and none was ever given
    /// back to the driver: something keeps what the program frees); null otherwise.
    pub cache: Option<Cache>,
    /// Why a run whose memory does not grow is not called healthy: "hidden_by_cache" (growth
    /// smaller than the cache's unused part makes no allocation), "too_few_iterations"; empty
    /// when a leak would have shown.
    pub causes: Vec<Cause>,
    /// How many more iterations a verdict of "no leak" needs; null when there are enough.
    pub iterations_needed: Option<u64>,
    /// The command that records what this trace could not see; null when there is none.
    pub command: Option<String>,
}

pub use crate::thresholds::HEALTHY_MIN_ITERATIONS;

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
    /// The one of them the process worked on (see [`crate::Replay::device_name`]).
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
    /// ([`crate::frames::is_library_frame`]); 0 when all are library code.
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
    /// How live bytes at the end of each iteration moved, warm-up left out; none for memory
    /// other than device and physical memory and for sites seen in fewer than 3 iterations. In
    /// the JSON, null when none: `verdict` ("leak", "sawtooth", "plateau" or "steady"),
    /// `bytes_per_iteration` (the robust Theil–Sen slope of live bytes at iteration ends; for a
    /// sawtooth, the median of its rising steps, its slope over the run being about zero) and
    /// `confidence` (how sure the verdict is, 0 to 1).
    #[serde(flatten, serialize_with = "site_growth_fields")]
    pub growth: Option<Judgement>,
    /// For a leak: the iteration at which, at this rate, the device is full (its total memory
    /// as the trace last saw it, less the device and physical memory this process holds at the
    /// end, or held when its last iteration began if it exited cleanly after freeing it); null
    /// when the total is unknown or the site is no leak.
    pub full_at_iteration: Option<u64>,
    /// What keeps this site's memory, grouped (`GALLERY[*]`), largest first, from the last walk
    /// that found holders; empty when there is none or nothing of this site's was held.
    pub holders: Vec<HolderGroup>,
    /// Live bytes when the program's work began: at the first iteration's start (markers, NVTX
    /// ranges, the launch sequence), or, over time windows, at the end of the window its steps
    /// began in ([`crate::Replay::steps_begin_ns`]); what it loaded in its prologue. Null for
    /// memory with no series, or when the trace cannot tell where the work began.
    pub loaded_bytes: Option<u64>,
    /// Why the site is not a finding though its verdict is one ([`crate::quiet`]): "loaded"
    /// (allocated before the work began, held since: a model's weights) or "negligible" (a
    /// negligible share of the device and of the peak); null for findings and for sites whose
    /// verdict is none or steady.
    pub quiet: Option<Quiet>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Iterations {
    pub count: u64,
    /// "marker" when the program marked its iterations (iteration i runs from marker i to the
    /// next, the last to the end of the trace); else "nvtx" when NVTX ranges mark them
    /// (iteration i starts at the i-th push or start of the range named in `range`); else
    /// "auto" when its launches (kernels, CUDA graphs) repeat (iterations are the repetitions of
    /// the launch sequence's period, each starting at a launch of the period's anchor); else
    /// "time", fixed time windows standing in for them; null for a trace with no events, or one
    /// cut off while its model loads (one kernel repeating while memory only climbs).
    pub source: Option<Source>,
    /// The length of each window when `source` is "time", in nanoseconds; null otherwise.
    pub window_ns: Option<u64>,
    /// Kernel launches per iteration when `source` is "auto"; null otherwise.
    pub launches_per_iteration: Option<u64>,
    /// The NVTX range whose openings start iterations when `source` is "nvtx"; null otherwise.
    pub range: Option<String>,
    /// What the program calls an iteration when `source` is "marker": the label most of its
    /// markers carry ("request"), the unit every rate and place is said in; null otherwise, or
    /// when no label is carried by half the markers (each named apart, or none).
    pub marker_label: Option<String>,
    /// How the process's device memory as a whole moved over iterations, judged like a site's;
    /// none with fewer than 3 iterations. In the JSON: `device_verdict` ("leak", "sawtooth",
    /// "plateau", "steady") and `device_bytes_per_iteration`, null when none. Growth in all
    /// with no leaking site means the growing allocations come from many places (a caching
    /// allocator's segments).
    #[serde(flatten, serialize_with = "whole_growth_fields")]
    pub device_growth: Option<Judgement>,
    /// Time windows stand in for the steps of a program whose kernels repeat but whose
    /// period is not found yet (a live view's first requests): the windows may cut its steps
    /// apart, so no site is called sawtooth or plateau over them; false otherwise.
    pub windows_cut_steps: bool,
}

impl Iterations {
    pub fn device_verdict(&self) -> Option<Verdict> {
        self.device_growth.map(|g| g.verdict)
    }

    pub fn device_bytes_per_iteration(&self) -> Option<i64> {
        self.device_growth.map(|g| g.bytes_per_iteration)
    }

    /// Whether the process's device memory as a whole leaks ([`Judgement::leaks`]).
    pub fn device_leaks(&self) -> bool {
        self.device_growth.is_some_and(|g| g.leaks())
    }

    /// The unit the iterations are counted in, for sentences: "time window", "iteration", or
    /// a marker's label.
    /// Every surface says rates, places and counts in it (`/iteration`, `in iteration 35`):
    /// the diagnosis, the text report, the HTML page, the live view.
    ///
    /// Markers with a label say what the program calls one ("request"): that is the unit.
    pub fn unit(&self) -> &str {
        match (self.source, self.marker_label.as_deref()) {
            (Some(Source::Time), _) => "time window",
            (Some(Source::Marker), Some(label)) => label,
            _ => "iteration",
        }
    }

    /// [`Iterations::unit`] short, for columns and the live view's header: "window", "iter",
    /// or a marker's label whole (it is short already).
    pub fn unit_short(&self) -> &str {
        match (self.source, self.marker_label.as_deref()) {
            (Some(Source::Time), _) => "window",
            (Some(Source::Marker), Some(label)) => label,
            _ => "iter",
        }
    }

    /// What one unit is, when the program did not mark it: "an iteration here is one
    /// repetition of the launch sequence (4 kernel launches): one step of the program, or a
    /// request of several"; `None` when markers or NVTX ranges mark it (the program said what
    /// it is). A repetition found in the launches can hold several of the program's steps, so
    /// its rates are per repetition, not per step.
    pub fn unit_meaning(&self) -> Option<String> {
        match self.source? {
            Source::Marker | Source::Nvtx => None,
            Source::Auto => Some(format!(
                "an iteration here is one repetition of the launch sequence{}: one step of the \
                 program, or a request of several",
                self.launches_per_iteration
                    .map_or(String::new(), |n| format!(
                        " ({n} kernel launch{})",
                        if n == 1 { "" } else { "es" }
                    ))
            )),
            Source::Time => Some(
                "the program marks no iterations and its launches do not repeat: fixed time \
                 windows stand in for them"
                    .to_string(),
            ),
        }
    }
}

impl Site {
    pub fn verdict(&self) -> Option<Verdict> {
        self.growth.map(|g| g.verdict)
    }

    pub fn bytes_per_iteration(&self) -> Option<i64> {
        self.growth.map(|g| g.bytes_per_iteration)
    }

    pub fn confidence(&self) -> Option<f64> {
        self.growth.map(|g| g.confidence)
    }

    /// Whether the site leaks ([`Judgement::leaks`]).
    pub fn leaks(&self) -> bool {
        self.growth.is_some_and(|g| g.leaks())
    }

    /// Whether its verdict is a finding: a leak, sawtooth or plateau that is not
    /// [`Quiet`] ([`crate::quiet::is_finding`]).
    pub fn is_finding(&self) -> bool {
        crate::quiet::is_finding(self.verdict(), self.quiet)
    }
}

/// Where the report's iterations come from (`iterations.source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `gpuleak_mark_iteration` markers.
    Marker,
    /// NVTX range openings.
    Nvtx,
    /// Repetitions of the launch sequence's period.
    Auto,
    /// Fixed time windows standing in for iterations.
    Time,
}

impl Source {
    /// The name the JSON report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Marker => "marker",
            Source::Nvtx => "nvtx",
            Source::Auto => "auto",
            Source::Time => "time",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one recorded allocation stands for (`visibility.level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A caching allocator's every block is an event.
    Tensors,
    /// Only a caching allocator's segments are seen.
    Segments,
    /// The program's own calls, as made.
    Allocations,
}

/// The caching allocator behind `Level::Segments` (`visibility.cache`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cache {
    /// PyTorch's (libc10_cuda in the process).
    Pytorch,
    /// CuPy's memory pool.
    Cupy,
    /// Something that never gave device memory back.
    Pool,
}

/// Writes a growth judgement as the fields `names` (verdict, bytes per iteration, and the
/// confidence when there is a third name), each null when there is no judgement.
fn growth_fields<S: Serializer>(
    g: &Option<Judgement>,
    names: &[&'static str],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_struct("Growth", names.len())?;
    map.serialize_field(names[0], &g.map(|g| g.verdict))?;
    map.serialize_field(names[1], &g.map(|g| g.bytes_per_iteration))?;
    if let Some(&name) = names.get(2) {
        map.serialize_field(name, &g.map(|g| g.confidence))?;
    }
    map.end()
}

fn site_growth_fields<S: Serializer>(g: &Option<Judgement>, s: S) -> Result<S::Ok, S::Error> {
    growth_fields(g, &["verdict", "bytes_per_iteration", "confidence"], s)
}

fn device_growth_fields<S: Serializer>(g: &Option<Judgement>, s: S) -> Result<S::Ok, S::Error> {
    growth_fields(g, &["verdict", "bytes_per_iteration"], s)
}

fn whole_growth_fields<S: Serializer>(g: &Option<Judgement>, s: S) -> Result<S::Ok, S::Error> {
    growth_fields(g, &["device_verdict", "device_bytes_per_iteration"], s)
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Oom {
    /// The failed request's own label, as a site's would read: where it was asked for; "" when
    /// its stack was not recorded.
    pub label: String,
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
    pub fn to_json(&self) -> String {
        // Only strings, integers, floats from integer ratios and options: cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// What a diagnosis blames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Memory grows every iteration at one or more sites.
    Leak,
    /// Memory ran out before it could grow: the work itself needs more than the device has.
    TooLarge,
    /// Allocations failed but were retried and succeeded: memory was at the device's limit.
    AtLimit,
    /// Nothing grows over iterations, yet one iteration's peak did not fit.
    Peak,
    /// The device had more free than was asked, but not in one piece.
    Fragmentation,
    /// Most of the device was used outside the process's recorded allocations.
    Elsewhere,
    /// Pools keep much more than is live: freed memory stays reserved.
    PoolRetention,
    /// Memory kept through a cycle of iterations and given back at its end: it sets the peak.
    HeldPerCycle,
    /// Device memory grows in all, but no single call site does.
    GrowthUnattributed,
    /// Device memory grows in all, most of it at one site whose own series is no clear leak.
    GrowthAtSite,
    /// Nothing grows at the level gpuleak sees, but a caching allocator sits between the program
    /// and the driver: growth inside its unused part makes no allocation.
    HiddenByCache,
    /// Too few iterations to tell growth from warm-up.
    TooFewIterations,
    /// Nothing grows; memory stays within what the device has.
    Healthy,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub cause: Cause,
    /// One paragraph, with the figures and the sites it rests on.
    pub text: String,
}

fn serialize_kind<S: Serializer>(kind: &MemoryKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind_name(*kind))
}
