//! `gpuleak`: run a CUDA program under the hook, and report on the traces it writes.

use clap::Parser;
use gpuleak::cli::{Cli, Command};
use gpuleak::commands::{demo, diff, export, holders, report, run, view};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Report(args) => report::report(args),
        Command::Diff(args) => diff::diff(args),
        Command::View(args) => view::view(args),
        Command::Export(args) => export::export(args),
        Command::Holders(args) => holders::holders(args),
        Command::Demo(args) => demo::demo(args),
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
