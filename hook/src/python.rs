//! Python frames of the calling thread: read from memory where gpuleak knows the running
//! CPython's layout ([`crate::pyread`], with or without the GIL), else through the CPython C API
//! of the process itself, as below (under the GIL only).
//!
//! No build-time Python dependency: the API is looked up once, with the real `dlsym` and
//! `RTLD_DEFAULT`, in whatever the process has loaded (libpython, or a python executable with
//! the interpreter linked in). Only public functions of CPython 3.9 and later are used:
//!
//! - `Py_IsInitialized`, `PyGILState_Check`: frames are read only on a thread that holds the GIL
//!   of an initialised interpreter. Any other thread (autograd's, a `ctypes.CDLL` call, which
//!   releases the GIL) gets native frames only.
//! - `PyEval_GetFrame` (borrowed), `PyFrame_GetBack` and `PyFrame_GetCode` (new references, 3.9+),
//!   `PyFrame_GetLineNumber`, `Py_IncRef`/`Py_DecRef`: the walk. `PyFrame_GetLasti` (3.11+, used
//!   when present): lines are cached per (code object, instruction offset), since computing one
//!   scans the code's line table.
//! - `PyObject_GetAttrString`, `PyUnicode_AsUTF8`, `PyLong_AsLong`: a code object's file,
//!   function and first line, read once per code object (a cache miss).
//! - `PyErr_Fetch`/`PyErr_Restore`/`PyErr_Clear`: the program's pending exception, if any, is
//!   set aside during the walk and put back as it was.
//! - `PyGC_Disable`/`PyGC_Enable` (3.10+, used when present): on 3.11 reading a frame
//!   materialises a frame object, an allocation that could start a garbage collection, whose
//!   finalizers would run Python code (and CUDA frees) in the middle of the program's CUDA call.
//!   With the collector off for the walk, nothing in it runs Python code.
//!
//! Code objects are cached by address, each with a strong reference so that a freed code object's
//! address cannot come back with another function's name. Each gets a small id; the trace
//! defines each id once (see record.rs).

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_long, c_void};
use std::hash::BuildHasherDefault;
use std::mem::MaybeUninit;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::sync::Mutex;

use crate::config::MAX_STACK_DEPTH;
use crate::hash::FxHasher;

type Obj = *mut c_void;

/// Code objects cached at most; past this, frames of new code objects end the Python stack.
const MAX_CODES: usize = 1 << 20;

struct Api {
    is_initialized: unsafe extern "C" fn() -> c_int,
    gil_check: unsafe extern "C" fn() -> c_int,
    get_frame: unsafe extern "C" fn() -> Obj,
    frame_back: unsafe extern "C" fn(Obj) -> Obj,
    frame_code: unsafe extern "C" fn(Obj) -> Obj,
    frame_line: unsafe extern "C" fn(Obj) -> c_int,
    /// `PyFrame_GetLasti`, 3.11 and later: the line of a (code, instruction offset) is cached,
    /// since computing it scans the code's line table.
    frame_lasti: Option<unsafe extern "C" fn(Obj) -> c_int>,
    incref: unsafe extern "C" fn(Obj),
    decref: unsafe extern "C" fn(Obj),
    getattr: unsafe extern "C" fn(Obj, *const c_char) -> Obj,
    as_utf8: unsafe extern "C" fn(Obj) -> *const c_char,
    as_long: unsafe extern "C" fn(Obj) -> c_long,
    err_fetch: unsafe extern "C" fn(*mut Obj, *mut Obj, *mut Obj),
    err_restore: unsafe extern "C" fn(Obj, Obj, Obj),
    err_clear: unsafe extern "C" fn(),
    /// `PyGC_Disable` and `PyGC_Enable`, 3.10 and later.
    gc: Option<(
        unsafe extern "C" fn() -> c_int,
        unsafe extern "C" fn() -> c_int,
    )>,
    /// The loaded range of the object that holds the interpreter (libpython, or the python
    /// executable when it is linked in): where a Python event's native stack may stop.
    interpreter: Option<(u64, u64)>,
    /// The reader of frames from memory, for a CPython whose layout is known: used on every
    /// thread, with the GIL or without it. Without it, the C API, under the GIL only.
    raw: Option<crate::pyread::Reader>,
}

static API: OnceLock<Option<Api>> = OnceLock::new();

fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: glibc's dlsym with RTLD_DEFAULT and a C string. Not gpuleak's exported `dlsym`.
    unsafe { crate::resolve::real_dlsym()(libc::RTLD_DEFAULT, name.as_ptr()) }
}

/// Looks the API up; `None` when any required function is missing (no Python in the process,
/// or a Python older than 3.9).
fn resolve() -> Option<Api> {
    macro_rules! f {
        ($name:literal, $ty:ty) => {{
            let p = lookup($name);
            if p.is_null() {
                return None;
            }
            // SAFETY: the symbol is the CPython function of that name; signatures as documented.
            unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
        }};
    }
    type Int = unsafe extern "C" fn() -> c_int;
    type ObjFn = unsafe extern "C" fn() -> Obj;
    type ObjObj = unsafe extern "C" fn(Obj) -> Obj;
    let gc = {
        let (d, e) = (lookup(c"PyGC_Disable"), lookup(c"PyGC_Enable"));
        // SAFETY: CPython's `int PyGC_Disable(void)` and `int PyGC_Enable(void)`.
        (!d.is_null() && !e.is_null()).then(|| unsafe {
            (
                std::mem::transmute::<*mut c_void, Int>(d),
                std::mem::transmute::<*mut c_void, Int>(e),
            )
        })
    };
    let frame_lasti = {
        let p = lookup(c"PyFrame_GetLasti");
        // SAFETY: CPython's `int PyFrame_GetLasti(PyFrameObject *)`.
        (!p.is_null()).then(|| unsafe {
            std::mem::transmute::<*mut c_void, unsafe extern "C" fn(Obj) -> c_int>(p)
        })
    };
    let get_frame = f!(c"PyEval_GetFrame", ObjFn);
    Some(Api {
        raw: crate::pyread::Reader::new(lookup),
        frame_lasti,
        interpreter: crate::modules::loaded_range(get_frame as usize as u64),
        is_initialized: f!(c"Py_IsInitialized", Int),
        gil_check: f!(c"PyGILState_Check", Int),
        get_frame,
        frame_back: f!(c"PyFrame_GetBack", ObjObj),
        frame_code: f!(c"PyFrame_GetCode", ObjObj),
        frame_line: f!(c"PyFrame_GetLineNumber", unsafe extern "C" fn(Obj) -> c_int),
        incref: f!(c"Py_IncRef", unsafe extern "C" fn(Obj)),
        decref: f!(c"Py_DecRef", unsafe extern "C" fn(Obj)),
        getattr: f!(
            c"PyObject_GetAttrString",
            unsafe extern "C" fn(Obj, *const c_char) -> Obj
        ),
        as_utf8: f!(
            c"PyUnicode_AsUTF8",
            unsafe extern "C" fn(Obj) -> *const c_char
        ),
        as_long: f!(c"PyLong_AsLong", unsafe extern "C" fn(Obj) -> c_long),
        err_fetch: f!(
            c"PyErr_Fetch",
            unsafe extern "C" fn(*mut Obj, *mut Obj, *mut Obj)
        ),
        err_restore: f!(c"PyErr_Restore", unsafe extern "C" fn(Obj, Obj, Obj)),
        err_clear: f!(c"PyErr_Clear", unsafe extern "C" fn()),
        gc,
    })
}

fn api() -> Option<&'static Api> {
    API.get_or_init(resolve).as_ref()
}

/// Whether a CPython 3.9+ interpreter is in the process (its API could be found). Looked up
/// once; call it with no gpuleak lock held (it takes the loader's lock).
pub fn available() -> bool {
    api().is_some()
}

/// How Python frames are read in this process, for the trace's notes: `Some(true)` from memory
/// with or without the GIL (a CPython whose layout gpuleak knows), `Some(false)` through the C
/// API under the GIL only, `None` without Python.
pub fn reads_without_gil() -> Option<bool> {
    api().map(|a| a.raw.is_some())
}

/// Where the interpreter's code lies, for [`crate::unwind::capture`] to stop at; `None` without
/// Python, or where the object holding it could not be found.
pub fn interpreter_range() -> Option<(u64, u64)> {
    api()?.interpreter
}

/// The Python frames of one event, innermost first, each `code id << 32 | line`: the form the
/// stack key takes. Uninitialised past `len` (zeroing it all would cost more than the walk).
pub struct PyFrames {
    /// Uninitialised past `len`: zeroing 2 KiB for every event would cost more than the walk.
    frames: MaybeUninit<[u64; MAX_STACK_DEPTH]>,
    len: usize,
}

impl PyFrames {
    pub fn as_slice(&self) -> &[u64] {
        // SAFETY: `capture` wrote the first `len` entries.
        unsafe { std::slice::from_raw_parts(self.frames.as_ptr().cast::<u64>(), self.len) }
    }

    fn push(&mut self, frame: u64) {
        // SAFETY: callers stop at MAX_STACK_DEPTH frames (`depth` is capped to it).
        unsafe {
            self.frames
                .as_mut_ptr()
                .cast::<u64>()
                .add(self.len)
                .write(frame)
        };
        self.len += 1;
    }

    /// An empty stack in `buf`, written without touching the frames: building one by value
    /// lets the compiler zero all 2 KiB (a `memset` per event) and copy them out again.
    fn start(buf: &mut MaybeUninit<PyFrames>) -> &mut PyFrames {
        let p = buf.as_mut_ptr();
        // SAFETY: `len` is written before the reference is made; `frames` may stay
        // uninitialised (it is a MaybeUninit).
        unsafe {
            std::ptr::addr_of_mut!((*p).len).write(0);
            &mut *p
        }
    }
}

/// What the trace needs to define a code id.
struct CodeInfo {
    first_line: u32,
    file: String,
    name: String,
}

#[derive(Default)]
struct Cache {
    /// Code object address → id. Through the C API every cached code object holds a reference
    /// taken by gpuleak.
    ids: HashMap<usize, u32, BuildHasherDefault<FxHasher>>,
    /// Read from memory: code object address → (id, what identified it), with no reference; a
    /// different key at a known address is another code object.
    raw_ids: HashMap<usize, (u32, crate::pyread::CodeKey), BuildHasherDefault<FxHasher>>,
    /// Indexed by id − 1.
    codes: Vec<CodeInfo>,
    /// (code id, instruction offset) → line, for Pythons that tell the offset.
    /// Keyed `id << 32 | offset`.
    lines: HashMap<u64, u32, BuildHasherDefault<FxHasher>>,
}

static CACHE: AtomicPtr<Mutex<Cache>> = AtomicPtr::new(std::ptr::null_mut());

fn cache() -> &'static Mutex<Cache> {
    crate::leaked::get_or_make(&CACHE, || Mutex::new(Cache::default()))
}

/// In a forked child: a fresh cache, in case a thread of the parent held the old one's lock.
/// (The old one and its references are leaked.)
pub fn after_fork_in_child() {
    if !CACHE.load(Ordering::Acquire).is_null() {
        let fresh = Box::into_raw(Box::new(Mutex::new(Cache::default())));
        CACHE.store(fresh, Ordering::Release);
    }
}

/// The definitions of code ids handed out by [`capture`], for the trace.
pub fn definitions(ids: &[u32]) -> Vec<gpuleak_trace::PyCode> {
    let cache = cache().lock();
    ids.iter()
        .filter_map(|&id| {
            let c = cache.codes.get(id.checked_sub(1)? as usize)?;
            Some(gpuleak_trace::PyCode {
                id,
                first_line: c.first_line,
                file: c.file.clone(),
                name: c.name.clone(),
            })
        })
        .collect()
}

/// Sets the program's pending exception aside and turns the collector off; puts both back as
/// they were when dropped (also if gpuleak panicked in between).
struct Quiet<'a> {
    api: &'a Api,
    err: [Obj; 3],
    gc_was_on: bool,
}

impl<'a> Quiet<'a> {
    unsafe fn enter(api: &'a Api) -> Quiet<'a> {
        let mut err = [std::ptr::null_mut(); 3];
        // SAFETY: called with the GIL held (see `enter`'s callers); the error slots are ours.
        let gc_was_on = unsafe {
            (api.err_fetch)(&mut err[0], &mut err[1], &mut err[2]);
            api.gc.is_some_and(|(disable, _)| disable() == 1)
        };
        Quiet {
            api,
            err,
            gc_was_on,
        }
    }
}

impl Drop for Quiet<'_> {
    fn drop(&mut self) {
        // SAFETY: the GIL is held (checked before entering); restores what enter took.
        unsafe {
            if self.gc_was_on
                && let Some((_, enable)) = self.api.gc
            {
                enable();
            }
            (self.api.err_restore)(self.err[0], self.err[1], self.err[2]);
        }
    }
}

/// The calling thread's Python stack, innermost first and at most `depth` frames, or `None`
/// when there is none to read: no Python in the process, not initialised (or finalising), no
/// Python code running on this thread, or (through the C API, for a CPython without a known
/// layout) this thread does not hold the GIL. Must run inside the hook's guard.
pub fn capture(depth: usize, buf: &mut MaybeUninit<PyFrames>) -> Option<&PyFrames> {
    let api = api()?;
    // SAFETY: may be called on any thread at any time.
    if unsafe { (api.is_initialized)() } == 0 {
        return None;
    }
    let out = PyFrames::start(buf);
    if let Some(raw) = &api.raw {
        return capture_raw(raw, depth, out);
    }
    // SAFETY: may be called on any thread at any time.
    if unsafe { (api.gil_check)() } != 1 {
        return None;
    }
    // From here on this thread holds the GIL: the API may be used, and no other Python thread
    // runs (nothing below releases the GIL). Only threads holding the GIL take the cache's lock.
    // SAFETY: this thread holds the GIL (checked just above).
    let _quiet = unsafe { Quiet::enter(api) };
    let depth = depth.min(MAX_STACK_DEPTH);
    let mut cache = cache().lock();
    // SAFETY: GIL held. Frames of the running stack are kept alive by the interpreter, and so
    // are their code objects: the references taken here are given back at once.
    unsafe {
        let mut f = (api.get_frame)();
        if f.is_null() {
            return None;
        }
        (api.incref)(f);
        while !f.is_null() && out.len < depth {
            let code = (api.frame_code)(f);
            if !code.is_null() {
                let id = code_id(api, &mut cache, code);
                (api.decref)(code);
                let Some(id) = id else { break };
                let line = line(api, &mut cache, f, id);
                out.push((u64::from(id) << 32) | u64::from(line));
            }
            let back = (api.frame_back)(f);
            (api.decref)(f);
            f = back;
        }
        if !f.is_null() {
            (api.decref)(f);
        }
    }
    (out.len > 0).then_some(&*out)
}

/// [`capture`] from memory: the same frames, with or without the GIL, nothing of the interpreter
/// called. The cache's lock is taken by threads with and without the GIL alike; nothing is
/// called while it is held.
fn capture_raw<'a>(
    raw: &crate::pyread::Reader,
    depth: usize,
    out: &'a mut PyFrames,
) -> Option<&'a PyFrames> {
    let depth = depth.min(MAX_STACK_DEPTH);
    let mut cache = cache().lock();
    let cache = &mut *cache;
    raw.walk(depth, |f| {
        let id = match cache.raw_ids.get(&f.code) {
            Some(&(id, key)) if key == f.key => id,
            _ => {
                if cache.codes.len() >= MAX_CODES {
                    return false;
                }
                let code = raw.describe(f);
                cache.codes.push(CodeInfo {
                    first_line: code.first_line,
                    file: code.file,
                    name: code.name,
                });
                let id = cache.codes.len() as u32;
                cache.raw_ids.insert(f.code, (id, code.key));
                id
            }
        };
        let at = f.lasti.clamp(-1, i64::from(u32::MAX >> 1)) as i32;
        let key = (u64::from(id) << 32) | u64::from(at as u32);
        let line = match cache.lines.get(&key) {
            Some(&line) => line,
            None => {
                let line = raw.line(f);
                if cache.lines.len() < MAX_CODES {
                    cache.lines.insert(key, line);
                }
                line
            }
        };
        out.push((u64::from(id) << 32) | u64::from(line));
        true
    });
    (out.len > 0).then_some(&*out)
}

/// The id of a code object, defining it on first sight; `None` when the cache is full.
unsafe fn code_id(api: &Api, cache: &mut Cache, code: Obj) -> Option<u32> {
    if let Some(&id) = cache.ids.get(&(code as usize)) {
        return Some(id);
    }
    if cache.codes.len() >= MAX_CODES {
        return None;
    }
    // SAFETY: GIL held; `code` is a live code object.
    let info = unsafe { describe(api, code) };
    cache.codes.push(info);
    let id = cache.codes.len() as u32;
    cache.ids.insert(code as usize, id);
    Some(id)
}

/// The line a frame is at, from the cache when the Python tells the instruction offset.
unsafe fn line(api: &Api, cache: &mut Cache, frame: Obj, id: u32) -> u32 {
    // SAFETY: GIL held by the caller; `frame` is a live frame of this thread's stack.
    let compute = || u32::try_from(unsafe { (api.frame_line)(frame) }).unwrap_or(0);
    let Some(lasti) = api.frame_lasti else {
        return compute();
    };
    // SAFETY: as above.
    let at = unsafe { lasti(frame) };
    if at < 0 {
        return compute();
    }
    let key = (u64::from(id) << 32) | u64::from(at as u32);
    if let Some(&line) = cache.lines.get(&key) {
        return line;
    }
    let line = compute();
    if cache.lines.len() < MAX_CODES {
        cache.lines.insert(key, line);
    }
    line
}

/// Reads a code object's name, file and first line, and keeps it alive for good.
unsafe fn describe(api: &Api, code: Obj) -> CodeInfo {
    // SAFETY: GIL held by the caller; `code` is a live code object, kept alive here for good.
    unsafe {
        (api.incref)(code);
        let file = string_attr(api, code, c"co_filename").unwrap_or_default();
        let name = string_attr(api, code, c"co_qualname")
            .or_else(|| string_attr(api, code, c"co_name"))
            .unwrap_or_else(|| "<unknown>".to_string());
        let first_line = {
            let o = (api.getattr)(code, c"co_firstlineno".as_ptr());
            if o.is_null() {
                (api.err_clear)();
                0
            } else {
                let v = (api.as_long)(o);
                (api.decref)(o);
                if v == -1 {
                    (api.err_clear)();
                }
                u32::try_from(v).unwrap_or(0)
            }
        };
        CodeInfo {
            first_line,
            file,
            name,
        }
    }
}

unsafe fn string_attr(api: &Api, obj: Obj, attr: &CStr) -> Option<String> {
    // SAFETY: GIL held by the caller; `obj` is a live object and every new reference is released.
    unsafe {
        let o = (api.getattr)(obj, attr.as_ptr());
        if o.is_null() {
            (api.err_clear)();
            return None;
        }
        let p = (api.as_utf8)(o);
        let s = if p.is_null() {
            (api.err_clear)();
            None
        } else {
            Some(CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        (api.decref)(o);
        s
    }
}
