//! When walks run. The setup is asked of the main thread (a pending call) at the first
//! allocation of an initialised Python; the walks at an out-of-memory failure and on request run
//! on a thread of gpuleak's own, which takes the GIL: never the allocating thread, which may hold
//! PyTorch's allocator mutex while a thread holding the GIL waits for it.
//!
//! The thread wakes every 50 ms to look for the request file, `<trace path>.want-holders` (one
//! `access` per wake-up), and at once when an allocation fails.

use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use gpuleak_trace::HoldersReason;

use crate::holders::capi::{self, Found};
use crate::holders::inside;
use crate::sync::{Condvar, Mutex};

/// At most one out-of-memory walk in this long: PyTorch frees its cache and retries after a
/// failure, and the burst is one failure to the user.
const OOM_EVERY: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(50);

const UNKNOWN: u8 = 0;
/// Python is there but not initialised yet.
const WAITING: u8 = 1;
const SCHEDULING: u8 = 2;
/// The setup is asked for and the thread runs.
const READY: u8 = 3;
/// Nothing to do here (a native program, or a Python the walk cannot run in).
const NONE: u8 = 4;

static STAGE: AtomicU8 = AtomicU8::new(UNKNOWN);

pub fn ready() -> bool {
    STAGE.load(Ordering::Relaxed) == READY
}

pub fn settled() -> bool {
    STAGE.load(Ordering::Relaxed) >= READY
}

/// What the walking thread is asked, and what it has done. One per process: a forked child
/// makes its own (the parent's may have been copied locked).
struct Shared {
    pid: u32,
    asks: Mutex<Asks>,
    wake: Condvar,
    done: Condvar,
}

#[derive(Default)]
struct Asks {
    oom_asked: u64,
    oom_done: u64,
    last_oom: Option<Instant>,
}

static SHARED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());

/// This process's thread and its state, started on first use.
fn shared() -> &'static Shared {
    crate::leaked::for_this_process(
        &SHARED,
        |s| s.pid,
        |pid| Shared {
            pid,
            asks: Mutex::new(Asks::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
        },
        |fresh| {
            let _ = std::thread::Builder::new()
                .name("gpuleak-holders".into())
                .spawn(move || walker_main(fresh));
        },
    )
}

/// The first allocations of a Python process: once the interpreter is initialised, ask the main
/// thread for the setup and start the walking thread.
pub fn try_setup() {
    let stage = STAGE.load(Ordering::Acquire);
    if stage != UNKNOWN && stage != WAITING {
        return;
    }
    let api = match capi::found() {
        Found::NoPython => {
            STAGE.store(NONE, Ordering::Release);
            return;
        }
        Found::Missing(name) => {
            if STAGE.swap(NONE, Ordering::AcqRel) != NONE {
                crate::holders::unavailable::unavailable(&format!(
                    "this Python lacks {name}, which the walk needs: holders are not available"
                ));
            }
            return;
        }
        Found::Ready(api) => api,
    };
    // SAFETY: may be called without the GIL.
    if unsafe { (api.is_initialized)() } == 0 {
        STAGE.store(WAITING, Ordering::Release);
        return;
    }
    if STAGE
        .compare_exchange(stage, SCHEDULING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    // SAFETY: callable from any thread without the GIL; `setup` never fails.
    let asked = unsafe { (api.add_pending_call)(inside::setup, std::ptr::null_mut()) } == 0;
    if asked {
        crate::holders::unavailable::unless_walked(inside::exit_walked);
        static FORK: std::sync::Once = std::sync::Once::new();
        // SAFETY: registers a child handler that only stores to an atomic.
        FORK.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(forked_child));
        });
        shared();
        STAGE.store(READY, Ordering::Release);
    } else {
        // The queue was full: the next allocation asks again.
        STAGE.store(WAITING, Ordering::Release);
    }
}

/// A forked child has no walking thread: its next allocation starts one (for its own trace's
/// request file); the walker itself, loaded before the fork, is the child's too.
unsafe extern "C" fn forked_child() {
    STAGE.store(UNKNOWN, Ordering::Relaxed);
    inside::after_fork_in_child();
}

/// An allocation failed for want of memory: wake the walking thread (once a second at most)
/// and, when the failing thread let go of the GIL, wait for the walk, boundedly, so that it
/// sees the failing frames with their tensors.
pub fn out_of_memory() {
    if inside::exit_walked() {
        // The walking thread has ended: nothing would answer.
        return;
    }
    let s = shared();
    let mut a = s.asks.lock();
    let now = Instant::now();
    if a.last_oom
        .is_some_and(|t| now.duration_since(t) < OOM_EVERY)
    {
        return;
    }
    a.last_oom = Some(now);
    a.oom_asked += 1;
    let mine = a.oom_asked;
    s.wake.notify_one();
    if inside::holds_gil() {
        return;
    }
    let deadline = now + Duration::from_secs_f64(crate::holders::caps::caps().0 + 1.0);
    while a.oom_done < mine {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        a = s.done.wait_for(a, left).0;
    }
}

fn walker_main(s: &'static Shared) {
    crate::guard::exclude_this_thread();
    let mut request: Option<CString> = None;
    loop {
        let oom = {
            let mut a = s.asks.lock();
            if a.oom_asked == a.oom_done {
                a = s.wake.wait_for(a, POLL).0;
            }
            (a.oom_asked > a.oom_done).then_some(a.oom_asked)
        };
        if inside::exit_walked() {
            return;
        }
        if let Some(upto) = oom {
            inside::walk(HoldersReason::OutOfMemory, || {});
            let mut a = s.asks.lock();
            a.oom_done = a.oom_done.max(upto);
            // The burst is counted from the walk's end: the failing call waited for it, and
            // its retry comes after.
            a.last_oom = Some(Instant::now());
            s.done.notify_all();
        }
        if request.is_none() {
            request = crate::record::trace_path()
                .and_then(|p| CString::new(format!("{p}.want-holders")).ok());
        }
        if let Some(r) = &request
            // SAFETY: a NUL-terminated path.
            && unsafe { libc::access(r.as_ptr(), libc::F_OK) } == 0
        {
            inside::walk(HoldersReason::OnDemand, || {
                // SAFETY: as above; the request is taken whether or not the walk can run.
                unsafe { libc::unlink(r.as_ptr()) };
            });
        }
    }
}
