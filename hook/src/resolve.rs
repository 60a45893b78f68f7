//! Finding the real functions: glibc's own `dlsym`, the next definition of an interposed
//! symbol, and what the program gets instead of a wrapped function it looked up.
//!
//! Rust's std and libc call `dlsym` themselves, possibly before anything is initialised, so the
//! real one is found with `dlvsym`, which gpuleak does not hook.

use std::ffi::{CStr, c_char, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::entry::Entry;

type DlsymFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;

/// Read by the trampoline, so it must stay a plain pointer-sized static.
pub static REAL_DLSYM: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

pub extern "C" fn init_real_dlsym() -> *mut c_void {
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
        // SAFETY: abort has no preconditions.
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

/// Given the real address of a wrapped function, what the program should get instead.
pub fn substitute(entry: &'static Entry, found: *mut c_void, default_scope: bool) -> *mut c_void {
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
pub fn library_of(p: *mut c_void) -> Option<&'static [u8]> {
    // SAFETY: `Dl_info` is plain data, valid all zeros.
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
    // SAFETY: `Dl_info` is plain data, valid all zeros.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the address.
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
pub fn next(entry: &Entry) -> *mut c_void {
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
        // SAFETY: a handle from dlopen and a NUL-terminated name.
        let p = unsafe { real_dlsym()(h, name.as_ptr()) };
        // Balances the reference RTLD_NOLOAD took; the program's own keeps the library loaded.
        // SAFETY: the handle RTLD_NOLOAD just returned.
        unsafe { libc::dlclose(h) };
        if !p.is_null() && !crate::unwind::is_own(p as u64) {
            return p;
        }
    }
    std::ptr::null_mut()
}
