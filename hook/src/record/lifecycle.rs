//! The ends of a process: a clean exit (the trailer), a fork (the child starts over), and the
//! ways out without the exit path (a fatal signal, `_exit`), where only async-signal-safe calls
//! are made.

use std::ffi::c_int;
use std::sync::Once;
use std::sync::atomic::Ordering;

use crate::guard;
use crate::python;
use crate::record::intern::LAST_LOADS;
use crate::record::output::{EXIT_WAIT, append_buffered, commit, flush, write_all};
use crate::record::segments::compact_if_capped;
use crate::record::state::{CORE, Core, Phase, State, TOTAL_SEEN, flush_dropped, now_ns, trailer};

/// Process exit (the library's destructor, which runs after the program's atexit handlers):
/// write everything and the trailer.
pub fn finish() {
    let p = CORE.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
    // SAFETY: recorders are leaked, never freed (`leaked`).
    let core = unsafe { &*p };
    let _g = guard::Guard::enter();
    {
        let mut st = core.state.lock();
        if st.phase != Phase::Active {
            return;
        }
        st.phase = Phase::Finished;
        let t = trailer(&st);
        let time = now_ns();
        flush_dropped(&mut st, time);
        let State { enc, buf, .. } = &mut *st;
        enc.trailer(&t, buf);
        if st.map.is_some() {
            commit(&mut st);
            compact_if_capped(core, &mut st);
            if let Some(m) = st.map.as_mut() {
                m.end();
            }
            return;
        }
    }
    core.wake.notify_all();
    core.space.notify_all();
    flush(core, Some(EXIT_WAIT));
}

pub fn once_per_process() {
    static ONCE: Once = Once::new();
    // SAFETY: installs handlers that only flush gpuleak's own state, boundedly.
    ONCE.call_once(|| unsafe {
        install_flush_on_signal(libc::SIGABRT);
        install_flush_on_signal(libc::SIGTERM);
    });
}

/// Registered when the library loads, not at the first event: a fork while another thread is
/// still starting the recorder must not hand the child a held lock.
pub fn register_fork_handler() {
    // SAFETY: registers a handler that only touches gpuleak's own state.
    unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
}

/// The child starts over with nothing: it records into its own file on its first event.
pub unsafe extern "C" fn after_fork_in_child() {
    guard::forget_tid();
    crate::order::after_fork_in_child();
    python::after_fork_in_child();
    LAST_LOADS.store(u64::MAX, Ordering::Relaxed);
    TOTAL_SEEN.store(0, Ordering::Relaxed);
    if CORE.load(Ordering::Acquire).is_null() {
        return;
    }
    let old = CORE.swap(Box::into_raw(Box::new(Core::new())), Ordering::AcqRel);
    if !old.is_null() {
        // SAFETY: the parent's recorder, leaked, never freed.
        let old = unsafe { &*old };
        let fd = old.fd.load(Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: the parent's trace descriptor, which the child never writes.
            unsafe { libc::close(fd) };
        }
        // The parent's buffer is the parent's to write; free it if nobody held the lock.
        if let Some(mut st) = old.state.try_lock() {
            st.buf = Vec::new();
            st.spare = Vec::new();
        }
    }
}

/// Flushes on SIGABRT (an uncaught C++ exception, a failed assert) and SIGTERM, then lets the
/// signal do what it would have done. Installed only where the program left the default action.
pub unsafe fn install_flush_on_signal(sig: c_int) {
    // SAFETY: sigaction with zeroed (valid) structs; the handler is async-signal-safe (`say`).
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
            || old.sa_sigaction != libc::SIG_DFL
        {
            return;
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_fatal_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESETHAND;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

pub extern "C" fn on_fatal_signal(sig: c_int) {
    flush_on_the_way_out();
    // SA_RESETHAND restored the default action; raising again after return delivers it.
    // SAFETY: raise is async-signal-safe.
    unsafe { libc::raise(sig) };
}

/// Writes what is buffered when the process is about to end without the exit path (a fatal
/// signal, `_exit`). Only try-locks, retried for at most 200 ms: the writer thread may be in
/// the middle of a write (it finishes in microseconds), but the caller may be a signal handler
/// that interrupted a thread holding a lock itself, which no wait would release.
pub fn flush_on_the_way_out() {
    let p = CORE.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
    // SAFETY: recorders are leaked, never freed (`leaked`).
    let core = unsafe { &*p };
    leave(core);
}

pub fn leave(core: &Core) {
    for _ in 0..200 {
        if let Some(_f) = core.file.try_lock()
            && let Some(mut st) = core.state.try_lock()
        {
            if st.map.is_some() {
                // Every event is in the file already: what is left is to cut the space
                // reserved past it.
                if let Some(e) = append_buffered(&mut st) {
                    let mut n = [0; 20];
                    crate::say::say(&[
                        b"gpuleak: cannot write trace ",
                        st.path.as_bytes(),
                        b": os error ",
                        crate::say::decimal(e.raw_os_error().unwrap_or(0) as u64, &mut n),
                        b"; recording stopped\n",
                    ]);
                }
                if let Some(m) = st.map.as_mut() {
                    m.end();
                }
                return;
            }
            let fd = core.fd.load(Ordering::Acquire);
            if fd >= 0 && !st.buf.is_empty() {
                let _ = write_all(fd, &st.buf);
                st.buf.clear();
            }
            return;
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        // SAFETY: nanosleep is async-signal-safe.
        unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    /// Counts allocations made by a thread that forbade them.
    struct Counting;
    thread_local! {
        static FORBIDDEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        static MADE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    // SAFETY: the system allocator's contract, passed through.
    unsafe impl std::alloc::GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
            let _ = FORBIDDEN.try_with(|f| {
                if f.get() {
                    MADE.with(|m| m.set(m.get() + 1));
                }
            });
            // SAFETY: forwarded as received.
            unsafe { std::alloc::System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
            // SAFETY: forwarded as received.
            unsafe { std::alloc::System.dealloc(p, l) }
        }
    }
    #[global_allocator]
    static ALLOC: Counting = Counting;

    /// A fatal signal may interrupt `malloc` (a heap-corruption abort does, by design) or a
    /// thread holding std's stderr lock: the way out must neither allocate nor print through std.
    #[test]
    fn a_crash_whose_trace_cannot_be_written_allocates_nothing_on_the_way_out() {
        let path = std::env::temp_dir().join(format!("gpuleak-way-out-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let fd = file.into_raw_fd();
        let map = crate::mapped::Mapped::new(fd, crate::mapped::MIN_WINDOW)
            .unwrap()
            .unwrap();
        // SAFETY: our own descriptor; from here on the file cannot grow (the disk is "full").
        unsafe { libc::close(fd) };
        let core: &'static Core = Box::leak(Box::new(Core::new()));
        {
            let mut st = core.state.lock();
            st.phase = Phase::Active;
            st.map = Some(map);
            st.path = path.display().to_string();
            // More than the mapped window: the append must grow the file, and fails.
            st.buf = vec![1u8; 2 * crate::mapped::MIN_WINDOW as usize];
        }
        FORBIDDEN.with(|f| f.set(true));
        leave(core);
        FORBIDDEN.with(|f| f.set(false));
        let _ = std::fs::remove_file(&path);
        assert_eq!(MADE.with(|m| m.get()), 0, "allocations on the way out");
        assert_eq!(core.state.lock().phase, Phase::Disabled);
    }
}
