//! Test support for gpuleak's integration tests.
//!
//! - where things are: the fake CUDA libraries and test programs built by `build.rs`
//!   ([`fake_cuda_dir`], [`programs_dir`], [`program`]), and the workspace's own build outputs
//!   ([`target_dir`], [`hook_path`], [`gpuleak_bin`], [`sampler_bin`]);
//! - [`Run`]: runs a program on the fake CUDA, with or without the hook, in a fresh temporary
//!   directory, with a timeout that kills the whole process group (a test never hangs), and
//!   returns its output and the trace files it wrote ([`RunOutput`]); or starts it and lets the
//!   test interact with it ([`Running`]);
//! - [`parse_calls`]: the test programs' output convention, one `<api> <code> <ptr> <size>` line
//!   per CUDA call.
//! - [`skip`]: a test whose tool is missing skips on a developer machine and fails in CI.

mod calls;
mod paths;
mod report;
mod run;
mod tempdir;
mod tools;

pub use calls::{Call, parse_calls};
pub use paths::*;
pub use report::{is_function, report_json, site_at};
pub use run::{Run, RunOutput, Running, trace_files};
pub use tempdir::TempDir;
pub use tools::{REQUIRE_TOOLS, have_python, missing, skip, tools_required};
