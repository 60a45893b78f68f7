//! Per-thread reentrancy guard. A runtime call that reaches the driver on the same thread, and
//! everything gpuleak itself does, must not become a second event: only the outermost call of a
//! thread records.
//!
//! The cell is const-initialised and has no destructor, so it is usable while a thread is being
//! torn down (a thread-local destructor may still call cudaFree).

use std::cell::Cell;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static TID: Cell<u32> = const { Cell::new(0) };
}

pub struct Guard {
    outer: bool,
    entered: bool,
}

impl Guard {
    /// Enters an intercepted call.
    pub fn enter() -> Guard {
        match DEPTH.try_with(|d| {
            let v = d.get();
            d.set(v + 1);
            v
        }) {
            Ok(v) => Guard {
                outer: v == 0,
                entered: true,
            },
            Err(_) => Guard {
                outer: false,
                entered: false,
            },
        }
    }

    /// True when this is the outermost intercepted call of the thread: the one that records.
    pub fn outer(&self) -> bool {
        self.outer
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.entered {
            let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
}

/// Marks the current thread as gpuleak's own for its whole life: nothing it does is recorded.
pub fn exclude_this_thread() {
    let _ = DEPTH.try_with(|d| d.set(1 << 30));
}

/// Kernel thread id, cached because `gettid` is a system call.
pub fn tid() -> u32 {
    TID.try_with(|t| {
        let v = t.get();
        if v != 0 {
            return v;
        }
        // SAFETY: gettid has no preconditions.
        let v = unsafe { libc::gettid() } as u32;
        t.set(v);
        v
    })
    // SAFETY: gettid has no preconditions.
    .unwrap_or_else(|_| unsafe { libc::gettid() } as u32)
}

/// A forked child's thread has a new id; the cached one belongs to the parent.
pub fn forget_tid() {
    let _ = TID.try_with(|t| t.set(0));
}
