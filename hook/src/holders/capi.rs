//! The part of CPython's C API the walk needs, looked up once at run time with the real `dlsym`
//! and `RTLD_DEFAULT` in whatever the process has loaded (no build-time Python), like
//! `crate::python`. Only public functions of CPython 3.9 and later.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

pub type Obj = *mut c_void;

/// `Py_file_input`: a module's statements.
pub const FILE_INPUT: c_int = 257;

pub struct Api {
    pub is_initialized: unsafe extern "C" fn() -> c_int,
    /// `Py_IsFinalizing` (3.13) or `_Py_IsFinalizing` (3.9 to 3.12).
    pub is_finalizing: unsafe extern "C" fn() -> c_int,
    pub add_pending_call:
        unsafe extern "C" fn(extern "C" fn(*mut c_void) -> c_int, *mut c_void) -> c_int,
    pub gil_ensure: unsafe extern "C" fn() -> c_int,
    pub gil_release: unsafe extern "C" fn(c_int),
    pub gil_check: unsafe extern "C" fn() -> c_int,
    pub save_thread: unsafe extern "C" fn() -> *mut c_void,
    pub restore_thread: unsafe extern "C" fn(*mut c_void),
    /// `PyRun_StringFlags` with NULL flags, or `PyRun_String`.
    pub run_string: RunString,
    pub dict_new: unsafe extern "C" fn() -> Obj,
    pub dict_set: unsafe extern "C" fn(Obj, *const c_char, Obj) -> c_int,
    pub as_utf8: unsafe extern "C" fn(Obj, *mut isize) -> *const c_char,
    /// `PyCFunction_NewEx`, or `PyCFunction_New` (module NULL).
    pub cfunction_new: CFunctionNew,
    pub long_from_u64: unsafe extern "C" fn(u64) -> Obj,
    pub incref: unsafe extern "C" fn(Obj),
    pub decref: unsafe extern "C" fn(Obj),
    pub none: Obj,
    pub err_fetch: unsafe extern "C" fn(*mut Obj, *mut Obj, *mut Obj),
    pub err_restore: unsafe extern "C" fn(Obj, Obj, Obj),
    pub err_clear: unsafe extern "C" fn(),
}

type RunFlags = unsafe extern "C" fn(*const c_char, c_int, Obj, Obj, *mut c_void) -> Obj;
type RunPlain = unsafe extern "C" fn(*const c_char, c_int, Obj, Obj) -> Obj;
type NewEx = unsafe extern "C" fn(*mut c_void, Obj, Obj) -> Obj;
type NewPlain = unsafe extern "C" fn(*mut c_void, Obj) -> Obj;

#[derive(Clone, Copy)]
pub enum RunString {
    Flags(RunFlags),
    Plain(RunPlain),
}

#[derive(Clone, Copy)]
pub enum CFunctionNew {
    Ex(NewEx),
    Plain(NewPlain),
}

// SAFETY: function pointers and `Py_None`'s address, which never changes; shared read-only.
unsafe impl Send for Api {}
// SAFETY: as above.
unsafe impl Sync for Api {}

impl Api {
    /// Runs `code` (statements) in `ns`; the result, a new reference or NULL with an exception.
    ///
    /// # Safety
    /// The caller holds the GIL; `ns` is a dict.
    pub unsafe fn run(&self, code: &CStr, ns: Obj) -> Obj {
        // SAFETY: the caller holds the GIL; NUL-terminated code, `ns` a dict.
        unsafe {
            match self.run_string {
                RunString::Flags(f) => f(code.as_ptr(), FILE_INPUT, ns, ns, std::ptr::null_mut()),
                RunString::Plain(f) => f(code.as_ptr(), FILE_INPUT, ns, ns),
            }
        }
    }

    /// A builtin function object for `def`, a static method definition.
    ///
    /// # Safety
    /// The caller holds the GIL; `def` lives for the process.
    pub unsafe fn function(&self, def: *mut c_void) -> Obj {
        // SAFETY: the caller holds the GIL; `def` is a static `PyMethodDef`.
        unsafe {
            match self.cfunction_new {
                CFunctionNew::Ex(f) => f(def, std::ptr::null_mut(), std::ptr::null_mut()),
                CFunctionNew::Plain(f) => f(def, std::ptr::null_mut()),
            }
        }
    }
}

fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: glibc's dlsym with RTLD_DEFAULT and a C string. Not gpuleak's exported `dlsym`.
    unsafe { crate::resolve::real_dlsym()(libc::RTLD_DEFAULT, name.as_ptr()) }
}

/// What the lookup found.
pub enum Found {
    /// No interpreter in the process (a native program): no walk, nothing said.
    NoPython,
    /// A Python whose API lacks something the walk needs: said once, in the trace.
    Missing(&'static str),
    Ready(Api),
}

static FOUND: OnceLock<Found> = OnceLock::new();

/// Looked up once; call it with no gpuleak lock held (it takes the loader's lock).
pub fn found() -> &'static Found {
    FOUND.get_or_init(resolve)
}

pub fn api() -> Option<&'static Api> {
    match found() {
        Found::Ready(a) => Some(a),
        _ => None,
    }
}

fn resolve() -> Found {
    if lookup(c"Py_IsInitialized").is_null() {
        return Found::NoPython;
    }
    macro_rules! f {
        ($name:literal, $ty:ty) => {{
            let p = lookup($name);
            if p.is_null() {
                return Found::Missing($name.to_str().unwrap_or("?"));
            }
            // SAFETY: the symbol is the CPython function of that name; signatures as documented.
            unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
        }};
    }
    macro_rules! either {
        ($a:literal, $b:literal) => {{
            let p = lookup($a);
            if p.is_null() { lookup($b) } else { p }
        }};
    }
    let finalizing = either!(c"Py_IsFinalizing", c"_Py_IsFinalizing");
    if finalizing.is_null() {
        return Found::Missing("Py_IsFinalizing");
    }
    let run_string = {
        let (flags, plain) = (lookup(c"PyRun_StringFlags"), lookup(c"PyRun_String"));
        // SAFETY: CPython's `PyRun_StringFlags(str, start, globals, locals, flags)` and
        // `PyRun_String(str, start, globals, locals)`.
        unsafe {
            if !flags.is_null() {
                RunString::Flags(std::mem::transmute::<*mut c_void, RunFlags>(flags))
            } else if !plain.is_null() {
                RunString::Plain(std::mem::transmute::<*mut c_void, RunPlain>(plain))
            } else {
                return Found::Missing("PyRun_StringFlags");
            }
        }
    };
    let cfunction_new = {
        let (ex, plain) = (lookup(c"PyCFunction_NewEx"), lookup(c"PyCFunction_New"));
        // SAFETY: CPython's `PyCFunction_NewEx(def, self, module)` and `PyCFunction_New(def,
        // self)`.
        unsafe {
            if !ex.is_null() {
                CFunctionNew::Ex(std::mem::transmute::<*mut c_void, NewEx>(ex))
            } else if !plain.is_null() {
                CFunctionNew::Plain(std::mem::transmute::<*mut c_void, NewPlain>(plain))
            } else {
                return Found::Missing("PyCFunction_NewEx");
            }
        }
    };
    let none = lookup(c"_Py_NoneStruct");
    if none.is_null() {
        return Found::Missing("_Py_NoneStruct");
    }
    type Int = unsafe extern "C" fn() -> c_int;
    Found::Ready(Api {
        is_initialized: f!(c"Py_IsInitialized", Int),
        // SAFETY: `int Py_IsFinalizing(void)`, found above.
        is_finalizing: unsafe { std::mem::transmute::<*mut c_void, Int>(finalizing) },
        add_pending_call: f!(
            c"Py_AddPendingCall",
            unsafe extern "C" fn(extern "C" fn(*mut c_void) -> c_int, *mut c_void) -> c_int
        ),
        gil_ensure: f!(c"PyGILState_Ensure", Int),
        gil_release: f!(c"PyGILState_Release", unsafe extern "C" fn(c_int)),
        gil_check: f!(c"PyGILState_Check", Int),
        save_thread: f!(c"PyEval_SaveThread", unsafe extern "C" fn() -> *mut c_void),
        restore_thread: f!(c"PyEval_RestoreThread", unsafe extern "C" fn(*mut c_void)),
        run_string,
        dict_new: f!(c"PyDict_New", unsafe extern "C" fn() -> Obj),
        dict_set: f!(
            c"PyDict_SetItemString",
            unsafe extern "C" fn(Obj, *const c_char, Obj) -> c_int
        ),
        as_utf8: f!(
            c"PyUnicode_AsUTF8AndSize",
            unsafe extern "C" fn(Obj, *mut isize) -> *const c_char
        ),
        cfunction_new,
        long_from_u64: f!(
            c"PyLong_FromUnsignedLongLong",
            unsafe extern "C" fn(u64) -> Obj
        ),
        incref: f!(c"Py_IncRef", unsafe extern "C" fn(Obj)),
        decref: f!(c"Py_DecRef", unsafe extern "C" fn(Obj)),
        none,
        err_fetch: f!(
            c"PyErr_Fetch",
            unsafe extern "C" fn(*mut Obj, *mut Obj, *mut Obj)
        ),
        err_restore: f!(c"PyErr_Restore", unsafe extern "C" fn(Obj, Obj, Obj)),
        err_clear: f!(c"PyErr_Clear", unsafe extern "C" fn()),
    })
}
