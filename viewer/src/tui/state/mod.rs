//! The data the terminal UI shows, apart from how it is shown: the run being followed (its
//! processes, each a [`Follower`](crate::tui::follow::Follower) reading its trace as it grows,
//! and the program `gpuleak run` started) and the last analysis of the process shown
//! ([`snapshot::Snapshot`]), the lines of a site's stack ([`stack`]), and the holders asked of a
//! process ([`holders`]). Nothing here draws or knows about keys.

pub mod holders;
pub mod rows;
pub mod run;
pub mod snapshot;
pub mod stack;

use std::time::{Duration, Instant};

use gpuleak_analysis::ReportOptions;

use run::{Discover, Proc, RunInfo};

/// How often the analysis of the shown process is redone while its trace grows.
pub const ANALYSIS_EVERY: Duration = Duration::from_millis(300);
/// How often the analysis is redone while a trace is still being read in (opening a large one).
pub const ANALYSIS_WHILE_READING: Duration = Duration::from_secs(1);
/// Longest a tick spends reading traces.
pub const READ_PER_TICK: Duration = Duration::from_millis(80);
/// How often the run's directory is looked at for new processes' traces.
pub const DISCOVER_EVERY: Duration = Duration::from_millis(500);

/// The run being followed.
pub struct State {
    pub procs: Vec<Proc>,
    /// Index into `procs` of the process shown.
    pub current: usize,
    pub(crate) options: ReportOptions,
    pub(crate) discover: Option<Discover>,
    pub(crate) last_discover: Option<Instant>,
    pub run: Option<RunInfo>,
    pub(crate) analysed: Option<(usize, u64)>,
    pub(crate) last_analysis: Option<Instant>,
    pub(crate) now: Instant,
}
