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

use std::ffi::{CStr, c_char, c_int, c_void};

/// Where the fields the walk reads lie, for one CPython minor version (x86-64 / LP64).
#[derive(Debug, Clone)]
pub struct Layout {
    pub version: (u8, u8),
    /// 3.9, 3.10: the chain is of `PyFrameObject`s, from `tstate->frame` (at `current_frame`),
    /// through `f_back` (at `frame_previous`); `frame_instr` is `f_lasti`, an `int` counted in
    /// `lasti_unit` bytes; there is no owner, entry frame or incomplete frame.
    pub frame_objects: bool,
    pub lasti_unit: i64,
    /// How a code object's line table is written.
    pub lines: Lines,
    /// `PyThreadState` → the innermost frame: `tstate->cframe->current_frame` (3.11, 3.12) when
    /// `tstate_cframe` is `Some`, else `tstate->current_frame` (3.13+).
    pub tstate_cframe: Option<usize>,
    pub current_frame: usize,
    /// `_PyInterpreterFrame`.
    pub frame_code: usize,
    pub frame_previous: usize,
    /// `prev_instr` (3.11, 3.12: the code unit before the next instruction) or `instr_ptr`
    /// (3.13+: the instruction running): its distance from the code's start is the instruction
    /// index CPython gives the line of.
    pub frame_instr: usize,
    pub frame_owner: usize,
    /// `owner` of a generator's frame: such frames are never incomplete.
    pub owner_generator: u8,
    /// The lowest `owner` of frames that are the interpreter's own, not the program's: the
    /// entry frames it pushes on its C stack (3.12+; 3.14 also has frames owned by the
    /// interpreter, numbered below them). Skipped, as CPython's own tracebacks skip them.
    pub owner_cstack: Option<u8>,
    /// Bits of `f_executable` that tag the reference rather than address the object (3.14's
    /// `_PyStackRef`: bit 0 marks a deferred reference); 0 before.
    pub executable_tag: usize,
    /// `PyCodeObject`.
    pub code_firstlineno: usize,
    pub code_filename: usize,
    pub code_qualname: usize,
    pub code_linetable: usize,
    /// `_co_firsttraceable` (3.11+), for `_PyFrame_IsIncomplete`; `None` where unknown (3.9,
    /// 3.10, and offsets read from `_Py_DebugOffsets`, which does not publish it).
    pub code_firsttraceable: Option<usize>,
    pub code_adaptive: usize,
    /// `PyUnicodeObject`: the state bit field, and where a compact ASCII string's characters
    /// start; a compact non-ASCII string's UTF-8 pointer and length.
    pub str_state: usize,
    pub str_ascii_data: usize,
    pub str_utf8: usize,
    pub str_utf8_length: usize,
}

/// The line table formats: 3.9's `co_lnotab`, 3.10's `co_linetable`, 3.11+'s location table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    Lnotab,
    Pairs,
    Locations,
}

/// CPython 3.9 (checked against 3.9.2's headers, Debian 11's libpython3.9-dev:
/// `tests/programs/pylayout.c`). Functions are named by `co_name` (no `co_qualname` before 3.11).
const PY39: Layout = Layout {
    version: (3, 9),
    frame_objects: true,
    lasti_unit: 1,
    lines: Lines::Lnotab,
    tstate_cframe: None,
    current_frame: 24,
    frame_code: 32,
    frame_previous: 24,
    frame_instr: 104,
    frame_owner: 0,
    owner_generator: 0,
    owner_cstack: None,
    code_firstlineno: 40,
    code_filename: 104,
    code_qualname: 112,
    code_linetable: 120,
    code_firsttraceable: None,
    code_adaptive: 0,
    str_state: 32,
    str_ascii_data: 48,
    str_utf8: 56,
    str_utf8_length: 48,
    executable_tag: 0,
};

/// CPython 3.10 (checked against 3.10.4's headers, Ubuntu 22.04's libpython3.10-dev:
/// `tests/programs/pylayout.c`).
const PY310: Layout = Layout {
    version: (3, 10),
    frame_objects: true,
    lasti_unit: 2,
    lines: Lines::Pairs,
    tstate_cframe: None,
    current_frame: 24,
    frame_code: 32,
    frame_previous: 24,
    frame_instr: 96,
    frame_owner: 0,
    owner_generator: 0,
    owner_cstack: None,
    code_firstlineno: 40,
    code_filename: 104,
    code_qualname: 112,
    code_linetable: 120,
    code_firsttraceable: None,
    code_adaptive: 0,
    str_state: 32,
    str_ascii_data: 48,
    str_utf8: 56,
    str_utf8_length: 48,
    executable_tag: 0,
};

/// CPython 3.11 (checked against 3.11.7's headers: `tests/programs/pylayout.c`).
const PY311: Layout = Layout {
    version: (3, 11),
    frame_objects: false,
    lasti_unit: 2,
    lines: Lines::Locations,
    tstate_cframe: Some(56),
    current_frame: 8,
    frame_code: 32,
    frame_previous: 48,
    frame_instr: 56,
    frame_owner: 69,
    owner_generator: 1,
    owner_cstack: None,
    code_firstlineno: 72,
    code_filename: 112,
    code_qualname: 128,
    code_linetable: 136,
    code_firsttraceable: Some(168),
    code_adaptive: 184,
    str_state: 32,
    str_ascii_data: 48,
    str_utf8: 56,
    str_utf8_length: 48,
    executable_tag: 0,
};

/// CPython 3.12 (checked against 3.12.3's headers, Ubuntu 24.04's libpython3.12-dev:
/// `tests/programs/pylayout.c`).
const PY312: Layout = Layout {
    version: (3, 12),
    frame_objects: false,
    lasti_unit: 2,
    lines: Lines::Locations,
    tstate_cframe: Some(56),
    current_frame: 0,
    frame_code: 0,
    frame_previous: 8,
    frame_instr: 56,
    frame_owner: 70,
    owner_generator: 1,
    owner_cstack: Some(3),
    code_firstlineno: 68,
    code_filename: 112,
    code_qualname: 128,
    code_linetable: 136,
    code_firsttraceable: Some(176),
    code_adaptive: 192,
    str_state: 32,
    str_ascii_data: 40,
    str_utf8: 48,
    str_utf8_length: 40,
    executable_tag: 0,
};

/// CPython 3.13 (checked against 3.13.5's headers, Debian 13's libpython3.13-dev:
/// `tests/programs/pylayout.c`). `f_executable` may be another object than a code object: the
/// type check ends the walk there.
const PY313: Layout = Layout {
    version: (3, 13),
    frame_objects: false,
    lasti_unit: 2,
    lines: Lines::Locations,
    tstate_cframe: None,
    current_frame: 72,
    frame_code: 0,
    frame_previous: 8,
    frame_instr: 56,
    frame_owner: 70,
    owner_generator: 1,
    owner_cstack: Some(3),
    code_firstlineno: 68,
    code_filename: 112,
    code_qualname: 128,
    code_linetable: 136,
    code_firsttraceable: Some(184),
    code_adaptive: 200,
    str_state: 32,
    str_ascii_data: 40,
    str_utf8: 48,
    str_utf8_length: 40,
    executable_tag: 0,
};

/// CPython 3.14 (checked against 3.14.10's headers, Debian sid's libpython3.14-dev:
/// `tests/programs/pylayout.c`). `f_executable` is a tagged `_PyStackRef`; frames owned by the
/// interpreter (3) or the C stack (4) are skipped.
const PY314: Layout = Layout {
    version: (3, 14),
    frame_objects: false,
    lasti_unit: 2,
    lines: Lines::Locations,
    tstate_cframe: None,
    current_frame: 72,
    frame_code: 0,
    frame_previous: 8,
    frame_instr: 56,
    frame_owner: 74,
    owner_generator: 1,
    owner_cstack: Some(3),
    code_firstlineno: 68,
    code_filename: 112,
    code_qualname: 128,
    code_linetable: 136,
    code_firsttraceable: Some(192),
    code_adaptive: 208,
    str_state: 32,
    str_ascii_data: 40,
    str_utf8: 48,
    str_utf8_length: 40,
    executable_tag: 1,
};

/// Common to every object: `ob_type`, and a variable-size object's `ob_size`.
const OB_TYPE: usize = 8;
const OB_SIZE: usize = 16;
/// `PyBytesObject.ob_sval`.
const BYTES_DATA: usize = 32;
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

unsafe fn read_ptr(at: usize) -> usize {
    unsafe { *(at as *const usize) }
}

/// The running CPython's (major, minor): `Py_Version` (3.11+), else `Py_GetVersion()`'s text
/// (a static string, "3.10.4 (main, ...)").
fn version(lookup: &impl Fn(&CStr) -> *mut c_void) -> Option<(u8, u8)> {
    let hex = lookup(c"Py_Version");
    if !hex.is_null() {
        // SAFETY: `Py_Version` is a `const unsigned long` (3.11+): 0xMMmmppRS, in its low 32 bits
        // (little-endian).
        let hex = u64::from(unsafe { *(hex as *const u32) });
        return Some((((hex >> 24) & 0xff) as u8, ((hex >> 16) & 0xff) as u8));
    }
    let f = lookup(c"Py_GetVersion");
    if f.is_null() {
        return None;
    }
    // SAFETY: `const char *Py_GetVersion(void)`, callable at any time.
    let text = unsafe {
        let f = std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> *const c_char>(f);
        CStr::from_ptr(f())
    };
    let text = text.to_str().ok()?;
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Where `_Py_DebugOffsets` (the start of `_PyRuntime`, 3.13+) keeps each offset the walk needs,
/// for one version of that struct (checked against the headers by `tests/programs/pylayout.c`).
#[derive(Debug)]
pub struct DebugPositions {
    pub version: (u8, u8),
    pub free_threaded: usize,
    pub current_frame: usize,
    pub frame_previous: usize,
    pub frame_code: usize,
    pub frame_instr: usize,
    pub frame_owner: usize,
    pub code_filename: usize,
    pub code_qualname: usize,
    pub code_linetable: usize,
    pub code_firstlineno: usize,
    pub code_adaptive: usize,
    pub ob_type: usize,
    pub str_state: usize,
    pub str_ascii_size: usize,
}

/// CPython 3.13 (3.13.5's headers).
const DEBUG313: DebugPositions = DebugPositions {
    version: (3, 13),
    free_threaded: 16,
    current_frame: 184,
    frame_previous: 232,
    frame_code: 240,
    frame_instr: 248,
    frame_owner: 264,
    code_filename: 280,
    code_qualname: 296,
    code_linetable: 304,
    code_firstlineno: 312,
    code_adaptive: 344,
    ob_type: 360,
    str_state: 544,
    str_ascii_size: 560,
};

/// CPython 3.14 (3.14.10's headers).
const DEBUG314: DebugPositions = DebugPositions {
    version: (3, 14),
    free_threaded: 16,
    current_frame: 208,
    frame_previous: 256,
    frame_code: 264,
    frame_instr: 272,
    frame_owner: 288,
    code_filename: 320,
    code_qualname: 336,
    code_linetable: 344,
    code_firstlineno: 352,
    code_adaptive: 384,
    ob_type: 408,
    str_state: 624,
    str_ascii_size: 640,
};

/// The layout as the running interpreter itself publishes it (`_Py_DebugOffsets`, for debuggers
/// and profilers), when it does (3.13+: the cookie `xdebugpy`, its version, not free-threaded) and
/// gpuleak knows where that version of the struct keeps each offset. `None` otherwise.
fn debug_offsets(lookup: &impl Fn(&CStr) -> *mut c_void, version: (u8, u8)) -> Option<Layout> {
    let p = [&DEBUG313, &DEBUG314]
        .into_iter()
        .find(|p| p.version == version)?;
    let runtime = lookup(c"_PyRuntime") as usize;
    if runtime == 0 {
        return None;
    }
    // SAFETY: `_PyRuntime` starts with `_Py_DebugOffsets` in 3.13+ (checked by its cookie and
    // version before anything else is read); every position read lies inside that struct.
    unsafe {
        let cookie = std::slice::from_raw_parts(runtime as *const u8, 8);
        if cookie != b"xdebugpy" {
            return None;
        }
        let hex = read_ptr(runtime + 8) as u64;
        if (((hex >> 24) & 0xff) as u8, ((hex >> 16) & 0xff) as u8) != version
            || read_ptr(runtime + p.free_threaded) != 0
            || read_ptr(runtime + p.ob_type) != OB_TYPE
        {
            return None;
        }
        let at = |pos: usize| read_ptr(runtime + pos);
        let ascii = at(p.str_ascii_size);
        Some(Layout {
            version,
            frame_objects: false,
            lasti_unit: 2,
            lines: Lines::Locations,
            tstate_cframe: None,
            current_frame: at(p.current_frame),
            frame_code: at(p.frame_code),
            frame_previous: at(p.frame_previous),
            frame_instr: at(p.frame_instr),
            frame_owner: at(p.frame_owner),
            owner_generator: 1,
            owner_cstack: Some(3),
            code_firstlineno: at(p.code_firstlineno),
            code_filename: at(p.code_filename),
            code_qualname: at(p.code_qualname),
            code_linetable: at(p.code_linetable),
            code_firsttraceable: None,
            code_adaptive: at(p.code_adaptive),
            str_state: at(p.str_state),
            str_ascii_data: ascii,
            // A compact non-ASCII string: `utf8_length`, then `utf8`, right after the ASCII
            // header (PyCompactUnicodeObject).
            str_utf8_length: ascii,
            str_utf8: ascii + 8,
            // 3.14's `f_executable` is a `_PyStackRef`; the owners from 3 up are the
            // interpreter's (3.13: 3 is the C stack's and the last).
            executable_tag: usize::from(version >= (3, 14)),
        })
    }
}

/// The line of byte `addr` in a CPython 3.10 `co_linetable`: (start delta, line delta) byte
/// pairs, a line delta of −128 meaning no line (`Objects/lnotab_notes.txt`).
pub fn pairs_line(table: &[u8], first_line: i32, addr: usize) -> Option<i32> {
    let mut line = first_line;
    let mut start = 0usize;
    for pair in table.chunks_exact(2) {
        let end = start + usize::from(pair[0]);
        let delta = pair[1] as i8;
        let this = (delta != -128).then(|| {
            line += i32::from(delta);
            line
        });
        if start <= addr && addr < end {
            return this;
        }
        start = end;
    }
    None
}

/// The line of byte `addr` in a CPython 3.9 `co_lnotab`: (address increment, signed line
/// increment) byte pairs, as `PyCode_Addr2Line` reads them.
pub fn lnotab_line(table: &[u8], first_line: i32, addr: usize) -> i32 {
    let mut line = first_line;
    let mut at = 0usize;
    for pair in table.chunks_exact(2) {
        at += usize::from(pair[0]);
        if at > addr {
            break;
        }
        line += i32::from(pair[1] as i8);
    }
    line
}

/// The line of code unit `unit` in a CPython 3.11+ location table (`Objects/locations.md`),
/// `None` where the table says the instruction has no line or ends before it.
pub fn location_line(table: &[u8], first_line: i32, unit: usize) -> Option<i32> {
    let mut i = 0;
    let mut line = first_line;
    let mut addr = 0usize;
    let next = |i: &mut usize| -> Option<u8> {
        let b = *table.get(*i)?;
        *i += 1;
        Some(b)
    };
    let varint = |i: &mut usize| -> Option<u32> {
        let mut b = next(i)?;
        let mut v = u32::from(b & 63);
        let mut shift = 6;
        while b & 64 != 0 && shift < 32 {
            b = next(i)?;
            v |= u32::from(b & 63) << shift;
            shift += 6;
        }
        Some(v)
    };
    let svarint = |i: &mut usize| -> Option<i32> {
        let v = varint(i)?;
        Some(if v & 1 != 0 {
            -((v >> 1) as i32)
        } else {
            (v >> 1) as i32
        })
    };
    while i < table.len() {
        let head = next(&mut i)?;
        if head & 0x80 == 0 {
            return None; // not at an entry's start: a table we do not understand
        }
        let code = (head >> 3) & 15;
        let len = usize::from(head & 7) + 1;
        let delta = match code {
            15 => None,
            14 => {
                let d = svarint(&mut i)?;
                varint(&mut i)?;
                varint(&mut i)?;
                varint(&mut i)?;
                Some(d)
            }
            13 => Some(svarint(&mut i)?),
            10..=12 => {
                i += 2;
                Some(i32::from(code) - 10)
            }
            _ => {
                i += 1;
                Some(0)
            }
        };
        if let Some(d) = delta {
            line += d;
        }
        if unit < addr + len {
            return delta.map(|_| line);
        }
        addr += len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{lnotab_line, location_line, pairs_line};

    /// 3.10: bytes 0-5 at +0, 6-9 at +2, 10-13 without a line, 14-15 at -1 from the last line,
    /// a pair of start delta 0 only moving the line.
    #[test]
    fn the_310_line_table_gives_each_byte_its_line() {
        let table = [6, 0, 4, 2, 4, 0x80, 0, 5, 2, 0xfa];
        let lines: Vec<_> = (0..17).map(|a| pairs_line(&table, 10, a)).collect();
        let mut want = vec![Some(10); 6];
        want.extend([Some(12); 4]);
        want.extend([None; 4]);
        want.extend([Some(11); 2]);
        want.push(None);
        assert_eq!(lines, want);
    }

    /// 3.9: a line increment applies from its address on.
    #[test]
    fn the_39_lnotab_gives_each_byte_its_line() {
        let table = [0, 1, 6, 2, 8, 0xff];
        let lines: Vec<_> = (0..18).map(|a| lnotab_line(&table, 20, a)).collect();
        let mut want = vec![21; 6];
        want.extend([23; 8]);
        want.extend([22; 4]);
        assert_eq!(lines, want);
    }

    /// Entries as CPython 3.11 writes them: (code, length) heads, then the code's payload.
    #[test]
    fn the_location_table_gives_each_instruction_its_line() {
        let table = [
            0x80 | (13 << 3), // no column, 1 unit, line +0
            0,
            0x80 | (11 << 3) | 1, // one-line form, 2 units, line +1
            4,
            8,
            0x80 | (15 << 3),     // no location, 1 unit
            0x80 | (14 << 3) | 2, // long form, 3 units, line -1 (svarint 3), end/col/endcol
            3,
            0,
            1,
            1,
            0x80 | (13 << 3) | 1, // no column, 2 units, line +5 (svarint 10)
            10,
        ];
        let lines: Vec<_> = (0..10).map(|u| location_line(&table, 100, u)).collect();
        assert_eq!(
            lines,
            [
                Some(100),
                Some(101),
                Some(101),
                None,
                Some(100),
                Some(100),
                Some(100),
                Some(105),
                Some(105),
                None
            ]
        );
    }

    #[test]
    fn a_table_it_does_not_understand_gives_no_line() {
        assert_eq!(location_line(&[0x12, 0x34], 7, 0), None);
        assert_eq!(location_line(&[0x80 | (14 << 3)], 7, 0), None);
    }
}
