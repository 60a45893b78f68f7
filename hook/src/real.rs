//! Finding the real functions, and the `dlsym` hook.
//!
//! gpuleak exports its own `dlsym` so that callers which `dlopen` libcuda/libcudart and look up
//! functions by name (cudarc, ctypes, XLA) get wrappers. Two things make that delicate:
//!
//! - glibc decides what `RTLD_NEXT` means from the caller's return address. A hook that calls the
//!   real `dlsym` from Rust makes another preload's `dlsym(RTLD_NEXT, ..)` look like gpuleak's own
//!   and resolve to the wrong object (skipping gpuleak, or looping into the other preload).
//!   So `dlsym` is a naked trampoline: `RTLD_NEXT` lookups jump straight into the real `dlsym` with
//!   the caller's return address untouched; gpuleak never substitutes those.
//! - Rust's std and libc call `dlsym` themselves, possibly before anything is initialised, so
//!   the real one is found with `dlvsym`, which gpuleak does not hook.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::api;

type DlsymFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;

/// Read by the trampoline, so it must stay a plain pointer-sized static.
static REAL_DLSYM: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn init_real_dlsym() -> *mut c_void {
    let p = REAL_DLSYM.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    let mut p = std::ptr::null_mut();
    for version in [c"GLIBC_2.34", c"GLIBC_2.2.5"] {
        // SAFETY: dlvsym with RTLD_NEXT and valid C strings.
        p = unsafe { libc::dlvsym(libc::RTLD_NEXT, c"dlsym".as_ptr(), version.as_ptr()) };
        if !p.is_null() {
            break;
        }
    }
    if p.is_null() {
        // Without the real dlsym nothing can be resolved; this cannot happen on glibc.
        unsafe { libc::abort() };
    }
    REAL_DLSYM.store(p, Ordering::Release);
    p
}

pub fn real_dlsym() -> DlsymFn {
    let p = init_real_dlsym();
    // SAFETY: the pointer is glibc's dlsym.
    unsafe { std::mem::transmute::<*mut c_void, DlsymFn>(p) }
}

#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    core::arch::naked_asm!(
        "cmp rdi, -1",
        "je 2f",
        // Any other handle: hand the caller's return address along as a third argument.
        "mov rdx, [rsp]",
        "jmp {other}",
        "2:",
        "mov rax, [rip + {real}]",
        "test rax, rax",
        "jz 3f",
        "jmp rax",
        "3:",
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "call {init}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "jmp rax",
        other = sym dlsym_other,
        real = sym REAL_DLSYM,
        init = sym init_real_dlsym,
    )
}

/// Elsewhere a tail call cannot be guaranteed, so `RTLD_NEXT` seen from another preload may
/// resolve as if asked by gpuleak; the platforms gpuleak targets are x86-64.
#[cfg(not(target_arch = "x86_64"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    if handle == libc::RTLD_NEXT {
        return unsafe { real_dlsym()(handle, name) };
    }
    unsafe { dlsym_other(handle, name, std::ptr::null()) }
}

/// `dlsym` with a real handle or `RTLD_DEFAULT`: forward, then hand out a wrapper when the
/// result is a CUDA function gpuleak records.
unsafe extern "C" fn dlsym_other(
    handle: *mut c_void,
    name: *const c_char,
    caller: *const c_void,
) -> *mut c_void {
    // SAFETY: same arguments the caller gave us.
    let found = unsafe { real_dlsym()(handle, name) };
    if found.is_null() || name.is_null() {
        return found;
    }
    // SAFETY: dlsym just accepted `name` as a C string.
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    if !name.starts_with(b"cu") {
        return found;
    }
    let Some(entry) = api::entry(name) else {
        return found;
    };
    // The driver looks up its own functions too; what it calls internally is not the program's
    // allocation. (The runtime's lookups are substituted: runtime calls gpuleak does not
    // interpose, such as cudaMallocFromPoolAsync, reach the driver only through them.)
    if !caller.is_null()
        && library_of(caller as *mut c_void).is_some_and(|b| b.starts_with(b"libcuda.so"))
    {
        return found;
    }
    substitute(entry, found, handle.is_null())
}

/// Given the real address of a wrapped function, what the program should get instead.
pub fn substitute(
    entry: &'static api::Entry,
    found: *mut c_void,
    default_scope: bool,
) -> *mut c_void {
    // By address range, not by comparing with the export's address: taken in Rust, that is resolved
    // through the global scope and is another library's when gpuleak is not first in it.
    if crate::unwind::is_own(found as u64) {
        // gpuleak's own export was found (RTLD_DEFAULT scope). Without gpuleak the lookup
        // would fail when no CUDA library is loaded, so say what the real lookup says.
        if default_scope && next(entry).is_null() {
            return std::ptr::null_mut();
        }
        return found;
    }
    if !in_cuda_library(found) {
        return found;
    }
    match entry.resolved.compare_exchange(
        std::ptr::null_mut(),
        found,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => entry.wrapper as *mut c_void,
        Err(prev) if prev == found => entry.wrapper as *mut c_void,
        // A second, different copy of the library: its calls go unwrapped rather than wrong.
        Err(_) => found,
    }
}

/// The file name (no directory) of the object holding `p`.
fn library_of(p: *mut c_void) -> Option<&'static [u8]> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the address.
    if unsafe { libc::dladdr(p, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: the name lives as long as the object, which is loaded (it holds `p`).
    let path = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
    Some(path.rsplit(|&c| c == b'/').next().unwrap_or(path))
}

fn in_cuda_library(p: *mut c_void) -> bool {
    library_of(p).is_some_and(|b| b.starts_with(b"libcuda.so") || b.starts_with(b"libcudart.so"))
}

/// The exported symbol's name for a function address, as `dladdr` reports it.
pub fn symbol_name(p: *mut c_void) -> Option<&'static [u8]> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    if unsafe { libc::dladdr(p, &mut info) } == 0 || info.dli_sname.is_null() || info.dli_saddr != p
    {
        return None;
    }
    // SAFETY: symbol names live as long as the object, which stays loaded while its function
    // pointer is in use.
    Some(unsafe { CStr::from_ptr(info.dli_sname) }.to_bytes())
}

/// The definition after gpuleak's in the global scope: what an interposed symbol forwards to.
/// When the global scope has none (the driver or runtime was opened RTLD_LOCAL, and reached
/// gpuleak's export anyway: a driver built without -Bsymbolic hands out what the global scope
/// gives for its own names), the definition in the loaded library itself.
pub fn next(entry: &api::Entry) -> *mut c_void {
    let p = entry.next.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    // SAFETY: RTLD_NEXT from gpuleak's own code, NUL-terminated name.
    let p = unsafe { real_dlsym()(libc::RTLD_NEXT, entry.cname.as_ptr()) };
    if p.is_null() || crate::unwind::is_own(p as u64) {
        // Looked up again on every call, never kept: a library opened RTLD_LOCAL may be closed
        // and opened again elsewhere, and a kept pointer into it would then call unmapped code.
        // The lookup costs about a microsecond, on a path only odd drivers take.
        return in_loaded_library(entry.cname);
    }
    entry.next.store(p, Ordering::Release);
    p
}

/// Where a CUDA name is defined when it is not in the global scope: the runtime's names in a
/// loaded libcudart, the driver's in a loaded libcuda, by soname.
const RUNTIMES: [&CStr; 4] = [
    c"libcudart.so.13",
    c"libcudart.so.12",
    c"libcudart.so.11.0",
    c"libcudart.so",
];

/// `name` as defined in an already loaded CUDA library (RTLD_NOLOAD: nothing is loaded here),
/// never gpuleak's own; null when none defines it.
fn in_loaded_library(name: &CStr) -> *mut c_void {
    let runtime = name.to_bytes().starts_with(b"cuda") || name.to_bytes().starts_with(b"__cuda");
    let driver = [c"libcuda.so.1"];
    let libraries: &[&CStr] = if runtime { &RUNTIMES } else { &driver };
    for lib in libraries {
        // SAFETY: RTLD_NOLOAD only finds an object already loaded (by path or soname).
        let h = unsafe { libc::dlopen(lib.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
        if h.is_null() {
            continue;
        }
        // A handle's lookup searches that object and its dependencies, never the preloads.
        let p = unsafe { real_dlsym()(h, name.as_ptr()) };
        // Balances the reference RTLD_NOLOAD took; the program's own keeps the library loaded.
        unsafe { libc::dlclose(h) };
        if !p.is_null() && !crate::unwind::is_own(p as u64) {
            return p;
        }
    }
    std::ptr::null_mut()
}

type CuMemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> c_int;
type CuCtxGetDevice = unsafe extern "C" fn(*mut c_int) -> c_int;

static MEM_GET_INFO: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static POOL_GET_ATTRIBUTE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static GET_ADDRESS_RANGE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static DEVICE_GET_MEM_POOL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static CTX_GET_DEVICE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static DEVICE_GET_COUNT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static DEVICE_GET: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static DEVICE_GET_NAME: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// A driver function for gpuleak's own queries, taken from the loaded libcuda itself so that it
/// is found even when libcuda was opened RTLD_LOCAL, and never through a wrapper.
fn driver_fn(slot: &AtomicPtr<c_void>, name: &CStr) -> *mut c_void {
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    // SAFETY: RTLD_NOLOAD never loads anything; only an already loaded libcuda is used.
    let h = unsafe {
        libc::dlopen(
            c"libcuda.so.1".as_ptr(),
            libc::RTLD_LAZY | libc::RTLD_NOLOAD,
        )
    };
    if h.is_null() {
        return p;
    }
    let p = unsafe { real_dlsym()(h, name.as_ptr()) };
    // Balances the reference RTLD_NOLOAD took; the program's own reference keeps it loaded.
    unsafe { libc::dlclose(h) };
    if !p.is_null() {
        slot.store(p, Ordering::Release);
    }
    p
}

/// The device's (free, total) memory, for out-of-memory forensics.
pub fn mem_info() -> Option<(u64, u64)> {
    let p = driver_fn(&MEM_GET_INFO, c"cuMemGetInfo_v2");
    if p.is_null() {
        return None;
    }
    let f: CuMemGetInfo = unsafe { std::mem::transmute(p) };
    let (mut free, mut total) = (0usize, 0usize);
    (unsafe { f(&mut free, &mut total) } == 0).then_some((free as u64, total as u64))
}

/// The names of the devices the process sees, by ordinal; empty when the driver cannot say (not
/// initialised yet, or no libcuda loaded). Asked once per trace, for its header.
pub fn device_names() -> Vec<String> {
    type Count = unsafe extern "C" fn(*mut c_int) -> c_int;
    type Get = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type Name = unsafe extern "C" fn(*mut std::ffi::c_char, c_int, c_int) -> c_int;
    let (count, get, name) = (
        driver_fn(&DEVICE_GET_COUNT, c"cuDeviceGetCount"),
        driver_fn(&DEVICE_GET, c"cuDeviceGet"),
        driver_fn(&DEVICE_GET_NAME, c"cuDeviceGetName"),
    );
    if count.is_null() || get.is_null() || name.is_null() {
        return Vec::new();
    }
    let (count, get, name): (Count, Get, Name) = unsafe {
        (
            std::mem::transmute::<*mut c_void, Count>(count),
            std::mem::transmute::<*mut c_void, Get>(get),
            std::mem::transmute::<*mut c_void, Name>(name),
        )
    };
    let mut n: c_int = 0;
    // SAFETY: driver calls with valid out-pointers; the name buffer's length is passed.
    if unsafe { count(&mut n) } != 0 {
        return Vec::new();
    }
    // A machine has at most a few dozen devices; a larger figure is not one to trust.
    (0..n.clamp(0, 64))
        .map(|ordinal| {
            let mut dev: c_int = 0;
            let mut buf = [0 as std::ffi::c_char; 256];
            let ok = unsafe { get(&mut dev, ordinal) } == 0
                && unsafe { name(buf.as_mut_ptr(), buf.len() as c_int - 1, dev) } == 0;
            if !ok {
                return String::new();
            }
            // SAFETY: zero-initialised and the driver writes at most len - 1 bytes.
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The ordinal of the current context's device.
pub fn current_device() -> Option<i32> {
    let p = driver_fn(&CTX_GET_DEVICE, c"cuCtxGetDevice");
    if p.is_null() {
        return None;
    }
    let f: CuCtxGetDevice = unsafe { std::mem::transmute(p) };
    let mut d: c_int = -1;
    (unsafe { f(&mut d) } == 0).then_some(d)
}

/// A memory pool attribute that is a cuuint64_t (reserved or used bytes, thresholds).
pub fn pool_attribute(pool: u64, attr: c_int) -> Option<u64> {
    type F = unsafe extern "C" fn(u64, c_int, *mut c_void) -> c_int;
    let p = driver_fn(&POOL_GET_ATTRIBUTE, c"cuMemPoolGetAttribute");
    if p.is_null() {
        return None;
    }
    let f: F = unsafe { std::mem::transmute(p) };
    let mut v: u64 = 0;
    (unsafe { f(pool, attr, (&mut v as *mut u64).cast()) } == 0).then_some(v)
}

/// The size of the allocation that holds `ptr`.
pub fn address_range(ptr: u64) -> Option<u64> {
    type F = unsafe extern "C" fn(*mut u64, *mut usize, u64) -> c_int;
    let p = driver_fn(&GET_ADDRESS_RANGE, c"cuMemGetAddressRange_v2");
    if p.is_null() {
        return None;
    }
    let f: F = unsafe { std::mem::transmute(p) };
    let (mut base, mut size) = (0u64, 0usize);
    (unsafe { f(&mut base, &mut size, ptr) } == 0).then_some(size as u64)
}

/// The device's current memory pool, where cuMemAllocAsync takes memory from.
pub fn device_mem_pool(device: i32) -> Option<u64> {
    type F = unsafe extern "C" fn(*mut u64, c_int) -> c_int;
    let p = driver_fn(&DEVICE_GET_MEM_POOL, c"cuDeviceGetMemPool");
    if p.is_null() {
        return None;
    }
    let f: F = unsafe { std::mem::transmute(p) };
    let mut pool: u64 = 0;
    (unsafe { f(&mut pool, device) } == 0 && pool != 0).then_some(pool)
}
