//! The recorder's state: one per process (a forked child makes its own), behind one lock.

use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64};
use std::time::Duration;

use gpuleak_trace::{Encoder, Module, Trailer};
use hashbrown::HashTable;

use crate::mapped::Mapped;
use crate::sync::{Condvar, Mutex};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    /// No event yet: no file, no thread.
    Idle,
    Active,
    /// The process is exiting: the final flush happened, later events are written at once.
    Finished,
    /// Recording failed (the file could not be created or written); the program runs on.
    Disabled,
}

pub struct State {
    pub phase: Phase,
    pub enc: Encoder,
    pub buf: Vec<u8>,
    pub spare: Vec<u8>,
    /// Stack key → id, and the segment that last defined it. The key is the native frames,
    /// followed for a stack with Python frames by `intern::PY_SEPARATOR` and one `code << 32 | line`
    /// per Python frame.
    pub stacks: HashTable<(u64, u32, Box<[u64]>, u64)>,
    pub next_stack: u32,
    /// Python code ids this trace has defined (in the first stack that used each).
    pub py_defined: hashbrown::HashSet<u32, std::hash::BuildHasherDefault<crate::hash::FxHasher>>,
    pub modules: Vec<Module>,
    pub events: u64,
    pub dropped_pending: u64,
    pub dropped: u64,
    pub stack_count: u64,
    pub path: String,
    pub max_wait: Duration,
    /// A bounded wait for the writer timed out; cleared when the writer takes the buffer.
    pub overflowing: bool,
    /// NVTX ranges seen before the first CUDA event: a process that only uses NVTX gets no
    /// file, and one that does gets the range its first allocation sits in.
    pub early_ranges: Vec<gpuleak_trace::Range>,
    pub writer_woken: bool,
    /// The trace file mapped: records go straight in, and `buf` only holds those of the call
    /// being recorded. `None`: the writer thread writes `buf` out.
    pub map: Option<Mapped>,
    /// Segments, when the trace is capped (GPULEAK_MAX_SIZE).
    pub cap: Option<Cap>,
    /// The segment being written: stacks and Python code defined in an earlier one are defined
    /// again before use, so that each segment reads on its own.
    pub segment: u64,
}

/// A trace written under a size cap: segments, each starting with what is live, the oldest
/// dropped (their blocks given back to the file system) to stay under the cap.
pub struct Cap {
    pub limit: u64,
    /// A new segment starts once the current one holds this much.
    pub segment_size: u64,
    /// File offset of the Resume record's offset field, and of the first byte after it.
    pub resume_at: u64,
    pub data_start: u64,
    /// File offsets of the kept segments' starts, oldest first.
    pub starts: std::collections::VecDeque<u64>,
    pub live: crate::live::LiveSet,
    /// Each device's total memory, from the events that carried it.
    pub totals: Vec<(i32, u64)>,
    /// Dropping old segments failed (no hole punching here): the trace grows past the cap.
    pub cannot_drop: bool,
}

/// Everything a process records into. A forked child gets a fresh one instead of resetting the
/// parent's: the parent's locks may have been held by threads that do not exist in the child.
pub struct Core {
    pub state: Mutex<State>,
    pub file: Mutex<()>,
    pub fd: AtomicI32,
    pub wake: Condvar,
    pub space: Condvar,
}

pub static CORE: AtomicPtr<Core> = AtomicPtr::new(std::ptr::null_mut());

pub fn core() -> &'static Core {
    crate::leaked::get_or_make(&CORE, Core::new)
}

impl Core {
    pub fn new() -> Core {
        Core {
            state: Mutex::new(State {
                phase: Phase::Idle,
                enc: Encoder::default(),
                buf: Vec::new(),
                spare: Vec::new(),
                stacks: HashTable::new(),
                next_stack: 1,
                py_defined: Default::default(),
                modules: Vec::new(),
                events: 0,
                dropped_pending: 0,
                dropped: 0,
                stack_count: 0,
                path: String::new(),
                max_wait: Duration::from_secs(10),
                overflowing: false,
                early_ranges: Vec::new(),
                writer_woken: false,
                map: None,
                cap: None,
                segment: 0,
            }),
            file: Mutex::new(()),
            fd: AtomicI32::new(-1),
            wake: Condvar::new(),
            space: Condvar::new(),
        }
    }
}

/// The devices (a bit per ordinal) whose total memory this process already recorded, with its
/// first allocation on each.
pub static TOTAL_SEEN: AtomicU64 = AtomicU64::new(0);

pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn flush_dropped(st: &mut State, time_ns: u64) {
    if st.dropped_pending > 0 {
        let n = std::mem::take(&mut st.dropped_pending);
        let State { enc, buf, .. } = st;
        enc.dropped(time_ns, n, buf);
        st.dropped += n;
    }
}

pub fn trailer(st: &State) -> Trailer {
    Trailer {
        events: st.events,
        dropped: st.dropped + st.dropped_pending,
        stacks: st.stack_count,
        modules: st.modules.len() as u64,
        end_mono_ns: now_ns(),
    }
}
