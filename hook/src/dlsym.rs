//! gpuleak's `dlsym`.
//!
//! gpuleak exports its own `dlsym` so that callers which `dlopen` libcuda/libcudart and look up
//! functions by name (cudarc, ctypes, XLA) get wrappers. What makes that delicate: glibc decides
//! what `RTLD_NEXT` means from the caller's return address. A hook that calls the real `dlsym`
//! from Rust makes another preload's `dlsym(RTLD_NEXT, ..)` look like gpuleak's own and resolve
//! to the wrong object (skipping gpuleak, or looping into the other preload). So `dlsym` is a
//! naked trampoline: `RTLD_NEXT` lookups jump straight into the real `dlsym` with the caller's
//! return address untouched; gpuleak never substitutes those.

use std::ffi::{CStr, c_char, c_void};

use crate::api::table;
use crate::resolve::{library_of, real_dlsym, substitute};

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
        real = sym crate::resolve::REAL_DLSYM,
        init = sym crate::resolve::init_real_dlsym,
    )
}

/// Elsewhere a tail call cannot be guaranteed, so `RTLD_NEXT` seen from another preload may
/// resolve as if asked by gpuleak; the platforms gpuleak targets are x86-64.
#[cfg(not(target_arch = "x86_64"))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    if handle == libc::RTLD_NEXT {
        // SAFETY: glibc's dlsym, with the caller's own arguments.
        return unsafe { real_dlsym()(handle, name) };
    }
    // SAFETY: the caller's own arguments; no caller address is known here.
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
    let Some(entry) = table::entry(name) else {
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
