//! CUDA arrays and mipmapped arrays: their size comes from their descriptor.
//!
//! SAFETY (every `unsafe` block in this file): a body is called by its wrapper in `table` with
//! `real`, the real function of that name, whose signature the table states, and the program's
//! own arguments unchanged: calling `real` with them is the call the program made. Out-parameters
//! (`out`, `out_ptr`, `out_handle`, `pitched`) are read only when the call returned success, so
//! the driver wrote them; descriptors and parameter structs the program passed are read through
//! `as_ref` (null checked), as the real call itself reads them.

use std::ffi::c_uint;

use cudarc::driver::sys::{CUarray, CUmipmappedArray};
use gpuleak_trace::Api;

use crate::api::common::{NO_STREAM, out_handle};

use crate::api::events::{alloc_event, free_event};
use crate::guard::Guard;
use crate::layout::{Array3DDescriptor, ArrayDescriptor};
use crate::record::{self};

#[inline(always)]
pub unsafe fn cu_array_create(
    real: unsafe extern "C" fn(*mut CUarray, *const ArrayDescriptor) -> c_uint,
    h: *mut CUarray,
    d: *const ArrayDescriptor,
) -> c_uint {
    let size = match unsafe { d.as_ref() } {
        Some(d) => crate::layout::array_bytes(d.width, d.height, 1, d.format, d.num_channels),
        None => 0,
    };
    alloc_body!(
        Api::CuArrayCreate,
        real,
        unsafe { real(h, d) },
        |r| unsafe { out_handle(r, h) },
        |_| size,
        NO_STREAM,
        true
    )
}

#[inline(always)]
pub unsafe fn cu_array3d_create(
    real: unsafe extern "C" fn(*mut CUarray, *const Array3DDescriptor) -> c_uint,
    h: *mut CUarray,
    d: *const Array3DDescriptor,
) -> c_uint {
    let size = match unsafe { d.as_ref() } {
        Some(d) => crate::layout::array_bytes(d.width, d.height, d.depth, d.format, d.num_channels),
        None => 0,
    };
    alloc_body!(
        Api::CuArray3DCreate,
        real,
        unsafe { real(h, d) },
        |r| unsafe { out_handle(r, h) },
        |_| size,
        NO_STREAM,
        true
    )
}

#[inline(always)]
pub unsafe fn cu_array_destroy(
    real: unsafe extern "C" fn(CUarray) -> c_uint,
    h: CUarray,
) -> c_uint {
    free_body!(Api::CuArrayDestroy, unsafe { real(h) }, h as u64, NO_STREAM)
}

#[inline(always)]
pub unsafe fn cu_mipmapped_create(
    real: unsafe extern "C" fn(*mut CUmipmappedArray, *const Array3DDescriptor, c_uint) -> c_uint,
    h: *mut CUmipmappedArray,
    d: *const Array3DDescriptor,
    levels: c_uint,
) -> c_uint {
    let size = match unsafe { d.as_ref() } {
        Some(d) => crate::layout::mipmapped_bytes(d, levels),
        None => 0,
    };
    alloc_body!(
        Api::CuMipmappedArrayCreate,
        real,
        unsafe { real(h, d, levels) },
        |r| unsafe { out_handle(r, h) },
        |_| size,
        NO_STREAM,
        true
    )
}

#[inline(always)]
pub unsafe fn cu_mipmapped_destroy(
    real: unsafe extern "C" fn(CUmipmappedArray) -> c_uint,
    h: CUmipmappedArray,
) -> c_uint {
    free_body!(
        Api::CuMipmappedArrayDestroy,
        unsafe { real(h) },
        h as u64,
        NO_STREAM
    )
}
