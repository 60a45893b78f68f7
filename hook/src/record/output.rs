//! Getting encoded records to the file: copied into the mapped file at once (`commit`), or
//! handed to the writer thread (`flush`), with a bounded wait when that thread falls behind.

use std::ffi::c_int;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::fd::write_fully;
use crate::guard;
use crate::record::state::{Core, Phase, State};
use crate::sync::MutexGuard;

/// The writer is woken early once this much is buffered.
pub const WAKE_AT: usize = 1 << 20;
/// Producers wait for the writer beyond this.
pub const BUFFER_LIMIT: usize = 64 << 20;
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Copies what is encoded into the mapped file. A failure (the disk is full) ends the
/// recording; everything before it stays in the file.
#[inline]
pub fn commit(st: &mut State) {
    if let Some(e) = append_buffered(st) {
        eprintln!(
            "gpuleak: cannot write trace {}: {e}; recording stopped",
            st.path
        );
    }
}

/// What `commit` does, without the message: the error that stopped the recording, if this call
/// stopped it. Async-signal-safe (the way out of a crash calls it): no allocation, no lock.
#[inline]
pub fn append_buffered(st: &mut State) -> Option<std::io::Error> {
    let State { map, buf, .. } = st;
    let m = map.as_mut()?;
    if buf.is_empty() {
        return None;
    }
    let r = m.append(buf);
    buf.clear();
    let e = r.err()?;
    m.end();
    if st.phase == Phase::Disabled {
        return None;
    }
    st.phase = Phase::Disabled;
    Some(e)
}

/// Waits, boundedly, while the buffer is over its limit.
pub fn make_room<'a>(core: &Core, mut st: MutexGuard<'a, State>) -> (MutexGuard<'a, State>, bool) {
    if st.buf.len() < BUFFER_LIMIT || st.phase != Phase::Active {
        return (st, true);
    }
    // Once a wait has timed out the writer is known to be stuck (a full disk, a stalled pipe):
    // drop at once until it catches up instead of making every event wait again.
    if st.overflowing {
        return (st, false);
    }
    let deadline = Instant::now() + st.max_wait;
    while st.buf.len() >= BUFFER_LIMIT && st.phase == Phase::Active {
        core.wake.notify_one();
        let left = deadline.saturating_duration_since(Instant::now());
        let (g, timed_out) = core.space.wait_for(st, left);
        st = g;
        if timed_out || left.is_zero() {
            st.overflowing = st.buf.len() >= BUFFER_LIMIT;
            let room = !st.overflowing;
            return (st, room);
        }
    }
    (st, true)
}

pub fn writer_main(core: &'static Core) {
    guard::exclude_this_thread();
    loop {
        {
            let mut st = core.state.lock();
            if st.phase != Phase::Active {
                return;
            }
            if st.buf.len() < WAKE_AT {
                st = core.wake.wait_for(st, FLUSH_EVERY).0;
            }
            st.writer_woken = false;
            if st.phase != Phase::Active {
                return;
            }
        }
        flush(core, None);
    }
}

/// How long exit waits for a writer stuck in `write` (a pipe nobody reads) before giving up on
/// the end of the trace rather than hanging the program's exit.
pub const EXIT_WAIT: Duration = Duration::from_secs(2);

/// Writes out everything buffered so far. Taking `file` first keeps chunks in order.
/// `limit` bounds the wait for a writer already in `write`.
pub fn flush(core: &Core, limit: Option<Duration>) {
    let _f = match limit {
        None => core.file.lock(),
        Some(d) => match core.file.try_lock_for(d) {
            Some(f) => f,
            None => {
                let mut st = core.state.lock();
                if st.phase != Phase::Disabled {
                    eprintln!(
                        "gpuleak: the trace writer for {} is stuck; the end of the trace is lost",
                        st.path
                    );
                    st.phase = Phase::Disabled;
                    st.buf = Vec::new();
                }
                return;
            }
        },
    };
    let mut data = {
        let mut st = core.state.lock();
        if st.buf.is_empty() {
            return;
        }
        let spare = std::mem::take(&mut st.spare);
        st.overflowing = false;
        std::mem::replace(&mut st.buf, spare)
    };
    core.space.notify_all();
    let fd = core.fd.load(Ordering::Acquire);
    if let Err(e) = write_all(fd, &data) {
        let mut st = core.state.lock();
        if st.phase != Phase::Disabled {
            eprintln!(
                "gpuleak: cannot write trace {}: {e}; recording stopped",
                st.path
            );
            st.phase = Phase::Disabled;
            st.buf = Vec::new();
        }
        core.space.notify_all();
        return;
    }
    data.clear();
    let mut st = core.state.lock();
    if st.spare.capacity() < data.capacity() {
        st.spare = data;
    }
}

/// Writes everything. SIGPIPE is held back meanwhile: a reader that went away (a closed pipe)
/// must stop the recording, not kill the program.
pub fn write_all(fd: c_int, data: &[u8]) -> std::io::Result<()> {
    // SAFETY: signal-mask calls on zeroed (valid) sets of this thread's own; `write_fully` gets a
    // valid buffer.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut before);
        let r = write_fully(fd, data);
        if matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EPIPE))
            && libc::sigismember(&before, libc::SIGPIPE) == 0
        {
            // Consume the SIGPIPE this write raised; one pending before was not ours.
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r
    }
}
