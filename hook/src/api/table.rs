//! The table of intercepted entry points, and the lookups that hand out its wrappers
//! (`cuGetProcAddress`, `cudaGetDriverEntryPoint`).
//!
//! Each wrapped symbol exists twice: exported under its real name (symbol interposition, for
//! programs linked against libcuda/libcudart) forwarding to the next definition, and as a hidden
//! wrapper handed out by `dlsym` and `cuGetProcAddress` forwarding to the exact function the
//! library returned. Both share one recording body per API. [`entry`] finds a symbol's row by its
//! exact (versioned) name, which is all the `dlsym` and `cuGetProcAddress` hooks need.
//!
//! The bodies are `#[inline(always)]`, and so is the recording down to the stack capture: the
//! unwinder steps through every gpuleak frame above the program's call (about 100 ns each) only
//! to drop it, so one frame, the wrapper itself, is all there should be.
//!
//! Return codes are raw integers: cudarc's `CUresult` is a Rust enum, and an unknown code stored
//! in one would be undefined behaviour. Every wrapper returns exactly what the real call returned.

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::sync::atomic::AtomicPtr;

use cudarc::driver::sys::{
    CUarray, CUdeviceptr, CUgraph, CUgraphExec, CUgraphNode, CUipcMemHandle, CUmemoryPool,
    CUmipmappedArray, CUstream,
};

use crate::api::alloc::*;
use crate::api::arrays::*;
use crate::api::common::{ERROR_UNKNOWN, VoidPP};
use crate::api::graphs::*;
use crate::api::launch::*;
use crate::api::vmm::*;
use crate::entry::Entry;
use crate::layout::{Array3DDescriptor, ArrayDescriptor, Dim3, LaunchConfig, MemAllocNodeParams};

/// Every `dlsym` of a `cu*` name asks this, wrapped or not. A plain scan of the table: a few
/// dozen short names, compared once per lookup (the `dlsym` group of the hook_cost bench puts an
/// unwrapped `cu*` name at tens of nanoseconds in all), which a sorted index would not repay.
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
                let p = crate::resolve::next(&TABLE[Sym::$sym as usize]);
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

    cuMemAllocFromPoolAsync => cu_alloc_from_pool(p: *mut CUdeviceptr, size: usize, pool: CUmemoryPool, s: CUstream) -> c_uint;
    cuMemAllocFromPoolAsync_ptsz => cu_alloc_from_pool(p: *mut CUdeviceptr, size: usize, pool: CUmemoryPool, s: CUstream) -> c_uint;
    cuMemPoolTrimTo => cu_pool_trim(pool: CUmemoryPool, keep: usize) -> c_uint;
    cuMemPoolSetAttribute => cu_pool_set_attribute(pool: CUmemoryPool, attr: c_int, value: *mut c_void) -> c_uint;
    cuMemCreate => cu_create(handle: *mut u64, size: usize, prop: *const c_void, flags: u64) -> c_uint;
    cuMemRelease => cu_release(handle: u64) -> c_uint;
    cuMemMap => cu_map(ptr: CUdeviceptr, size: usize, offset: usize, handle: u64, flags: u64) -> c_uint;
    cuMemUnmap => cu_unmap(ptr: CUdeviceptr, size: usize) -> c_uint;
    cuMemAddressReserve => cu_reserve(p: *mut CUdeviceptr, size: usize, align: usize, addr: CUdeviceptr, flags: u64) -> c_uint;
    cuMemAddressFree => cu_address_free(ptr: CUdeviceptr, size: usize) -> c_uint;
    cuMemHostRegister_v2 => cu_host_register(p: *mut c_void, size: usize, flags: c_uint) -> c_uint;
    cuMemHostUnregister => cu_host_unregister(p: *mut c_void) -> c_uint;
    cuArrayCreate_v2 => cu_array_create(h: *mut CUarray, d: *const ArrayDescriptor) -> c_uint;
    cuArray3DCreate_v2 => cu_array3d_create(h: *mut CUarray, d: *const Array3DDescriptor) -> c_uint;
    cuArrayDestroy => cu_array_destroy(h: CUarray) -> c_uint;
    cuMipmappedArrayCreate => cu_mipmapped_create(h: *mut CUmipmappedArray, d: *const Array3DDescriptor, levels: c_uint) -> c_uint;
    cuMipmappedArrayDestroy => cu_mipmapped_destroy(h: CUmipmappedArray) -> c_uint;
    cuGraphAddMemAllocNode => cu_graph_alloc_node(node: *mut CUgraphNode, graph: CUgraph, deps: *const CUgraphNode, ndeps: usize, params: *mut MemAllocNodeParams) -> c_uint;
    cuGraphAddMemFreeNode => cu_graph_free_node(node: *mut CUgraphNode, graph: CUgraph, deps: *const CUgraphNode, ndeps: usize, dptr: CUdeviceptr) -> c_uint;
    cuDeviceGraphMemTrim => cu_graph_mem_trim(device: c_int) -> c_uint;
    cuIpcOpenMemHandle_v2 => cu_ipc_open(p: *mut CUdeviceptr, handle: CUipcMemHandle, flags: c_uint) -> c_uint;
    cuIpcCloseMemHandle => cu_ipc_close(ptr: CUdeviceptr) -> c_uint;
    cuMemImportFromShareableHandle => cu_import(handle: *mut u64, os_handle: *mut c_void, kind: c_int) -> c_uint;

    cuLaunchKernel => cu_launch(f: *mut c_void, gx: c_uint, gy: c_uint, gz: c_uint, bx: c_uint, by: c_uint, bz: c_uint, shmem: c_uint, s: CUstream, params: VoidPP, extra: VoidPP) -> c_uint;
    cuLaunchKernel_ptsz => cu_launch(f: *mut c_void, gx: c_uint, gy: c_uint, gz: c_uint, bx: c_uint, by: c_uint, bz: c_uint, shmem: c_uint, s: CUstream, params: VoidPP, extra: VoidPP) -> c_uint;
    cuLaunchKernelEx => cu_launch_ex(config: *const LaunchConfig, f: *mut c_void, params: VoidPP, extra: VoidPP) -> c_uint;
    cuLaunchKernelEx_ptsz => cu_launch_ex(config: *const LaunchConfig, f: *mut c_void, params: VoidPP, extra: VoidPP) -> c_uint;
    cudaLaunchKernel => rt_launch(func: *const c_void, grid: Dim3, block: Dim3, args: VoidPP, shmem: usize, s: CUstream) -> c_uint;
    cudaLaunchKernel_ptsz => rt_launch(func: *const c_void, grid: Dim3, block: Dim3, args: VoidPP, shmem: usize, s: CUstream) -> c_uint;
    cuGraphLaunch => cu_graph_launch(exec: CUgraphExec, s: CUstream) -> c_uint;
    cuGraphLaunch_ptsz => cu_graph_launch(exec: CUgraphExec, s: CUstream) -> c_uint;
    cudaGraphLaunch => rt_graph_launch(exec: CUgraphExec, s: CUstream) -> c_uint;
    cudaGraphLaunch_ptsz => rt_graph_launch(exec: CUgraphExec, s: CUstream) -> c_uint;

    cudaGetDriverEntryPoint => rt_entry_point(symbol: *const c_char, pfn: VoidPP, flags: u64, status: *mut c_int) -> c_uint;
    cudaGetDriverEntryPointByVersion => rt_entry_point_by_version(symbol: *const c_char, pfn: VoidPP, version: c_uint, flags: u64, status: *mut c_int) -> c_uint;

    cuGetProcAddress => get_proc_address(symbol: *const c_char, pfn: VoidPP, version: c_int, flags: u64) -> c_uint;
    cuGetProcAddress_v2 => get_proc_address_v2(symbol: *const c_char, pfn: VoidPP, version: c_int, flags: u64, status: *mut c_int) -> c_uint;
}

/// The runtime's way to hand out driver functions (PyTorch takes cuMemCreate and friends this
/// way for expandable segments): the same substitution as cuGetProcAddress.
#[inline(always)]
unsafe fn rt_entry_point(
    real: unsafe extern "C" fn(*const c_char, VoidPP, u64, *mut c_int) -> c_uint,
    symbol: *const c_char,
    pfn: VoidPP,
    flags: u64,
    status: *mut c_int,
) -> c_uint {
    // SAFETY: the real function of this name, with the program\'s own arguments.
    let r = unsafe { real(symbol, pfn, flags, status) };
    // SAFETY: `pfn` is the program's out-parameter of the call just made.
    unsafe { swap_in_wrapper(r, pfn) };
    r
}

#[inline(always)]
unsafe fn rt_entry_point_by_version(
    real: unsafe extern "C" fn(*const c_char, VoidPP, c_uint, u64, *mut c_int) -> c_uint,
    symbol: *const c_char,
    pfn: VoidPP,
    version: c_uint,
    flags: u64,
    status: *mut c_int,
) -> c_uint {
    // SAFETY: the real function of this name, with the program\'s own arguments.
    let r = unsafe { real(symbol, pfn, version, flags, status) };
    // SAFETY: `pfn` is the program's out-parameter of the call just made.
    unsafe { swap_in_wrapper(r, pfn) };
    r
}

/// `cuGetProcAddress`: the CUDA runtime (shared or static) takes every driver function this
/// way. The real call runs first with identical arguments; then, when the driver handed out a
/// function gpuleak wraps, the program gets the wrapper of that exact variant (`_v2`, `_ptsz`),
/// named by `dladdr`.
#[inline(always)]
unsafe fn get_proc_address(
    real: unsafe extern "C" fn(*const c_char, VoidPP, c_int, u64) -> c_uint,
    symbol: *const c_char,
    pfn: VoidPP,
    version: c_int,
    flags: u64,
) -> c_uint {
    // SAFETY: the real function of this name, with the program\'s own arguments.
    let r = unsafe { real(symbol, pfn, version, flags) };
    // SAFETY: `pfn` is the program's out-parameter of the call just made.
    unsafe { swap_in_wrapper(r, pfn) };
    r
}

#[inline(always)]
unsafe fn get_proc_address_v2(
    real: unsafe extern "C" fn(*const c_char, VoidPP, c_int, u64, *mut c_int) -> c_uint,
    symbol: *const c_char,
    pfn: VoidPP,
    version: c_int,
    flags: u64,
    status: *mut c_int,
) -> c_uint {
    // SAFETY: the real function of this name, with the program\'s own arguments.
    let r = unsafe { real(symbol, pfn, version, flags, status) };
    // SAFETY: `pfn` is the program's out-parameter of the call just made.
    unsafe { swap_in_wrapper(r, pfn) };
    r
}

unsafe fn swap_in_wrapper(r: c_uint, pfn: VoidPP) {
    if r != 0 || pfn.is_null() {
        return;
    }
    // SAFETY: the call succeeded with a non-null `pfn`, so it wrote the function there.
    let found = unsafe { *pfn };
    if found.is_null() {
        return;
    }
    let Some(name) = crate::resolve::symbol_name(found) else {
        return;
    };
    if let Some(e) = entry(name) {
        let chosen = crate::resolve::substitute(e, found, false);
        // SAFETY: the same out-parameter, written by the program's own call a moment ago.
        unsafe { *pfn = chosen };
    }
}
