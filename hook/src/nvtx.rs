//! gpuleak as an NVTX injection library. NVTX v3 (header-only, in PyTorch and most CUDA code)
//! loads the library named by NVTX_INJECTION64_PATH on its first call and hands it the table of
//! NVTX entry points to fill in; `gpuleak run` points that variable at this hook. Range pushes
//! and starts then become Range records, and a range named like a step marks iterations with
//! no change to the program.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

use gpuleak_trace::{Range, RangeOp};

use crate::guard::Guard;
use crate::record;

type FunctionPointer = *const c_void;
type GetExportTable = unsafe extern "C" fn(u32) -> *const c_void;
type GetModuleFunctionTable =
    unsafe extern "C" fn(c_int, *mut *mut *mut FunctionPointer, *mut c_uint) -> c_int;

#[repr(C)]
struct ExportTableCallbacks {
    struct_size: usize,
    get_module_function_table: Option<GetModuleFunctionTable>,
}

/// nvtxEventAttributes_t, version 2 (48 bytes); only the message is read.
#[repr(C)]
struct EventAttributes {
    version: u16,
    size: u16,
    category: u32,
    color_type: i32,
    color: u32,
    payload_type: i32,
    reserved0: i32,
    payload: u64,
    message_type: i32,
    message: *const c_void,
}

const ETID_CALLBACKS: u32 = 1;
const MODULE_CORE: c_int = 1;
const MODULE_CORE2: c_int = 5;
const MESSAGE_ASCII: i32 = 1;
const MESSAGE_REGISTERED: i32 = 3;

mod core_id {
    pub const RANGE_START_EX: usize = 4;
    pub const RANGE_START_A: usize = 5;
    pub const RANGE_END: usize = 7;
    pub const RANGE_PUSH_EX: usize = 8;
    pub const RANGE_PUSH_A: usize = 9;
    pub const RANGE_POP: usize = 11;
}

mod core2_id {
    pub const RANGE_START_EX: usize = 2;
    pub const RANGE_END: usize = 3;
    pub const RANGE_PUSH_EX: usize = 4;
    pub const RANGE_POP: usize = 5;
    pub const REGISTER_STRING_A: usize = 10;
    pub const DOMAIN_CREATE_A: usize = 12;
}

/// Called by NVTX once, with the way to reach its function tables. Returns nonzero on success.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn InitializeInjectionNvtx2(
    get_export_table: Option<GetExportTable>,
) -> c_int {
    let Some(get) = get_export_table else {
        return 0;
    };
    // SAFETY: NVTX's export table for callbacks has this layout (nvtxTypes.h).
    let table = unsafe { get(ETID_CALLBACKS) } as *const ExportTableCallbacks;
    // SAFETY: null or NVTX's callbacks table, which lives as long as the NVTX library.
    let Some(get_module) = (unsafe { table.as_ref() }).and_then(|t| t.get_module_function_table)
    else {
        return 0;
    };
    let core: [(usize, FunctionPointer); 6] = [
        (core_id::RANGE_START_EX, range_start_ex as FunctionPointer),
        (core_id::RANGE_START_A, range_start_a as FunctionPointer),
        (core_id::RANGE_END, range_end as FunctionPointer),
        (core_id::RANGE_PUSH_EX, range_push_ex as FunctionPointer),
        (core_id::RANGE_PUSH_A, range_push_a as FunctionPointer),
        (core_id::RANGE_POP, range_pop as FunctionPointer),
    ];
    let core2: [(usize, FunctionPointer); 6] = [
        (
            core2_id::RANGE_START_EX,
            domain_range_start_ex as FunctionPointer,
        ),
        (core2_id::RANGE_END, domain_range_end as FunctionPointer),
        (
            core2_id::RANGE_PUSH_EX,
            domain_range_push_ex as FunctionPointer,
        ),
        (core2_id::RANGE_POP, domain_range_pop as FunctionPointer),
        (
            core2_id::REGISTER_STRING_A,
            domain_register_string_a as FunctionPointer,
        ),
        (
            core2_id::DOMAIN_CREATE_A,
            domain_create_a as FunctionPointer,
        ),
    ];
    // SAFETY: `get_module` is NVTX's own function-table getter.
    let ok_core = unsafe { fill(get_module, MODULE_CORE, &core) };
    // SAFETY: as above.
    let ok_core2 = unsafe { fill(get_module, MODULE_CORE2, &core2) };
    c_int::from(ok_core || ok_core2)
}

/// Writes gpuleak's handlers into the slots NVTX's table points at.
unsafe fn fill(
    get: GetModuleFunctionTable,
    module: c_int,
    handlers: &[(usize, FunctionPointer)],
) -> bool {
    let mut table: *mut *mut FunctionPointer = std::ptr::null_mut();
    let mut size: c_uint = 0;
    // SAFETY: NVTX fills in a table of `size` slot pointers.
    if unsafe { get(module, &mut table, &mut size) } == 0 || table.is_null() {
        return false;
    }
    for &(id, f) in handlers {
        if id < size as usize {
            // SAFETY: `id` is below the table's `size`.
            let slot = unsafe { *table.add(id) };
            if !slot.is_null() {
                // SAFETY: a non-null slot NVTX handed out for this module's function `id`.
                unsafe { *slot = f };
            }
        }
    }
    true
}

thread_local! {
    /// Nesting depth per domain (0 = the default domain) on this thread.
    static DEPTHS: RefCell<Vec<(u64, u32)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Adds `delta` to this thread's depth in `domain`; returns (before, after).
fn depth(domain: u64, delta: i32) -> (u32, u32) {
    DEPTHS
        .try_with(|d| {
            let mut d = d.borrow_mut();
            let i = match d.iter().position(|&(dom, _)| dom == domain) {
                Some(i) => i,
                None => {
                    d.push((domain, 0));
                    d.len() - 1
                }
            };
            let before = d[i].1;
            let after = before.saturating_add_signed(delta);
            d[i].1 = after;
            (before, after)
        })
        .unwrap_or((0, 0))
}

/// Domains and registered strings are handles gpuleak gives out: pointers to names it keeps
/// for the life of the process.
fn leak_name(s: *const c_char) -> *const c_char {
    if s.is_null() {
        return std::ptr::null();
    }
    // SAFETY: NVTX passes NUL-terminated names (non-null here).
    let owned: CString = unsafe { CStr::from_ptr(s) }.into();
    owned.into_raw()
}

fn name_of(p: *const c_char) -> Option<String> {
    // SAFETY: a non-null NVTX name is NUL-terminated.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn message(attr: *const EventAttributes) -> Option<String> {
    // SAFETY: null or the program's event attributes, valid for the call.
    let a = unsafe { attr.as_ref() }?;
    match a.message_type {
        // Registered strings are pointers from `domain_register_string_a`.
        MESSAGE_ASCII | MESSAGE_REGISTERED => name_of(a.message as *const c_char),
        _ => None,
    }
}

fn emit(op: RangeOp, depth: u32, id: u64, name: Option<String>, domain: u64) {
    let g = Guard::enter();
    if !g.outer() {
        return;
    }
    record::guarded(|| {
        record::range(Range {
            time_ns: 0,
            tid: 0,
            op,
            depth,
            id,
            name,
            domain: name_of(domain as *const c_char),
        })
    });
}

fn push(domain: u64, name: Option<String>) -> c_int {
    let (before, _) = depth(domain, 1);
    emit(RangeOp::Push, before, 0, name, domain);
    before as c_int
}

fn pop(domain: u64) -> c_int {
    let (before, after) = depth(domain, -1);
    if before == 0 {
        // A pop without a push: NVTX reports an error level.
        return -2;
    }
    emit(RangeOp::Pop, after, 0, None, domain);
    after as c_int
}

fn start(domain: u64, name: Option<String>) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    emit(RangeOp::Start, 0, id, name, domain);
    id
}

fn end(domain: u64, id: u64) {
    emit(RangeOp::End, 0, id, None, domain);
}

unsafe extern "C" fn range_push_a(msg: *const c_char) -> c_int {
    push(0, name_of(msg))
}

unsafe extern "C" fn range_push_ex(attr: *const EventAttributes) -> c_int {
    push(0, message(attr))
}

unsafe extern "C" fn range_pop() -> c_int {
    pop(0)
}

unsafe extern "C" fn range_start_a(msg: *const c_char) -> u64 {
    start(0, name_of(msg))
}

unsafe extern "C" fn range_start_ex(attr: *const EventAttributes) -> u64 {
    start(0, message(attr))
}

unsafe extern "C" fn range_end(id: u64) {
    end(0, id)
}

unsafe extern "C" fn domain_range_push_ex(
    domain: *const c_char,
    attr: *const EventAttributes,
) -> c_int {
    push(domain as u64, message(attr))
}

unsafe extern "C" fn domain_range_pop(domain: *const c_char) -> c_int {
    pop(domain as u64)
}

unsafe extern "C" fn domain_range_start_ex(
    domain: *const c_char,
    attr: *const EventAttributes,
) -> u64 {
    start(domain as u64, message(attr))
}

unsafe extern "C" fn domain_range_end(domain: *const c_char, id: u64) {
    end(domain as u64, id)
}

unsafe extern "C" fn domain_register_string_a(
    _domain: *const c_char,
    s: *const c_char,
) -> *const c_char {
    leak_name(s)
}

unsafe extern "C" fn domain_create_a(name: *const c_char) -> *const c_char {
    leak_name(name)
}
