//! gpuleak's viewer: everything behind the `gpuleak` binary (main.rs only parses the command
//! line and runs a command), as a library so that tests and benches use it as it is.
//!
//! Layers, bottom to top; a module imports only from the layers below it:
//! 1. [`error`] (one-line failures, exit codes), [`filter`] (what an export shows), [`format`](mod@format)
//!    (one formatter per quantity), [`findings`] (what a verdict means: the one leak predicate),
//!    [`stack`] (the order a stack is shown in: Python frames first, the rest folded),
//!    [`holders`] (a holders snapshot in words, its totals, the request a process answers),
//!    [`oom`](mod@oom) (the out-of-memory report in words: request, parts, cause, advice),
//!    [`output`] (one policy for stdout and files), [`cli`] (every subcommand's arguments);
//! 2. [`input`]: a run's traces found (`FILE.<pid>` beside the first), loaded and replayed;
//! 3. [`model`]: what every export format and the HTML page read;
//! 4. [`render`]: text, the processes table, HTML and each export format, from the model and
//!    its filter, never from the command line;
//! 5. [`tui`]: the terminal UI (it uses layer 1 only);
//! 6. [`commands`]: one file per subcommand.

pub mod cli;
pub mod commands;
pub mod error;
pub mod filter;
pub mod findings;
pub mod format;
pub mod holders;
pub mod input;
pub mod model;
pub mod oom;
pub mod output;
pub mod render;
pub mod stack;
pub mod tui;
