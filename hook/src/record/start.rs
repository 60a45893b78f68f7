//! The first event of a process: the trace file opened (never overwriting one), the header and
//! notes written, the writer thread started where there is no mapping.

use std::ffi::{CString, c_int};
use std::sync::atomic::Ordering;
use std::time::Duration;

use gpuleak_trace::Encoder;

use crate::config::{Config, Stacks};
use crate::mapped::Mapped;
use crate::python;
use crate::record::header::header;
use crate::record::lifecycle::once_per_process;
use crate::record::mode::stacks;
use crate::record::output::{commit, write_all, writer_main};
use crate::record::state::{Cap, Core, Phase, State, now_ns};

/// First event of the process: create the file, write the header, start the writer.
pub fn ensure_started(core: &'static Core, st: &mut State) -> bool {
    match st.phase {
        Phase::Active | Phase::Finished => return true,
        Phase::Disabled => return false,
        Phase::Idle => {}
    }
    let (cfg, mut notes) = Config::from_env();
    if cfg.stacks_explicit && cfg.stacks.python() && stacks().0 == Stacks::Native {
        notes.push(format!(
            "GPULEAK_STACKS={} but no CPython 3.9+ API in this process; stacks are native",
            cfg.stacks.name()
        ));
    }
    // The API was resolved when the stack mode was (`stacks()`), so this takes no loader lock.
    if stacks().0.python() && python::reads_without_gil() == Some(false) {
        notes.push(
            "Python frames read through the C API: gpuleak has no layout for this CPython, so \
             only threads holding the GIL get them"
                .to_string(),
        );
    }
    st.max_wait = Duration::from_millis(cfg.max_wait_ms);
    let pid = std::process::id();
    let pattern = cfg.output.replace("%p", &pid.to_string());
    let (fd, path) = match open_output(&pattern, pid) {
        Ok(v) => v,
        Err(e) => {
            eprintln!(
                "gpuleak: cannot create trace {pattern}: {e}; recording is off for this process"
            );
            st.phase = Phase::Disabled;
            return false;
        }
    };
    st.path = path;
    core.fd.store(fd, Ordering::Release);
    // Under a cap the space reserved ahead counts against it.
    let window = cfg
        .max_size
        .map_or(crate::mapped::WINDOW, |limit| limit / 16);
    match Mapped::new(fd, window) {
        Ok(Some(m)) => st.map = Some(m),
        Ok(None) => notes.push(
            "the trace is written by a writer thread (the output is not a regular file, or its \
             file system cannot reserve space): a process killed or crashed may lose its last \
             50 ms of events"
                .to_string(),
        ),
        Err(e) => {
            eprintln!(
                "gpuleak: cannot reserve space for trace {}: {e}; recording is off for this \
                 process",
                st.path
            );
            st.phase = Phase::Disabled;
            return false;
        }
    }
    if cfg.max_size.is_some() && st.map.is_none() {
        notes.push(
            "GPULEAK_MAX_SIZE applies to a regular file on a file system that can reserve \
             space; this trace is not capped"
                .to_string(),
        );
    }
    let header = header();
    st.enc = Encoder::start(&header, &mut st.buf);
    for n in notes {
        let State { enc, buf, .. } = &mut *st;
        enc.note(&n, buf);
    }
    if let (Some(limit), Some(m)) = (cfg.max_size, st.map.as_ref()) {
        let resume_at =
            m.written() + st.buf.len() as u64 + gpuleak_trace::encode::RESUME_OFFSET_AT as u64;
        let data_start = m.written() + (st.buf.len() + gpuleak_trace::encode::RESUME_LEN) as u64;
        let first = gpuleak_trace::Segment {
            index: 0,
            time_ns: now_ns(),
            next_seq: 0,
            live: Vec::new(),
            totals: Vec::new(),
        };
        let State { enc, buf, .. } = &mut *st;
        enc.resume(0, buf);
        enc.segment(&first, buf);
        st.cap = Some(Cap {
            limit,
            segment_size: limit / 4,
            resume_at,
            data_start,
            starts: [data_start].into(),
            live: Default::default(),
            totals: Vec::new(),
            cannot_drop: false,
        });
    }
    for r in std::mem::take(&mut st.early_ranges) {
        let State { enc, buf, .. } = &mut *st;
        enc.range(&r, buf);
    }
    once_per_process();
    if st.map.is_some() {
        st.phase = Phase::Active;
        commit(st);
        return st.phase == Phase::Active;
    }
    // The header goes out at once, so that even a process that dies before the first flush
    // leaves a trace that says who it was.
    if let Err(e) = write_all(fd, &st.buf) {
        eprintln!(
            "gpuleak: cannot write trace {}: {e}; recording is off for this process",
            st.path
        );
        st.phase = Phase::Disabled;
        return false;
    }
    st.buf.clear();
    let spawned = std::thread::Builder::new()
        .name("gpuleak-writer".into())
        .spawn(move || writer_main(core));
    if let Err(e) = spawned {
        eprintln!("gpuleak: cannot start the trace writer thread: {e}; recording is off");
        st.phase = Phase::Disabled;
        return false;
    }
    st.phase = Phase::Active;
    true
}

/// Never overwrites: an existing regular file means another process of the run (or an earlier
/// run) owns that name, so this one writes `<path>.<pid>`. A FIFO or device is written to as is.
pub fn open_output(path: &str, pid: u32) -> std::io::Result<(c_int, String)> {
    let mut candidates = vec![path.to_string(), format!("{path}.{pid}")];
    candidates.extend((1..100).map(|n| format!("{path}.{pid}.{n}")));
    let mut last = std::io::Error::from_raw_os_error(libc::EEXIST);
    for (i, cand) in candidates.iter().enumerate() {
        let c = CString::new(cand.as_str())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))?;
        // Read and write: a shared writable mapping of the file needs both.
        let flags =
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: valid C string.
        let fd = unsafe { libc::open(c.as_ptr(), flags, 0o600) };
        if fd >= 0 {
            return Ok((fd, cand.clone()));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EEXIST) {
            return Err(err);
        }
        if i == 0 {
            // A FIFO or a character device named by the user is written to; a symbolic link is
            // never followed (one planted at the path could aim the trace anywhere): like an
            // existing file, it sends the trace to the next name.
            // SAFETY: `stat` is plain data, valid all zeros.
            let mut sb: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: a valid C string and out-pointer.
            let is_special = unsafe { libc::lstat(c.as_ptr(), &mut sb) } == 0
                && matches!(sb.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFCHR);
            if is_special {
                // Non-blocking open: a FIFO nobody reads must fail now, not hang the program's
                // first CUDA call. Writes block again (boundedly, see `make_room`).
                // SAFETY: a valid C string.
                let fd = unsafe {
                    libc::open(
                        c.as_ptr(),
                        libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOFOLLOW,
                    )
                };
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // SAFETY: `fd` was just opened.
                unsafe {
                    let fl = libc::fcntl(fd, libc::F_GETFL);
                    libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
                }
                return Ok((fd, cand.clone()));
            }
        }
        last = err;
    }
    Err(last)
}
