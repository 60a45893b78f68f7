//! Where CPython keeps what the frame walk (`pyread`) reads: one table of offsets per minor
//! version (3.9 to 3.14), each checked against that version's headers by
//! `tests/programs/pylayout.c`, or the offsets the interpreter publishes itself
//! (`_Py_DebugOffsets`, 3.13+). A table of constants: its length is the versions it covers.

use std::ffi::{CStr, c_char, c_void};

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
pub const PY39: Layout = Layout {
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
pub const PY310: Layout = Layout {
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
pub const PY311: Layout = Layout {
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
pub const PY312: Layout = Layout {
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
pub const PY313: Layout = Layout {
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
pub const PY314: Layout = Layout {
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

/// Common to every object: `ob_type`.
pub const OB_TYPE: usize = 8;
/// Common to every variable-size object: `ob_size`.
pub const OB_SIZE: usize = 16;
/// `PyBytesObject.ob_sval`.
pub const BYTES_DATA: usize = 32;

pub unsafe fn read_ptr(at: usize) -> usize {
    // SAFETY: callers pass an address inside an object the layout or `_PyRuntime` describes.
    unsafe { *(at as *const usize) }
}

/// The running CPython's (major, minor): `Py_Version` (3.11+), else `Py_GetVersion()`'s text
/// (a static string, "3.10.4 (main, ...)").
pub fn version(lookup: &impl Fn(&CStr) -> *mut c_void) -> Option<(u8, u8)> {
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
pub const DEBUG313: DebugPositions = DebugPositions {
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
pub const DEBUG314: DebugPositions = DebugPositions {
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
pub fn debug_offsets(lookup: &impl Fn(&CStr) -> *mut c_void, version: (u8, u8)) -> Option<Layout> {
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
