//! From a wrapped call to the recording API: what each kind of call records, with the device
//! queries it needs made outside any gpuleak lock.

use std::ffi::c_uint;

use cudarc::driver::sys::CUstream;
use gpuleak_trace::{Api, NO_DEVICE};

use crate::api::common::{CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, ERROR_OUT_OF_MEMORY};
use crate::record::{self, Call};

/// After an allocation: the event, with the device and, for an out-of-memory failure, the
/// device's free/total memory. Queried outside any gpuleak lock, and only on the outermost call.
#[inline(always)]
pub fn alloc_event(api: Api, r: c_uint, address: u64, size: u64, stream: CUstream, device: bool) {
    alloc_event_aux(api, r, address, size, stream, device, 0);
}

#[inline(always)]
pub fn alloc_event_aux(
    api: Api,
    r: c_uint,
    address: u64,
    size: u64,
    stream: CUstream,
    device: bool,
    aux: u64,
) {
    let device = if device {
        crate::query::current_device().unwrap_or(NO_DEVICE)
    } else {
        NO_DEVICE
    };
    let seq = record::event(Call {
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
    after_allocation(r, device, seq);
}

/// The device's free/total memory, asked for with an out-of-memory failure and with the
/// process's first successful allocation on each device: the total lets a reader say when a
/// leak will fill that device, long before it does.
pub fn mem_info_for(api: Api, r: c_uint, device: i32) -> Option<(u64, u64)> {
    use gpuleak_trace::MemoryKind;
    let on_device = match api.memory() {
        MemoryKind::Device | MemoryKind::Managed | MemoryKind::Physical => true,
        MemoryKind::PinnedHost => false,
        _ => device != NO_DEVICE,
    };
    let wanted =
        on_device && (r == ERROR_OUT_OF_MEMORY || (r == 0 && record::first_allocation_on(device)));
    wanted.then(crate::query::mem_info).flatten()
}

/// A stream-ordered allocation also samples what its pool holds from the device: memory that
/// cuMemFreeAsync gave back stays in the pool, and only the driver can say how much.
/// `pool` is None for cuMemAllocAsync/cudaMallocAsync: the device's current pool then.
#[inline(always)]
pub fn async_alloc_event(
    api: Api,
    r: c_uint,
    address: u64,
    size: u64,
    stream: CUstream,
    pool: Option<u64>,
) {
    let device = crate::query::current_device().unwrap_or(NO_DEVICE);
    let pool = pool.or_else(|| {
        (device != NO_DEVICE)
            .then(|| crate::query::device_mem_pool(device))
            .flatten()
    });
    let pool_reserved =
        pool.and_then(|p| crate::query::pool_attribute(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT));
    let seq = record::event(Call {
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
    after_allocation(r, device, seq);
}

/// What follows an allocation's event: at an out-of-memory failure, the other processes on the
/// device (before the walk, which may take seconds), then the holders' walk in a Python program.
#[inline(always)]
fn after_allocation(r: c_uint, device: i32, seq: Option<u64>) {
    let asked = r == ERROR_OUT_OF_MEMORY && crate::others::out_of_memory(device, seq);
    crate::holders::after_allocation(r == ERROR_OUT_OF_MEMORY);
    if asked {
        crate::others::failure_handled();
    }
}

#[inline(always)]
pub fn free_event(api: Api, r: c_uint, address: u64, stream: CUstream) {
    free_event_sized(api, r, address, 0, stream);
}

/// `size` is given for frees that name a range (cuMemUnmap, cuMemAddressFree).
#[inline(always)]
pub fn free_event_sized(api: Api, r: c_uint, address: u64, size: u64, stream: CUstream) {
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
pub fn control_event(api: Api, r: c_uint, address: u64, size: u64, device: i32, aux: u64) {
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
