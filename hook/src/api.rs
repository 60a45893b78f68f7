//! The intercepted entry points.
//!
//! Each wrapped symbol exists twice: exported under its real name (symbol interposition, for
//! programs linked against libcuda/libcudart) forwarding to the next definition, and as a hidden
//! wrapper handed out by `dlsym` and `cuGetProcAddress` forwarding to the exact function the
//! library returned. Both share one recording body per API. [`entry`] finds a symbol's row by its
//! exact (versioned) name, which is all the `dlsym` and `cuGetProcAddress` hooks need.
//!
//! Return codes are raw integers: cudarc's `CUresult` is a Rust enum, and an unknown code stored
//! in one would be undefined behaviour. Every wrapper returns exactly what the real call returned.

#![allow(non_snake_case)]

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::sync::atomic::AtomicPtr;

use cudarc::driver::sys::{CUdeviceptr, CUstream};
use gpuleak_trace::{Api, NO_DEVICE};

use crate::guard::Guard;
use crate::record::{self, Call};

/// What a wrapper returns when the real function cannot be found at all: CUDA_ERROR_UNKNOWN and
/// cudaErrorUnknown are both 999.
const ERROR_UNKNOWN: c_uint = 999;
/// CUDA_ERROR_OUT_OF_MEMORY and cudaErrorMemoryAllocation.
const ERROR_OUT_OF_MEMORY: c_uint = 2;

pub struct Entry {
    /// Exact exported symbol name.
    pub name: &'static str,
    pub cname: &'static CStr,
    /// gpuleak's hidden wrapper that forwards to `resolved`.
    pub wrapper: *const c_void,
    /// The real function behind `wrapper`, set by the first dlsym/cuGetProcAddress that found it.
    pub resolved: &'static AtomicPtr<c_void>,
    /// The real function behind gpuleak's export of `name`: the next definition in the global
    /// scope.
    pub next: &'static AtomicPtr<c_void>,
}

// SAFETY: the raw pointers are addresses of functions, immutable for the life of the process.
unsafe impl Sync for Entry {}

pub fn entry(name: &[u8]) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.name.as_bytes() == name)
}

macro_rules! wrap {
    ($( $sym:ident => $body:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty ;)*) => {
        $(
            pub mod $sym {
                use super::*;
                pub type Real = unsafe extern "C" fn($($ty),*) -> $ret;
                pub static RESOLVED: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
                pub static NEXT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

                pub unsafe extern "C" fn wrapper($($arg: $ty),*) -> $ret {
                    let p = RESOLVED.load(std::sync::atomic::Ordering::Acquire);
                    if p.is_null() {
                        return ERROR_UNKNOWN as $ret;
                    }
                    // SAFETY: `p` is the real function of this exact name and signature.
                    unsafe { super::$body(std::mem::transmute::<*mut c_void, Real>(p), $($arg),*) }
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $sym($($arg: $ty),*) -> $ret {
                let p = crate::real::next(&TABLE[Sym::$sym as usize]);
                if p.is_null() {
                    return ERROR_UNKNOWN as $ret;
                }
                // SAFETY: the next definition of this symbol has this signature.
                unsafe { $body(std::mem::transmute::<*mut c_void, $sym::Real>(p), $($arg),*) }
            }
        )*

        #[derive(Clone, Copy)]
        #[repr(usize)]
        #[allow(non_camel_case_types)]
        enum Sym { $($sym),* }

        pub static TABLE: &[Entry] = &[
            $(Entry {
                name: stringify!($sym),
                cname: match CStr::from_bytes_with_nul(concat!(stringify!($sym), "\0").as_bytes()) {
                    Ok(c) => c,
                    Err(_) => panic!("symbol name with a NUL"),
                },
                wrapper: $sym::wrapper as *const c_void,
                resolved: &$sym::RESOLVED,
                next: &$sym::NEXT,
            }),*
        ];
    };
}

type VoidPP = *mut *mut c_void;

wrap! {
    cudaMalloc => rt_malloc(p: VoidPP, size: usize) -> c_uint;
    cudaFree => rt_free(p: *mut c_void) -> c_uint;
    cudaMallocAsync => rt_malloc_async(p: VoidPP, size: usize, s: CUstream) -> c_uint;
    cudaFreeAsync => rt_free_async(p: *mut c_void, s: CUstream) -> c_uint;
    cudaMallocManaged => rt_malloc_managed(p: VoidPP, size: usize, flags: c_uint) -> c_uint;
    cudaMallocPitch => rt_malloc_pitch(p: VoidPP, pitch: *mut usize, width: usize, height: usize) -> c_uint;
    cudaMallocHost => rt_malloc_host(p: VoidPP, size: usize) -> c_uint;
    cudaHostAlloc => rt_host_alloc(p: VoidPP, size: usize, flags: c_uint) -> c_uint;
    cudaFreeHost => rt_free_host(p: *mut c_void) -> c_uint;

    cuMemAlloc_v2 => cu_alloc(p: *mut CUdeviceptr, size: usize) -> c_uint;
    cuMemFree_v2 => cu_free(p: CUdeviceptr) -> c_uint;
    cuMemAllocAsync => cu_alloc_async(p: *mut CUdeviceptr, size: usize, s: CUstream) -> c_uint;
    cuMemAllocAsync_ptsz => cu_alloc_async(p: *mut CUdeviceptr, size: usize, s: CUstream) -> c_uint;
    cuMemFreeAsync => cu_free_async(p: CUdeviceptr, s: CUstream) -> c_uint;
    cuMemFreeAsync_ptsz => cu_free_async(p: CUdeviceptr, s: CUstream) -> c_uint;
    cuMemAllocManaged => cu_alloc_managed(p: *mut CUdeviceptr, size: usize, flags: c_uint) -> c_uint;
    cuMemAllocPitch_v2 => cu_alloc_pitch(p: *mut CUdeviceptr, pitch: *mut usize, width: usize, height: usize, elem: c_uint) -> c_uint;
    cuMemAllocHost_v2 => cu_alloc_host(p: VoidPP, size: usize) -> c_uint;
    cuMemHostAlloc => cu_host_alloc(p: VoidPP, size: usize, flags: c_uint) -> c_uint;
    cuMemFreeHost => cu_free_host(p: *mut c_void) -> c_uint;

    cuGetProcAddress => get_proc_address(symbol: *const c_char, pfn: VoidPP, version: c_int, flags: u64) -> c_uint;
    cuGetProcAddress_v2 => get_proc_address_v2(symbol: *const c_char, pfn: VoidPP, version: c_int, flags: u64, status: *mut c_int) -> c_uint;
}

/// Reads the address an allocation call wrote, only when it succeeded.
unsafe fn out<T: Copy + Into<u64>>(r: c_uint, p: *mut T) -> u64 {
    if r == 0 && !p.is_null() {
        // SAFETY: the call succeeded, so it wrote its out-parameter.
        unsafe { (*p).into() }
    } else {
        0
    }
}

unsafe fn out_ptr(r: c_uint, p: VoidPP) -> u64 {
    if r == 0 && !p.is_null() {
        unsafe { *p as u64 }
    } else {
        0
    }
}

/// After an allocation: the event, with the device and, for an out-of-memory failure, the
/// device's free/total memory. Queried outside any gpuleak lock, and only on the outermost call.
fn alloc_event(api: Api, r: c_uint, address: u64, size: u64, stream: CUstream, device: bool) {
    let mem_info = (r == ERROR_OUT_OF_MEMORY && device)
        .then(crate::real::mem_info)
        .flatten();
    let device = if device {
        crate::real::current_device().unwrap_or(NO_DEVICE)
    } else {
        NO_DEVICE
    };
    record::event(Call {
        api,
        result: r,
        address,
        size,
        stream: stream as u64,
        device,
        mem_info,
    });
}

fn free_event(api: Api, r: c_uint, address: u64, stream: CUstream) {
    // Freeing NULL is a no-op every program does (`cudaFree(0)` initialises the runtime).
    if address == 0 {
        return;
    }
    record::event(Call {
        api,
        result: r,
        address,
        size: 0,
        stream: stream as u64,
        device: NO_DEVICE,
        mem_info: None,
    });
}

macro_rules! alloc_body {
    ($api:expr, $real:expr, $call:expr, $addr:expr, $size:expr, $stream:expr, $device:expr) => {{
        let g = Guard::enter();
        let r = $call;
        if g.outer() {
            let (address, size): (u64, u64) = ($addr(r), $size(r));
            record::guarded(|| alloc_event($api, r, address, size, $stream, $device));
        }
        r
    }};
}

macro_rules! free_body {
    ($api:expr, $call:expr, $addr:expr, $stream:expr) => {{
        let g = Guard::enter();
        let r = $call;
        if g.outer() {
            record::guarded(|| free_event($api, r, $addr, $stream));
        }
        r
    }};
}

const NO_STREAM: CUstream = std::ptr::null_mut();

unsafe fn rt_malloc(real: cudaMalloc::Real, p: VoidPP, size: usize) -> c_uint {
    alloc_body!(
        Api::CudaMalloc,
        real,
        unsafe { real(p, size) },
        |r| unsafe { out_ptr(r, p) },
        |_| size as u64,
        NO_STREAM,
        true
    )
}

unsafe fn rt_free(real: cudaFree::Real, p: *mut c_void) -> c_uint {
    free_body!(Api::CudaFree, unsafe { real(p) }, p as u64, NO_STREAM)
}

unsafe fn rt_malloc_async(
    real: cudaMallocAsync::Real,
    p: VoidPP,
    size: usize,
    s: CUstream,
) -> c_uint {
    alloc_body!(
        Api::CudaMallocAsync,
        real,
        unsafe { real(p, size, s) },
        |r| unsafe { out_ptr(r, p) },
        |_| size as u64,
        s,
        true
    )
}

unsafe fn rt_free_async(real: cudaFreeAsync::Real, p: *mut c_void, s: CUstream) -> c_uint {
    free_body!(Api::CudaFreeAsync, unsafe { real(p, s) }, p as u64, s)
}

unsafe fn rt_malloc_managed(
    real: cudaMallocManaged::Real,
    p: VoidPP,
    size: usize,
    flags: c_uint,
) -> c_uint {
    alloc_body!(
        Api::CudaMallocManaged,
        real,
        unsafe { real(p, size, flags) },
        |r| unsafe { out_ptr(r, p) },
        |_| size as u64,
        NO_STREAM,
        true
    )
}

/// Pitched allocations take pitch x height bytes; the pitch is known only after the call.
unsafe fn pitched(r: c_uint, pitch: *mut usize, width: usize, height: usize) -> u64 {
    let row = if r == 0 && !pitch.is_null() {
        unsafe { *pitch }
    } else {
        width
    };
    (row as u64).saturating_mul(height as u64)
}

unsafe fn rt_malloc_pitch(
    real: cudaMallocPitch::Real,
    p: VoidPP,
    pitch: *mut usize,
    width: usize,
    height: usize,
) -> c_uint {
    alloc_body!(
        Api::CudaMallocPitch,
        real,
        unsafe { real(p, pitch, width, height) },
        |r| unsafe { out_ptr(r, p) },
        |r| unsafe { pitched(r, pitch, width, height) },
        NO_STREAM,
        true
    )
}

unsafe fn rt_malloc_host(real: cudaMallocHost::Real, p: VoidPP, size: usize) -> c_uint {
    alloc_body!(
        Api::CudaMallocHost,
        real,
        unsafe { real(p, size) },
        |r| unsafe { out_ptr(r, p) },
        |_| size as u64,
        NO_STREAM,
        false
    )
}

unsafe fn rt_host_alloc(
    real: cudaHostAlloc::Real,
    p: VoidPP,
    size: usize,
    flags: c_uint,
) -> c_uint {
    alloc_body!(
        Api::CudaHostAlloc,
        real,
        unsafe { real(p, size, flags) },
        |r| unsafe { out_ptr(r, p) },
        |_| size as u64,
        NO_STREAM,
        false
    )
}

unsafe fn rt_free_host(real: cudaFreeHost::Real, p: *mut c_void) -> c_uint {
    free_body!(Api::CudaFreeHost, unsafe { real(p) }, p as u64, NO_STREAM)
}

unsafe fn cu_alloc(real: cuMemAlloc_v2::Real, p: *mut CUdeviceptr, size: usize) -> c_uint {
    alloc_body!(
        Api::CuMemAlloc,
        real,
        unsafe { real(p, size) },
        |r| unsafe { out(r, p) },
        |_| size as u64,
        NO_STREAM,
        true
    )
}

unsafe fn cu_free(real: cuMemFree_v2::Real, p: CUdeviceptr) -> c_uint {
    free_body!(Api::CuMemFree, unsafe { real(p) }, p, NO_STREAM)
}

unsafe fn cu_alloc_async(
    real: cuMemAllocAsync::Real,
    p: *mut CUdeviceptr,
    size: usize,
    s: CUstream,
) -> c_uint {
    alloc_body!(
        Api::CuMemAllocAsync,
        real,
        unsafe { real(p, size, s) },
        |r| unsafe { out(r, p) },
        |_| size as u64,
        s,
        true
    )
}

unsafe fn cu_free_async(real: cuMemFreeAsync::Real, p: CUdeviceptr, s: CUstream) -> c_uint {
    free_body!(Api::CuMemFreeAsync, unsafe { real(p, s) }, p, s)
}

unsafe fn cu_alloc_managed(
    real: cuMemAllocManaged::Real,
    p: *mut CUdeviceptr,
    size: usize,
    flags: c_uint,
) -> c_uint {
    alloc_body!(
        Api::CuMemAllocManaged,
        real,
        unsafe { real(p, size, flags) },
        |r| unsafe { out(r, p) },
        |_| size as u64,
        NO_STREAM,
        true
    )
}

unsafe fn cu_alloc_pitch(
    real: cuMemAllocPitch_v2::Real,
    p: *mut CUdeviceptr,
    pitch: *mut usize,
    width: usize,
    height: usize,
    elem: c_uint,
) -> c_uint {
    alloc_body!(
        Api::CuMemAllocPitch,
        real,
        unsafe { real(p, pitch, width, height, elem) },
        |r| unsafe { out(r, p) },
        |r| unsafe { pitched(r, pitch, width, height) },
        NO_STREAM,
        true
    )
}

unsafe fn cu_alloc_host(real: cuMemAllocHost_v2::Real, p: VoidPP, size: usize) -> c_uint {
    alloc_body!(
        Api::CuMemAllocHost,
        real,
        unsafe { real(p, size) },
        |r| unsafe { out_ptr(r, p) },
        |_| size as u64,
        NO_STREAM,
        false
    )
}

unsafe fn cu_host_alloc(
    real: cuMemHostAlloc::Real,
    p: VoidPP,
    size: usize,
    flags: c_uint,
) -> c_uint {
    alloc_body!(
        Api::CuMemHostAlloc,
        real,
        unsafe { real(p, size, flags) },
        |r| unsafe { out_ptr(r, p) },
        |_| size as u64,
        NO_STREAM,
        false
    )
}

unsafe fn cu_free_host(real: cuMemFreeHost::Real, p: *mut c_void) -> c_uint {
    free_body!(Api::CuMemFreeHost, unsafe { real(p) }, p as u64, NO_STREAM)
}

/// `cuGetProcAddress`: the CUDA runtime (shared or static) takes every driver function this
/// way. The real call runs first with identical arguments; then, when the driver handed out a
/// function gpuleak wraps, the program gets the wrapper of that exact variant (`_v2`, `_ptsz`),
/// named by `dladdr`.
unsafe fn get_proc_address(
    real: cuGetProcAddress::Real,
    symbol: *const c_char,
    pfn: VoidPP,
    version: c_int,
    flags: u64,
) -> c_uint {
    let r = unsafe { real(symbol, pfn, version, flags) };
    unsafe { swap_in_wrapper(r, pfn) };
    r
}

unsafe fn get_proc_address_v2(
    real: cuGetProcAddress_v2::Real,
    symbol: *const c_char,
    pfn: VoidPP,
    version: c_int,
    flags: u64,
    status: *mut c_int,
) -> c_uint {
    let r = unsafe { real(symbol, pfn, version, flags, status) };
    unsafe { swap_in_wrapper(r, pfn) };
    r
}

unsafe fn swap_in_wrapper(r: c_uint, pfn: VoidPP) {
    if r != 0 || pfn.is_null() {
        return;
    }
    let found = unsafe { *pfn };
    if found.is_null() {
        return;
    }
    let Some(name) = crate::real::symbol_name(found) else {
        return;
    };
    if let Some(e) = entry(name) {
        let chosen = crate::real::substitute(e, found, false);
        unsafe { *pfn = chosen };
    }
}

/// Lets a program mark iteration boundaries: looked up with `dlsym(RTLD_DEFAULT,
/// "gpuleak_mark_iteration")` so that it runs unchanged without gpuleak. `label` may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gpuleak_mark_iteration(label: *const c_char) {
    let label = (!label.is_null()).then(|| {
        unsafe { CStr::from_ptr(label) }
            .to_string_lossy()
            .into_owned()
    });
    let g = Guard::enter();
    if g.outer() {
        record::guarded(|| record::marker(label));
    }
}
