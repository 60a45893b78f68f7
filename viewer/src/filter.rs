//! What a report or an export shows of a trace: the one filter the renderers take.

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Live at the end of the trace.
    Live,
    /// Live at the end, at the sites the report calls a leak.
    Leaked,
    /// Allocated over the whole run, freed or not.
    Allocated,
}
