//! Allocations and frees, runtime and driver, device, managed, pinned host and pooled.
//!
//! SAFETY (every `unsafe` block in this file): a body is called by its wrapper in `table` with
//! `real`, the real function of that name, whose signature the table states, and the program's
//! own arguments unchanged: calling `real` with them is the call the program made. Out-parameters
//! (`out`, `out_ptr`, `out_handle`, `pitched`) are read only when the call returned success, so
//! the driver wrote them; descriptors and parameter structs the program passed are read through
//! `as_ref` (null checked), as the real call itself reads them.

use std::ffi::{c_int, c_uint, c_void};

use cudarc::driver::sys::{CUdeviceptr, CUmemoryPool, CUstream};
use gpuleak_trace::{Api, NO_DEVICE};

use crate::api::common::{
    CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, NO_STREAM, VoidPP,
    out, out_ptr, pitched,
};
use crate::api::events::{alloc_event, async_alloc_event, control_event, free_event};
use crate::guard::Guard;
use crate::record::{self, Call};

#[inline(always)]
pub unsafe fn rt_malloc(
    real: unsafe extern "C" fn(VoidPP, usize) -> c_uint,
    p: VoidPP,
    size: usize,
) -> c_uint {
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

#[inline(always)]
pub unsafe fn rt_free(real: unsafe extern "C" fn(*mut c_void) -> c_uint, p: *mut c_void) -> c_uint {
    free_body!(Api::CudaFree, unsafe { real(p) }, p as u64, NO_STREAM)
}

#[inline(always)]
pub unsafe fn rt_malloc_async(
    real: unsafe extern "C" fn(VoidPP, usize, CUstream) -> c_uint,
    p: VoidPP,
    size: usize,
    s: CUstream,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(p, size, s) };
    if g.outer() {
        let a = unsafe { out_ptr(r, p) };
        let _order = crate::order::fence(a);
        record::guarded(|| async_alloc_event(Api::CudaMallocAsync, r, a, size as u64, s, None));
    }
    r
}

#[inline(always)]
pub unsafe fn rt_free_async(
    real: unsafe extern "C" fn(*mut c_void, CUstream) -> c_uint,
    p: *mut c_void,
    s: CUstream,
) -> c_uint {
    free_body!(Api::CudaFreeAsync, unsafe { real(p, s) }, p as u64, s)
}

#[inline(always)]
pub unsafe fn rt_malloc_managed(
    real: unsafe extern "C" fn(VoidPP, usize, c_uint) -> c_uint,
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

#[inline(always)]
pub unsafe fn rt_malloc_pitch(
    real: unsafe extern "C" fn(VoidPP, *mut usize, usize, usize) -> c_uint,
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

#[inline(always)]
pub unsafe fn rt_malloc_host(
    real: unsafe extern "C" fn(VoidPP, usize) -> c_uint,
    p: VoidPP,
    size: usize,
) -> c_uint {
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

#[inline(always)]
pub unsafe fn rt_host_alloc(
    real: unsafe extern "C" fn(VoidPP, usize, c_uint) -> c_uint,
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

#[inline(always)]
pub unsafe fn rt_free_host(
    real: unsafe extern "C" fn(*mut c_void) -> c_uint,
    p: *mut c_void,
) -> c_uint {
    free_body!(Api::CudaFreeHost, unsafe { real(p) }, p as u64, NO_STREAM)
}

#[inline(always)]
pub unsafe fn cu_alloc(
    real: unsafe extern "C" fn(*mut CUdeviceptr, usize) -> c_uint,
    p: *mut CUdeviceptr,
    size: usize,
) -> c_uint {
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

#[inline(always)]
pub unsafe fn cu_free(real: unsafe extern "C" fn(CUdeviceptr) -> c_uint, p: CUdeviceptr) -> c_uint {
    free_body!(Api::CuMemFree, unsafe { real(p) }, p, NO_STREAM)
}

#[inline(always)]
pub unsafe fn cu_alloc_async(
    real: unsafe extern "C" fn(*mut CUdeviceptr, usize, CUstream) -> c_uint,
    p: *mut CUdeviceptr,
    size: usize,
    s: CUstream,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(p, size, s) };
    if g.outer() {
        let a = unsafe { out(r, p) };
        let _order = crate::order::fence(a);
        record::guarded(|| async_alloc_event(Api::CuMemAllocAsync, r, a, size as u64, s, None));
    }
    r
}

#[inline(always)]
pub unsafe fn cu_free_async(
    real: unsafe extern "C" fn(CUdeviceptr, CUstream) -> c_uint,
    p: CUdeviceptr,
    s: CUstream,
) -> c_uint {
    free_body!(Api::CuMemFreeAsync, unsafe { real(p, s) }, p, s)
}

#[inline(always)]
pub unsafe fn cu_alloc_managed(
    real: unsafe extern "C" fn(*mut CUdeviceptr, usize, c_uint) -> c_uint,
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

#[inline(always)]
pub unsafe fn cu_alloc_pitch(
    real: unsafe extern "C" fn(*mut CUdeviceptr, *mut usize, usize, usize, c_uint) -> c_uint,
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

#[inline(always)]
pub unsafe fn cu_alloc_host(
    real: unsafe extern "C" fn(VoidPP, usize) -> c_uint,
    p: VoidPP,
    size: usize,
) -> c_uint {
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

#[inline(always)]
pub unsafe fn cu_host_alloc(
    real: unsafe extern "C" fn(VoidPP, usize, c_uint) -> c_uint,
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

#[inline(always)]
pub unsafe fn cu_free_host(
    real: unsafe extern "C" fn(*mut c_void) -> c_uint,
    p: *mut c_void,
) -> c_uint {
    free_body!(Api::CuMemFreeHost, unsafe { real(p) }, p as u64, NO_STREAM)
}

#[inline(always)]
pub unsafe fn cu_alloc_from_pool(
    real: unsafe extern "C" fn(*mut CUdeviceptr, usize, CUmemoryPool, CUstream) -> c_uint,
    p: *mut CUdeviceptr,
    size: usize,
    pool: CUmemoryPool,
    s: CUstream,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(p, size, pool, s) };
    if g.outer() {
        let a = unsafe { out(r, p) };
        let _order = crate::order::fence(a);
        record::guarded(|| {
            async_alloc_event(
                Api::CuMemAllocFromPoolAsync,
                r,
                a,
                size as u64,
                s,
                Some(pool as u64),
            )
        });
    }
    r
}

#[inline(always)]
pub unsafe fn cu_pool_trim(
    real: unsafe extern "C" fn(CUmemoryPool, usize) -> c_uint,
    pool: CUmemoryPool,
    keep: usize,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(pool, keep) };
    if g.outer() {
        record::guarded(|| {
            let pool_reserved =
                crate::query::pool_attribute(pool as u64, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT);
            record::event(Call {
                api: Api::CuMemPoolTrimTo,
                result: r,
                address: pool as u64,
                size: keep as u64,
                stream: 0,
                device: NO_DEVICE,
                mem_info: None,
                aux: 0,
                pool_reserved,
            });
        });
    }
    r
}

#[inline(always)]
pub unsafe fn cu_pool_set_attribute(
    real: unsafe extern "C" fn(CUmemoryPool, c_int, *mut c_void) -> c_uint,
    pool: CUmemoryPool,
    attr: c_int,
    value: *mut c_void,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(pool, attr, value) };
    if g.outer() && attr == CU_MEMPOOL_ATTR_RELEASE_THRESHOLD && !value.is_null() {
        // SAFETY: the release threshold is a cuuint64_t.
        let threshold = unsafe { *(value as *const u64) };
        record::guarded(|| {
            control_event(
                Api::CuMemPoolSetAttribute,
                r,
                pool as u64,
                threshold,
                NO_DEVICE,
                0,
            )
        });
    }
    r
}
