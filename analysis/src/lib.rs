//! Replay and analysis of gpuleak traces, bottom to top:
//! - [`thresholds`]: every threshold the analysis judges by, with why;
//! - [`memory`]: memory classes, kind names, the live-set and site keys;
//! - [`figures`]: what the replay keeps (totals, site figures, failures, series);
//! - [`holders`]: what keeps device memory alive in a Python program, each holder matched to
//!   the live block that contains it, grouped (`GALLERY[*]`), by role and model;
//! - [`replay`]: the streaming replay, live set, totals, sites and their series ([`Replay`]),
//!   with [`period`] finding iterations in the launch sequence;
//! - [`growth`]: judging a series of live bytes (leak, sawtooth, plateau, steady);
//! - [`quiet`]: which verdicts are findings (not memory loaded before the work, nor a few
//!   bytes); [`bands`]: memory at iteration ends as loaded and kept, for charts;
//! - [`frames`]: what a frame's text says; [`symbols`]: addresses to frames; [`labels`]:
//!   one-line site names;
//! - [`model`]: the report's data model, the JSON schema ([`Report`]);
//! - [`report`]: building it from a replay; [`diagnosis`]: reading it as sentences;
//! - [`units`]: byte and count formatting.
//!
//! ```no_run
//! let mut reader = gpuleak_trace::open("run.trace".as_ref())?;
//! let replay = gpuleak_analysis::Replay::from_reader(&mut reader)?;
//! let report = gpuleak_analysis::Report::build(&replay, &mut gpuleak_analysis::Symbolizer::new());
//! println!("{}", report.to_json());
//! # Ok::<(), gpuleak_trace::DecodeError>(())
//! ```

pub mod bands;
pub mod diagnosis;
pub mod figures;
pub mod frames;
pub mod growth;
pub mod holders;
pub mod labels;
pub mod memory;
pub mod model;
pub mod period;
pub mod quiet;
pub mod replay;
pub mod report;
pub mod symbols;
pub mod thresholds;
pub mod units;

pub use diagnosis::diagnose;
pub use frames::{
    function_name, is_library_frame, is_python_frame, short_frame, short_function, stack_frame,
    tidy_frame, user_frame,
};
pub use holders::{HeldBlock, HeldEntry, HeldGroup, HeldSnapshot, KeptBlock, RoleTotal};
pub use model::{
    Advice, AdviceKind, Cause, Diagnosis, FailedRequest, OomCause, OomPart, OomReport, PartKind,
    PartShare,
};
pub use period::{AutoIterations, AutoSeries};
pub use quiet::Quiet;
pub use replay::{
    BoundarySeries, DroppedSegments, Frame, LiveAlloc, LiveKey, MAX_RANGES, MEMORY_KINDS,
    MemoryClass, OomEvent, PoolStats, RangeStats, Replay, SiteKey, SiteSeries, SiteStats,
    TIME_WINDOWS, Totals, holds_own_memory, is_out_of_memory, kind_name,
};
pub use report::{
    ClassTotals, DeviceFigures, DeviceTotals, Iterations, KindTotals, MemorySummary, Oom,
    PinnedHostTotals, Pools, Process, Report, ReportOptions, SCHEMA, Site,
};
pub use symbols::{Resolved, Symbolizer};
