//! What `gpuleak run` sets up around the program: the hook (found by [`super::hook`]) put first in LD_PRELOAD,
//! the environment that lets it see everything (NVTX, PyTorch's allocator), the trace's and the
//! log's names, the signals passed on to the program, and the traces the run leaves.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::SystemTime;

use crate::error::{EXIT_USAGE, Fail, io_reason};
use crate::input::{pid_digits, sibling_pid};

pub use super::hook::{HOOK_FILE, find_hook};

/// `<trace>.log` beside the trace (its `%p` filled with gpuleak's pid, there being one log for
/// the whole run).
pub fn log_path(output_abs: &Path, own_pid: u32) -> PathBuf {
    let mut p = expand_pid(output_abs, own_pid).into_os_string();
    p.push(".log");
    PathBuf::from(p)
}

pub fn open_log(path: &Path) -> Result<std::fs::File, Fail> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        // Like the trace: the program's output may hold what its owner alone should read.
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            Fail::new(
                EXIT_USAGE,
                format!(
                    "cannot write the program's log {}: {}",
                    path.display(),
                    io_reason(&e)
                ),
            )
        })
}

/// Where PyTorch reads its allocator's settings: the name of 2.9 and later, then the older one
/// (2.9 still reads the backend from it).
pub const TORCH_ALLOC_CONFS: [&str; 2] = ["PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF"];

/// The allocator settings with `backend:cudaMallocAsync`: the user's other options from every
/// variable they set kept (once each, the first setting of an option winning), their own backend
/// option (if any, and different) returned so it can be reported.
pub fn torch_tensor_conf(existing: &[String]) -> (String, Option<String>) {
    const WANTED: &str = "backend:cudaMallocAsync";
    let mut replaced = None;
    let mut parts = vec![WANTED.to_string()];
    let key = |opt: &str| opt.split(':').next().unwrap_or("").trim().to_string();
    for opt in existing
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        if key(opt) == "backend" {
            if opt.replace(' ', "") != WANTED && replaced.is_none() {
                replaced = Some(opt.to_string());
            }
            continue;
        }
        if parts.iter().any(|p| key(p) == key(opt)) {
            continue;
        }
        parts.push(opt.to_string());
    }
    (parts.join(","), replaced)
}

/// The variable NVTX v3 reads for the library to load as its injection.
pub const NVTX_INJECTION: &str = "NVTX_INJECTION64_PATH";

/// What NVTX_INJECTION64_PATH should be set to: the hook, unless the user set it already (then
/// `None`: theirs stays).
pub fn nvtx_injection(hook: &Path, existing: Option<&OsStr>) -> Option<OsString> {
    match existing {
        Some(v) if !v.is_empty() => None,
        _ => Some(hook.as_os_str().to_os_string()),
    }
}

/// The hook goes first so that it sees every CUDA call before another preload does.
pub fn ld_preload(hook: &Path, existing: Option<&OsStr>) -> OsString {
    let mut v = hook.as_os_str().to_os_string();
    if let Some(e) = existing.filter(|e| !e.is_empty()) {
        v.push(":");
        v.push(e);
    }
    v
}

/// `gpuleak-<command basename>-<pid>.trace`: several runs of one program do not collide.
pub fn default_output(program: &OsStr, pid: u32) -> PathBuf {
    let name = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "program".to_string());
    PathBuf::from(format!("gpuleak-{name}-{pid}.trace"))
}

/// Fails early, before the program runs for hours, if the trace could not be written or a trace
/// of that name is there already.
pub fn prepare_output(abs: &Path, shown: &Path) -> Result<(), Fail> {
    let dir = abs.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        return Err(Fail::new(
            EXIT_USAGE,
            format!(
                "cannot write the trace {}: directory {} does not exist",
                shown.display(),
                dir.display()
            ),
        ));
    }
    // Permission bits say nothing for root, a read-only mount or /proc: only a file written
    // tells. The probe has its own name so an existing trace is untouched if this fails.
    let probe = dir.join(format!(".gpuleak-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => {
            return Err(Fail::new(
                EXIT_USAGE,
                format!(
                    "cannot write the trace {}: directory {} is not writable ({})",
                    shown.display(),
                    dir.display(),
                    io_reason(&e)
                ),
            ));
        }
    }
    // A name with %p is new for every process; there is nothing of that name to clear yet.
    if has_pid_pattern(abs) {
        return Ok(());
    }
    match std::fs::symlink_metadata(abs) {
        // A trace is a recording that cannot be made again: never replaced (the hook itself
        // writes beside one it finds, as `<path>.<pid>`, which would read as a worker's).
        Ok(m) if m.is_file() || m.file_type().is_symlink() => Err(Fail::new(
            EXIT_USAGE,
            format!(
                "{}: already exists; a trace is never replaced (remove it, or name another with -o)",
                shown.display()
            ),
        )),
        Ok(_) => Err(Fail::new(
            EXIT_USAGE,
            format!(
                "cannot write the trace {}: it exists and is not a file",
                shown.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Fail::new(
            EXIT_USAGE,
            format!("cannot write the trace {}: {e}", shown.display()),
        )),
    }
}

pub fn has_pid_pattern(p: &Path) -> bool {
    p.as_os_str().as_bytes().windows(2).any(|w| w == b"%p")
}

pub fn spawn_fail(program: &OsStr, e: &io::Error) -> Fail {
    let name = program.to_string_lossy();
    match e.kind() {
        io::ErrorKind::NotFound => Fail::new(127, format!("{name}: command not found")),
        io::ErrorKind::PermissionDenied => Fail::new(126, format!("{name}: permission denied")),
        _ => Fail::new(126, format!("{name}: cannot run: {e}")),
    }
}

/// The program's pid once it runs, for the signal handler to pass signals on to.
pub static CHILD: AtomicI32 = AtomicI32::new(0);
/// A signal that arrived before the child existed, delivered once it does.
pub static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler; null is checked anyway.
    let code = if info.is_null() {
        libc::SI_USER
    } else {
        unsafe { (*info).si_code }
    };
    // Ctrl-C goes to the whole foreground process group: the child has it already, and a second
    // one would make programs that count interrupts (Python) give up cleanup.
    if sig == libc::SIGINT && code == libc::SI_KERNEL {
        return;
    }
    // The live view ends too, restoring the terminal; gpuleak then waits for the program.
    crate::tui::term::STOP.store(true, Ordering::SeqCst);
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    } else {
        PENDING.store(sig, Ordering::SeqCst);
    }
}

/// gpuleak must outlive the program to summarise its trace, so it does not die of the signals
/// meant for the program; it passes them on instead.
pub fn install_forwarding() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a valid handler, flags and empty mask.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Where the traces of this run are: the program's own, then those of its children.
pub fn find_traces(template: &Path, pid: u32, since: SystemTime) -> (PathBuf, Vec<(u32, PathBuf)>) {
    let main = expand_pid(template, pid);
    let dir = template.parent().unwrap_or(Path::new("/"));
    let name = template
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let main_name = main
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut extra = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file == main_name {
                continue;
            }
            let Some(child) = child_pid(&name, &main_name, &file) else {
                continue;
            };
            let fresh = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if fresh {
                extra.push((child, entry.path()));
            }
        }
    }
    extra.sort();
    (main, extra)
}

/// The pid in a child's trace name: `<main>.<pid>` (the hook's name when the path is taken), or
/// the template with `%p` filled in.
pub fn child_pid(template: &str, main: &str, file: &str) -> Option<u32> {
    if file.starts_with(&format!("{main}.")) {
        return sibling_pid(main, file);
    }
    let (pre, post) = template.split_once("%p")?;
    // Only the first %p is matched; a name with several is unusual enough to go unlisted.
    let middle = file.strip_prefix(pre)?.strip_suffix(post)?;
    pid_digits(middle)
}

pub fn expand_pid(p: &Path, pid: u32) -> PathBuf {
    let s = p.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(b"%p") {
            out.extend_from_slice(pid.to_string().as_bytes());
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    PathBuf::from(OsStr::from_bytes(&out).to_os_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn torch_tensors_sets_the_async_backend_and_keeps_the_users_other_options() {
        let conf =
            |v: &[&str]| torch_tensor_conf(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(conf(&[]), ("backend:cudaMallocAsync".to_string(), None));
        // Set in both variables (PyTorch 2.9's name first): each option once.
        assert_eq!(
            conf(&[
                "expandable_segments:True",
                "expandable_segments:False,max_split_size_mb:64"
            ]),
            (
                "backend:cudaMallocAsync,expandable_segments:True,max_split_size_mb:64".to_string(),
                None
            )
        );
        assert_eq!(
            conf(&["max_split_size_mb:128, backend:native"]),
            (
                "backend:cudaMallocAsync,max_split_size_mb:128".to_string(),
                Some("backend:native".to_string())
            )
        );
        assert_eq!(
            conf(&["backend:cudaMallocAsync,garbage_collection_threshold:0.6"]),
            (
                "backend:cudaMallocAsync,garbage_collection_threshold:0.6".to_string(),
                None
            )
        );
    }

    use super::*;

    #[test]
    fn nvtx_injection_is_the_hook_unless_already_set() {
        let hook = Path::new("/opt/gpuleak/libgpuleak_hook.so");
        assert_eq!(nvtx_injection(hook, None), Some(hook.as_os_str().into()));
        assert_eq!(
            nvtx_injection(hook, Some(OsStr::new(""))),
            Some(hook.as_os_str().into())
        );
        assert_eq!(nvtx_injection(hook, Some(OsStr::new("/x/nsys.so"))), None);
    }

    #[test]
    fn the_hook_goes_in_front_of_an_existing_preload() {
        let hook = Path::new("/opt/gpuleak/libgpuleak_hook.so");
        assert_eq!(
            ld_preload(hook, Some(OsStr::new("/usr/lib/libjemalloc.so"))),
            "/opt/gpuleak/libgpuleak_hook.so:/usr/lib/libjemalloc.so"
        );
        assert_eq!(ld_preload(hook, Some(OsStr::new(""))), hook.as_os_str());
        assert_eq!(ld_preload(hook, None), hook.as_os_str());
    }

    #[test]
    fn the_default_output_names_the_command_and_pid() {
        assert_eq!(
            default_output(OsStr::new("/usr/bin/python3"), 77),
            PathBuf::from("gpuleak-python3-77.trace")
        );
        assert_eq!(
            default_output(OsStr::new("./sample"), 5),
            PathBuf::from("gpuleak-sample-5.trace")
        );
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gpuleak-run-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_existing_trace_or_a_directory_of_the_same_name_is_refused_and_kept() {
        let d = scratch("out");
        let f = d.join("x.trace");
        prepare_output(&f, &f).unwrap();
        std::fs::write(&f, b"old").unwrap();
        let err = prepare_output(&f, &f).unwrap_err();
        assert_eq!(err.code, EXIT_USAGE);
        assert!(err.message.contains("already exists"), "{}", err.message);
        assert_eq!(std::fs::read(&f).unwrap(), b"old");
        std::fs::remove_file(&f).unwrap();
        std::fs::create_dir(&f).unwrap();
        assert_eq!(prepare_output(&f, &f).unwrap_err().code, EXIT_USAGE);
        let missing = d.join("no/such/dir/x.trace");
        let err = prepare_output(&missing, &missing).unwrap_err();
        assert!(err.message.contains("does not exist"), "{}", err.message);
    }

    #[test]
    fn child_traces_beside_the_main_one_are_found_by_pid() {
        let d = scratch("children");
        let main = d.join("run.trace");
        for name in [
            "run.trace",
            "run.trace.123",
            "run.trace.45",
            "run.trace.x1",
            "other.trace.9",
        ] {
            std::fs::write(d.join(name), b"").unwrap();
        }
        let (m, extra) = find_traces(&main, 1, SystemTime::UNIX_EPOCH);
        assert_eq!(m, main);
        let pids: Vec<u32> = extra.iter().map(|(p, _)| *p).collect();
        assert_eq!(pids, vec![45, 123]);
        // Leftovers from an earlier run are older than this one.
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert!(find_traces(&main, 1, later).1.is_empty());
    }

    #[test]
    fn a_pid_pattern_names_the_main_trace_and_its_children() {
        let d = scratch("pattern");
        for name in ["t-100.trace", "t-200.trace", "t-.trace"] {
            std::fs::write(d.join(name), b"").unwrap();
        }
        let (m, extra) = find_traces(&d.join("t-%p.trace"), 100, SystemTime::UNIX_EPOCH);
        assert_eq!(m, d.join("t-100.trace"));
        assert_eq!(extra, vec![(200, d.join("t-200.trace"))]);
    }

    #[test]
    fn the_programs_log_sits_beside_the_trace_with_gpuleaks_pid_for_a_pattern() {
        assert_eq!(
            log_path(Path::new("/d/run.trace"), 9),
            PathBuf::from("/d/run.trace.log")
        );
        assert_eq!(
            log_path(Path::new("/d/t-%p.trace"), 9),
            PathBuf::from("/d/t-9.trace.log")
        );
        // Not taken for a child's trace (`<trace>.<pid>`) by the live view's discovery.
        let d = scratch("log");
        std::fs::write(d.join("run.trace.log"), b"").unwrap();
        assert!(
            find_traces(&d.join("run.trace"), 1, SystemTime::UNIX_EPOCH)
                .1
                .is_empty()
        );
    }

    #[test]
    fn a_command_that_cannot_start_exits_127_or_126() {
        let nf = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(spawn_fail(OsStr::new("nope"), &nf).code, 127);
        let pd = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(spawn_fail(OsStr::new("x"), &pd).code, 126);
    }
}
