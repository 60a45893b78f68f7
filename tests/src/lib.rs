//! Test support for gpuleak's integration tests.
//!
//! - where things are: the fake CUDA libraries and test programs built by `build.rs`
//!   ([`fake_cuda_dir`], [`programs_dir`], [`program`]), and the workspace's own build outputs
//!   ([`target_dir`], [`hook_path`], [`gpuleak_bin`], [`sampler_bin`]);
//! - [`Run`]: runs a program on the fake CUDA, with or without the hook, in a fresh temporary
//!   directory, with a timeout that kills the whole process group (a test never hangs), and
//!   returns its output and the trace files it wrote ([`RunOutput`]); or starts it and lets the
//!   test interact with it ([`Running`]);
//! - [`parse_calls`]: the test programs' output convention, one `<api> <code> <ptr> <size>` line
//!   per CUDA call.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// The directory holding the fake `libcuda.so.1` and `libcudart.so.12` (test doubles).
pub const FAKE_CUDA_DIR: &str = env!("GPULEAK_FAKE_CUDA_DIR");
/// The directory holding the compiled test programs and `ctypes_alloc.py`.
pub const PROGRAMS_DIR: &str = env!("GPULEAK_TEST_PROGRAMS_DIR");

/// Default limit for one [`Run`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// File name (in the run's temporary directory) given to the hook through `GPULEAK_OUTPUT`.
pub const DEFAULT_TRACE_NAME: &str = "trace-%p.trace";

/// The directory holding the fake `libcuda.so.1` / `libcudart.so.12`.
pub fn fake_cuda_dir() -> PathBuf {
    PathBuf::from(FAKE_CUDA_DIR)
}

/// The directory holding the compiled test programs.
pub fn programs_dir() -> PathBuf {
    PathBuf::from(PROGRAMS_DIR)
}

/// The path of a test program (`"runtime_basic"`, `"ctypes_alloc.py"` ...); panics if absent.
pub fn program(name: &str) -> PathBuf {
    let path = programs_dir().join(name);
    assert!(
        path.exists(),
        "no test program {name} in {}",
        programs_dir().display()
    );
    path
}

/// `target/<profile>`: the grandparent of the running test executable
/// (`target/<profile>/deps/<test>-<hash>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("cannot find the target directory from {}", exe.display()))
        .to_path_buf()
}

fn built(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} does not exist: build the workspace first: cargo build --workspace",
        path.display()
    );
    path
}

/// `target/<profile>/libgpuleak_hook.so`; panics if it has not been built.
pub fn hook_path() -> PathBuf {
    built("libgpuleak_hook.so")
}

/// `target/<profile>/gpuleak`; panics if it has not been built.
pub fn gpuleak_bin() -> PathBuf {
    built("gpuleak")
}

/// Whether `python3` runs here; the tests that need it say "skipped" and return when not (CI
/// installs it).
pub fn have_python() -> bool {
    Command::new("python3")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `gpuleak report --format json TRACE`, parsed; panics (failing the test) with gpuleak's
/// message when the report fails.
pub fn report_json(trace: &Path) -> serde_json::Value {
    let out = Command::new(gpuleak_bin())
        .args(["report", "--format", "json"])
        .arg(trace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gpuleak report --format json {} failed: {}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether a report frame (`"name (file:line)"`) is the function `name`.
pub fn is_function(frame: &str, name: &str) -> bool {
    frame
        .strip_prefix(name)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// The one site of a JSON report whose innermost frame is the function `name`; panics (failing
/// the test) with the sites when there is not exactly one.
pub fn site_at<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let sites = json["sites"].as_array().expect("sites is an array");
    let found: Vec<&serde_json::Value> = sites
        .iter()
        .filter(|s| {
            s["frames"][0]
                .as_str()
                .is_some_and(|f| is_function(f, name))
        })
        .collect();
    assert_eq!(found.len(), 1, "one site at {name}; sites: {sites:#?}");
    found[0]
}

/// Runs the C compiler (`cc`) with `args`; panics with its messages if it fails. For what a
/// test builds when it runs (a Python extension against the installed headers, a stub driver).
pub fn cc<I, S>(args: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new("cc").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run cc: {e}");
    });
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `target/<profile>/gpuleak-sampler` (the cudarc diffusion sampler of `kernels/`); panics if it
/// has not been built. It is another package's binary, which cargo builds for a test only when
/// the workspace is built first (`scripts/test.sh` does), like [`gpuleak_bin`].
pub fn sampler_bin() -> PathBuf {
    built("gpuleak-sampler")
}

// ------------------------------------------------------------------------------------------------
// Temporary directories

/// A fresh directory under [`std::env::temp_dir`], removed on drop — unless the thread is
/// panicking (a failed test keeps its files and prints where) or `GPULEAK_KEEP_TEST_DIRS` is set.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        loop {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let name = format!(
                "gpuleak-tests-{prefix}-{}-{}-{nanos:08x}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = base.join(name);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    let keep = std::env::var_os("GPULEAK_KEEP_TEST_DIRS").is_some();
                    return TempDir { path, keep };
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory after drop.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.keep || thread::panicking() {
            eprintln!("gpuleak-tests: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Running programs

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

// ------------------------------------------------------------------------------------------------
// The programs' output convention

/// One `<api> <code> <pointer> <size>` line (`child <api> ...` from a forked child).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub api: String,
    pub code: i64,
    pub ptr: u64,
    pub size: u64,
    /// Printed by a forked child (`child ` prefix).
    pub child: bool,
}

impl Call {
    /// The line without the pointer (which changes from run to run): `"cudaMalloc 0 1048576"`.
    pub fn without_ptr(&self) -> String {
        let prefix = if self.child { "child " } else { "" };
        format!("{prefix}{} {} {}", self.api, self.code, self.size)
    }
}

/// The call lines of a program's stdout; other lines (`ready`, `total ...`) are skipped.
pub fn parse_calls(stdout: &str) -> Vec<Call> {
    stdout.lines().filter_map(parse_call).collect()
}

fn parse_call(line: &str) -> Option<Call> {
    let (child, rest) = match line.strip_prefix("child ") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let [api, code, ptr, size] = fields[..] else {
        return None;
    };
    Some(Call {
        api: api.to_string(),
        code: code.parse().ok()?,
        ptr: u64::from_str_radix(ptr.strip_prefix("0x")?, 16).ok()?,
        size: size.parse().ok()?,
        child,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_call_lines() {
        let calls = parse_calls("cudaMalloc 0 0x7f00 4096\nready\nchild cudaFree 1 0x0 0\n");
        assert_eq!(
            calls,
            vec![
                Call {
                    api: "cudaMalloc".into(),
                    code: 0,
                    ptr: 0x7f00,
                    size: 4096,
                    child: false
                },
                Call {
                    api: "cudaFree".into(),
                    code: 1,
                    ptr: 0,
                    size: 0,
                    child: true
                },
            ]
        );
        assert_eq!(calls[1].without_ptr(), "child cudaFree 1 0");
    }

    #[test]
    fn target_dir_is_the_profile_dir() {
        let dir = target_dir();
        assert!(dir.join("deps").is_dir(), "{}", dir.display());
    }
}
