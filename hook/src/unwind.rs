//! Native stack capture: raw instruction pointers only, symbolized later by the reader.

use std::mem::MaybeUninit;
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

/// Uninitialised past `len`: zeroing 2 KiB on every event costs more than copying the few
/// frames most events keep.
pub struct Frames {
    ips: [MaybeUninit<u64>; MAX_STACK_DEPTH],
    len: usize,
}

impl Frames {
    pub fn as_slice(&self) -> &[u64] {
        // SAFETY: `capture` wrote the first `len` entries.
        unsafe { std::slice::from_raw_parts(self.ips.as_ptr().cast::<u64>(), self.len) }
    }
}

/// Walks the calling thread's stack, innermost first, skipping the leading frames that belong to
/// gpuleak. Runs before any lock is taken: unwinding is the expensive part of an event.
///
/// `stop`: an address range (the interpreter's code) whose first frame ends the walk, itself
/// kept. A thread running Python has its Python frames recorded already, and what lies outside
/// them is the interpreter's own C frames, which readers drop: unwinding them (about 100 ns a
/// frame, most of a Python event's cost) would buy nothing. The boundary frame stays so that
/// readers still see where the native frames enter the interpreter.
///
/// Inlined into the wrappers, with the recording around it: each gpuleak frame above the
/// program's call is unwound only to be skipped.
#[inline(always)]
pub fn capture(depth: usize, stop: Option<(u64, u64)>) -> Frames {
    let mut f = Frames {
        ips: [MaybeUninit::uninit(); MAX_STACK_DEPTH],
        len: 0,
    };
    let (lo, hi) = (
        OWN_START.load(Ordering::Relaxed),
        OWN_END.load(Ordering::Relaxed),
    );
    let depth = depth.min(MAX_STACK_DEPTH);
    let (stop_lo, stop_hi) = stop.unwrap_or((0, 0));
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
            f.ips[f.len].write(ip);
            f.len += 1;
            f.len < depth && !(ip >= stop_lo && ip < stop_hi)
        });
    }
    f
}
