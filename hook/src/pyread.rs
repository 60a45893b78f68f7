//! Python frames read from the interpreter's memory, with or without the GIL.
//!
//! PyTorch's bindings, `ctypes.CDLL`, pybind11's `gil_scoped_release` and Cython's `nogil`
//! release the GIL before the C code that allocates, so the C API (usable only under the GIL)
//! sees no Python frame there. Yet the thread is inside gpuleak's wrapper, so its own frames
//! cannot change while they are read: the walk reads them the way out-of-process profilers do,
//! through the layout of the running CPython's structures, for the current thread only.
//!
//! - The thread's state: `PyGILState_GetThisThreadState()` (a thread-local read, valid without
//!   the GIL); a thread with none gets native frames.
//! - The layout: from the interpreter's own `_Py_DebugOffsets` where it publishes them (3.13, 3.14),
//!   else one table per CPython minor version (3.9 to 3.14), its offsets checked against that
//!   version's headers (`tests/programs/pylayout.c`), selected by the version at start-up. A
//!   version without a table keeps the C API path (under the GIL only), and the trace's notes
//!   say so.
//! - Not while the interpreter finalises: it frees other threads' states then, and a thread
//!   that released the GIL may be inside a C call while its own is freed.
//! - Nothing is written, no reference count is touched, nothing of the interpreter is called
//!   and no lock of it is taken. Every object is checked by its type pointer (`PyCode_Type`,
//!   `PyUnicode_Type`, `PyBytes_Type`) before a field of it is read, the walk is capped in
//!   depth, and anything unexpected ends the Python part of the stack there.
//! - Code objects are cached by address without a reference, and identified by what was read
//!   (file, name and line-table pointers, first line), so a freed address reused by another
//!   code object gets its own id.

use std::ffi::{CStr, c_int, c_void};

use crate::pylayout::*;
use crate::pylines::*;

/// Strings longer than this (a file path, a qualified name) are cut.
const MAX_STR: usize = 4096;
/// Frames followed at most, whatever the depth asked: a guard against a cycle.
const MAX_HOPS: usize = 4096;

/// The raw reader of one process's CPython: its layout and the addresses it checks against.
pub struct Reader {
    layout: Layout,
    this_thread_state: unsafe extern "C" fn() -> *mut c_void,
    /// `Py_IsFinalizing` (3.13) or `_Py_IsFinalizing` (3.9-3.12), when found.
    is_finalizing: Option<unsafe extern "C" fn() -> c_int>,
    code_type: usize,
    unicode_type: usize,
    bytes_type: usize,
    /// `PyFrame_Type`: the type of 3.9/3.10's frames.
    frame_type: usize,
}

/// A code object as read: what identifies it, and what the trace needs.
pub struct Code {
    pub key: CodeKey,
    pub first_line: u32,
    pub file: String,
    pub name: String,
}

/// What tells a cached code object from another one later at the same address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CodeKey {
    filename: usize,
    qualname: usize,
    linetable: usize,
    first_line: i32,
}

/// One frame of the walk: its code object and the code unit it is at.
pub struct Frame {
    pub code: usize,
    pub key: CodeKey,
    /// Where the frame is, in the unit its line table counts: code units (3.11+) or bytes
    /// (3.9, 3.10); negative before the first instruction.
    pub lasti: i64,
}

impl Reader {
    /// The reader for the interpreter in this process, when its version has a layout here.
    /// `lookup` finds a symbol in the process (the real `dlsym`, `RTLD_DEFAULT`).
    pub fn new(lookup: impl Fn(&CStr) -> *mut c_void) -> Option<Reader> {
        let (major, minor) = version(&lookup)?;
        let layout = debug_offsets(&lookup, (major, minor)).or_else(|| {
            [&PY39, &PY310, &PY311, &PY312, &PY313, &PY314]
                .into_iter()
                .find(|l| l.version == (major, minor))
                .cloned()
        })?;
        let f = lookup(c"PyGILState_GetThisThreadState");
        let (code, unicode, bytes) = (
            lookup(c"PyCode_Type"),
            lookup(c"PyUnicode_Type"),
            lookup(c"PyBytes_Type"),
        );
        if f.is_null() || code.is_null() || unicode.is_null() || bytes.is_null() {
            return None;
        }
        // The object header the table assumes (`ob_type` at 8): a type object's type is
        // `PyType_Type`. Not so in a free-threaded build (3.13t), whose header is larger.
        let type_type = lookup(c"PyType_Type");
        // SAFETY: `PyCode_Type` is a static type object of at least a header's size.
        if type_type.is_null() || unsafe { read_ptr(code as usize + OB_TYPE) } != type_type as usize
        {
            return None;
        }
        Some(Reader {
            layout,
            // SAFETY: the CPython function of that name: `PyThreadState *(void)`.
            this_thread_state: unsafe {
                std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> *mut c_void>(f)
            },
            is_finalizing: [c"Py_IsFinalizing", c"_Py_IsFinalizing"]
                .into_iter()
                .map(&lookup)
                .find(|p| !p.is_null())
                // SAFETY: the CPython function of that name: `int (void)`, an atomic read.
                .map(|p| unsafe {
                    std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> c_int>(p)
                }),
            code_type: code as usize,
            unicode_type: unicode as usize,
            bytes_type: bytes as usize,
            frame_type: lookup(c"PyFrame_Type") as usize,
        })
    }

    /// The calling thread's frames, innermost first, at most `depth`, handed to `each` (which
    /// returns false to stop). Returns how many were handed. Must run on the thread whose frames
    /// are read, while it runs no Python code (inside a wrapper of a C call).
    pub fn walk(&self, depth: usize, mut each: impl FnMut(&Frame) -> bool) -> usize {
        let l = &self.layout;
        // SAFETY: reads the calling thread's own state and frames, which no other thread
        // changes while this thread is in a C call; each object's type is checked before its
        // fields are read, per the layout of this exact CPython version.
        unsafe {
            if self.is_finalizing.is_some_and(|f| f() != 0) {
                return 0;
            }
            let tstate = (self.this_thread_state)() as usize;
            if tstate == 0 {
                return 0;
            }
            let mut frame = match l.tstate_cframe {
                Some(cf) => {
                    let cframe = read_ptr(tstate + cf);
                    if cframe == 0 {
                        return 0;
                    }
                    read_ptr(cframe + l.current_frame)
                }
                None => read_ptr(tstate + l.current_frame),
            };
            let mut n = 0;
            let mut hops = 0;
            while frame != 0 && n < depth && hops < MAX_HOPS {
                hops += 1;
                if !frame.is_multiple_of(8) {
                    break;
                }
                if l.frame_objects {
                    if self.frame_type == 0 || read_ptr(frame + OB_TYPE) != self.frame_type {
                        break;
                    }
                    let code = read_ptr(frame + l.frame_code);
                    if code == 0
                        || !code.is_multiple_of(8)
                        || read_ptr(code + OB_TYPE) != self.code_type
                    {
                        break;
                    }
                    let lasti = i64::from(*((frame + l.frame_instr) as *const c_int));
                    let f = Frame {
                        code,
                        key: self.key(code),
                        lasti: lasti * l.lasti_unit,
                    };
                    n += 1;
                    if !each(&f) {
                        break;
                    }
                    frame = read_ptr(frame + l.frame_previous);
                    continue;
                }
                let owner = *((frame + l.frame_owner) as *const u8);
                if l.owner_cstack.is_some_and(|first| owner >= first) {
                    frame = read_ptr(frame + l.frame_previous);
                    continue;
                }
                let code = read_ptr(frame + l.frame_code) & !l.executable_tag;
                if code == 0
                    || !code.is_multiple_of(8)
                    || read_ptr(code + OB_TYPE) != self.code_type
                {
                    break;
                }
                let start = code + l.code_adaptive;
                let prev_instr = read_ptr(frame + l.frame_instr);
                // A frame whose first traceable instruction has not run yet is not part of the
                // stack Python itself shows (`_PyFrame_IsIncomplete`).
                let incomplete = l.code_firsttraceable.is_some_and(|at| {
                    let first_traceable = *((code + at) as *const c_int) as usize;
                    owner != l.owner_generator && prev_instr < start + 2 * first_traceable
                });
                if !incomplete {
                    let f = Frame {
                        code,
                        key: self.key(code),
                        lasti: (prev_instr as i64 - start as i64) / 2,
                    };
                    n += 1;
                    if !each(&f) {
                        break;
                    }
                }
                frame = read_ptr(frame + l.frame_previous);
            }
            n
        }
    }

    unsafe fn key(&self, code: usize) -> CodeKey {
        let l = &self.layout;
        // SAFETY: `code` was checked to be a code object (its type), and the layout is this
        // interpreter's.
        unsafe {
            CodeKey {
                filename: read_ptr(code + l.code_filename),
                qualname: read_ptr(code + l.code_qualname),
                linetable: read_ptr(code + l.code_linetable),
                first_line: *((code + l.code_firstlineno) as *const c_int),
            }
        }
    }

    /// What the trace says of a code object met in [`Reader::walk`] (a frame's `code` and
    /// `key`, read on the same thread during the same walk).
    pub fn describe(&self, f: &Frame) -> Code {
        // SAFETY: `f.code` is a live code object of the calling thread's stack (see `walk`).
        unsafe {
            Code {
                key: f.key,
                first_line: u32::try_from(f.key.first_line).unwrap_or(0),
                file: self
                    .string(f.key.filename)
                    .unwrap_or_else(|| "<unknown>".into()),
                name: self
                    .string(f.key.qualname)
                    .unwrap_or_else(|| "<unknown>".into()),
            }
        }
    }

    /// The line a frame is at, from its code object's location table.
    pub fn line(&self, f: &Frame) -> u32 {
        // SAFETY: as for `describe`.
        unsafe {
            let table = f.key.linetable;
            if table == 0 || read_ptr(table + OB_TYPE) != self.bytes_type {
                return u32::try_from(f.key.first_line).unwrap_or(0);
            }
            let len = read_ptr(table + OB_SIZE).min(1 << 24);
            let bytes = std::slice::from_raw_parts((table + BYTES_DATA) as *const u8, len);
            let line = if f.lasti < 0 {
                Some(f.key.first_line)
            } else {
                let at = f.lasti as usize;
                match self.layout.lines {
                    Lines::Locations => location_line(bytes, f.key.first_line, at),
                    Lines::Pairs => pairs_line(bytes, f.key.first_line, at),
                    Lines::Lnotab => Some(lnotab_line(bytes, f.key.first_line, at)),
                }
            };
            line.and_then(|l| u32::try_from(l).ok()).unwrap_or(0)
        }
    }

    /// A `str` object's characters when its storage is compact ASCII or has its UTF-8 form;
    /// `None` for anything else.
    unsafe fn string(&self, obj: usize) -> Option<String> {
        let l = &self.layout;
        // SAFETY: every field is read only after `obj` is found to be a `str` (its type), by this
        // interpreter's layout.
        unsafe {
            if obj == 0 || !obj.is_multiple_of(8) || read_ptr(obj + OB_TYPE) != self.unicode_type {
                return None;
            }
            let state = *((obj + l.str_state) as *const u32);
            let (compact, ascii) = (state & (1 << 5) != 0, state & (1 << 6) != 0);
            let (data, len) = if compact && ascii {
                (obj + l.str_ascii_data, read_ptr(obj + OB_SIZE))
            } else if compact {
                (
                    read_ptr(obj + l.str_utf8),
                    read_ptr(obj + l.str_utf8_length),
                )
            } else {
                return None;
            };
            if data == 0 {
                return None;
            }
            let bytes = std::slice::from_raw_parts(data as *const u8, len.min(MAX_STR));
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
    }
}
