//! Native stack capture: raw instruction pointers only, symbolized later by the reader.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::MAX_STACK_DEPTH;

/// Address range of gpuleak's own code; its frames are left out of every stack.
static OWN_START: AtomicU64 = AtomicU64::new(0);
static OWN_END: AtomicU64 = AtomicU64::new(0);

pub fn set_own_range(start: u64, end: u64) {
    OWN_START.store(start, Ordering::Relaxed);
    OWN_END.store(end, Ordering::Relaxed);
}

/// True for an address inside gpuleak's own loaded image.
pub fn is_own(addr: u64) -> bool {
    addr >= OWN_START.load(Ordering::Relaxed) && addr < OWN_END.load(Ordering::Relaxed)
}

pub struct Frames {
    pub ips: [u64; MAX_STACK_DEPTH],
    pub len: usize,
}

impl Frames {
    pub fn as_slice(&self) -> &[u64] {
        &self.ips[..self.len]
    }
}

/// Walks the calling thread's stack, innermost first, skipping the leading frames that belong to
/// gpuleak. Runs before any lock is taken: unwinding is the expensive part of an event.
#[inline(never)]
pub fn capture(depth: usize) -> Frames {
    let mut f = Frames {
        ips: [0; MAX_STACK_DEPTH],
        len: 0,
    };
    let (lo, hi) = (
        OWN_START.load(Ordering::Relaxed),
        OWN_END.load(Ordering::Relaxed),
    );
    let depth = depth.min(MAX_STACK_DEPTH);
    let mut leading = true;
    // SAFETY: trace_unsynchronized is safe when no other unwinder runs concurrently on this
    // thread; gpuleak is the only one here, and libgcc's unwinder is itself thread-safe.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            let ip = frame.ip() as u64;
            if leading && ip >= lo && ip < hi {
                return true;
            }
            leading = false;
            if ip == 0 {
                // The end of the chain, below `_start`.
                return false;
            }
            f.ips[f.len] = ip;
            f.len += 1;
            f.len < depth
        });
    }
    f
}
