//! `gpuleak`: run a CUDA program under the hook, and report on the traces it writes.

mod cli;
mod demo;
mod diff;
mod export;
mod html;
mod processes;
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

/// `gpuleak view FILE`: the terminal UI over a trace, followed while it is being written.
fn view(args: &cli::ViewArgs) -> Result<i32, Fail> {
    let options = report::options(args.iteration_range.as_deref())?;
    // A file just created by the hook may not hold its prelude yet: that one is waited for.
    // Anything else that is not a trace is refused before the screen is taken over.
    let just_created = std::fs::metadata(&args.file)
        .is_ok_and(|m| m.is_file() && m.len() < gpuleak_trace::encode::PRELUDE_LEN as u64);
    if !just_created {
        gpuleak_trace::open(&args.file).map_err(|e| report::decode_fail(&args.file, e))?;
    }
    // Followed, not loaded: a trace still being written keeps coming in.
    let mut app = tui::App::follow(std::slice::from_ref(&args.file), options);
    app.tick(std::time::Instant::now());
    tui::term::install_stop_signals();
    tui::term::run(&mut app).map_err(|e| Fail::new(1, format!("terminal: {e}")))?;
    Ok(0)
}

fn main() {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Command::Run(args) => run::run(args),
        cli::Command::Report(args) => report::report(args),
        cli::Command::Diff(args) => diff::diff(args),
        cli::Command::View(args) => view(args),
        cli::Command::Export(args) => export::export(args),
        cli::Command::Demo(args) => demo::demo(args),
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
