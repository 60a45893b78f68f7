//! `gpuleak holders TRACE`: what keeps device memory alive in a Python program. A process still
//! running is asked for a walk (the request file beside its trace) and its answer waited for; a
//! finished trace shows the walks the report shows. Each walk is the report's: its `holders[]`
//! object in the JSON, its Holders section in the text.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gpuleak_analysis::model::Holding;
use gpuleak_analysis::{Replay, Report, Symbolizer};
use serde_json::{Value, json};

use crate::cli::HoldersArgs;
use crate::error::{EXIT_USAGE, Fail, decode_fail, io_reason};
use crate::holders::{ask as request, no_answer_why, process_running as running, request_path};
use crate::input::traces_of;
use crate::render::text::holders::{section, shown};
use crate::tui::follow::{Follower, POLL_BUDGET};

/// How often the traces are read again while answers are awaited.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Where a process stands, as far as holders go.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Its trace ended cleanly: the walks it recorded are shown.
    Finished,
    /// Running and asked; the answer is awaited.
    Asked,
    /// Running, asked, and it answered.
    Answered,
    /// Running and asked; no answer came, for the reason said.
    NoAnswer(String),
    /// Its trace has no clean end and the process is not running.
    Gone,
}

impl State {
    fn key(&self) -> &'static str {
        match self {
            State::Finished => "finished",
            State::Asked => "asked",
            State::Answered => "answered",
            State::NoAnswer(_) => "no_answer",
            State::Gone => "gone",
        }
    }
}

/// One process of the run.
struct Proc {
    path: PathBuf,
    pid: Option<u32>,
    command: String,
    follower: Follower,
    state: State,
    /// Snapshots in the trace when the process was asked: the answer is the one after.
    asked_after: Option<usize>,
    /// The request file created for it.
    request: Option<PathBuf>,
}

impl Proc {
    fn replay(&self) -> &Replay {
        &self.follower.replay
    }

    /// The report of the process as its trace stands, holding just the walks to show: the
    /// answer to the request; for a finished or gone process, those the report shows.
    fn report(&self, symbols: &mut Symbolizer) -> Report {
        let mut report = Report::build(self.replay(), symbols);
        let walks: Vec<Holding> = match (&self.state, self.asked_after) {
            (State::Answered, Some(n)) => report.holders.get(n).cloned().into_iter().collect(),
            (State::Asked | State::NoAnswer(_), _) => Vec::new(),
            _ => shown(&report).into_iter().cloned().collect(),
        };
        report.holders = walks;
        report
    }

    fn name(&self) -> String {
        match self.pid {
            Some(pid) => format!("pid {pid} ({})", self.command),
            None => self.path.display().to_string(),
        }
    }
}

pub fn holders(args: &HoldersArgs) -> Result<i32, Fail> {
    if !(args.wait.is_finite() && args.wait >= 0.0) {
        return Err(Fail::new(
            EXIT_USAGE,
            format!("--wait {}: not a number of seconds", args.wait),
        ));
    }
    let mut procs = read_run(args)?;
    let now = Instant::now();
    for p in &mut procs {
        p.state = if p.follower.complete() {
            State::Finished
        } else if p.pid.is_some_and(running) {
            ask(p)?;
            State::Asked
        } else {
            State::Gone
        };
    }
    await_answers(
        &mut procs,
        now + Duration::from_secs_f64(args.wait),
        args.wait,
    );

    let mut symbols = Symbolizer::new();
    let reports: Vec<Report> = procs.iter().map(|p| p.report(&mut symbols)).collect();
    let out = if args.json {
        json_of(&procs, &reports) + "\n"
    } else {
        text_of(&procs, &reports)
    };
    crate::output::emit(out.as_bytes())
        .map_err(|e| Fail::new(1, format!("cannot write the holders: {e}")))?;
    let mut code = 0;
    for (p, r) in procs.iter().zip(&reports) {
        let why = match &p.state {
            State::NoAnswer(why) => why.clone(),
            State::Gone if r.holders.is_empty() => {
                "is gone: its trace has no clean end and the process is not running".into()
            }
            State::Finished if r.holders.is_empty() => {
                "recorded no holders (a hook without the walker, or not a Python program)".into()
            }
            _ => continue,
        };
        eprintln!("gpuleak: {} {why}", p.name());
        code = 1;
    }
    Ok(code)
}

/// The run's processes, read as they stand; `--pid` keeps one.
fn read_run(args: &HoldersArgs) -> Result<Vec<Proc>, Fail> {
    let paths = traces_of(std::slice::from_ref(&args.file))?;
    let mut procs = Vec::with_capacity(paths.len());
    for path in paths {
        // Opened as `report` opens it, so that a missing or foreign file is said the same way.
        gpuleak_trace::open(&path).map_err(|e| decode_fail(&path, e))?;
        let mut follower = Follower::new(&path);
        follower.poll_all();
        if let Some(e) = &follower.error {
            return Err(Fail::new(EXIT_USAGE, format!("{}: {e}", path.display())));
        }
        let header = follower.replay.header();
        let pid = header.map(|h| h.pid);
        let command = header.map_or(String::new(), |h| {
            if h.argv.is_empty() {
                h.exe.clone()
            } else {
                h.argv.join(" ")
            }
        });
        procs.push(Proc {
            path,
            pid,
            command,
            follower,
            state: State::Finished,
            asked_after: None,
            request: None,
        });
    }
    if let Some(pid) = args.pid {
        let pids: Vec<String> = procs
            .iter()
            .filter_map(|p| p.pid.map(|p| p.to_string()))
            .collect();
        procs.retain(|p| p.pid == Some(pid));
        if procs.is_empty() {
            return Err(Fail::new(
                EXIT_USAGE,
                format!(
                    "{}: no process {pid} in this run (its processes: {})",
                    args.file.display(),
                    if pids.is_empty() {
                        "none yet".to_string()
                    } else {
                        pids.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(procs)
}

/// Asks the process for a walk: the hook looks for this file beside its trace.
fn ask(p: &mut Proc) -> Result<(), Fail> {
    let request = request(&p.path).map_err(|e| {
        let path = request_path(&p.path);
        Fail::new(1, format!("{}: {}", path.display(), io_reason(&e)))
    })?;
    p.asked_after = Some(p.replay().held_snapshots().len());
    p.request = Some(request);
    Ok(())
}

/// Reads the asked processes' traces until each has answered, exited or `until` has passed.
fn await_answers(procs: &mut [Proc], until: Instant, wait: f64) {
    loop {
        let mut waiting = false;
        for p in procs.iter_mut() {
            let (State::Asked, Some(n)) = (&p.state, p.asked_after) else {
                continue;
            };
            let now = Instant::now();
            while p.follower.poll(POLL_BUDGET, now) {}
            if p.replay().held_snapshots().len() > n {
                p.state = State::Answered;
            } else if !p.pid.is_some_and(running) {
                p.state = State::NoAnswer("exited before answering".into());
            } else {
                waiting = true;
            }
        }
        if !waiting || Instant::now() >= until {
            break;
        }
        std::thread::sleep(POLL_EVERY);
    }
    for p in procs.iter_mut() {
        if p.state == State::Asked {
            let picked_up = p.request.as_ref().is_some_and(|r| !r.exists());
            let mut why = no_answer_why(p.replay(), picked_up, wait);
            if picked_up {
                why.push_str(" (a longer --wait may see its answer)");
            }
            p.state = State::NoAnswer(why);
        }
        // A request nobody took would be answered at some later moment nobody waits for.
        if p.state != State::Answered
            && let Some(r) = &p.request
        {
            let _ = std::fs::remove_file(r);
        }
    }
}

fn text_of(procs: &[Proc], reports: &[Report]) -> String {
    let mut s = String::new();
    for (p, r) in procs.iter().zip(reports) {
        let state = match &p.state {
            State::Finished => "finished",
            State::Answered => "running",
            State::Asked | State::NoAnswer(_) => "running, no answer",
            State::Gone => "gone",
        };
        if !s.is_empty() {
            s.push('\n');
        }
        if r.holders.is_empty() {
            s.push_str(&format!("{} [{state}]: no holders\n", p.name()));
            continue;
        }
        s.push_str(&format!("{} [{state}]:\n", p.name()));
        // Every group: the command is asked for holders and nothing else.
        section(&mut s, r, usize::MAX);
    }
    s
}

fn json_of(procs: &[Proc], reports: &[Report]) -> String {
    let processes: Vec<Value> = procs
        .iter()
        .zip(reports)
        .map(|(p, r)| {
            let why = match &p.state {
                State::NoAnswer(why) => Value::from(why.as_str()),
                _ => Value::Null,
            };
            json!({
                "pid": p.pid,
                "trace": p.path.display().to_string(),
                "command": p.command,
                "state": p.state.key(),
                "why": why,
                "snapshots": r.holders,
            })
        })
        .collect();
    json!({ "processes": processes }).to_string()
}
