//! `gpuleak`: run a CUDA program under the hook, and report on the traces it writes.

mod cli;
mod diff;
mod report;
mod run;
mod tui;

use clap::Parser;

/// A failure to tell the user in one line, and the exit code that goes with it.
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub message: String,
}

impl Fail {
    pub fn new(code: i32, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }
}

/// Bad input (a trace, a path, a missing hook): distinct from the program's own exit codes only
/// by convention, as with other wrappers.
pub const EXIT_USAGE: i32 = 2;

/// `gpuleak view FILE`: the terminal UI over a saved trace.
fn view(args: &cli::ViewArgs) -> Result<i32, Fail> {
    let options = report::options(args.iteration_range.as_deref())?;
    let replay = report::load(&args.file)?;
    let app = tui::App::load(&replay, &options);
    tui::term::run(app).map_err(|e| Fail::new(1, format!("terminal: {e}")))?;
    Ok(0)
}

fn main() {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Command::Run(args) => run::run(args),
        cli::Command::Report(args) => report::report(args),
        cli::Command::Diff(args) => diff::diff(args),
        cli::Command::View(args) => view(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(fail) => {
            eprintln!("gpuleak: {}", fail.message);
            fail.code
        }
    };
    std::process::exit(code);
}
