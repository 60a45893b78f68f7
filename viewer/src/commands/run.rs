//! `gpuleak run`: the program under the hook, its signals passed on, and a summary after.

use std::ffi::{OsStr, OsString};
use std::io::{self, IsTerminal};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};

use parking_lot::Mutex;
use std::time::{Duration, Instant, SystemTime};

use gpuleak_analysis::units::{bytes, count};

use crate::cli::RunArgs;
use crate::error::{EXIT_USAGE, Fail};
use crate::input::load;
use crate::tui::App;
use crate::tui::state::run::{Exit, RunInfo};
use crate::tui::term;

use super::launch::{
    CHILD, NVTX_INJECTION, PENDING, TORCH_ALLOC_CONFS, default_output, expand_pid, find_hook,
    find_traces, install_forwarding, ld_preload, log_path, nvtx_injection, open_log,
    prepare_output, spawn_fail, torch_tensor_conf,
};

pub fn run(args: &RunArgs) -> Result<i32, Fail> {
    Ok(match run_until(args)? {
        Ended::Exited(code) => code,
        Ended::Detached => 0,
    })
}

/// How `gpuleak run` gave the terminal back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The program ended, with this exit status (128+signal when it was killed).
    Exited(i32),
    /// The user left the live view while the program runs on, still recording.
    Detached,
}

/// `gpuleak run`, saying whether the program ended or still runs: what a caller says next (the
/// demo's closing line) depends on it.
pub fn run_until(args: &RunArgs) -> Result<Ended, Fail> {
    let Some((program, program_args)) = args.command.split_first() else {
        return Err(Fail::new(EXIT_USAGE, "no command to run"));
    };
    // Checked before the program runs, so that a typo does not cost a whole run; the live view
    // counts iterations with it.
    let options = crate::input::options(args.iteration_range.as_deref())?;
    // The live view needs a terminal to draw on; output to a pipe or file gets the summary only.
    let tui = !args.no_tui && io::stdout().is_terminal();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let hook = find_hook(
        args.hook.as_deref(),
        std::env::var_os("GPULEAK_HOOK"),
        exe_dir,
    )?;
    let cwd = std::env::current_dir().map_err(|e| {
        Fail::new(
            EXIT_USAGE,
            format!("cannot read the current directory: {e}"),
        )
    })?;
    let output = match &args.output {
        Some(p) => p.clone(),
        None => default_output(program, std::process::id()),
    };
    // The program may change directory before its first CUDA call; the hook must not follow it.
    let output_abs = cwd.join(&output);
    prepare_output(&output_abs, &output)?;

    let preload = ld_preload(&hook, std::env::var_os("LD_PRELOAD").as_deref());
    let nvtx = nvtx_injection(&hook, std::env::var_os(NVTX_INJECTION).as_deref());
    if nvtx.is_none() {
        eprintln!(
            "gpuleak: note: {NVTX_INJECTION} is already set; keeping it, so NVTX ranges will not \
             be seen"
        );
    }
    install_forwarding();
    // Traces of children are told apart from leftovers of earlier runs by their age; a little
    // slack covers file systems with coarse timestamps.
    let started = SystemTime::now() - Duration::from_secs(2);
    let mut command = Command::new(program);
    command
        .args(program_args)
        .env("LD_PRELOAD", &preload)
        .env("GPULEAK_OUTPUT", &output_abs);
    if let Some(path) = &nvtx {
        command.env(NVTX_INJECTION, path);
    }
    if let Some(size) = args.max_size {
        command.env("GPULEAK_MAX_SIZE", size.to_string());
    }
    if args.torch_tensors {
        let existing: Vec<String> = TORCH_ALLOC_CONFS
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .collect();
        let (conf, replaced) = torch_tensor_conf(&existing);
        if let Some(old) = replaced {
            eprintln!("gpuleak: note: --torch-tensors replaces {old} in the allocator settings");
        }
        // Both names, the same text: PyTorch before 2.9 reads only the CUDA one; 2.9 reads the
        // backend from it too, and warns that it is deprecated only when the new one is unset.
        for name in TORCH_ALLOC_CONFS {
            command.env(name, &conf);
        }
    }
    let log = if tui {
        let log = log_path(&output_abs, std::process::id());
        let file = open_log(&log)?;
        let err = file
            .try_clone()
            .map_err(|e| Fail::new(1, format!("cannot open {}: {e}", log.display())))?;
        // Output written over the alternate screen would garble it, and a program reading the
        // terminal would take the keys meant for the view: the terminal is the view's alone.
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err));
        Some(log)
    } else {
        None
    };
    let mut child = command.spawn().map_err(|e| spawn_fail(program, &e))?;
    let pid = child.id() as i32;
    CHILD.store(pid, Ordering::SeqCst);
    let pending = PENDING.swap(0, Ordering::SeqCst);
    if pending != 0 {
        // SAFETY: plain kill(2) of the child we just started.
        unsafe { libc::kill(pid, pending) };
    }
    let status = if tui {
        match live_view(
            program_args,
            program,
            pid,
            &output_abs,
            started,
            log,
            options.clone(),
            child,
        ) {
            Watched::Ended(status) => status,
            Watched::Detached { log } => {
                eprintln!(
                    "gpuleak: detached: {} (pid {pid}) keeps running and recording to {}; its \
                     output goes to {}; `gpuleak view {}` follows it",
                    program.to_string_lossy(),
                    output.display(),
                    log.display(),
                    output.display()
                );
                return Ok(Ended::Detached);
            }
        }
    } else {
        child.wait()
    }
    .map_err(|e| Fail::new(1, format!("lost track of {}: {e}", program.display())))?;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    };

    summarize(program, &output, &output_abs, pid as u32, started, &options);
    Ok(Ended::Exited(code))
}

/// How the live view ended: the program's end (waited for), or the user left it running.
enum Watched {
    Ended(io::Result<ExitStatus>),
    Detached { log: PathBuf },
}

/// The live view of the run, until the user quits or gpuleak is told to stop. The program is
/// waited for on a thread of its own, so the view never blocks on it and it never waits for
/// the view: it writes its trace files itself, which the view follows.
#[allow(clippy::too_many_arguments)]
fn live_view(
    program_args: &[OsString],
    program: &OsStr,
    pid: i32,
    output_abs: &Path,
    started: SystemTime,
    log: Option<PathBuf>,
    options: gpuleak_analysis::ReportOptions,
    mut child: std::process::Child,
) -> Watched {
    let exit = Arc::new(Mutex::new(None));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let exit = exit.clone();
        std::thread::spawn(move || {
            let status = child.wait();
            if let Ok(s) = &status {
                *exit.lock() = Some(match (s.code(), s.signal()) {
                    (Some(c), _) => Exit::Code(c),
                    (None, Some(sig)) => Exit::Signal(sig),
                    (None, None) => Exit::Code(1),
                });
            }
            let _ = done_tx.send(status);
        });
    }
    let command = std::iter::once(program)
        .chain(program_args.iter().map(OsString::as_os_str))
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let template = output_abs.to_path_buf();
    let discover = Box::new(move || {
        let (main, children) = find_traces(&template, pid as u32, started);
        std::iter::once(main)
            .filter(|m| m.is_file())
            .chain(children.into_iter().map(|(_, p)| p))
            .collect()
    });
    let main = expand_pid(output_abs, pid as u32);
    let mut app = App::follow(&[main], options)
        .with_discovery(discover)
        .with_run(RunInfo {
            command,
            pid: pid as u32,
            started: Instant::now(),
            exit: exit.clone(),
            log: log.clone(),
            interrupt: Some(Box::new(move || {
                // SAFETY: kill(2) of the child this process started.
                unsafe { libc::kill(pid, libc::SIGINT) };
            })),
        });
    if let Err(e) = term::run(&mut app) {
        eprintln!("gpuleak: the live view failed ({e}); recording goes on");
    }
    let stopped = term::STOP.load(Ordering::SeqCst);
    if app.ui.detached && !stopped && exit.lock().is_none() {
        return Watched::Detached {
            log: log.unwrap_or_default(),
        };
    }
    Watched::Ended(
        done_rx
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the waiting thread ended"))),
    )
}

fn summarize(
    program: &OsStr,
    shown: &Path,
    abs: &Path,
    pid: u32,
    since: SystemTime,
    options: &gpuleak_analysis::ReportOptions,
) {
    let (main, extra) = find_traces(abs, pid, since);
    // Paths as the user wrote them: relative stays relative.
    let display = |p: &Path| -> String {
        let rel = if shown.is_absolute() {
            None
        } else {
            abs.parent()
                .and_then(|d| p.strip_prefix(d).ok())
                .map(|r| shown.parent().unwrap_or(Path::new("")).join(r))
        };
        rel.unwrap_or_else(|| p.to_path_buf()).display().to_string()
    };
    let main_exists = main.is_file();
    if !main_exists && extra.is_empty() {
        eprintln!(
            "gpuleak: {} made no CUDA calls; no trace written",
            program.to_string_lossy()
        );
        return;
    }
    let mut leaking = Vec::new();
    if main_exists {
        let s = summarize_trace(&main, &display(&main), options);
        eprintln!("gpuleak: {}", s.line);
        // The answer to "why" comes with the run; the sites and stacks stay in the report.
        if let Some(d) = &s.diagnosis {
            eprintln!("gpuleak: {d} (details: gpuleak report {})", display(&main));
        }
        if s.leaks {
            // The process that wrote it: the program, or (a launcher that made no CUDA call)
            // the first of its workers that did.
            leaking.push(who(s.rank, &format!("pid {}", s.writer.unwrap_or(pid))));
        }
    }
    for (child, path) in &extra {
        let s = summarize_trace(path, &display(path), options);
        let name = who(s.rank, &format!("child {child}"));
        eprintln!("gpuleak: {name}: {}", s.line);
        // A worker that leaks gets its diagnosis too: in a launcher's run it is the answer.
        if s.leaks {
            if let Some(d) = &s.diagnosis {
                eprintln!(
                    "gpuleak: {name}: {d} (details: gpuleak report {})",
                    display(path)
                );
            }
            leaking.push(name);
        }
    }
    let processes = usize::from(main_exists) + extra.len();
    if processes > 1 {
        let which = if leaking.is_empty() {
            "none leaks".to_string()
        } else {
            format!(
                "{} {}",
                leaking.join(", "),
                if leaking.len() == 1 { "leaks" } else { "leak" }
            )
        };
        eprintln!(
            "gpuleak: {processes} processes recorded, {which}; `gpuleak report {}` reports them \
             all",
            display(&main)
        );
    }
}

/// A process as the end of a run names it: by the rank a launcher gave it ("rank 1 (child
/// 20187)"), which is how the user knows a distributed job's workers, else by `process`.
fn who(rank: Option<u32>, process: &str) -> String {
    match rank {
        Some(r) => format!("rank {r} ({process})"),
        None => process.to_string(),
    }
}

/// What the end of a run says of one trace, from one replay of it.
struct TraceSummary {
    /// Counts and totals, as [`summary_line`] gives them.
    line: String,
    /// The report's first diagnosis, if it has one.
    diagnosis: Option<String>,
    /// Some site leaks.
    leaks: bool,
    /// The pid that wrote the trace.
    writer: Option<u32>,
    /// Its rank, when a launcher set one.
    rank: Option<u32>,
}

fn summarize_trace(
    path: &Path,
    shown: &str,
    options: &gpuleak_analysis::ReportOptions,
) -> TraceSummary {
    let replay = match load(path) {
        Ok(r) => r,
        Err(f) => {
            return TraceSummary {
                line: format!("{}; trace: {shown}", f.message),
                diagnosis: None,
                leaks: false,
                writer: None,
                rank: None,
            };
        }
    };
    let report = gpuleak_analysis::Report::build_with(
        &replay,
        &mut gpuleak_analysis::Symbolizer::new(),
        options,
    );
    TraceSummary {
        line: summary_line(&replay, shown),
        leaks: crate::findings::report_leaks(&report),
        writer: report.process.as_ref().map(|p| p.pid),
        rank: report.process.as_ref().and_then(|p| p.rank),
        diagnosis: report.diagnosis.into_iter().next().map(|d| d.text),
    }
}

fn summary_line(replay: &gpuleak_analysis::Replay, shown: &str) -> String {
    // Device and physical (cuMemCreate) memory: under a VMM allocator (PyTorch's
    // expandable segments) the physical memory is all there is.
    let d = replay.gpu();
    let mut line = format!(
        "{} ({}), peak {} live, {} still live at exit ({}), {} failed",
        count(d.allocations, "allocation", "allocations"),
        bytes(d.bytes_allocated),
        bytes(d.peak_live_bytes),
        d.live_allocations,
        bytes(d.live_bytes),
        d.failed_allocations
    );
    if replay.dropped() > 0 {
        line += &format!(
            ", {} not recorded",
            count(replay.dropped(), "event", "events")
        );
    }
    if let Some(at) = replay.truncated_at() {
        line += &format!(", {} (process killed?)", crate::format::ends_early(at));
    }
    line + &format!("; trace: {shown}")
}
