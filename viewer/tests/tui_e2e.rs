//! `gpuleak run` with its live view, end to end, in a real terminal: tmux runs it on the fake
//! CUDA driver with the real hook, the test reads the screen with capture-pane and types with
//! send-keys. Skipped, saying so, where tmux is not installed.

mod common;

use common::{ends_within, gone};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A sampler that takes its time: 64 MiB of weights, then per step an 8 MiB scratch buffer
/// (freed) and 3 MiB that `denoise_step` keeps (the leak), each step marked, `delay` ms apart.
/// Prints a line per step, which must go to the log, not over the view.
const SLOW_SAMPLER: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int cudaMalloc(void **p, size_t n);
int cudaFree(void *p);
#define MIB ((size_t)1 << 20)
__attribute__((noinline)) void *load_weights(void) { void *p = 0; cudaMalloc(&p, 64 * MIB); return p; }
__attribute__((noinline)) void *step_scratch(void) { void *p = 0; cudaMalloc(&p, 8 * MIB); return p; }
__attribute__((noinline)) void *denoise_step(void) { void *p = 0; cudaMalloc(&p, 3 * MIB); return p; }
int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 100, delay_ms = argc > 2 ? atol(argv[2]) : 50;
    void (*mark)(const char *) = (void (*)(const char *))dlsym(RTLD_DEFAULT, "gpuleak_mark_iteration");
    void *weights = load_weights();
    for (long i = 0; i < steps; i++) {
        if (mark)
            mark("step");
        void *s = step_scratch();
        (void)denoise_step();
        cudaFree(s);
        printf("sampler step %ld\n", i);
        fflush(stdout);
        usleep(delay_ms * 1000);
    }
    (void)weights;
    return 0;
}
"#;

fn have_tmux() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        gpuleak_tests::missing("tmux");
    }
    ok
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gpuleak-tui-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The hook beside the gpuleak binary under test (the workspace build puts both there).
fn hook() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_gpuleak"));
    let hook = bin.parent().unwrap().join("libgpuleak_hook.so");
    assert!(
        hook.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        hook.display()
    );
    hook
}

fn build_sampler(dir: &Path) -> PathBuf {
    let src = dir.join("slow_sampler.c");
    std::fs::write(&src, SLOW_SAMPLER).unwrap();
    let exe = dir.join("slow_sampler");
    let fake = gpuleak_tests::fake_cuda_dir();
    let o = Command::new("cc")
        .args(["-g", "-O1", "-fno-omit-frame-pointer", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg(format!("-L{}", fake.display()))
        .args(["-lcudart", "-ldl"])
        .output()
        .expect("cc runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    exe
}

/// A tmux server of the test's own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// `name` keeps the tests' servers apart: they run in parallel.
    fn start(dir: &Path, name: &str) -> Tmux {
        let t = Tmux {
            socket: format!("gpuleak-e2e-{}-{name}", std::process::id()),
        };
        let o = t.cmd(&[
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "45",
            "-c",
            dir.to_str().unwrap(),
            "env PS1='READY$ ' bash --norc --noprofile",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        t.wait_for("shell prompt", Duration::from_secs(10), |s| {
            s.contains("READY$")
        });
        t
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success());
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned()
    }

    fn format(&self, what: &str) -> String {
        let o = self.cmd(&["display-message", "-p", "-t", "0", what]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Waits until the screen satisfies `ok`, failing with the screen after `limit`.
    fn wait_for(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if start.elapsed() > limit {
                panic!("waited {limit:?} for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Kills the sampler (which outlives a detached view) when the test ends, passed or not.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) of the sampler this test started (through gpuleak).
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// The pid in the header: "pid 4242".
fn header_pid(screen: &str) -> Option<i32> {
    screen
        .split("pid ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The iteration count in the header, the number before its source: "step 37 (marker)" (the
/// sampler marks each with `gpuleak_mark_iteration("step")`, so its unit is "step"), "iter 984
/// (auto)".
fn iterations(screen: &str) -> Option<u64> {
    screen
        .match_indices(" (")
        .find_map(|(at, _)| screen[..at].split_whitespace().next_back()?.parse().ok())
}

#[test]
fn the_live_view_follows_a_running_sampler_and_q_leaves_a_clean_terminal() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    let dir = scratch("live");
    let sampler = build_sampler(&dir);
    let tmux = Tmux::start(&dir, "live");
    let line = format!(
        "LD_LIBRARY_PATH={} {} run --hook {} -o run.trace -- {} 2000 30",
        gpuleak_tests::fake_cuda_dir().display(),
        env!("CARGO_BIN_EXE_gpuleak"),
        hook().display(),
        sampler.display()
    );
    tmux.send(&[&line, "Enter"]);

    // The view comes up, on the alternate screen, and the iterations count up.
    let first = tmux.wait_for(
        "the header's iteration count",
        Duration::from_secs(30),
        |s| s.contains("● running") && iterations(s).is_some_and(|n| n >= 3),
    );
    assert_eq!(tmux.format("#{alternate_on}"), "1", "{first}");
    let _sampler = KillOnDrop(header_pid(&first).unwrap_or_else(|| panic!("{first}")));
    let n1 = iterations(&first).unwrap();
    let later = tmux.wait_for("more iterations", Duration::from_secs(30), |s| {
        iterations(s).is_some_and(|n| n >= n1 + 10)
    });
    assert!(later.contains("(marker)"), "{later}");

    // The leak is flagged while the program runs, with its site.
    let flagged = tmux.wait_for("the leak finding", Duration::from_secs(30), |s| {
        s.contains("LEAK") && s.contains("denoise_step")
    });
    assert!(flagged.contains("+3.00 MiB/step"), "{flagged}");
    assert!(flagged.contains("● running"), "still running: {flagged}");
    // The program's own output went to the log, not over the view.
    assert!(!flagged.contains("sampler step"), "{flagged}");
    assert!(flagged.contains("run.trace.log"), "{flagged}");

    // Another screen answers its key.
    tmux.send(&["Tab"]);
    tmux.wait_for("the sites screen", Duration::from_secs(5), |s| {
        s.contains("Sites ") && s.contains("bytes/step")
    });

    // q while it runs: the view goes, the terminal is as it was, the program goes on.
    tmux.send(&["q"]);
    let after = tmux.wait_for("the shell prompt again", Duration::from_secs(10), |s| {
        s.contains("gpuleak: detached") && s.trim_end().ends_with("READY$")
    });
    assert_eq!(tmux.format("#{alternate_on}"), "0", "{after}");
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "cursor shown again");
    assert!(!after.contains("bytes/step"), "{after}");
    let pid: i32 = after
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{after}"));
    assert_eq!(pid, _sampler.0, "{after}");
    let size = written(&dir.join("run.trace"));
    std::thread::sleep(Duration::from_millis(600));
    let grown = written(&dir.join("run.trace"));
    assert!(grown > size, "still recording after q: {size} then {grown}");
    let log = std::fs::read_to_string(dir.join("run.trace.log")).unwrap();
    assert!(log.contains("sampler step 0"), "{log}");

    // The raw mode went with the view: a command typed now runs as usual.
    tmux.send(&["echo typed-$((40+2))", "Enter"]);
    tmux.wait_for("the shell to echo", Duration::from_secs(5), |s| {
        s.contains("typed-42")
    });
}

#[test]
fn q_in_the_demos_live_view_says_the_sampler_is_still_recording_not_that_its_trace_is_saved() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    let dir = scratch("demo");
    let tmux = Tmux::start(&dir, "demo");
    let line = format!(
        "{} demo --fake-cuda --steps 1000 --images 4 -o demo.trace",
        env!("CARGO_BIN_EXE_gpuleak")
    );
    tmux.send(&[&line, "Enter"]);
    let first = tmux.wait_for("the live view", Duration::from_secs(60), |s| {
        s.contains("● running") && iterations(s).is_some_and(|n| n >= 2)
    });
    let _sampler = KillOnDrop(header_pid(&first).unwrap_or_else(|| panic!("{first}")));
    tmux.send(&["q"]);
    let after = tmux.wait_for("the shell prompt again", Duration::from_secs(10), |s| {
        s.contains("gpuleak: detached") && s.trim_end().ends_with("READY$")
    });
    assert!(!after.contains("trace saved"), "{after}");
    assert!(
        after.contains("gpuleak demo: the sampler is still recording to demo.trace"),
        "{after}"
    );
    let size = written(&dir.join("demo.trace"));
    std::thread::sleep(Duration::from_millis(600));
    assert!(written(&dir.join("demo.trace")) > size, "still recording");
}

#[test]
fn after_the_program_ends_the_view_stays_with_its_exit_status_until_q() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    let dir = scratch("ended");
    let sampler = build_sampler(&dir);
    let tmux = Tmux::start(&dir, "ended");
    let line = format!(
        "LD_LIBRARY_PATH={} {} run --hook {} -o done.trace -- {} 30 5; echo status=$?",
        gpuleak_tests::fake_cuda_dir().display(),
        env!("CARGO_BIN_EXE_gpuleak"),
        hook().display(),
        sampler.display()
    );
    tmux.send(&[&line, "Enter"]);
    // The header's status follows the program at once, its figures with the next analysis (at
    // most 300 ms later), and a capture may land while a frame is being written: all three
    // are waited for.
    tmux.wait_for("the exit status", Duration::from_secs(30), |s| {
        s.contains("● exited 0") && s.contains("step 30 (marker)") && s.contains("q quits")
    });
    // It stays: a moment later the view is still there.
    std::thread::sleep(Duration::from_millis(500));
    assert!(tmux.screen().contains("● exited 0"));
    tmux.send(&["q"]);
    let after = tmux.wait_for("the summary and the prompt", Duration::from_secs(10), |s| {
        s.contains("status=0") && s.trim_end().ends_with("READY$")
    });
    assert!(
        after.contains("gpuleak: 61 allocations") && after.contains("trace: done.trace"),
        "{after}"
    );
    assert_eq!(tmux.format("#{alternate_on}"), "0", "{after}");
}

#[test]
fn view_follows_a_growing_file_and_sigterm_restores_the_terminal() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    let dir = scratch("view");
    let bytes = common::stepped_trace(40, 3 * common::MIB);
    let path = dir.join("growing.trace");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let tmux = Tmux::start(&dir, "view");
    let line = format!("{} view growing.trace", env!("CARGO_BIN_EXE_gpuleak"));
    tmux.send(&[&line, "Enter"]);
    let s = tmux.wait_for("the first part", Duration::from_secs(20), |s| {
        s.contains("recording") && iterations(s).is_some_and(|n| n > 0)
    });
    let n = iterations(&s).unwrap();
    assert!(n < 40, "{s}");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&bytes[bytes.len() / 3..]).unwrap();
    drop(f);
    tmux.wait_for("the rest", Duration::from_secs(20), |s| {
        iterations(s) == Some(40) && s.contains("● complete")
    });

    // SIGTERM from elsewhere: the view ends and the terminal is given back.
    let shell = tmux.format("#{pane_pid}");
    let pgrep = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
    let pid: i32 = String::from_utf8_lossy(&pgrep.stdout)
        .trim()
        .parse()
        .expect("gpuleak's pid");
    // SAFETY: kill(2) of the gpuleak this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let after = tmux.wait_for("the prompt", Duration::from_secs(10), |s| {
        s.trim_end().ends_with("READY$")
    });
    assert_eq!(tmux.format("#{alternate_on}"), "0", "{after}");
    assert_eq!(tmux.format("#{cursor_flag}"), "1");
}

#[test]
fn sigterm_to_gpuleak_run_reaches_the_program_and_restores_the_terminal() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    let dir = scratch("term");
    let sampler = build_sampler(&dir);
    let tmux = Tmux::start(&dir, "term");
    let line = format!(
        "LD_LIBRARY_PATH={} {} run --hook {} -o term.trace -- {} 2000 30; echo status=$?",
        gpuleak_tests::fake_cuda_dir().display(),
        env!("CARGO_BIN_EXE_gpuleak"),
        hook().display(),
        sampler.display()
    );
    tmux.send(&[&line, "Enter"]);
    let s = tmux.wait_for("the view", Duration::from_secs(30), |s| {
        s.contains("● running") && iterations(s).is_some_and(|n| n >= 3)
    });
    let _sampler = KillOnDrop(header_pid(&s).unwrap_or_else(|| panic!("{s}")));
    let shell = tmux.format("#{pane_pid}");
    let pgrep = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
    let gpuleak: i32 = String::from_utf8_lossy(&pgrep.stdout)
        .trim()
        .parse()
        .expect("gpuleak's pid");
    // SAFETY: kill(2) of the gpuleak this test started.
    unsafe { libc::kill(gpuleak, libc::SIGTERM) };
    // Passed on to the program, which dies of it; gpuleak says so in its exit status, after the
    // summary, on a terminal given back.
    let after = tmux.wait_for("the exit status", Duration::from_secs(10), |s| {
        s.contains("status=143") && s.trim_end().ends_with("READY$")
    });
    assert!(after.contains("trace: term.trace"), "{after}");
    assert_eq!(tmux.format("#{alternate_on}"), "0", "{after}");
}

/// The pid of the gpuleak process whose command line names `unique` (a trace's name).
fn gpuleak_pid(unique: &str) -> Option<i32> {
    let o = Command::new("pgrep").args(["-f", unique]).output().ok()?;
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "gpuleak")
        })
}

/// Kills a process this test started, if it is still there, when the test ends.
struct KillGpuleakOnDrop(i32);

impl Drop for KillGpuleakOnDrop {
    fn drop(&mut self) {
        if !gone(self.0) {
            // SAFETY: kill(2) of a gpuleak this test started.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

/// `gpuleak view` of a finished trace in a tmux pane, `prefix` put before the command; the
/// view's pid once it shows the trace.
fn view_in_tmux(name: &str, prefix: &str) -> (Tmux, KillGpuleakOnDrop) {
    let dir = scratch(name);
    let trace = format!("{name}-{}.trace", std::process::id());
    std::fs::write(dir.join(&trace), common::stepped_trace(10, common::MIB)).unwrap();
    let tmux = Tmux::start(&dir, name);
    let line = format!("{prefix}{} view {trace}", env!("CARGO_BIN_EXE_gpuleak"));
    tmux.send(&[&line, "Enter"]);
    tmux.wait_for("the view", Duration::from_secs(20), |s| {
        s.contains("● complete")
    });
    let pid = gpuleak_pid(&trace).expect("gpuleak's pid");
    (tmux, KillGpuleakOnDrop(pid))
}

#[test]
fn a_view_whose_terminal_is_closed_ends() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    let (tmux, view) = view_in_tmux("closed", "");
    // The terminal goes away, as when an SSH session drops: the view has nothing left to show.
    tmux.cmd(&["kill-server"]);
    assert!(
        ends_within(view.0, Duration::from_secs(5)),
        "gpuleak view (pid {}) still runs 5 s after its terminal went away",
        view.0
    );
}

#[test]
fn a_view_that_reads_the_end_of_its_input_ends_without_a_hangup() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    // In a session of its own, the view gets no SIGHUP when the terminal goes: only the end
    // of its input tells it.
    let (tmux, view) = view_in_tmux("eof", "setsid -w ");
    tmux.cmd(&["kill-server"]);
    assert!(
        ends_within(view.0, Duration::from_secs(5)),
        "gpuleak view (pid {}) still runs 5 s after the end of its input",
        view.0
    );
}

#[test]
fn sigterm_ends_a_view_whose_terminal_went_away() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    let (tmux, view) = view_in_tmux("term-gone", "setsid -w ");
    tmux.cmd(&["kill-server"]);
    // SAFETY: kill(2) of the gpuleak this test started.
    unsafe { libc::kill(view.0, libc::SIGTERM) };
    assert!(
        ends_within(view.0, Duration::from_secs(5)),
        "gpuleak view (pid {}) still runs 5 s after SIGTERM",
        view.0
    );
}

#[test]
fn gpuleak_run_ends_with_its_program_when_the_terminal_is_closed() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    let dir = scratch("run-hup");
    let sampler = build_sampler(&dir);
    let tmux = Tmux::start(&dir, "run-hup");
    let trace = format!("run-hup-{}.trace", std::process::id());
    let line = format!(
        "LD_LIBRARY_PATH={} {} run --hook {} -o {trace} -- {} 2000 30",
        gpuleak_tests::fake_cuda_dir().display(),
        env!("CARGO_BIN_EXE_gpuleak"),
        hook().display(),
        sampler.display()
    );
    tmux.send(&[&line, "Enter"]);
    let s = tmux.wait_for("the view", Duration::from_secs(30), |s| {
        s.contains("● running") && iterations(s).is_some_and(|n| n >= 3)
    });
    let program = KillOnDrop(header_pid(&s).unwrap_or_else(|| panic!("{s}")));
    let gpuleak = KillGpuleakOnDrop(gpuleak_pid(&trace).expect("gpuleak's pid"));
    tmux.cmd(&["kill-server"]);
    assert!(
        ends_within(program.0, Duration::from_secs(5)),
        "the program still runs after the hangup"
    );
    assert!(
        ends_within(gpuleak.0, Duration::from_secs(5)),
        "gpuleak run still runs after the hangup"
    );
}

/// How many bytes of records a trace holds: the file itself is longer while it is written
/// (the hook reserves its space ahead).
fn written(path: &Path) -> u64 {
    let mut r = gpuleak_trace::open(path).unwrap();
    while r.next_record().unwrap().is_some() {}
    r.offset()
}

#[test]
fn h_in_the_view_of_a_running_python_server_asks_it_and_shows_the_gallery() {
    if !have_tmux() {
        eprintln!("SKIPPED: tmux is not installed; the live view's end-to-end test needs it");
        return;
    }
    let dir = scratch("holders");
    // The server is this test: its pid is alive, and it answers the request as the hook would.
    let mut server = common::python::gallery_server(std::process::id(), 2);
    let path = dir.join("server.trace");
    std::fs::write(&path, &server.buf).unwrap();
    let tmux = Tmux::start(&dir, "holders");
    let line = format!("{} view server.trace", env!("CARGO_BIN_EXE_gpuleak"));
    tmux.send(&[&line, "Enter"]);
    tmux.wait_for("the view", Duration::from_secs(20), |s| {
        s.contains("iter 2")
    });
    tmux.send(&["2", "j", "H"]);
    tmux.wait_for("the request", Duration::from_secs(10), |s| {
        s.contains("asking for holders…")
    });
    let request = dir.join("server.trace.want-holders");
    assert!(request.exists());
    std::fs::remove_file(&request).unwrap();
    let record = server.holders(gpuleak_trace::HoldersReason::OnDemand, 2);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&record).unwrap();
    drop(f);
    // The two images, as one group.
    let s = tmux.wait_for("the answer", Duration::from_secs(10), |s| {
        s.contains("`GALLERY[*]` ×2")
    });
    assert!(s.contains("this site: 3.00 MiB in 2"), "{s}");
    assert!(!s.contains("asking for holders"), "{s}");
    tmux.send(&["q"]);
    tmux.wait_for("the prompt", Duration::from_secs(10), |s| {
        s.trim_end().ends_with("READY$")
    });
}
