//! Holders: in a Python program, the hook's walk names what keeps each piece of device memory
//! alive (the path from a root, the root, the role), at exit, at an out-of-memory failure and on
//! request, and changes nothing the program can see.
//!
//! The programs (`programs/holders_*.py`) own fake device memory through ctypes with objects
//! whose type has `__cuda_array_interface__`, and print `alloc NAME ADDRESS SIZE` for each
//! buffer, so that each holder is matched to its buffer by address. Needs `python3` (CPython 3.9
//! or later); skipped without it.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use gpuleak_tests::{Run, RunOutput};
use gpuleak_trace::{Holder, Holders, HoldersReason, Record, Role, RootKind, WalkEnd};

macro_rules! needs_python {
    () => {
        if !gpuleak_tests::have_python() {
            eprintln!("skipped: no python3");
            return;
        }
    };
}

fn holders(trace: &Path) -> Vec<Holders> {
    common::records(trace)
        .0
        .into_iter()
        .filter_map(|r| match r {
            Record::Holders(h) => Some(h),
            _ => None,
        })
        .collect()
}

/// `alloc NAME ADDRESS SIZE` lines: name → (address, size).
fn buffers(stdout: &str) -> HashMap<String, (u64, u64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.strip_prefix("alloc ")?.split(' ');
            let name = f.next()?.to_string();
            Some((name, (f.next()?.parse().ok()?, f.next()?.parse().ok()?)))
        })
        .collect()
}

fn holder_of<'a>(h: &'a Holders, buffers: &HashMap<String, (u64, u64)>, name: &str) -> &'a Holder {
    let (address, size) = buffers[name];
    let found: Vec<&Holder> = h.holders.iter().filter(|x| x.address == address).collect();
    assert_eq!(found.len(), 1, "{name} at {address:#x} once in {h:#?}");
    assert_eq!(found[0].size, size, "{name}");
    found[0]
}

/// Run from the source tree: the programs share `holders_device.py` and `custom_nodes/`.
fn script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("programs")
        .join(name)
}

fn program(name: &str) -> String {
    script(name).display().to_string()
}

fn python(name: &str) -> Run {
    Run::new("python3").arg(script(name))
}

/// The line of `script` that holds `text`, once.
fn line_of(script: &str, text: &str) -> usize {
    let src = std::fs::read_to_string(self::script(script)).unwrap();
    let found: Vec<usize> = src
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(text))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(found.len(), 1, "{text:?} once in {script}");
    found[0]
}

#[test]
fn every_way_a_program_keeps_a_buffer_is_named_with_its_path_root_and_role() {
    needs_python!();
    for python in pythons() {
        every_way_named(&python);
    }
}

/// `python3`, and the other CPythons 3.9+ this machine has: pyenv's, and Debian's 3.11, which
/// has the interpreter linked into the executable.
fn pythons() -> Vec<String> {
    let mut found = vec!["python3".to_string()];
    if Path::new("/usr/bin/python3.11").exists() {
        found.push("/usr/bin/python3.11".into());
    }
    let pyenv = std::env::var_os("HOME").map(|h| Path::new(&h).join(".pyenv/versions"));
    if let Some(Ok(dirs)) = pyenv.map(std::fs::read_dir) {
        let mut versions: Vec<_> = dirs
            .filter_map(Result::ok)
            .map(|d| d.path())
            .filter(|d| {
                let name = d
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let mut v = name.split('.').map(|p| p.parse::<u32>().ok());
                matches!((v.next(), v.next()), (Some(Some(3)), Some(Some(minor))) if minor >= 9)
            })
            .map(|d| d.join("bin/python3"))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        versions.sort();
        found.extend(versions);
    }
    found
}

fn every_way_named(python: &str) {
    let out = Run::new(python)
        .arg(script("holders_ctypes.py"))
        .hook()
        .run();
    out.assert_success();
    let bufs = buffers(&out.stdout);
    let walks = holders(out.trace());
    assert_eq!(walks.len(), 1, "{python}: one walk, at exit: {walks:#?}");
    let exit = &walks[0];
    assert_eq!(exit.reason, HoldersReason::Exit);
    assert_eq!(exit.end, WalkEnd::Complete, "{python}: {}", exit.note);
    assert!(exit.visited > 0);
    let script = program("holders_ctypes.py");
    let global = |path: &str| (path.to_string(), RootKind::ModuleGlobal, script.clone());
    let expected = [
        ("first", global("KEPT[0]")),
        ("gallery", global("KEPT[1]")),
        ("class-cache", global("Cache.entries['latest']")),
        ("instance", global("SERVER.session.last")),
        ("closure", global("keep_latents.<closure>.latents")),
        ("generator", global("STREAM.<locals>.chunk")),
        ("slots", global("PINNED.buffer")),
        (
            "custom-node",
            (
                "CACHE['img']".to_string(),
                RootKind::ModuleGlobal,
                "custom_nodes/leaky/__init__.py".to_string(),
            ),
        ),
        (
            "hidden-generator",
            (
                "chunk".to_string(),
                RootKind::Generator,
                format!(
                    "hidden ({script}:{})",
                    line_of("holders_ctypes.py", "yield chunk.nbytes  # hidden")
                ),
            ),
        ),
        (
            "thread",
            (
                "pending".to_string(),
                RootKind::Frame,
                format!(
                    "thread loader in worker ({script}:{})",
                    line_of("holders_ctypes.py", "threading.Event().wait()")
                ),
            ),
        ),
    ];
    for (name, (path, root, root_where)) in expected {
        let h = holder_of(exit, &bufs, name);
        assert_eq!(
            (h.path.as_str(), h.root, h.root_where.as_str(), h.role),
            (path.as_str(), root, root_where.as_str(), Role::UserHeld),
            "{python}: {name}"
        );
        assert_eq!(h.owner, "DeviceBuffer (__cuda_array_interface__)");
        assert_eq!((h.device, h.model.as_str()), (-1, ""));
    }
    let hidden = holder_of(exit, &bufs, "from-c");
    assert_eq!(
        (hidden.role, hidden.root, hidden.path.as_str()),
        (Role::FromC, RootKind::None, "")
    );
    assert_eq!(exit.holders.len(), 11, "{python}: {exit:#?}");
}

#[test]
fn an_out_of_memory_failure_is_walked_while_the_failing_frame_still_holds_its_buffer() {
    needs_python!();
    let out = python("holders_oom.py")
        .env("FAKE_CUDA_CAPACITY", "64M")
        .hook()
        .run();
    out.assert_success();
    assert!(
        out.stdout.contains("out of memory\nout of memory\ndone\n"),
        "{out}"
    );
    let bufs = buffers(&out.stdout);
    let walks = holders(out.trace());
    let reasons: Vec<HoldersReason> = walks.iter().map(|w| w.reason).collect();
    assert_eq!(
        reasons,
        [HoldersReason::OutOfMemory, HoldersReason::Exit],
        "one walk per failure burst (the program's immediate retry is not walked again), then \
         exit"
    );
    let oom = &walks[0];
    assert_eq!(oom.end, WalkEnd::Complete, "{}", oom.note);
    let act = holder_of(oom, &bufs, "activations");
    let script = program("holders_oom.py");
    assert_eq!(
        (act.path.as_str(), act.root, act.root_where.as_str()),
        (
            "activations",
            RootKind::Frame,
            format!(
                "thread MainThread in decode ({script}:{})",
                line_of("holders_oom.py", "\"too-large\"")
            )
            .as_str()
        )
    );
    assert_eq!(holder_of(oom, &bufs, "weights").path, "WEIGHTS[0]");
    let (act_at, _) = bufs["activations"];
    assert!(
        walks[1].holders.iter().all(|h| h.address != act_at),
        "by exit the decode's buffer is gone from every path: {:#?}",
        walks[1]
    );
}

#[test]
fn a_request_file_makes_a_walk_while_the_program_runs() {
    needs_python!();
    let mut running = python("holders_wait.py")
        .hook()
        .timeout(Duration::from_secs(60))
        .spawn();
    running.wait_for_line("ready");
    let request = running
        .dir()
        .join(format!("trace-{}.trace.want-holders", running.pid()));
    ask(&request);
    let out = running.wait();
    out.assert_success();
    assert!(!request.exists(), "the hook takes the request");
    let bufs = buffers(&out.stdout);
    let walks = holders(out.trace());
    let reasons: Vec<HoldersReason> = walks.iter().map(|w| w.reason).collect();
    assert_eq!(reasons, [HoldersReason::OnDemand, HoldersReason::Exit]);
    let asked = &walks[0];
    assert_eq!(asked.end, WalkEnd::Complete, "{}", asked.note);
    assert_eq!(holder_of(asked, &bufs, "kept").path, "KEPT[0]");
    // Before 3.13, reading a running frame's locals would keep them alive until it returns: a
    // walk on request leaves them, and says so; 3.13's are a view, read as at exit.
    let (in_flight, _) = bufs["in-flight"];
    let seen = asked.holders.iter().find(|h| h.address == in_flight);
    if python_at_least(3, 13) {
        assert_eq!(
            seen.map(|h| h.path.as_str()),
            Some("in_flight"),
            "{asked:#?}"
        );
    } else {
        assert!(seen.is_none(), "{asked:#?}");
        assert!(
            asked.note.contains("locals of running frames not read"),
            "{}",
            asked.note
        );
    }
}

#[test]
fn gpuleak_holders_asks_a_running_program_and_prints_what_keeps_its_memory() {
    needs_python!();
    let mut running = python("holders_wait.py")
        .hook()
        .timeout(Duration::from_secs(60))
        .spawn();
    running.wait_for_line("ready");
    let trace = running.dir().join(format!("trace-{}.trace", running.pid()));
    // The user's side: the command makes the request, the hook in the program walks, the
    // command prints the answer.
    let asked = Run::gpuleak()
        .args(["holders", "--wait", "30"])
        .arg(&trace)
        .timeout(Duration::from_secs(60))
        .run();
    std::fs::write(format!("{}.want-holders.sent", trace.display()), b"").unwrap();
    let out = running.wait();
    out.assert_success();
    asked.assert_success();
    assert!(
        asked.stdout.contains("Holders when asked"),
        "{}\n{}",
        asked.stdout,
        asked.stderr
    );
    assert!(asked.stdout.contains("`KEPT[0]`"), "{}", asked.stdout);
    assert!(
        asked.stdout.contains("held by user code"),
        "{}",
        asked.stdout
    );
    assert!(
        !trace.with_extension("trace.want-holders").exists(),
        "the request is taken"
    );
}

/// Makes the request, then tells the program it is made (`<request>.sent`).
fn ask(request: &Path) {
    std::fs::write(request, b"").unwrap();
    std::fs::write(format!("{}.sent", request.display()), b"").unwrap();
}

fn python_at_least(major: u32, minor: u32) -> bool {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            &format!("import sys; print(sys.version_info >= ({major}, {minor}))"),
        ])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim() == "True"
}

#[test]
fn a_native_program_records_no_holders() {
    let out = Run::program("runtime_basic").hook().run();
    out.assert_success();
    assert_eq!(holders(out.trace()), []);
}

fn same_without_the_hook(script: &str, env: &[(&str, &str)]) -> (RunOutput, RunOutput) {
    let run = |hook: bool| {
        let mut r = python(script).with_hook(hook);
        for (k, v) in env {
            r = r.env(k, v);
        }
        r.run()
    };
    let (with, without) = (run(true), run(false));
    let printed = |o: &RunOutput| -> Vec<String> {
        o.stdout
            .lines()
            .filter(|l| !l.starts_with("alloc "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(printed(&with), printed(&without), "{with}\n{without}");
    assert_eq!(with.code(), without.code(), "{with}");
    (with, without)
}

#[test]
fn a_walk_that_fails_says_why_and_the_program_ends_as_it_would_have() {
    needs_python!();
    let (with, _) = same_without_the_hook("holders_fail.py", &[]);
    assert_eq!(with.code(), Some(3));
    let walks = holders(with.trace());
    assert_eq!(walks.len(), 1, "{walks:#?}");
    assert_eq!(walks[0].end, WalkEnd::Failed);
    assert_eq!(
        walks[0].note,
        "the walk raised RuntimeError: frames are private here"
    );
    assert!(!with.stderr.contains("Traceback"), "{with}");
}

#[test]
fn a_walk_changes_nothing_the_program_can_see_of_itself() {
    needs_python!();
    let (with, _) = same_without_the_hook("holders_quiet.py", &[("FAKE_CUDA_CAPACITY", "64M")]);
    assert!(
        with.stdout.contains("gc enabled True True\n"),
        "{}",
        with.stdout
    );
    let walks = holders(with.trace());
    assert_eq!(walks[0].reason, HoldersReason::OutOfMemory, "{walks:#?}");
    assert_eq!(walks[0].holders.len(), 3, "{:#?}", walks[0]);
    assert_eq!(walks[0].holders[0].path, "KEPT[0].buffer");
}

#[test]
fn a_walk_past_its_caps_stops_and_says_which_cap() {
    needs_python!();
    let run = |env: (&str, &str)| {
        let out = python("holders_ctypes.py").env(env.0, env.1).hook().run();
        out.assert_success();
        holders(out.trace()).remove(0)
    };
    let few = run(("GPULEAK_HOLDERS_OBJECTS", "50"));
    assert_eq!(few.end, WalkEnd::ObjectCap, "{few:#?}");
    assert!(few.note.contains("GPULEAK_HOLDERS_OBJECTS"), "{}", few.note);
    assert!(
        few.holders.iter().all(|h| h.role != Role::FromC),
        "{few:#?}"
    );
    let brief = run(("GPULEAK_HOLDERS_SECONDS", "0.000001"));
    assert_eq!(brief.end, WalkEnd::TimeCap, "{brief:#?}");
    assert!(
        brief.note.contains("GPULEAK_HOLDERS_SECONDS"),
        "{}",
        brief.note
    );
}

#[test]
fn a_program_that_first_allocates_as_it_exits_says_why_there_is_no_walk() {
    needs_python!();
    let out = python("holders_late.py").hook().run();
    out.assert_success();
    let walks = holders(out.trace());
    assert_eq!(walks.len(), 1, "{walks:#?}");
    assert_eq!(walks[0].end, WalkEnd::Unavailable);
    assert!(
        walks[0].note.starts_with("the walk at exit did not run"),
        "{}",
        walks[0].note
    );
}

#[test]
fn a_forked_child_walks_on_a_request_made_for_its_own_trace() {
    needs_python!();
    // Without a walking thread of its own the child waits for its request until killed.
    let mut running = python("holders_fork.py")
        .hook()
        .timeout(Duration::from_secs(20))
        .spawn();
    running.wait_for_line("ready");
    let child = running
        .stdout_so_far()
        .lines()
        .find_map(|l| l.strip_prefix("child "))
        .expect("the child's pid")
        .to_string();
    let trace = running.dir().join(format!("trace-{child}.trace"));
    ask(Path::new(&format!("{}.want-holders", trace.display())));
    let out = running.wait();
    out.assert_success();
    let bufs = buffers(&out.stdout);
    let walks = holders(&trace);
    let reasons: Vec<HoldersReason> = walks.iter().map(|w| w.reason).collect();
    assert_eq!(reasons, [HoldersReason::OnDemand, HoldersReason::Exit]);
    assert_eq!(holder_of(&walks[0], &bufs, "child").path, "CHILD[0]");
}

#[test]
fn a_program_that_exits_during_a_walk_on_request_waits_for_it_and_ends_well() {
    needs_python!();
    let mut running = python("holders_wait.py")
        .args(["--exit-at-once", "--heap", "400000"])
        .hook()
        .timeout(Duration::from_secs(60))
        .spawn();
    running.wait_for_line("ready");
    let request = running
        .dir()
        .join(format!("trace-{}.trace.want-holders", running.pid()));
    ask(&request);
    let out = running.wait();
    // Without the exit walk's wait, CPython may end the walking thread as it asks for the GIL
    // back during finalization: the process aborted ("FATAL: exception not rethrown") in one
    // run of six by hand.
    out.assert_success();
    assert!(out.stderr.is_empty(), "{out}");
    let walks = holders(out.trace());
    let reasons: Vec<HoldersReason> = walks.iter().map(|w| w.reason).collect();
    assert_eq!(reasons, [HoldersReason::OnDemand, HoldersReason::Exit]);
    assert!(
        walks
            .iter()
            .all(|w| matches!(w.end, WalkEnd::Complete | WalkEnd::TimeCap)),
        "{walks:#?}"
    );
}

#[test]
fn an_out_of_memory_failure_after_the_walk_at_exit_is_not_held_up() {
    needs_python!();
    let out = python("holders_exit_oom.py").hook().run();
    out.assert_success();
    let took: f64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("out of memory after "))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // It waited for the walking thread, ended by then, for the time cap and a second (3 s).
    assert!(took < 1.0, "the failing call waited {took} s");
    let reasons: Vec<HoldersReason> = holders(out.trace()).iter().map(|w| w.reason).collect();
    assert_eq!(reasons, [HoldersReason::Exit]);
}
