//! The renderers: a report, a run's processes, a page or an export format, each from the model
//! (and the filter it carries), never from the command line.

pub mod diff;
pub mod flamegraph;
pub mod folded;
pub mod html;
pub mod memory_viz;
pub mod perfetto;
pub mod pickle;
pub mod pprof;
pub mod processes;
pub mod speedscope;
pub mod text;
