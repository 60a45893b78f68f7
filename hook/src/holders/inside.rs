//! Running the walker inside the interpreter: the setup, on the main thread at a bytecode
//! boundary (a pending call), which loads the walker (`walker*.py`) into a namespace of its own
//! and registers the exit walk with `atexit`; the walks a gpuleak thread asks for under the GIL;
//! and the builtin functions the walker is given: `_emit(text)` (its result, recorded here),
//! `_clock_us()` (no `time` import in the program's name) and `_exit_gate()` (the exit walk
//! waits for one in flight).

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::Instant;

use gpuleak_trace::{Holders, HoldersReason, WalkEnd};

use crate::holders::capi::{Api, Obj};
use crate::holders::caps::caps;
use crate::holders::parse::parse;
use crate::record;

/// The walker, its three parts in one namespace, in order.
const WALKER: [&str; 3] = [
    include_str!("walker_kinds.py"),
    include_str!("walker_names.py"),
    include_str!("walker.py"),
];

/// The walker's namespace, made by the setup; it lives as long as the process.
static NS: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
/// The exit walk has begun: the interpreter is about to finalize, no other walk may start.
static EXITED: AtomicBool = AtomicBool::new(false);
/// A gpuleak thread is in a walk (or about to take the GIL for one): the exit walk waits for
/// it, since a thread that wants the GIL back once the interpreter finalizes is ended by
/// CPython on the spot. Atomics, not a lock: a forked child must not inherit one held.
static BUSY: AtomicBool = AtomicBool::new(false);

/// CPython's `PyMethodDef`.
#[repr(C)]
struct MethodDef {
    name: *const c_char,
    meth: *const c_void,
    flags: c_int,
    doc: *const c_char,
}

/// A `PyMethodDef` CPython may write through (it never does for these).
struct Def(std::cell::UnsafeCell<MethodDef>);
// SAFETY: written by nobody; CPython only reads it, under the GIL.
unsafe impl Sync for Def {}

const METH_NOARGS: c_int = 0x0004;
const METH_O: c_int = 0x0008;

static EMIT: Def = Def(std::cell::UnsafeCell::new(MethodDef {
    name: c"_emit".as_ptr(),
    meth: emit as *const c_void,
    flags: METH_O,
    doc: std::ptr::null(),
}));

static EXIT_GATE: Def = Def(std::cell::UnsafeCell::new(MethodDef {
    name: c"_exit_gate".as_ptr(),
    meth: exit_gate as *const c_void,
    flags: METH_NOARGS,
    doc: std::ptr::null(),
}));

static CLOCK: Def = Def(std::cell::UnsafeCell::new(MethodDef {
    name: c"_clock_us".as_ptr(),
    meth: clock as *const c_void,
    flags: METH_NOARGS,
    doc: std::ptr::null(),
}));

fn epoch() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn none(api: &Api) -> Obj {
    // SAFETY: `Py_None` is immortal or reference counted; a new reference is returned.
    unsafe { (api.incref)(api.none) };
    api.none
}

extern "C" fn clock(_self: Obj, _args: Obj) -> Obj {
    let Some(api) = crate::holders::capi::api() else {
        return std::ptr::null_mut();
    };
    // SAFETY: called by CPython under the GIL.
    unsafe { (api.long_from_u64)(epoch().elapsed().as_micros() as u64) }
}

extern "C" fn emit(_self: Obj, text: Obj) -> Obj {
    let Some(api) = crate::holders::capi::api() else {
        return std::ptr::null_mut();
    };
    let mut len: isize = 0;
    // SAFETY: called by CPython under the GIL with one argument.
    let p = unsafe { (api.as_utf8)(text, &mut len) };
    if p.is_null() {
        // Not a str: the walker's own bug, never the program's exception.
        // SAFETY: under the GIL.
        unsafe { (api.err_clear)() };
        return none(api);
    }
    // SAFETY: CPython's UTF-8 buffer of `len` bytes, valid while `text` lives (the call).
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len.max(0) as usize) };
    let out = String::from_utf8_lossy(bytes);
    record::guarded(|| {
        let h = parse(&out).unwrap_or_else(|e| Holders {
            time_ns: 0,
            tid: 0,
            reason: HoldersReason::Exit,
            end: WalkEnd::Failed,
            note: format!("gpuleak could not read the walk's result: {e}"),
            elapsed_us: 0,
            visited: 0,
            holders: Vec::new(),
        });
        record::holders(h);
    });
    none(api)
}

/// Called by the exit walk first, under the GIL: no other walk starts from now on, and one in
/// flight is waited for (boundedly) with the GIL let go, so that it can finish.
extern "C" fn exit_gate(_self: Obj, _args: Obj) -> Obj {
    let Some(api) = crate::holders::capi::api() else {
        return std::ptr::null_mut();
    };
    record::guarded(|| {
        // SeqCst here and in `walk`: of this store and the walker's store to BUSY, each side
        // sees the other's, so a walk either sees the gate closed or is waited for.
        EXITED.store(true, Ordering::SeqCst);
        if !BUSY.load(Ordering::SeqCst) {
            return;
        }
        // SAFETY: under the GIL, which is let go and taken back on this same thread.
        let ts = unsafe { (api.save_thread)() };
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_secs_f64(caps().0 + 1.0);
        while BUSY.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // SAFETY: the thread state `save_thread` returned, on the same thread.
        unsafe { (api.restore_thread)(ts) };
    });
    none(api)
}

/// Runs `code` in the walker's namespace with the program's pending exception set aside and
/// put back, whatever happens; false when the code raised (its exception cleared).
///
/// # Safety
/// The caller holds the GIL.
unsafe fn run_quietly(api: &Api, ns: Obj, code: &std::ffi::CStr) -> bool {
    let (mut t, mut v, mut tb) = (
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    // SAFETY: under the GIL; the three out-pointers are valid.
    unsafe {
        (api.err_fetch)(&mut t, &mut v, &mut tb);
        let r = api.run(code, ns);
        let ok = !r.is_null();
        if ok {
            (api.decref)(r);
        } else {
            (api.err_clear)();
        }
        (api.err_restore)(t, v, tb);
        ok
    }
}

/// The pending call: on the main thread, with the GIL, between two bytecodes. Always returns
/// 0: a -1 would raise in the program.
pub extern "C" fn setup(_: *mut c_void) -> c_int {
    record::guarded(|| {
        let Some(api) = crate::holders::capi::api() else {
            return;
        };
        if !NS.load(Ordering::Acquire).is_null() {
            return;
        }
        // SAFETY: a pending call runs with the GIL held.
        unsafe {
            let cannot = || {
                crate::holders::unavailable::unavailable(
                    "the walker could not be loaded in this interpreter",
                )
            };
            let ns = (api.dict_new)();
            if ns.is_null() {
                (api.err_clear)();
                return cannot();
            }
            let given = [
                (c"_emit", &EMIT),
                (c"_clock_us", &CLOCK),
                (c"_exit_gate", &EXIT_GATE),
            ];
            for (name, def) in given {
                let f = api.function(def.0.get().cast());
                if f.is_null() || (api.dict_set)(ns, name.as_ptr(), f) != 0 {
                    (api.err_clear)();
                    (api.decref)(ns);
                    return cannot();
                }
                (api.decref)(f);
            }
            let (seconds, objects) = caps();
            let code = CString::new(format!(
                "{}\n{}\n{}\n_setup({seconds:?}, {objects})\n",
                WALKER[0], WALKER[1], WALKER[2]
            ))
            .unwrap_or_default();
            if run_quietly(api, ns, &code) {
                NS.store(ns, Ordering::Release);
            } else {
                (api.decref)(ns);
                cannot();
            }
        }
    });
    0
}

/// Whether the exit walk has begun.
pub fn exit_walked() -> bool {
    EXITED.load(Ordering::Acquire)
}

/// Takes the GIL from a gpuleak thread (never from inside a CUDA call) and walks; nothing when
/// the walker is not set up or the interpreter is exiting. `taken` runs once the walk is
/// committed to (the exit walk waits for it from then on), or before giving up: a program
/// that waits for its request to be taken then exits finds the walk already under way.
pub fn walk(reason: HoldersReason, taken: impl FnOnce()) {
    let Some(api) = crate::holders::capi::api() else {
        return taken();
    };
    let ns = NS.load(Ordering::Acquire);
    let usable = || {
        // SAFETY: both may be called without the GIL.
        !EXITED.load(Ordering::Acquire)
            && unsafe { (api.is_initialized)() != 0 && (api.is_finalizing)() == 0 }
    };
    if ns.is_null() || !usable() {
        return taken();
    }
    BUSY.store(true, Ordering::SeqCst);
    if EXITED.load(Ordering::SeqCst) {
        BUSY.store(false, Ordering::SeqCst);
        return taken();
    }
    taken();
    let (seconds, objects) = caps();
    let code = CString::new(format!("_walk({}, {seconds:?}, {objects})\n", reason as u8))
        .unwrap_or_default();
    // SAFETY: a thread of gpuleak's own, holding no gpuleak lock; Ensure/Release paired. Once
    // the gate is closed the exit walk holds the GIL only while this thread may still finish.
    unsafe {
        let g = (api.gil_ensure)();
        if usable() {
            run_quietly(api, ns, &code);
        }
        (api.gil_release)(g);
    }
    BUSY.store(false, Ordering::SeqCst);
}

/// In a forked child: no walk is in flight there (the parent's thread did not come along).
pub fn after_fork_in_child() {
    BUSY.store(false, Ordering::SeqCst);
}

/// Whether the calling thread holds the GIL (it may not be waited for then).
pub fn holds_gil() -> bool {
    crate::holders::capi::api()
        // SAFETY: `PyGILState_Check` may be called from any thread.
        .is_some_and(|a| unsafe { (a.gil_check)() } != 0)
}
