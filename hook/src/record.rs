//! Turning intercepted calls into trace bytes, and getting those bytes to the file.
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

use std::ffi::{CString, c_int};
use std::hash::{BuildHasher, Hasher};
use std::mem::MaybeUninit;
use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gpuleak_trace::{Api, Encoder, Event, Header, Marker, MemInfo, Module, Trailer};
use hashbrown::HashTable;

use crate::config::MAX_STACK_DEPTH;
use crate::config::{Config, Stacks};
use crate::mapped::Mapped;
use crate::python::{self, PyFrames};
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::{guard, modules, unwind};

/// The writer is woken early once this much is buffered.
const WAKE_AT: usize = 1 << 20;
/// Producers wait for the writer beyond this.
const BUFFER_LIMIT: usize = 64 << 20;
const FLUSH_EVERY: Duration = Duration::from_millis(50);

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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// No event yet: no file, no thread.
    Idle,
    Active,
    /// The process is exiting: the final flush happened, later events are written at once.
    Finished,
    /// Recording failed (the file could not be created or written); the program runs on.
    Disabled,
}

struct State {
    phase: Phase,
    enc: Encoder,
    buf: Vec<u8>,
    spare: Vec<u8>,
    /// Stack key → id, and the segment that last defined it. The key is the native frames,
    /// followed for a stack with Python frames by [`PY_SEPARATOR`] and one `code << 32 | line`
    /// per Python frame.
    stacks: HashTable<(u64, u32, Box<[u64]>, u64)>,
    next_stack: u32,
    /// Python code ids this trace has defined (in the first stack that used each).
    py_defined: hashbrown::HashSet<u32, std::hash::BuildHasherDefault<FxHasher>>,
    modules: Vec<Module>,
    events: u64,
    dropped_pending: u64,
    dropped: u64,
    stack_count: u64,
    path: String,
    max_wait: Duration,
    /// A bounded wait for the writer timed out; cleared when the writer takes the buffer.
    overflowing: bool,
    /// NVTX ranges seen before the first CUDA event: a process that only uses NVTX gets no
    /// file, and one that does gets the range its first allocation sits in.
    early_ranges: Vec<gpuleak_trace::Range>,
    writer_woken: bool,
    /// The trace file mapped: records go straight in, and `buf` only holds those of the call
    /// being recorded. `None`: the writer thread writes `buf` out.
    map: Option<Mapped>,
    /// Segments, when the trace is capped (GPULEAK_MAX_SIZE).
    cap: Option<Cap>,
    /// The segment being written: stacks and Python code defined in an earlier one are defined
    /// again before use, so that each segment reads on its own.
    segment: u64,
}

/// A trace written under a size cap: segments, each starting with what is live, the oldest
/// dropped (their blocks given back to the file system) to stay under the cap.
struct Cap {
    limit: u64,
    /// A new segment starts once the current one holds this much.
    segment_size: u64,
    /// File offset of the Resume record's offset field, and of the first byte after it.
    resume_at: u64,
    data_start: u64,
    /// File offsets of the kept segments' starts, oldest first.
    starts: std::collections::VecDeque<u64>,
    live: crate::live::LiveSet,
    /// Each device's total memory, from the events that carried it.
    totals: Vec<(i32, u64)>,
    /// Dropping old segments failed (no hole punching here): the trace grows past the cap.
    cannot_drop: bool,
}

/// Everything a process records into. A forked child gets a fresh one instead of resetting the
/// parent's: the parent's locks may have been held by threads that do not exist in the child.
struct Core {
    state: Mutex<State>,
    file: Mutex<()>,
    fd: AtomicI32,
    wake: Condvar,
    space: Condvar,
}

static CORE: AtomicPtr<Core> = AtomicPtr::new(std::ptr::null_mut());

fn core() -> &'static Core {
    crate::leaked::get_or_make(&CORE, Core::new)
}

impl Core {
    fn new() -> Core {
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

/// Frames to capture per stack (GPULEAK_STACK_DEPTH).
static STACK_DEPTH: AtomicUsize = AtomicUsize::new(crate::config::DEFAULT_STACK_DEPTH);
/// The stack mode in effect (`Stacks as u8`), `u8::MAX` until the configuration is read.
static STACK_MODE: AtomicU8 = AtomicU8::new(u8::MAX);
/// The loader's load count at the last module scan; `u64::MAX` forces a scan.
static LAST_LOADS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Separates the native frames of a stack key from its Python frames; never a native address.
const PY_SEPARATOR: u64 = u64::MAX;

/// The stack mode in effect and the depth. Python modes need a Python in the process: without
/// one they are native. Read once; the first call may look up the Python API, so it is made
/// before any gpuleak lock is taken (see `event`, `launch`, `marker`).
fn stacks() -> (Stacks, usize) {
    let m = STACK_MODE.load(Ordering::Acquire);
    let mode = match m {
        0 => Stacks::Off,
        1 => Stacks::Native,
        2 => Stacks::Python,
        3 => Stacks::All,
        _ => {
            let (cfg, _) = Config::from_env();
            let mode = effective_stacks(&cfg);
            STACK_DEPTH.store(cfg.stack_depth, Ordering::Relaxed);
            unwind::set_unwinder(cfg.unwinder);
            STACK_MODE.store(
                match mode {
                    Stacks::Off => 0,
                    Stacks::Native => 1,
                    Stacks::Python => 2,
                    Stacks::All => 3,
                },
                Ordering::Release,
            );
            mode
        }
    };
    (mode, STACK_DEPTH.load(Ordering::Relaxed))
}

fn effective_stacks(cfg: &Config) -> Stacks {
    if cfg.stacks.python() && !python::available() {
        Stacks::Native
    } else {
        cfg.stacks
    }
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Runs recording code so that a bug in gpuleak can never unwind into the program's C frames.
/// Inlined, like the recording functions it runs: every frame between the program's call and
/// the stack capture is unwound (about 90 ns each) only to be dropped.
#[inline(always)]
pub fn guarded(f: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

#[inline(always)]
pub fn event(c: Call) {
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
        return;
    }
    let mut stack = gpuleak_trace::NO_STACK;
    if !native.is_empty() || py.is_some() {
        let (s, id) = intern(core, st, native, py);
        st = s;
        stack = id;
        if !matches!(st.phase, Phase::Active | Phase::Finished) {
            return;
        }
    }
    let (mut st, room) = make_room(core, st);
    if !room {
        st.dropped_pending += 1;
        return;
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

fn flush_dropped(st: &mut State, time_ns: u64) {
    if st.dropped_pending > 0 {
        let n = std::mem::take(&mut st.dropped_pending);
        let State { enc, buf, .. } = st;
        enc.dropped(time_ns, n, buf);
        st.dropped += n;
    }
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

/// Under a cap: once the current segment is full, starts the next with what is live (and the
/// modules and stacks that needs), then drops the oldest segments the cap has no room for.
fn next_segment_if_full(st: &mut State) {
    let (Some(cap), Some(m)) = (st.cap.as_ref(), st.map.as_ref()) else {
        return;
    };
    let current = cap.starts.back().copied().unwrap_or(cap.data_start);
    if m.written().saturating_sub(current) < cap.segment_size {
        return;
    }
    let at = m.written();
    st.segment += 1;
    let segment = st.segment;
    st.py_defined.clear();
    let seg = gpuleak_trace::Segment {
        index: segment,
        time_ns: now_ns(),
        next_seq: st.events + st.dropped,
        live: cap.live.entries(),
        totals: cap.totals.clone(),
    };
    let ids: hashbrown::HashSet<u32> = seg
        .live
        .iter()
        .map(|l| l.stack)
        .filter(|&s| s != gpuleak_trace::NO_STACK)
        .collect();
    {
        let State {
            enc, buf, modules, ..
        } = &mut *st;
        enc.segment(&seg, buf);
        for module in modules.iter() {
            enc.module(module, buf);
        }
    }
    let keys: Vec<(u32, Box<[u64]>)> = st
        .stacks
        .iter_mut()
        .filter(|e| ids.contains(&e.1))
        .map(|e| {
            e.3 = segment;
            (e.1, e.2.clone())
        })
        .collect();
    for (id, key) in keys {
        emit_stack(st, id, &key);
    }
    commit(st);
    let (Some(cap), Some(m)) = (st.cap.as_mut(), st.map.as_ref()) else {
        return;
    };
    cap.starts.push_back(at);
    let written = m.written();
    let room = cap
        .limit
        .saturating_sub(cap.segment_size + m.window() + cap.data_start);
    let mut dropped = false;
    while cap.starts.len() > 1 && written - cap.starts[0] > room {
        cap.starts.pop_front();
        dropped = true;
    }
    if !dropped || cap.cannot_drop {
        return;
    }
    let oldest = cap.starts[0];
    // The pointer first: a reader must never be sent into the space given back.
    let r = m
        .write_at(cap.resume_at, &gpuleak_trace::encode::varint10(oldest))
        .and_then(|_| m.punch(cap.data_start, oldest));
    if let Err(e) = r {
        cap.cannot_drop = true;
        let text = format!(
            "the oldest segments could not be dropped ({e}): this trace grows past its cap"
        );
        let State { enc, buf, .. } = &mut *st;
        enc.note(&text, buf);
        commit(st);
    }
}

/// Copies what is encoded into the mapped file. A failure (the disk is full) ends the
/// recording; everything before it stays in the file.
#[inline]
fn commit(st: &mut State) {
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
fn append_buffered(st: &mut State) -> Option<std::io::Error> {
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
fn make_room<'a>(core: &Core, mut st: MutexGuard<'a, State>) -> (MutexGuard<'a, State>, bool) {
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

fn hash_frames(frames: &[u64]) -> u64 {
    let mut h = std::hash::BuildHasherDefault::<FxHasher>::default().build_hasher();
    for &f in frames {
        h.write_u64(f);
    }
    h.finish()
}

/// A multiply-xor hash: stacks are hashed on every event, and need no DoS resistance.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v.into());
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// The id of a stack, writing it (and any module it lives in, and any Python code object it is
/// the first to use) the first time it is seen. May release the lock to list loaded modules,
/// hence the guard going in and out.
fn intern(
    core: &'static Core,
    mut st: MutexGuard<'static, State>,
    frames: &[u64],
    py: Option<&PyFrames>,
) -> (MutexGuard<'static, State>, u32) {
    // Uninitialised past what is written: zeroing 4 KiB would cost more than the rest of
    // interning.
    let mut key_buf = [MaybeUninit::<u64>::uninit(); 2 * MAX_STACK_DEPTH + 1];
    let key: &[u64] = match py {
        None => frames,
        Some(p) => {
            let n = frames.len();
            let python = p.as_slice();
            let m = python.len();
            let dst = &mut key_buf[..n + 1 + m];
            dst[n].write(PY_SEPARATOR);
            let after = dst[n + 1..].as_mut_ptr().cast::<u64>();
            // SAFETY: `dst` holds n + 1 + m entries (both parts are at most MAX_STACK_DEPTH
            // long, the buffer 2 * MAX_STACK_DEPTH + 1): all of them are written here.
            unsafe {
                std::ptr::copy_nonoverlapping(frames.as_ptr(), dst.as_mut_ptr().cast(), n);
                std::ptr::copy_nonoverlapping(python.as_ptr(), after, m);
                std::slice::from_raw_parts(dst.as_ptr().cast::<u64>(), n + 1 + m)
            }
        }
    };
    let hash = hash_frames(key);
    let mut rescanned = false;
    loop {
        let segment = st.segment;
        let found = st
            .stacks
            .find_mut(hash, |e| e.0 == hash && *e.2 == *key)
            .map(|e| (e.1, std::mem::replace(&mut e.3, segment)));
        if let Some((id, defined_in)) = found {
            if defined_in != segment {
                // Defined in a segment that may be dropped: defined again, same id.
                emit_stack(&mut st, id, key);
            }
            return (st, id);
        }
        let unknown = frames.iter().any(|&ip| !modules::known(ip, &st.modules));
        if unknown && !rescanned {
            rescanned = true;
            drop(st);
            let fresh = scan_if_changed();
            st = core.state.lock();
            if !matches!(st.phase, Phase::Active | Phase::Finished) {
                return (st, gpuleak_trace::NO_STACK);
            }
            if let Some(mods) = fresh {
                add_modules(&mut st, mods);
            }
            continue;
        }
        let id = st.next_stack;
        st.next_stack += 1;
        st.stack_count += 1;
        emit_stack(&mut st, id, key);
        st.stacks
            .insert_unique(hash, (hash, id, key.into(), segment), |e| e.0);
        return (st, id);
    }
}

/// Writes the Stack record of `id` from its key, with the definitions of the Python code
/// objects it is the first in this segment to use.
fn emit_stack(st: &mut State, id: u32, key: &[u64]) {
    let Some(sep) = key.iter().position(|&f| f == PY_SEPARATOR) else {
        let State { enc, buf, .. } = st;
        enc.stack(id, key, buf);
        return;
    };
    let (frames, python) = (&key[..sep], &key[sep + 1..]);
    let mut new_codes: Vec<u32> = Vec::new();
    for code in python.iter().map(|&f| (f >> 32) as u32) {
        if !st.py_defined.contains(&code) && !new_codes.contains(&code) {
            new_codes.push(code);
        }
    }
    let codes = if new_codes.is_empty() {
        Vec::new()
    } else {
        python::definitions(&new_codes)
    };
    st.py_defined.extend(codes.iter().map(|c| c.id));
    let python: Vec<gpuleak_trace::PyFrame> = python
        .iter()
        .map(|&f| gpuleak_trace::PyFrame {
            code: (f >> 32) as u32,
            line: f as u32,
        })
        .collect();
    let State { enc, buf, .. } = st;
    enc.py_stack(id, frames, &codes, &python, buf);
}

fn scan_if_changed() -> Option<Vec<Module>> {
    let loads = modules::load_count();
    if loads == LAST_LOADS.swap(loads, Ordering::AcqRel) {
        return None;
    }
    Some(modules::scan())
}

fn add_modules(st: &mut State, scanned: Vec<Module>) {
    for m in scanned {
        if st.modules.contains(&m) {
            continue;
        }
        let before = st.modules.len();
        st.modules.retain(|o| o.end <= m.start || o.start >= m.end);
        if st.modules.len() != before {
            // An object was unloaded and another now lives at its addresses: stacks seen from
            // here on must be defined after the new module so that readers resolve them to it.
            st.stacks.clear();
        }
        let State { enc, buf, .. } = &mut *st;
        enc.module(&m, buf);
        st.modules.push(m);
    }
}

fn trailer(st: &State) -> Trailer {
    Trailer {
        events: st.events,
        dropped: st.dropped + st.dropped_pending,
        stacks: st.stack_count,
        modules: st.modules.len() as u64,
        end_mono_ns: now_ns(),
    }
}

/// First event of the process: create the file, write the header, start the writer.
fn ensure_started(core: &'static Core, st: &mut State) -> bool {
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
fn open_output(path: &str, pid: u32) -> std::io::Result<(c_int, String)> {
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
            let mut sb: libc::stat = unsafe { std::mem::zeroed() };
            let is_special = unsafe { libc::lstat(c.as_ptr(), &mut sb) } == 0
                && matches!(sb.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFCHR);
            if is_special {
                // Non-blocking open: a FIFO nobody reads must fail now, not hang the program's
                // first CUDA call. Writes block again (boundedly, see `make_room`).
                let fd = unsafe {
                    libc::open(
                        c.as_ptr(),
                        libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOFOLLOW,
                    )
                };
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
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

fn header() -> Header {
    let argv = std::fs::read("/proc/self/cmdline")
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut host = [0u8; 256];
    // SAFETY: buffer and its length.
    let hostname = if unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) } == 0 {
        let n = host.iter().position(|&c| c == 0).unwrap_or(host.len());
        String::from_utf8_lossy(&host[..n]).into_owned()
    } else {
        String::new()
    };
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Header {
        pid: std::process::id(),
        ppid: unsafe { libc::getppid() } as u32,
        exe: std::fs::read_link("/proc/self/exe")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        argv,
        hostname,
        start_unix_ns: unix,
        start_mono_ns: now_ns(),
        hook_version: env!("CARGO_PKG_VERSION").to_string(),
        stacks: stacks().0.name().to_string(),
        devices: crate::real::device_names(),
        launch_env: gpuleak_trace::LAUNCH_VARIABLES
            .iter()
            .filter_map(|&k| Some((k.to_string(), std::env::var(k).ok()?)))
            .collect(),
    }
}

fn writer_main(core: &'static Core) {
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
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// Writes out everything buffered so far. Taking `file` first keeps chunks in order.
/// `limit` bounds the wait for a writer already in `write`.
fn flush(core: &Core, limit: Option<Duration>) {
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
fn write_all(fd: c_int, data: &[u8]) -> std::io::Result<()> {
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

fn write_fully(fd: c_int, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        // SAFETY: valid buffer.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// Process exit (the library's destructor, which runs after the program's atexit handlers):
/// write everything and the trailer.
pub fn finish() {
    let p = CORE.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
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

/// At a clean exit, a capped trace that dropped segments is rewritten with only the kept ones
/// (see `compact`); later records (a free from a later exit handler) go to the new file.
fn compact_if_capped(core: &Core, st: &mut State) {
    let (Some(cap), Some(m)) = (st.cap.as_ref(), st.map.as_mut()) else {
        return;
    };
    let oldest = cap.starts.front().copied().unwrap_or(cap.data_start);
    if st.phase == Phase::Disabled || cap.cannot_drop || oldest <= cap.data_start {
        return;
    }
    let kept = crate::compact::Kept {
        resume_at: cap.resume_at,
        oldest,
        written: m.written(),
    };
    let window = m.window();
    let old = core.fd.load(Ordering::Acquire);
    let fd = match crate::compact::compact(old, &st.path, &kept) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!(
                "gpuleak: could not shrink trace {} to its cap ({e}); the dropped segments stay \
                 as holes in it",
                st.path
            );
            return;
        }
    };
    m.release();
    core.fd.store(fd, Ordering::Release);
    // SAFETY: the old file's descriptor, unused from here on (its mapping is released).
    unsafe { libc::close(old) };
    st.cap = None;
    st.map = match Mapped::new(fd, window) {
        Ok(Some(new)) => Some(new),
        _ => {
            // The trace is complete in the new file; only records after this one are lost.
            st.phase = Phase::Disabled;
            None
        }
    };
}

fn once_per_process() {
    static ONCE: Once = Once::new();
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
unsafe extern "C" fn after_fork_in_child() {
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
        let old = unsafe { &*old };
        let fd = old.fd.load(Ordering::Relaxed);
        if fd >= 0 {
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
unsafe fn install_flush_on_signal(sig: c_int) {
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

extern "C" fn on_fatal_signal(sig: c_int) {
    flush_on_the_way_out();
    // SA_RESETHAND restored the default action; raising again after return delivers it.
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
    let core = unsafe { &*p };
    leave(core);
}

fn leave(core: &Core) {
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
        let map = Mapped::new(fd, crate::mapped::MIN_WINDOW).unwrap().unwrap();
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
