//! Kernel and graph launches (hints for finding iterations) and marks the program makes.
//!
//! SAFETY (every `unsafe` block in this file): a body is called by its wrapper in `table` with
//! `real`, the real function of that name, whose signature the table states, and the program's
//! own arguments unchanged: calling `real` with them is the call the program made. Out-parameters
//! (`out`, `out_ptr`, `out_handle`, `pitched`) are read only when the call returned success, so
//! the driver wrote them; descriptors and parameter structs the program passed are read through
//! `as_ref` (null checked), as the real call itself reads them.

use std::ffi::{CStr, c_char, c_uint, c_void};

use cudarc::driver::sys::{CUgraphExec, CUstream};
use gpuleak_trace::LaunchApi;

use crate::api::common::VoidPP;
use crate::guard::Guard;
use crate::layout::{Dim3, LaunchConfig};
use crate::record::{self};

/// Kernel launches are counted (function and stream, no stack): the sequence of launched
/// functions repeats every step, which is how iterations are found in a program that marks none.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub unsafe fn cu_launch(
    real: unsafe extern "C" fn(
        *mut c_void,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        c_uint,
        CUstream,
        VoidPP,
        VoidPP,
    ) -> c_uint,
    f: *mut c_void,
    gx: c_uint,
    gy: c_uint,
    gz: c_uint,
    bx: c_uint,
    by: c_uint,
    bz: c_uint,
    shmem: c_uint,
    s: CUstream,
    params: VoidPP,
    extra: VoidPP,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(f, gx, gy, gz, bx, by, bz, shmem, s, params, extra) };
    if g.outer() && r == 0 {
        record::guarded(|| record::launch(LaunchApi::CuLaunchKernel, f as u64, s as u64));
    }
    r
}

#[inline(always)]
pub unsafe fn cu_launch_ex(
    real: unsafe extern "C" fn(*const LaunchConfig, *mut c_void, VoidPP, VoidPP) -> c_uint,
    config: *const LaunchConfig,
    f: *mut c_void,
    params: VoidPP,
    extra: VoidPP,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(config, f, params, extra) };
    if g.outer() && r == 0 {
        let stream = unsafe { config.as_ref() }.map_or(0, |c| c.stream as u64);
        record::guarded(|| record::launch(LaunchApi::CuLaunchKernelEx, f as u64, stream));
    }
    r
}

#[inline(always)]
pub unsafe fn rt_launch(
    real: unsafe extern "C" fn(*const c_void, Dim3, Dim3, VoidPP, usize, CUstream) -> c_uint,
    func: *const c_void,
    grid: Dim3,
    block: Dim3,
    args: VoidPP,
    shmem: usize,
    s: CUstream,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(func, grid, block, args, shmem, s) };
    if g.outer() && r == 0 {
        record::guarded(|| record::launch(LaunchApi::CudaLaunchKernel, func as u64, s as u64));
    }
    r
}

/// A graph replays a whole step's kernels inside the driver, so in a program whose steps are
/// captured graphs (torch.compile "reduce-overhead") the graph launch is the only launch a step
/// makes; its executable graph stands where a kernel's function would.
#[inline(always)]
pub unsafe fn cu_graph_launch(
    real: unsafe extern "C" fn(CUgraphExec, CUstream) -> c_uint,
    exec: CUgraphExec,
    s: CUstream,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(exec, s) };
    if g.outer() && r == 0 {
        record::guarded(|| record::launch(LaunchApi::CuGraphLaunch, exec as u64, s as u64));
    }
    r
}

/// `cudaGraphExec_t` is the driver's `CUgraphExec`, so both APIs name a graph the same way.
#[inline(always)]
pub unsafe fn rt_graph_launch(
    real: unsafe extern "C" fn(CUgraphExec, CUstream) -> c_uint,
    exec: CUgraphExec,
    s: CUstream,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(exec, s) };
    if g.outer() && r == 0 {
        record::guarded(|| record::launch(LaunchApi::CudaGraphLaunch, exec as u64, s as u64));
    }
    r
}

/// Lets a program mark iteration boundaries: looked up with `dlsym(RTLD_DEFAULT,
/// "gpuleak_mark_iteration")` so that it runs unchanged without gpuleak. `label` may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gpuleak_mark_iteration(label: *const c_char) {
    let label = (!label.is_null()).then(|| {
        // SAFETY: a non-null label is a NUL-terminated string (the function's contract).
        unsafe { CStr::from_ptr(label) }
            .to_string_lossy()
            .into_owned()
    });
    let g = Guard::enter();
    if g.outer() {
        record::guarded(|| record::marker(label));
    }
}
