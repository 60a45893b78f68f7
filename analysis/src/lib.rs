//! Replay and analysis of gpuleak traces: the live set and totals ([`Replay`]), symbols for the
//! recorded stacks ([`Symbolizer`]), and the report built from both ([`Report`]).
//!
//! ```no_run
//! let mut reader = gpuleak_trace::open("run.trace".as_ref())?;
//! let replay = gpuleak_analysis::Replay::from_reader(&mut reader)?;
//! let report = gpuleak_analysis::Report::build(&replay, &mut gpuleak_analysis::Symbolizer::new());
//! println!("{}", report.to_json());
//! # Ok::<(), gpuleak_trace::DecodeError>(())
//! ```

pub mod replay;
pub mod report;
pub mod symbols;
pub mod units;

pub use replay::{
    Frame, LiveAlloc, MemoryClass, OomEvent, Replay, SiteKey, SiteStats, Totals, is_out_of_memory,
};
pub use report::{DeviceTotals, Iterations, Oom, PinnedHostTotals, Process, Report, SCHEMA, Site};
pub use symbols::Symbolizer;
