//! `gpuleak holders TRACE`: what keeps device memory alive in a Python program. A process still
//! running is asked for a walk (the request file beside its trace) and its answer waited for; a
//! finished trace shows the walks it recorded (at exit, at out-of-memory failures).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gpuleak_analysis::Replay;
use gpuleak_analysis::units::bytes;
use gpuleak_trace::Holders;
use serde_json::{Value, json};

use crate::cli::HoldersArgs;
use crate::error::{EXIT_USAGE, Fail, decode_fail, io_reason};
use crate::holders::{
    end_name, largest_first, no_answer_why, process_running as running, reason_name, recorded,
    request_path, role_name, root_key, root_words, snapshot_line, totals,
};
use crate::input::traces_of;
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

    /// The snapshots to show: the answer to the request; for a finished or gone process, those
    /// taken at exit and at out-of-memory failures (else the last one asked for).
    fn shown(&self) -> Vec<&Holders> {
        let all = self.replay().holders();
        match (&self.state, self.asked_after) {
            (State::Answered, Some(n)) => all.get(n).into_iter().collect(),
            (State::Asked | State::NoAnswer(_), _) => Vec::new(),
            _ => recorded(all),
        }
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

    let out = if args.json {
        json_of(&procs) + "\n"
    } else {
        text_of(&procs)
    };
    crate::output::emit(out.as_bytes())
        .map_err(|e| Fail::new(1, format!("cannot write the holders: {e}")))?;
    let mut code = 0;
    for p in &procs {
        let why = match &p.state {
            State::NoAnswer(why) => why.clone(),
            State::Gone if p.shown().is_empty() => {
                "is gone: its trace has no clean end and the process is not running".into()
            }
            State::Finished if p.shown().is_empty() => {
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
    let request = request_path(&p.path);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&request)
        .map_err(|e| Fail::new(1, format!("{}: {}", request.display(), io_reason(&e))))?;
    p.asked_after = Some(p.replay().holders().len());
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
            if p.replay().holders().len() > n {
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

fn text_of(procs: &[Proc]) -> String {
    let mut s = String::new();
    for p in procs {
        let shown = p.shown();
        let state = match &p.state {
            State::Finished => "finished",
            State::Answered => "running",
            State::Asked | State::NoAnswer(_) => "running, no answer",
            State::Gone => "gone",
        };
        if shown.is_empty() {
            s.push_str(&format!("{} [{state}]: no holders\n", p.name()));
        }
        for snap in shown {
            s.push_str(&format!(
                "{} [{state}]: {}\n",
                p.name(),
                snapshot_line(snap)
            ));
            let t = totals(snap);
            if !t.by_role.is_empty() {
                let each: Vec<String> = t
                    .by_role
                    .iter()
                    .map(|(r, b, _)| format!("{} {}", role_name(*r).0, bytes(*b)))
                    .collect();
                s.push_str(&format!("  by role: {}\n", each.join(", ")));
            }
            if !t.by_model.is_empty() {
                let each: Vec<String> = t
                    .by_model
                    .iter()
                    .map(|(m, b, _)| format!("{m} {}", bytes(*b)))
                    .collect();
                s.push_str(&format!("  by model: {}\n", each.join(", ")));
            }
            for h in largest_first(snap) {
                let model = if h.model.is_empty() {
                    String::new()
                } else {
                    format!("; model {}", h.model)
                };
                s.push_str(&format!(
                    "  {:>10}  {:<21} {}  ({}; {}{model})\n",
                    bytes(h.size),
                    role_name(h.role).0,
                    if h.path.is_empty() { "?" } else { &h.path },
                    h.owner,
                    root_words(h),
                ));
            }
        }
    }
    s
}

fn json_of(procs: &[Proc]) -> String {
    let processes: Vec<Value> = procs
        .iter()
        .map(|p| {
            let snapshots: Vec<Value> = p.shown().into_iter().map(snapshot_json).collect();
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
                "snapshots": snapshots,
            })
        })
        .collect();
    json!({ "processes": processes }).to_string()
}

fn snapshot_json(s: &Holders) -> Value {
    let t = totals(s);
    let holders: Vec<Value> = largest_first(s)
        .into_iter()
        .map(|h| {
            json!({
                "path": h.path,
                "role": role_name(h.role).1,
                "root": root_key(h.root),
                "root_where": h.root_where,
                "bytes": h.size,
                "address": h.address,
                "device": h.device,
                "owner": h.owner,
                "model": h.model,
            })
        })
        .collect();
    let by_role: Vec<Value> = t
        .by_role
        .iter()
        .map(|(r, b, n)| json!({"role": role_name(*r).1, "bytes": b, "count": n}))
        .collect();
    let by_model: Vec<Value> = t
        .by_model
        .iter()
        .map(|(m, b, n)| json!({"model": m, "bytes": b, "count": n}))
        .collect();
    json!({
        "reason": reason_name(s.reason).1,
        "end": end_name(s.end).1,
        "note": s.note,
        "time_ns": s.time_ns,
        "elapsed_us": s.elapsed_us,
        "visited": s.visited,
        "holders": holders,
        "by_role": by_role,
        "by_model": by_model,
    })
}
