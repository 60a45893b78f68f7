//! What every wrapper body shares: return codes, out-parameter reads, and the shape of an
//! allocating or freeing call (`alloc_body!`, `free_body!`).

use std::ffi::{c_int, c_uint, c_void};

use cudarc::driver::sys::CUstream;

/// What a wrapper returns when the real function cannot be found at all: CUDA_ERROR_UNKNOWN and
/// cudaErrorUnknown are both 999.
pub const ERROR_UNKNOWN: c_uint = 999;
/// CUDA_ERROR_OUT_OF_MEMORY and cudaErrorMemoryAllocation.
pub const ERROR_OUT_OF_MEMORY: c_uint = 2;

pub type VoidPP = *mut *mut c_void;

/// Reads the address an allocation call wrote, only when it succeeded.
pub unsafe fn out<T: Copy + Into<u64>>(r: c_uint, p: *mut T) -> u64 {
    if r == 0 && !p.is_null() {
        // SAFETY: the call succeeded, so it wrote its out-parameter.
        unsafe { (*p).into() }
    } else {
        0
    }
}

pub unsafe fn out_ptr(r: c_uint, p: VoidPP) -> u64 {
    if r == 0 && !p.is_null() {
        // SAFETY: the call succeeded, so it wrote the pointer `p` points to.
        unsafe { *p as u64 }
    } else {
        0
    }
}

pub const NO_STREAM: CUstream = std::ptr::null_mut();

/// Pitched allocations take pitch x height bytes; the pitch is known only after the call.
pub unsafe fn pitched(r: c_uint, pitch: *mut usize, width: usize, height: usize) -> u64 {
    let row = if r == 0 && !pitch.is_null() {
        // SAFETY: the call succeeded, so it wrote the pitch.
        unsafe { *pitch }
    } else {
        width
    };
    (row as u64).saturating_mul(height as u64)
}

pub unsafe fn out_handle<T>(r: c_uint, h: *mut *mut T) -> u64 {
    if r == 0 && !h.is_null() {
        // SAFETY: the call succeeded, so it wrote the handle.
        unsafe { *h as u64 }
    } else {
        0
    }
}

pub const CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: c_int = 4;
pub const CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT: c_int = 5;

macro_rules! alloc_body {
    ($api:expr, $real:expr, $call:expr, $addr:expr, $size:expr, $stream:expr, $device:expr) => {{
        let g = Guard::enter();
        let r = $call;
        if g.outer() {
            let (address, size): (u64, u64) = ($addr(r), $size(r));
            // After any free of this address still being recorded (`order`).
            let _order = crate::order::fence(address);
            record::guarded(|| alloc_event($api, r, address, size, $stream, $device));
        }
        r
    }};
}

macro_rules! free_body {
    ($api:expr, $call:expr, $addr:expr, $stream:expr) => {{
        let g = Guard::enter();
        // Held from before the real free until its event is recorded (`order`).
        let _order = g.outer().then(|| crate::order::fence($addr));
        let r = $call;
        if g.outer() {
            record::guarded(|| free_event($api, r, $addr, $stream));
        }
        r
    }};
}
