//! `gpuleak`: run a CUDA program under the hook, and report on the traces it writes.

use clap::Parser;
use gpuleak::cli::{Cli, Command};
use gpuleak::commands::{about, demo, diff, export, holders, report, run, view};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        // `gpuleak --version` (with a subcommand too: the version is what was asked).
        _ if cli.version => Ok(about::version()),
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Report(args)) => report::report(args),
        Some(Command::Diff(args)) => diff::diff(args),
        Some(Command::View(args)) => view::view(args),
        Some(Command::Export(args)) => export::export(args),
        Some(Command::Holders(args)) => holders::holders(args),
        Some(Command::Demo(args)) => demo::demo(args),
        Some(Command::Completions(args)) => about::completions(args),
        Some(Command::Man(args)) => about::man(args),
        // Only options were given (arg_required_else_help handles none at all).
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            Ok(gpuleak::error::EXIT_USAGE)
        }
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
