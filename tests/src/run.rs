//! Running programs on the fake CUDA, with or without the hook, with a timeout that kills the
//! whole process group.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::calls::{Call, parse_calls};
use crate::paths::*;
use crate::tempdir::TempDir;

/// A program run on the fake CUDA, built up then [`run`](Run::run) or [`spawn`](Run::spawn)ed.
///
/// The child gets: its own process group; the temporary directory as working directory;
/// `LD_LIBRARY_PATH=<fake dir>[:inherited]`; `GPULEAK_OUTPUT=<tmp>/trace-%p.trace`;
/// `LD_PRELOAD=<hook>` only with [`hook`](Run::hook); and no inherited `LD_PRELOAD`,
/// `GPULEAK_*` or `FAKE_CUDA_*` variables (only those set through [`env`](Run::env)).
#[derive(Debug, Clone)]
pub struct Run {
    program: OsString,
    args: Vec<OsString>,
    env: BTreeMap<OsString, Option<OsString>>,
    hook: bool,
    fake_cuda: bool,
    trace_name: Option<String>,
    timeout: Duration,
}

impl Run {
    /// Any executable (a path, or a name looked up in `PATH`).
    pub fn new(program: impl AsRef<OsStr>) -> Run {
        Run {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            env: BTreeMap::new(),
            hook: false,
            fake_cuda: true,
            trace_name: Some(DEFAULT_TRACE_NAME.to_string()),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A test program from [`programs_dir`], by name (`"runtime_basic"`).
    pub fn program(name: &str) -> Run {
        Run::new(program(name))
    }

    /// `python3 <programs_dir>/<script>`.
    pub fn python(script: &str) -> Run {
        Run::new("python3").arg(program(script))
    }

    /// The `gpuleak` binary of this workspace (panics if not built).
    pub fn gpuleak() -> Run {
        Run::new(gpuleak_bin())
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Run {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Preload the hook (`LD_PRELOAD=target/<profile>/libgpuleak_hook.so`).
    pub fn hook(self) -> Run {
        self.with_hook(true)
    }

    pub fn with_hook(mut self, on: bool) -> Run {
        self.hook = on;
        self
    }

    /// Whether to put the fake CUDA first in `LD_LIBRARY_PATH` (default true). Turn off to run
    /// against a real CUDA installation.
    pub fn fake_cuda(mut self, on: bool) -> Run {
        self.fake_cuda = on;
        self
    }

    /// Sets a variable in the child's environment (after the defaults, so it overrides them).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Run {
        self.env.insert(
            key.as_ref().to_os_string(),
            Some(value.as_ref().to_os_string()),
        );
        self
    }

    /// Removes a variable from the child's environment (a default one included).
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Run {
        self.env.insert(key.as_ref().to_os_string(), None);
        self
    }

    /// The file name pattern for `GPULEAK_OUTPUT` inside the run's directory (default
    /// `trace-%p.trace`); `None` leaves `GPULEAK_OUTPUT` unset.
    pub fn trace_name(mut self, name: Option<&str>) -> Run {
        self.trace_name = name.map(str::to_string);
        self
    }

    /// Wall-clock limit (default [`DEFAULT_TIMEOUT`]): past it the process group is killed and
    /// the test fails.
    pub fn timeout(mut self, limit: Duration) -> Run {
        self.timeout = limit;
        self
    }

    fn command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).current_dir(dir).process_group(0);
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k == "LD_PRELOAD" || k.starts_with("GPULEAK_") || k.starts_with("FAKE_CUDA_") {
                cmd.env_remove(&key);
            }
        }
        if self.fake_cuda {
            let mut path = OsString::from(FAKE_CUDA_DIR);
            if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
                path.push(":");
                path.push(old);
            }
            cmd.env("LD_LIBRARY_PATH", path);
        }
        if let Some(name) = &self.trace_name {
            cmd.env("GPULEAK_OUTPUT", dir.join(name));
        }
        if self.hook {
            cmd.env("LD_PRELOAD", hook_path());
        }
        for (key, value) in &self.env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn describe(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        if self.hook {
            s.push_str(" [hook]");
        }
        s
    }

    /// Starts the program; the caller drives it through [`Running`].
    pub fn spawn(self) -> Running {
        let dir = TempDir::new("run");
        let mut child = self
            .command(dir.path())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.describe()));
        let (line_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if line_tx
                            .send(String::from_utf8_lossy(&buf).into_owned())
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        let (err_tx, stderr_rx) = mpsc::channel();
        let mut stderr = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            let _ = err_tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        Running {
            deadline: Instant::now() + self.timeout,
            started: Instant::now(),
            what: self.describe(),
            timeout: self.timeout,
            child,
            dir: Some(dir),
            finished: false,
            lines,
            stdout: String::new(),
            stderr_rx,
        }
    }

    /// Runs the program to completion (or kills it and panics at the timeout).
    pub fn run(self) -> RunOutput {
        self.spawn().wait()
    }

    /// Like [`run`](Run::run), but a timeout is reported in [`RunOutput::timed_out`] (the
    /// process group killed with SIGKILL) instead of panicking.
    pub fn run_allow_timeout(self) -> RunOutput {
        self.spawn().wait_allow_timeout()
    }
}

/// A started [`Run`].
/// Dropping it before it has finished kills its process group.
pub struct Running {
    child: Child,
    dir: Option<TempDir>,
    finished: bool,
    lines: Receiver<String>,
    stdout: String,
    stderr_rx: Receiver<String>,
    deadline: Instant,
    started: Instant,
    timeout: Duration,
    what: String,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The run's temporary directory (its working directory, where traces go).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("running").path()
    }

    /// Standard output received so far.
    pub fn stdout_so_far(&self) -> &str {
        &self.stdout
    }

    /// Reads stdout until a line equal to `line` (without its newline) arrives; panics if the
    /// program ends or the timeout passes first (after killing it).
    pub fn wait_for_line(&mut self, line: &str) {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = l.trim_end_matches(['\n', '\r']) == line;
                    self.stdout.push_str(&l);
                    if done {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill_group();
                    let out = self.finish();
                    panic!(
                        "{}: no line {line:?} within {:?}\n{out}",
                        out.what, self.timeout
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let out = self.finish();
                    panic!("{}: ended before printing {line:?}\n{out}", out.what);
                }
            }
        }
    }

    /// Sends `signal` (e.g. `libc::SIGKILL`) to the program's whole process group and waits.
    pub fn kill(self, signal: i32) -> RunOutput {
        // SAFETY: kill(2) with a negative pid signals the process group we created.
        unsafe {
            libc::kill(-(self.child.id() as i32), signal);
        }
        self.wait()
    }

    /// Waits for the program to end; past the timeout kills its process group and panics.
    pub fn wait(self) -> RunOutput {
        let timeout = self.timeout;
        let out = self.wait_allow_timeout();
        if out.timed_out {
            panic!("{}: killed after {timeout:?} (timeout)\n{out}", out.what);
        }
        out
    }

    /// Waits for the program to end; past the timeout kills its process group and returns
    /// with [`RunOutput::timed_out`] set.
    pub fn wait_allow_timeout(mut self) -> RunOutput {
        loop {
            match self.child.try_wait().expect("try_wait") {
                Some(_) => return self.finish(),
                None if Instant::now() >= self.deadline => {
                    self.kill_group();
                    let mut out = self.finish();
                    out.timed_out = true;
                    return out;
                }
                None => thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    fn kill_group(&mut self) {
        // SAFETY: as in `kill`.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
    }

    /// Reaps the child and collects its output. Output pipes still held open by a leftover
    /// descendant are waited for briefly, then the process group is killed.
    fn finish(&mut self) -> RunOutput {
        let status = self.child.wait().expect("wait");
        self.finished = true;
        let elapsed = self.started.elapsed();
        let grace = Instant::now() + Duration::from_secs(5);
        let mut killed = false;
        loop {
            match self
                .lines
                .recv_timeout(grace.saturating_duration_since(Instant::now()))
            {
                Ok(l) => self.stdout.push_str(&l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) if !killed => {
                    self.kill_group();
                    killed = true;
                }
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
        if !killed {
            // Leftover descendants (a forked child that outlived its parent) must not linger.
            self.kill_group();
        }
        let stderr = self
            .stderr_rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| "(stderr still open)".to_string());
        let dir = self.dir.take().expect("finished once");
        RunOutput {
            what: self.what.clone(),
            status,
            stdout: std::mem::take(&mut self.stdout),
            stderr,
            traces: trace_files(dir.path()),
            dir,
            elapsed,
            timed_out: false,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}

/// The `*.trace` files in `dir`, sorted by name.
pub fn trace_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "trace"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// What a finished [`Run`] left.
pub struct RunOutput {
    /// The command line, for messages.
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The `*.trace` files in the run's directory, sorted by name.
    pub traces: Vec<PathBuf>,
    /// The run's temporary directory (removed when this is dropped, kept if a test panics).
    pub dir: TempDir,
    pub elapsed: Duration,
    /// Killed at the timeout (only with [`Run::run_allow_timeout`]; `run` panics instead).
    pub timed_out: bool,
}

impl RunOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code, `None` if killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that ended the process, if any.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// Panics, showing stdout and stderr, unless the program exited 0.
    pub fn assert_success(&self) -> &RunOutput {
        assert!(
            self.success(),
            "{} failed: {}\n{self}",
            self.what,
            self.status
        );
        self
    }

    /// The program's CUDA calls (its `<api> <code> <ptr> <size>` lines).
    pub fn calls(&self) -> Vec<Call> {
        parse_calls(&self.stdout)
    }

    /// The only trace file; panics if there is not exactly one.
    pub fn trace(&self) -> &Path {
        assert_eq!(
            self.traces.len(),
            1,
            "{}: expected one trace file, found {:?}\n{self}",
            self.what,
            self.traces
        );
        &self.traces[0]
    }
}

impl fmt::Display for RunOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let timed_out = if self.timed_out { ", timed out" } else { "" };
        writeln!(
            f,
            "--- status: {} ({:?}{timed_out})",
            self.status, self.elapsed
        )?;
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        writeln!(f, "--- stderr:\n{}", self.stderr)?;
        write!(f, "--- traces: {:?}", self.traces)
    }
}

impl fmt::Debug for RunOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
