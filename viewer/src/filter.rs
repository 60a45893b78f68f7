//! What a report or an export shows of a trace: the one filter the renderers take.

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Live at the end of the trace.
    Live,
    /// Held at the last iteration by the sites the report calls a leak (even if freed at exit).
    Leaked,
    /// Allocated over the whole run, freed or not.
    Allocated,
}

/// The allocations and frees a timeline export keeps by default, the latest ones (as PyTorch's
/// history keeps its latest `max_entries`): enough for many iterations of a large model, and a
/// bound on the file and on the memory it takes to write.
pub const MAX_ENTRIES: usize = 200_000;
