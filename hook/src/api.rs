//! The intercepted entry points.
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

#![allow(non_snake_case)]

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::sync::atomic::AtomicPtr;

use cudarc::driver::sys::{
    CUarray, CUdeviceptr, CUgraph, CUgraphExec, CUgraphNode, CUipcMemHandle, CUmemoryPool,
    CUmipmappedArray, CUstream,
};
use gpuleak_trace::{Api, LaunchApi, NO_DEVICE};

use crate::guard::Guard;
use crate::layout::{Array3DDescriptor, ArrayDescriptor, Dim3, LaunchConfig, MemAllocNodeParams};
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
#[inline(always)]
fn alloc_event(api: Api, r: c_uint, address: u64, size: u64, stream: CUstream, device: bool) {
    alloc_event_aux(api, r, address, size, stream, device, 0);
}

#[inline(always)]
fn alloc_event_aux(
    api: Api,
    r: c_uint,
    address: u64,
    size: u64,
    stream: CUstream,
    device: bool,
    aux: u64,
) {
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
        mem_info: mem_info_for(api, r, device),
        aux,
        pool_reserved: None,
    });
}

/// True once per device and process (ordinals 0 to 63; others never); a plain load first, so
/// the hot path does no atomic write.
fn first_device_allocation(device: i32) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(bit) = u32::try_from(device).ok().and_then(|d| 1u64.checked_shl(d)) else {
        return false;
    };
    record::TOTAL_SEEN.load(Relaxed) & bit == 0
        && record::TOTAL_SEEN.fetch_or(bit, Relaxed) & bit == 0
}

/// The device's free/total memory, asked for with an out-of-memory failure and with the
/// process's first successful allocation on each device: the total lets a reader say when a
/// leak will fill that device, long before it does.
fn mem_info_for(api: Api, r: c_uint, device: i32) -> Option<(u64, u64)> {
    use gpuleak_trace::MemoryKind;
    let on_device = match api.memory() {
        MemoryKind::Device | MemoryKind::Managed | MemoryKind::Physical => true,
        MemoryKind::PinnedHost => false,
        _ => device != NO_DEVICE,
    };
    let wanted =
        on_device && (r == ERROR_OUT_OF_MEMORY || (r == 0 && first_device_allocation(device)));
    wanted.then(crate::real::mem_info).flatten()
}

/// A stream-ordered allocation also samples what its pool holds from the device: memory that
/// cuMemFreeAsync gave back stays in the pool, and only the driver can say how much.
/// `pool` is None for cuMemAllocAsync/cudaMallocAsync: the device's current pool then.
#[inline(always)]
fn async_alloc_event(
    api: Api,
    r: c_uint,
    address: u64,
    size: u64,
    stream: CUstream,
    pool: Option<u64>,
) {
    let device = crate::real::current_device().unwrap_or(NO_DEVICE);
    let pool = pool.or_else(|| {
        (device != NO_DEVICE)
            .then(|| crate::real::device_mem_pool(device))
            .flatten()
    });
    let pool_reserved =
        pool.and_then(|p| crate::real::pool_attribute(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT));
    record::event(Call {
        api,
        result: r,
        address,
        size,
        stream: stream as u64,
        device,
        mem_info: mem_info_for(api, r, device),
        aux: pool.unwrap_or(0),
        pool_reserved,
    });
}

#[inline(always)]
fn free_event(api: Api, r: c_uint, address: u64, stream: CUstream) {
    free_event_sized(api, r, address, 0, stream);
}

/// `size` is given for frees that name a range (cuMemUnmap, cuMemAddressFree).
#[inline(always)]
fn free_event_sized(api: Api, r: c_uint, address: u64, size: u64, stream: CUstream) {
    // Freeing NULL is a no-op every program does (`cudaFree(0)` initialises the runtime).
    if address == 0 {
        return;
    }
    record::event(Call {
        api,
        result: r,
        address,
        size,
        stream: stream as u64,
        device: NO_DEVICE,
        mem_info: None,
        aux: 0,
        pool_reserved: None,
    });
}

/// Calls that change what pools keep rather than what the program holds.
#[inline(always)]
fn control_event(api: Api, r: c_uint, address: u64, size: u64, device: i32, aux: u64) {
    record::event(Call {
        api,
        result: r,
        address,
        size,
        stream: 0,
        device,
        mem_info: None,
        aux,
        pool_reserved: None,
    });
}

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

const NO_STREAM: CUstream = std::ptr::null_mut();

#[inline(always)]
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

#[inline(always)]
unsafe fn rt_free(real: cudaFree::Real, p: *mut c_void) -> c_uint {
    free_body!(Api::CudaFree, unsafe { real(p) }, p as u64, NO_STREAM)
}

#[inline(always)]
unsafe fn rt_malloc_async(
    real: cudaMallocAsync::Real,
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
unsafe fn rt_free_async(real: cudaFreeAsync::Real, p: *mut c_void, s: CUstream) -> c_uint {
    free_body!(Api::CudaFreeAsync, unsafe { real(p, s) }, p as u64, s)
}

#[inline(always)]
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

#[inline(always)]
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

#[inline(always)]
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

#[inline(always)]
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

#[inline(always)]
unsafe fn rt_free_host(real: cudaFreeHost::Real, p: *mut c_void) -> c_uint {
    free_body!(Api::CudaFreeHost, unsafe { real(p) }, p as u64, NO_STREAM)
}

#[inline(always)]
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

#[inline(always)]
unsafe fn cu_free(real: cuMemFree_v2::Real, p: CUdeviceptr) -> c_uint {
    free_body!(Api::CuMemFree, unsafe { real(p) }, p, NO_STREAM)
}

#[inline(always)]
unsafe fn cu_alloc_async(
    real: cuMemAllocAsync::Real,
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
unsafe fn cu_free_async(real: cuMemFreeAsync::Real, p: CUdeviceptr, s: CUstream) -> c_uint {
    free_body!(Api::CuMemFreeAsync, unsafe { real(p, s) }, p, s)
}

#[inline(always)]
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

#[inline(always)]
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

#[inline(always)]
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

#[inline(always)]
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

#[inline(always)]
unsafe fn cu_free_host(real: cuMemFreeHost::Real, p: *mut c_void) -> c_uint {
    free_body!(Api::CuMemFreeHost, unsafe { real(p) }, p as u64, NO_STREAM)
}

#[inline(always)]
unsafe fn cu_alloc_from_pool(
    real: cuMemAllocFromPoolAsync::Real,
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

const CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: c_int = 4;
const CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT: c_int = 5;

#[inline(always)]
unsafe fn cu_pool_trim(real: cuMemPoolTrimTo::Real, pool: CUmemoryPool, keep: usize) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(pool, keep) };
    if g.outer() {
        record::guarded(|| {
            let pool_reserved =
                crate::real::pool_attribute(pool as u64, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT);
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
unsafe fn cu_pool_set_attribute(
    real: cuMemPoolSetAttribute::Real,
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

#[inline(always)]
unsafe fn cu_create(
    real: cuMemCreate::Real,
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
unsafe fn cu_release(real: cuMemRelease::Real, handle: u64) -> c_uint {
    free_body!(
        Api::CuMemRelease,
        unsafe { real(handle) },
        handle,
        NO_STREAM
    )
}

#[inline(always)]
unsafe fn cu_map(
    real: cuMemMap::Real,
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
unsafe fn cu_unmap(real: cuMemUnmap::Real, ptr: CUdeviceptr, size: usize) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(ptr, size) };
    if g.outer() {
        record::guarded(|| free_event_sized(Api::CuMemUnmap, r, ptr, size as u64, NO_STREAM));
    }
    r
}

#[inline(always)]
unsafe fn cu_reserve(
    real: cuMemAddressReserve::Real,
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
unsafe fn cu_address_free(real: cuMemAddressFree::Real, ptr: CUdeviceptr, size: usize) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(ptr, size) };
    if g.outer() {
        record::guarded(|| free_event_sized(Api::CuMemAddressFree, r, ptr, size as u64, NO_STREAM));
    }
    r
}

#[inline(always)]
unsafe fn cu_host_register(
    real: cuMemHostRegister_v2::Real,
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
unsafe fn cu_host_unregister(real: cuMemHostUnregister::Real, p: *mut c_void) -> c_uint {
    free_body!(
        Api::CuMemHostUnregister,
        unsafe { real(p) },
        p as u64,
        NO_STREAM
    )
}

unsafe fn out_handle<T>(r: c_uint, h: *mut *mut T) -> u64 {
    if r == 0 && !h.is_null() {
        unsafe { *h as u64 }
    } else {
        0
    }
}

#[inline(always)]
unsafe fn cu_array_create(
    real: cuArrayCreate_v2::Real,
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
unsafe fn cu_array3d_create(
    real: cuArray3DCreate_v2::Real,
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
unsafe fn cu_array_destroy(real: cuArrayDestroy::Real, h: CUarray) -> c_uint {
    free_body!(Api::CuArrayDestroy, unsafe { real(h) }, h as u64, NO_STREAM)
}

#[inline(always)]
unsafe fn cu_mipmapped_create(
    real: cuMipmappedArrayCreate::Real,
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
unsafe fn cu_mipmapped_destroy(real: cuMipmappedArrayDestroy::Real, h: CUmipmappedArray) -> c_uint {
    free_body!(
        Api::CuMipmappedArrayDestroy,
        unsafe { real(h) },
        h as u64,
        NO_STREAM
    )
}

#[inline(always)]
unsafe fn cu_graph_alloc_node(
    real: cuGraphAddMemAllocNode::Real,
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
unsafe fn cu_graph_free_node(
    real: cuGraphAddMemFreeNode::Real,
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
unsafe fn cu_graph_mem_trim(real: cuDeviceGraphMemTrim::Real, device: c_int) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(device) };
    if g.outer() {
        record::guarded(|| control_event(Api::CuDeviceGraphMemTrim, r, 0, 0, device, 0));
    }
    r
}

#[inline(always)]
unsafe fn cu_ipc_open(
    real: cuIpcOpenMemHandle_v2::Real,
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
                crate::real::address_range(a).unwrap_or(0)
            } else {
                0
            };
            alloc_event(Api::CuIpcOpenMemHandle, r, a, size, NO_STREAM, true)
        });
    }
    r
}

#[inline(always)]
unsafe fn cu_ipc_close(real: cuIpcCloseMemHandle::Real, ptr: CUdeviceptr) -> c_uint {
    free_body!(
        Api::CuIpcCloseMemHandle,
        unsafe { real(ptr) },
        ptr,
        NO_STREAM
    )
}

#[inline(always)]
unsafe fn cu_import(
    real: cuMemImportFromShareableHandle::Real,
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

/// Kernel launches are counted (function and stream, no stack): the sequence of launched
/// functions repeats every step, which is how iterations are found in a program that marks none.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn cu_launch(
    real: cuLaunchKernel::Real,
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
unsafe fn cu_launch_ex(
    real: cuLaunchKernelEx::Real,
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
unsafe fn rt_launch(
    real: cudaLaunchKernel::Real,
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
unsafe fn cu_graph_launch(real: cuGraphLaunch::Real, exec: CUgraphExec, s: CUstream) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(exec, s) };
    if g.outer() && r == 0 {
        record::guarded(|| record::launch(LaunchApi::CuGraphLaunch, exec as u64, s as u64));
    }
    r
}

/// `cudaGraphExec_t` is the driver's `CUgraphExec`, so both APIs name a graph the same way.
#[inline(always)]
unsafe fn rt_graph_launch(real: cudaGraphLaunch::Real, exec: CUgraphExec, s: CUstream) -> c_uint {
    let g = Guard::enter();
    let r = unsafe { real(exec, s) };
    if g.outer() && r == 0 {
        record::guarded(|| record::launch(LaunchApi::CudaGraphLaunch, exec as u64, s as u64));
    }
    r
}

/// The runtime's way to hand out driver functions (PyTorch takes cuMemCreate and friends this
/// way for expandable segments): the same substitution as cuGetProcAddress.
#[inline(always)]
unsafe fn rt_entry_point(
    real: cudaGetDriverEntryPoint::Real,
    symbol: *const c_char,
    pfn: VoidPP,
    flags: u64,
    status: *mut c_int,
) -> c_uint {
    let r = unsafe { real(symbol, pfn, flags, status) };
    unsafe { swap_in_wrapper(r, pfn) };
    r
}

#[inline(always)]
unsafe fn rt_entry_point_by_version(
    real: cudaGetDriverEntryPointByVersion::Real,
    symbol: *const c_char,
    pfn: VoidPP,
    version: c_uint,
    flags: u64,
    status: *mut c_int,
) -> c_uint {
    let r = unsafe { real(symbol, pfn, version, flags, status) };
    unsafe { swap_in_wrapper(r, pfn) };
    r
}

/// `cuGetProcAddress`: the CUDA runtime (shared or static) takes every driver function this
/// way. The real call runs first with identical arguments; then, when the driver handed out a
/// function gpuleak wraps, the program gets the wrapper of that exact variant (`_v2`, `_ptsz`),
/// named by `dladdr`.
#[inline(always)]
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

#[inline(always)]
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
