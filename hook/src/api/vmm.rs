//! Virtual memory management (physical handles, mappings, reserved ranges), registered host
//! memory, and memory shared between processes (IPC handles, imported handles).
//!
//! SAFETY (every `unsafe` block in this file): a body is called by its wrapper in `table` with
//! `real`, the real function of that name, whose signature the table states, and the program's
//! own arguments unchanged: calling `real` with them is the call the program made. Out-parameters
//! (`out`, `out_ptr`, `out_handle`, `pitched`) are read only when the call returned success, so
//! the driver wrote them; descriptors and parameter structs the program passed are read through
//! `as_ref` (null checked), as the real call itself reads them.

use std::ffi::{c_int, c_uint, c_void};

use cudarc::driver::sys::{CUdeviceptr, CUipcMemHandle};
use gpuleak_trace::Api;

use crate::api::common::{NO_STREAM, out};
use crate::api::events::{alloc_event, alloc_event_aux, free_event, free_event_sized};
use crate::guard::Guard;
use crate::record::{self};

#[inline(always)]
pub unsafe fn cu_create(
    real: unsafe extern "C" fn(*mut u64, usize, *const c_void, u64) -> c_uint,
    handle: *mut u64,
    size: usize,
    prop: *const c_void,
    flags: u64,
) -> c_uint {
    alloc_body!(
        Api::CuMemCreate,
        real,
        unsafe { real(handle, size, prop, flags) },
        |r| unsafe { out(r, handle) },
        |_| size as u64,
        NO_STREAM,
        true
    )
}

#[inline(always)]
pub unsafe fn cu_release(real: unsafe extern "C" fn(u64) -> c_uint, handle: u64) -> c_uint {
    free_body!(
        Api::CuMemRelease,
        unsafe { real(handle) },
        handle,
        NO_STREAM
    )
}

#[inline(always)]
pub unsafe fn cu_map(
    real: unsafe extern "C" fn(CUdeviceptr, usize, usize, u64, u64) -> c_uint,
    ptr: CUdeviceptr,
    size: usize,
    offset: usize,
    handle: u64,
    flags: u64,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(ptr, size, offset, handle, flags) };
    if g.outer() {
        let a = if r == 0 { ptr } else { 0 };
        record::guarded(|| {
            alloc_event_aux(Api::CuMemMap, r, a, size as u64, NO_STREAM, true, handle)
        });
    }
    r
}

#[inline(always)]
pub unsafe fn cu_unmap(
    real: unsafe extern "C" fn(CUdeviceptr, usize) -> c_uint,
    ptr: CUdeviceptr,
    size: usize,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(ptr, size) };
    if g.outer() {
        record::guarded(|| free_event_sized(Api::CuMemUnmap, r, ptr, size as u64, NO_STREAM));
    }
    r
}

#[inline(always)]
pub unsafe fn cu_reserve(
    real: unsafe extern "C" fn(*mut CUdeviceptr, usize, usize, CUdeviceptr, u64) -> c_uint,
    p: *mut CUdeviceptr,
    size: usize,
    align: usize,
    addr: CUdeviceptr,
    flags: u64,
) -> c_uint {
    alloc_body!(
        Api::CuMemAddressReserve,
        real,
        unsafe { real(p, size, align, addr, flags) },
        |r| unsafe { out(r, p) },
        |_| size as u64,
        NO_STREAM,
        false
    )
}

#[inline(always)]
pub unsafe fn cu_address_free(
    real: unsafe extern "C" fn(CUdeviceptr, usize) -> c_uint,
    ptr: CUdeviceptr,
    size: usize,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(ptr, size) };
    if g.outer() {
        record::guarded(|| free_event_sized(Api::CuMemAddressFree, r, ptr, size as u64, NO_STREAM));
    }
    r
}

#[inline(always)]
pub unsafe fn cu_host_register(
    real: unsafe extern "C" fn(*mut c_void, usize, c_uint) -> c_uint,
    p: *mut c_void,
    size: usize,
    flags: c_uint,
) -> c_uint {
    alloc_body!(
        Api::CuMemHostRegister,
        real,
        unsafe { real(p, size, flags) },
        |r| if r == 0 { p as u64 } else { 0 },
        |_| size as u64,
        NO_STREAM,
        false
    )
}

#[inline(always)]
pub unsafe fn cu_host_unregister(
    real: unsafe extern "C" fn(*mut c_void) -> c_uint,
    p: *mut c_void,
) -> c_uint {
    free_body!(
        Api::CuMemHostUnregister,
        unsafe { real(p) },
        p as u64,
        NO_STREAM
    )
}

#[inline(always)]
pub unsafe fn cu_ipc_open(
    real: unsafe extern "C" fn(*mut CUdeviceptr, CUipcMemHandle, c_uint) -> c_uint,
    p: *mut CUdeviceptr,
    handle: CUipcMemHandle,
    flags: c_uint,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(p, handle, flags) };
    if g.outer() {
        let a = unsafe { out(r, p) };
        record::guarded(|| {
            // The handle does not say how big the memory is; the driver does.
            let size = if a != 0 {
                crate::query::address_range(a).unwrap_or(0)
            } else {
                0
            };
            alloc_event(Api::CuIpcOpenMemHandle, r, a, size, NO_STREAM, true)
        });
    }
    r
}

#[inline(always)]
pub unsafe fn cu_ipc_close(
    real: unsafe extern "C" fn(CUdeviceptr) -> c_uint,
    ptr: CUdeviceptr,
) -> c_uint {
    free_body!(
        Api::CuIpcCloseMemHandle,
        unsafe { real(ptr) },
        ptr,
        NO_STREAM
    )
}

#[inline(always)]
pub unsafe fn cu_import(
    real: unsafe extern "C" fn(*mut u64, *mut c_void, c_int) -> c_uint,
    handle: *mut u64,
    os_handle: *mut c_void,
    kind: c_int,
) -> c_uint {
    alloc_body!(
        Api::CuMemImportFromShareableHandle,
        real,
        unsafe { real(handle, os_handle, kind) },
        |r| unsafe { out(r, handle) },
        |_| 0,
        NO_STREAM,
        true
    )
}
