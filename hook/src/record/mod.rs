//! The recording API the interception calls (`event`, `launch`, `range`, `marker`; `holders`
//! for the walk in a Python program; `processes` and `note` for NVML's answer at a failure),
//! turning intercepted calls into trace bytes and getting those bytes to the file. Nothing in
//! here calls up into the interception.
//!
//! - `state`: the recorder's state and lock; `mode`: the stack mode; `intern`: stacks to ids
//! - `output`: the mapped file, the writer thread; `segments`: the size cap
//! - `start`, `header`: the first event of a process; `lifecycle`: exit, fork, fatal signals
//!
//! Threads encode their events under one short lock (stack capture happens before it). A
//! regular file is written through a shared mapping of it (`mapped`): each event is copied into
//! the file before the lock is released, so the trace keeps every event whose call returned,
//! whatever ends the process. Other outputs (a FIFO, a file system without `fallocate`) are
//! written by a writer thread that swaps the shared buffer out at least every 50 ms, so a
//! SIGKILL loses at most that much; the trace says so in a note. A thread waits for that writer
//! only when the buffer is full, and never longer than GPULEAK_MAX_WAIT_MS: past that its event
//! is counted as dropped, so the program is never blocked without bound. Exit, abort and SIGTERM
//! flush what is left.
//!
//! Lock order: `file` before `state`. The file descriptor itself is an atomic so that opening the
//! file (under `state`) needs no `file` lock.

mod header;
mod intern;
mod lifecycle;
mod mode;
mod output;
mod segments;
mod start;
mod state;

pub use lifecycle::{finish, flush_on_the_way_out, register_fork_handler};

use std::mem::MaybeUninit;

use gpuleak_trace::{Api, Event, Marker, MemInfo};

use crate::config::Stacks;
use crate::python::{self, PyFrames};
use crate::record::intern::intern;
use crate::record::mode::stacks;
use crate::record::output::{EXIT_WAIT, WAKE_AT, commit, flush, make_room};
use crate::record::segments::next_segment_if_full;
use crate::record::start::ensure_started;
use crate::record::state::{Core, Phase, State, TOTAL_SEEN, core, flush_dropped, now_ns, trailer};
use crate::sync::MutexGuard;
use crate::{guard, unwind};

/// One intercepted call, as the interception hands it over: what it did and what it returned.
pub struct Call {
    pub api: Api,
    pub result: u32,
    pub address: u64,
    pub size: u64,
    pub stream: u64,
    pub device: i32,
    pub mem_info: Option<(u64, u64)>,
    pub aux: u64,
    pub pool_reserved: Option<u64>,
}

/// Runs recording code so that a bug in gpuleak can never unwind into the program's C frames.
/// Inlined, like the recording functions it runs: every frame between the program's call and
/// the stack capture is unwound (about 90 ns each) only to be dropped.
#[inline(always)]
pub fn guarded(f: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

/// Records one intercepted call; returns its sequence number when it was recorded (a failure's
/// later records name it).
#[inline(always)]
pub fn event(c: Call) -> Option<u64> {
    let (mode, depth) = stacks();
    // Python first: in `python` mode a thread running Python needs no native unwinding, and in
    // `all` mode its native frames end where the interpreter begins (readers join the Python
    // frames there and drop the rest).
    let mut py_buf = MaybeUninit::<PyFrames>::uninit();
    let py = if mode.python() {
        python::capture(depth, &mut py_buf)
    } else {
        None
    };
    let frames = match mode {
        Stacks::Off => None,
        Stacks::Python if py.is_some() => None,
        _ => Some(unwind::capture(
            depth,
            py.as_ref().and_then(|_| python::interpreter_range()),
        )),
    };
    let native = frames.as_ref().map_or(&[][..], |f| f.as_slice());
    let core = core();
    let mut st = core.state.lock();
    if !ensure_started(core, &mut st) {
        return None;
    }
    let mut stack = gpuleak_trace::NO_STACK;
    if !native.is_empty() || py.is_some() {
        let (s, id) = intern(core, st, native, py);
        st = s;
        stack = id;
        if !matches!(st.phase, Phase::Active | Phase::Finished) {
            return None;
        }
    }
    let (mut st, room) = make_room(core, st);
    if !room {
        st.dropped_pending += 1;
        return None;
    }
    let time_ns = now_ns();
    flush_dropped(&mut st, time_ns);
    let ev = Event {
        seq: st.events,
        time_ns,
        tid: guard::tid(),
        api: c.api,
        device: c.device,
        stream: c.stream,
        address: c.address,
        size: c.size,
        result: c.result,
        stack,
        mem_info: c.mem_info.map(|(free, total)| MemInfo { free, total }),
        aux: c.aux,
        pool_reserved: c.pool_reserved,
    };
    if let Some(cap) = st.cap.as_mut() {
        cap.live.apply(&ev);
        if let Some(m) = ev.mem_info
            && !cap.totals.iter().any(|&(d, _)| d == ev.device)
        {
            cap.totals.push((ev.device, m.total));
        }
    }
    let State { enc, buf, .. } = &mut *st;
    enc.compact_event(&ev, buf);
    st.events += 1;
    after_append(core, st);
    Some(ev.seq)
}

pub fn launch(api: gpuleak_trace::LaunchApi, function: u64, stream: u64) {
    // Settled before the lock: the header written by the first record names the mode.
    let _ = stacks();
    let core = core();
    let mut st = core.state.lock();
    if !ensure_started(core, &mut st) {
        return;
    }
    // A stuck writer must not make the buffer grow without bound; a launch is only a hint for
    // finding iterations, so it is not counted as a dropped event.
    let (mut st, room) = make_room(core, st);
    if !room {
        return;
    }
    let time_ns = now_ns();
    flush_dropped(&mut st, time_ns);
    let l = gpuleak_trace::Launch {
        time_ns,
        tid: guard::tid(),
        api,
        function,
        stream,
    };
    let State { enc, buf, .. } = &mut *st;
    enc.launch(&l, buf);
    after_append(core, st);
}

/// Ranges before the first CUDA event kept for the trace, at most.
const EARLY_RANGES: usize = 4096;

pub fn range(mut r: gpuleak_trace::Range) {
    let core = core();
    let mut st = core.state.lock();
    r.time_ns = now_ns();
    r.tid = guard::tid();
    match st.phase {
        Phase::Idle => {
            if st.early_ranges.len() >= EARLY_RANGES {
                st.early_ranges.remove(0);
            }
            st.early_ranges.push(r);
        }
        Phase::Active | Phase::Finished => {
            let (mut st, room) = make_room(core, st);
            if !room {
                return;
            }
            flush_dropped(&mut st, r.time_ns);
            let State { enc, buf, .. } = &mut *st;
            enc.range(&r, buf);
            after_append(core, st);
        }
        Phase::Disabled => {}
    }
}

pub fn marker(label: Option<String>) {
    let _ = stacks();
    let core = core();
    let mut st = core.state.lock();
    if !ensure_started(core, &mut st) {
        return;
    }
    let time_ns = now_ns();
    flush_dropped(&mut st, time_ns);
    let m = Marker {
        time_ns,
        tid: guard::tid(),
        label,
    };
    let State { enc, buf, .. } = &mut *st;
    enc.marker(&m, buf);
    after_append(core, st);
}

/// One walk's result (`crate::holders`), stamped with the time and thread it was recorded on.
pub fn holders(mut h: gpuleak_trace::Holders) {
    let _ = stacks();
    append_stamped(|time_ns, enc, buf| {
        h.time_ns = time_ns;
        h.tid = guard::tid();
        enc.holders(&h, buf);
    });
}

/// NVML's answer to an out-of-memory failure (`crate::others`), stamped with its time.
pub fn processes(mut p: gpuleak_trace::DeviceProcesses) {
    append_stamped(|time_ns, enc, buf| {
        p.time_ns = time_ns;
        enc.processes(&p, buf);
    });
}

/// Something the reader should know, said in the trace (what the hook could not do).
pub fn note(text: &str) {
    append_stamped(|_, enc, buf| enc.note(text, buf));
}

/// Appends the record `write` encodes, given the time it is stamped with, once the trace is
/// started and has room (after the count of events dropped before it); nothing when not.
fn append_stamped(write: impl FnOnce(u64, &mut gpuleak_trace::Encoder, &mut Vec<u8>)) {
    let core = core();
    let mut st = core.state.lock();
    if !ensure_started(core, &mut st) {
        return;
    }
    let (mut st, room) = make_room(core, st);
    if !room {
        return;
    }
    let time_ns = now_ns();
    flush_dropped(&mut st, time_ns);
    let State { enc, buf, .. } = &mut *st;
    write(time_ns, enc, buf);
    after_append(core, st);
}

/// The file this process writes its trace to, once it has one (a request for a walk is a file
/// named after it).
pub fn trace_path() -> Option<String> {
    let st = core().state.lock();
    matches!(st.phase, Phase::Active).then(|| st.path.clone())
}

fn after_append(core: &'static Core, mut st: MutexGuard<'static, State>) {
    if st.map.is_some() {
        commit(&mut st);
        if st.cap.is_some() && st.phase != Phase::Disabled {
            next_segment_if_full(&mut st);
        }
        if st.phase == Phase::Finished {
            let t = trailer(&st);
            let State { enc, buf, .. } = &mut *st;
            enc.trailer(&t, buf);
            commit(&mut st);
            if let Some(m) = st.map.as_mut() {
                m.end();
            }
        }
        return;
    }
    match st.phase {
        Phase::Finished => {
            // Exit handlers already ran: nobody else will write this event, so write it now,
            // followed by fresh counts.
            let t = trailer(&st);
            let State { enc, buf, .. } = &mut *st;
            enc.trailer(&t, buf);
            drop(st);
            flush(core, Some(EXIT_WAIT));
        }
        _ if st.buf.len() >= WAKE_AT && !st.writer_woken => {
            st.writer_woken = true;
            core.wake.notify_one();
        }
        _ => {}
    }
}

/// True once per device and process (ordinals 0 to 63; others never); a plain load first, so
/// the hot path does no atomic write.
pub fn first_allocation_on(device: i32) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(bit) = u32::try_from(device).ok().and_then(|d| 1u64.checked_shl(d)) else {
        return false;
    };
    TOTAL_SEEN.load(Relaxed) & bit == 0 && TOTAL_SEEN.fetch_or(bit, Relaxed) & bit == 0
}
