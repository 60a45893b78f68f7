//! gpuleak's viewer: everything behind the `gpuleak` binary, as a library so that tests and
//! benches use it as it is.
//!
//! Layers, bottom to top (a module imports only from layers below it):
//! - [`error`] and [`cli`]: one-line failures with their exit codes; the command line;
//! - input: finding a run's traces, loading and replaying them, report options;
//! - the export model and the renderers (text, JSON, HTML, the processes table, each export
//!   format), which take the model and a filter and never the command line;
//! - [`commands`]: one file per subcommand;
//! - [`tui`]: the terminal UI of `run` and `view`.

pub mod cli;
pub mod commands;
pub mod error;
pub mod filter;
pub mod findings;
pub mod format;
pub mod input;
pub mod model;
pub mod output;
pub mod render;
pub mod tui;
