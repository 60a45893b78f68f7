//! What gpuleak says about itself: `--version` (its version, the hook `run` would preload and
//! the trace format it writes), its shell completions and its man pages, generated from the
//! clap definition in [`crate::cli`] so that they never drift from it.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::hook::{VERSION, hook_version, locate_hook};
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{EXIT_USAGE, Fail};

/// The lines of `gpuleak --version`. A missing hook or one of another version is said, not
/// refused: `--version` is what a user runs to find out why `run` refuses it.
pub fn version_text(
    flag: Option<&Path>,
    env: Option<std::ffi::OsString>,
    exe_dir: Option<PathBuf>,
) -> String {
    let hook = match locate_hook(flag, env, exe_dir) {
        Ok(found) => {
            let version = std::fs::read(&found.path)
                .ok()
                .and_then(|b| hook_version(&b));
            let verdict = match &version {
                Some(v) if v == VERSION => String::new(),
                _ => format!(" (not {VERSION}: `gpuleak run` refuses it)"),
            };
            format!(
                "{} ({}), version {}{verdict}",
                found.path.display(),
                found.from.words(),
                version.as_deref().unwrap_or("unknown")
            )
        }
        Err(fail) => format!("none: {}", fail.message),
    };
    format!(
        "gpuleak {VERSION}\nhook: {hook}\ntrace format: version {} (reads {} to {})\n",
        gpuleak_trace::FORMAT_VERSION,
        gpuleak_trace::encode::OLDEST_READABLE_VERSION,
        gpuleak_trace::FORMAT_VERSION
    )
}

/// `gpuleak --version` for this process: the hook as `gpuleak run` without `--hook` finds it.
pub fn version() -> i32 {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    print!(
        "{}",
        version_text(None, std::env::var_os("GPULEAK_HOOK"), exe_dir)
    );
    0
}

/// `gpuleak completions SHELL`: the script on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<i32, Fail> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "gpuleak", &mut out);
    write_out(&out)
}

/// `gpuleak man [SUBCOMMAND]`: gpuleak(1), or gpuleak-SUBCOMMAND(1), in roff on stdout.
pub fn man(args: &ManArgs) -> Result<i32, Fail> {
    let out = man_page(args.subcommand.as_deref())?;
    write_out(&out)
}

/// The roff of gpuleak(1) or of a subcommand's page.
pub fn man_page(subcommand: Option<&str>) -> Result<Vec<u8>, Fail> {
    let mut cmd = Cli::command();
    // Built, a subcommand knows its display name (gpuleak-NAME) and its usage (gpuleak NAME).
    cmd.build();
    let page = match subcommand {
        None => cmd,
        Some(name) => cmd
            .get_subcommands()
            .find(|c| c.get_name() == name)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<String> = Cli::command()
                    .get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .collect();
                Fail::new(
                    EXIT_USAGE,
                    format!("no subcommand {name}: one of {}", names.join(", ")),
                )
            })?,
    };
    let title = match subcommand {
        None => "gpuleak".to_string(),
        Some(name) => format!("gpuleak-{name}"),
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .title(title)
        .source(format!("gpuleak {VERSION}"))
        .render(&mut out)
        .map_err(|e| Fail::new(1, format!("cannot write the man page: {e}")))?;
    Ok(out)
}

fn write_out(bytes: &[u8]) -> Result<i32, Fail> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(0),
        // `gpuleak man | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Fail::new(
            1,
            format!("cannot write to standard output: {e}"),
        )),
    }
}
