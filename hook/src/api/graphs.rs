//! Memory that graphs allocate and free as nodes, and graph memory given back to the OS.
//!
//! SAFETY (every `unsafe` block in this file): a body is called by its wrapper in `table` with
//! `real`, the real function of that name, whose signature the table states, and the program's
//! own arguments unchanged: calling `real` with them is the call the program made. Out-parameters
//! (`out`, `out_ptr`, `out_handle`, `pitched`) are read only when the call returned success, so
//! the driver wrote them; descriptors and parameter structs the program passed are read through
//! `as_ref` (null checked), as the real call itself reads them.

use std::ffi::{c_int, c_uint};

use cudarc::driver::sys::{CUdeviceptr, CUgraph, CUgraphNode};
use gpuleak_trace::Api;

use crate::api::common::NO_STREAM;
use crate::api::events::{alloc_event_aux, control_event, free_event};
use crate::guard::Guard;
use crate::layout::MemAllocNodeParams;
use crate::record::{self};

#[inline(always)]
pub unsafe fn cu_graph_alloc_node(
    real: unsafe extern "C" fn(
        *mut CUgraphNode,
        CUgraph,
        *const CUgraphNode,
        usize,
        *mut MemAllocNodeParams,
    ) -> c_uint,
    node: *mut CUgraphNode,
    graph: CUgraph,
    deps: *const CUgraphNode,
    ndeps: usize,
    params: *mut MemAllocNodeParams,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(node, graph, deps, ndeps, params) };
    if g.outer() {
        // The driver fills in `dptr`; `bytesize` is the request.
        let (address, size) = match unsafe { params.as_ref() } {
            Some(p) => (if r == 0 { p.dptr } else { 0 }, p.bytesize as u64),
            None => (0, 0),
        };
        record::guarded(|| {
            alloc_event_aux(
                Api::CuGraphAddMemAllocNode,
                r,
                address,
                size,
                NO_STREAM,
                true,
                graph as u64,
            )
        });
    }
    r
}

#[inline(always)]
pub unsafe fn cu_graph_free_node(
    real: unsafe extern "C" fn(
        *mut CUgraphNode,
        CUgraph,
        *const CUgraphNode,
        usize,
        CUdeviceptr,
    ) -> c_uint,
    node: *mut CUgraphNode,
    graph: CUgraph,
    deps: *const CUgraphNode,
    ndeps: usize,
    dptr: CUdeviceptr,
) -> c_uint {
    free_body!(
        Api::CuGraphAddMemFreeNode,
        unsafe { real(node, graph, deps, ndeps, dptr) },
        dptr,
        NO_STREAM
    )
}

#[inline(always)]
pub unsafe fn cu_graph_mem_trim(
    real: unsafe extern "C" fn(c_int) -> c_uint,
    device: c_int,
) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(device) };
    if g.outer() {
        record::guarded(|| control_event(Api::CuDeviceGraphMemTrim, r, 0, 0, device, 0));
    }
    r
}
