//! Every threshold the analysis judges by, in one place, each with why it has its value.
//! Changing one changes verdicts, iteration counts or diagnoses: the tests that pin them are
//! named beside each group.

// Judging a series (growth.rs; tests in growth.rs and tests/growth.rs).

/// Fewer iterations than this and nothing is judged: two points always make a line.
pub const MIN_ITERATIONS: usize = 3;
/// Points the slope is computed over at most (evenly spaced when there are more iterations):
/// Theil–Sen is quadratic in its points, and 200 points keep it under a millisecond a site.
pub const SLOPE_POINTS: usize = 200;
/// A change smaller than the series' peak divided by this is no change: allocations are
/// discrete, so flat is usually exactly flat, and 1% absorbs alignment and a small buffer coming
/// and going.
pub const FLAT_TOLERANCE_DIVISOR: u64 = 100;
/// A leak has at least this share of its steps up or flat: a few frees of what it keeps are
/// allowed, a series that goes down often is not growing.
pub const LEAK_NON_DECREASING: f64 = 0.8;
/// A leak keeps at least this share of what its slope says it gained over the run.
pub const LEAK_KEPT_SHARE: f64 = 0.5;
/// Pairs of points compared for a leak's confidence at most: enough to tell, quadratic beyond.
pub const LEAK_CONFIDENCE_PAIRS: u64 = 40_000;
/// A plateau's flat tail is at least this share of the series: shorter, and it may be the
/// flat run between two steps of a leak.
pub const PLATEAU_TAIL_SHARE: f64 = 0.3;
/// A sawtooth falls back at least this many times; one fall could be a single release.
pub const SAWTOOTH_MIN_DROPS: usize = 2;
/// A sawtooth's (and a staircase's) confidence is full after this many cycles (or periods).
pub const FULL_CONFIDENCE_CYCLES: f64 = 3.0;

// Iterations in the launch sequence (period.rs; tests in period.rs, tests/auto.rs and
// tests/long_period.rs).

/// Launches whose functions are kept to find the period in: a sampler's few hundred steps of a
/// few hundred kernels each, in bounded memory.
pub const PREFIX_LAUNCHES: usize = 200_000;
/// Device-site changes logged while the prefix is collected; reaching it ends the prefix early,
/// so memory stays bounded when every launch allocates.
pub const LOG_CAP: usize = 1 << 20;
/// The share of positions a period must repeat at: steps differ a little (a kernel once per
/// image, a scheduler's branch), and 90% still rules out chance repeats.
pub const PERIOD_MATCH: f64 = 0.9;
/// A period must repeat at least this often in the prefix to be a step.
pub const PERIOD_MIN_REPEATS: usize = 3;
/// Comparisons the period search may make before it gives up: a few seconds at most.
pub const PERIOD_MAX_COMPARISONS: usize = 200_000_000;
/// Past a warm-up, the period is looked for from 0, 1, 2 and 3 eighths of the sequence on
/// before its last half: a warm-up of up to a few eighths of what was read is passed as soon as
/// three periods follow it (a first request's set-up, read live).
pub const WARM_UP_EIGHTHS: usize = 4;
/// While the prefix is collected, the period is searched for again once the prefix has grown
/// by this fraction (1/8) since the last search: a live view refreshing many times a second
/// pays for a search at lengths growing by 12.5%, not for one per refresh, and finds a period
/// at most an eighth later than a search at every launch would.
pub const SEARCH_AGAIN_SHARE: usize = 8;
/// The shortest tail of the launch sequence a period is looked for in, past a long warm-up.
pub const PERIOD_MIN_TAIL: usize = 16;
/// A function is launched once per period when its count is within this share of the number
/// of periods (a step or two more or less at the edges).
pub const ANCHOR_COUNT_SHARE: f64 = 0.1;
/// A run of one kernel the launches open with is a model being loaded (one kernel per
/// parameter) when it is at least this long and memory only climbs through it: a few layers'
/// worth, longer than a step's repeated kernel at its start.
pub const LOADING_MIN_LAUNCHES: u64 = 16;

/// The launches a program's steps open with, that must come again before a trace cut off (or
/// read live) is judged over time windows: until they do, the program is inside its first step,
/// whose activations climb window after window and would read as a leak. Long enough that a
/// block of kernels repeated inside a step (a ResNet block's) does not pass for the next step.
pub const FIRST_STEP_LAUNCHES: usize = 24;

// Choosing the iterations (report.rs; tests in tests/auto.rs and tests/nvtx.rs).

/// Fewer iterations found in the launch sequence than this and time windows stand in.
pub const MIN_AUTO_ITERATIONS: usize = 3;
/// NVTX ranges occurring fewer times than this are not taken for iterations unless asked for.
pub const MIN_RANGE_ITERATIONS: u64 = 3;
/// Fewer iterations than this and a run whose memory does not grow is not called healthy: after
/// the warm-up and the last iteration of a complete trace are left out, a verdict of "steady"
/// rests on 4 points.
pub const HEALTHY_MIN_ITERATIONS: u64 = 6;

// The replay (replay/, figures.rs; tests in tests/replay.rs).

/// How many events after a failure a successful retry of it is looked for: PyTorch empties its
/// cache and retries at once, within a few calls.
pub const RETRY_WINDOW_EVENTS: u64 = 100_000;

/// How long NVML's figures for one failure stand for a later one on the same device. The hook
/// asks once per burst of failures, so a caching allocator's retry that fails again (the failure
/// a program dies of) has no answer of its own; what other processes hold changes slowly next
/// to the seconds between the two (a holders walk in between can take two).
pub const PROCESSES_STAND_NS: u64 = 10_000_000_000;
/// Sites kept in an out-of-memory failure's live set: what filled the device, not everything.
pub const OOM_SITES: usize = 10;
/// Groups (site, launches and markers at allocation) an out-of-memory failure's split by age
/// keeps: a program's weights and a step's tensors come from far fewer; past it the smallest
/// are summed without an age.
pub const OOM_GROUPS: usize = 4096;
/// Failures whose split by age is kept: the one a program died of is the latest not retried,
/// and a program failing in a loop must not keep one per failure.
pub const OOM_ANATOMIES: usize = 8;
/// Sites, models or libraries named in one part of an out-of-memory report.
pub const OOM_PART_NAMES: usize = 5;
/// How many distinct NVTX ranges (domain and name) a replay follows; later names are ignored,
/// so a program naming a range per item cannot grow the replay without bound.
pub const MAX_RANGES: usize = 32;
/// How many distinct marker labels a replay counts; later ones are not counted, so a program
/// naming each marker apart ("request 17") cannot grow the replay without bound.
pub const MAX_MARKER_LABELS: usize = 32;
/// The share of markers a label must be carried by, at least, to name what an iteration is
/// ("request"): the program's word for its unit, not one marker's name.
pub const MARKER_LABEL_SHARE: f64 = 0.5;
/// The longest marker label taken for the unit's word: it is said after every rate.
pub const MARKER_LABEL_MAX_CHARS: usize = 24;
/// How many time windows the fallback keeps at least; it keeps fewer than twice as many.
pub const TIME_WINDOWS: u32 = 20;

// Diagnoses (diagnosis.rs; tests in tests/diagnosis.rs).

/// Without the device's free memory at the failure, a leak must hold this share of what was
/// live to be its cause.
pub const LEAK_SHARE: f64 = 0.25;
/// Pools keeping this many times what is live, and at least [`POOL_MIN`], are worth a word.
pub const POOL_FACTOR: u64 = 2;
/// Below this, what pools keep is too little to act on.
pub const POOL_MIN: u64 = 256 << 20;

// Which verdicts are findings (quiet.rs; tests in tests/quiet.rs).

/// A plateau or sawtooth holding less than this share of the device's memory at its highest,
/// and less than [`NEGLIGIBLE_PEAK_SHARE`] of the process's peak, is not worth a finding: a
/// few hundred bytes a library keeps (two 616-byte plateaus beside a 2 GiB pipeline) would be
/// read as something to fix. Both shares must be small: on a small device, or beside a small
/// peak, the same bytes may matter.
pub const NEGLIGIBLE_DEVICE_SHARE: f64 = 0.001;
/// The share of the process's peak device memory under which a plateau or sawtooth is
/// negligible (with [`NEGLIGIBLE_DEVICE_SHARE`]).
pub const NEGLIGIBLE_PEAK_SHARE: f64 = 0.01;
