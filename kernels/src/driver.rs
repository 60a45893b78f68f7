//! Loading the CUDA libraries ourselves before cudarc does (cudarc panics when one is missing),
//! and the two symbols the sampler looks up: the fake driver's launch counter and the hook's
//! iteration mark.

use std::ffi::{CStr, c_char, c_void};

/// A symbol only the fake driver exports (tests/fake-cuda/fake_cuda.c): the launch counter.
const FAKE_MARKER: &CStr = c"fakeCudaLaunchCount";
/// dlopen of the first library name that loads, kept loaded; `None` when none does.
fn dlopen_any(names: &[String], flags: i32) -> Option<*mut c_void> {
    names.iter().find_map(|name| {
        let c = std::ffi::CString::new(name.as_str()).ok()?;
        // SAFETY: dlopen with a NUL-terminated name; the handle is only used for dlsym.
        let h = unsafe { libc::dlopen(c.as_ptr(), flags) };
        (!h.is_null()).then_some(h)
    })
}

/// Whether a CUDA driver library can be loaded at all. cudarc panics when it cannot, so this is
/// asked first, to fail in one line instead.
pub fn driver_loadable() -> bool {
    dlopen_any(
        &cudarc::get_lib_name_candidates("cuda"),
        libc::RTLD_LAZY | libc::RTLD_LOCAL,
    )
    .is_some()
}

/// Whether NVRTC can be loaded (asked before cudarc tries, for the same reason).
pub(crate) fn nvrtc_loadable() -> bool {
    dlopen_any(
        &cudarc::get_lib_name_candidates("nvrtc"),
        libc::RTLD_LAZY | libc::RTLD_LOCAL,
    )
    .is_some()
}

/// The fake driver's launch counter, when the loaded libcuda is gpuleak's fake driver. The
/// device name alone could be faked by accident; the marker symbol cannot.
pub(crate) fn fake_launch_counter() -> Option<extern "C" fn() -> u64> {
    let names = cudarc::get_lib_name_candidates("cuda");
    // RTLD_NOLOAD: only the library cudarc already loaded, never a second one.
    let h = dlopen_any(&names, libc::RTLD_LAZY | libc::RTLD_NOLOAD)?;
    // SAFETY: dlsym on a live handle with a NUL-terminated name.
    let p = unsafe { libc::dlsym(h, FAKE_MARKER.as_ptr()) };
    // SAFETY: the fake exports `unsigned long long fakeCudaLaunchCount(void)`.
    (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, extern "C" fn() -> u64>(p) })
}

pub(crate) type MarkFn = extern "C" fn(*const c_char);

/// `gpuleak_mark_iteration`, when the process has it (the hook is preloaded).
pub(crate) fn find_mark() -> Option<MarkFn> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"gpuleak_mark_iteration".as_ptr()) };
    // SAFETY: the hook exports `void gpuleak_mark_iteration(const char *)`.
    (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, MarkFn>(p) })
}
