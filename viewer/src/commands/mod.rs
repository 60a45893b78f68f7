//! One file per subcommand: each reads its arguments, reads its input, and hands the model to a
//! renderer (or the terminal UI); it says what to exit with.

pub mod about;
pub mod demo;
pub mod diff;
pub mod export;
pub mod holders;
pub mod hook;
pub mod launch;
pub mod report;
pub mod run;
pub mod view;
