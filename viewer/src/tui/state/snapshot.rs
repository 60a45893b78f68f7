//! The analysis of the process shown, as plain figures and tables: what the screens draw, made
//! again at most every [`super::ANALYSIS_EVERY`], so that a frame costs the same however long the
//! trace is.

use std::collections::HashMap;

use gpuleak_analysis::{AutoIterations, Site, SiteKey};

use super::rows::{AllocRow, Boundary, IterRow};
use crate::findings::IterationSource;

use crate::tui::follow::Mark;

/// The header line's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub command: String,
    pub pid: Option<u32>,
    /// "running 00:01:12", "exited 0", "killed (signal 9)", "complete", "recording" ...
    pub status: String,
    /// The status is bad news (killed, OOM, cut short): shown in red.
    pub alarming: bool,
    pub oom: bool,
    /// Device total memory, as cuMemGetInfo reported it.
    pub device_total: Option<u64>,
    /// The device's name, as the driver gave it.
    pub device_name: Option<String>,
    pub live: u64,
    pub peak: u64,
    pub reserved: u64,
    pub pinned: u64,
    /// "marker", "nvtx \"step\"", "auto", "time"; empty without events.
    pub iteration_source: String,
    pub iterations: u64,
    /// How device memory as a whole moves per iteration: the verdict and bytes per iteration.
    pub growth: Option<(String, i64)>,
    /// "iter" or, when time windows stand in for iterations, "window".
    pub per: &'static str,
    pub events: u64,
    pub events_per_s: f64,
    pub dropped: u64,
}

/// The last analysis of the process shown.
#[derive(Default)]
pub struct Snapshot {
    pub summary: Summary,
    /// Device memory live at the end of each iteration.
    pub series: Vec<u64>,
    /// Device memory over time: (seconds since the trace started, bytes).
    pub timeline: Vec<(f64, f64)>,
    /// Where iterations start, in seconds (markers, NVTX openings or launches).
    pub ticks: Vec<f64>,
    /// Allocations that failed for lack of memory: (seconds, live bytes then).
    pub ooms: Vec<(f64, f64)>,
    /// As the report ranks them (live memory first).
    pub sites: Vec<Site>,
    /// The devices the process allocated on, with their own figures.
    pub devices: Vec<gpuleak_analysis::DeviceFigures>,
    /// The trace the sites come from ended cleanly: "live at the end" and "freed at exit" mean
    /// something (else "live now").
    pub sites_complete: bool,
    pub(crate) site_index: HashMap<SiteKey, usize>,
    /// Indices into `sites` of the findings, in their order (ranked once per analysis, not
    /// per frame).
    pub(crate) findings: Vec<usize>,
    /// Why memory ran out, or would (the report's diagnosis).
    pub diagnosis: Vec<gpuleak_analysis::Diagnosis>,
    /// The live set, largest first; `alloc_order` indexes it in the table's order, filtered.
    pub allocs: Vec<AllocRow>,
    pub iterations: Vec<IterRow>,
    /// Where each iteration the report counts starts, with the device figures there, as of the
    /// last analysis; empty for time windows.
    pub bounds: Vec<Mark>,
    /// `bounds` stop short of the iterations counted: the figures kept ran out (a cap).
    pub bounds_partial: bool,
    /// What starts an iteration, for the cursor; `None` for time windows.
    pub(crate) boundary: Option<Boundary>,
    /// What the report counts iterations by (`summary.iteration_source` says it in words).
    pub(crate) source: Option<IterationSource>,
    /// Index into the replay's ranges of the NVTX range that marks iterations.
    pub(crate) range_index: Option<usize>,
    /// The launch sequence's iterations when they are the report's: taken once per analysis,
    /// as the replay gives them by cloning.
    pub(crate) auto: Option<AutoIterations>,
    pub(crate) start_ns: u64,
}
