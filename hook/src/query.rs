//! gpuleak's own questions to the driver (the current device, its free memory, a pool's
//! reserve, device names), asked through functions taken from the loaded libcuda itself.

use std::ffi::{CStr, c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::resolve::real_dlsym;

type CuMemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> c_int;
type CuCtxGetDevice = unsafe extern "C" fn(*mut c_int) -> c_int;

static MEM_GET_INFO: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static POOL_GET_ATTRIBUTE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static GET_ADDRESS_RANGE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static DEVICE_GET_MEM_POOL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static CTX_GET_DEVICE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static DEVICE_GET_COUNT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static DEVICE_GET: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static DEVICE_GET_NAME: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static DEVICE_GET_PCI_BUS_ID: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// A driver function for gpuleak's own queries, taken from the loaded libcuda itself so that it
/// is found even when libcuda was opened RTLD_LOCAL, and never through a wrapper.
fn driver_fn(slot: &AtomicPtr<c_void>, name: &CStr) -> *mut c_void {
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    // SAFETY: RTLD_NOLOAD never loads anything; only an already loaded libcuda is used.
    let h = unsafe {
        libc::dlopen(
            c"libcuda.so.1".as_ptr(),
            libc::RTLD_LAZY | libc::RTLD_NOLOAD,
        )
    };
    if h.is_null() {
        return p;
    }
    // SAFETY: a handle from dlopen and a NUL-terminated name.
    let p = unsafe { real_dlsym()(h, name.as_ptr()) };
    // Balances the reference RTLD_NOLOAD took; the program's own reference keeps it loaded.
    // SAFETY: the handle RTLD_NOLOAD just returned.
    unsafe { libc::dlclose(h) };
    if !p.is_null() {
        slot.store(p, Ordering::Release);
    }
    p
}

/// The device's (free, total) memory, for out-of-memory forensics.
pub fn mem_info() -> Option<(u64, u64)> {
    let p = driver_fn(&MEM_GET_INFO, c"cuMemGetInfo_v2");
    if p.is_null() {
        return None;
    }
    // SAFETY: the driver's cuMemGetInfo_v2, of this signature.
    let f: CuMemGetInfo = unsafe { std::mem::transmute(p) };
    let (mut free, mut total) = (0usize, 0usize);
    // SAFETY: valid out-pointers.
    (unsafe { f(&mut free, &mut total) } == 0).then_some((free as u64, total as u64))
}

/// The names of the devices the process sees, by ordinal; empty when the driver cannot say (not
/// initialised yet, or no libcuda loaded). Asked once per trace, for its header.
pub fn device_names() -> Vec<String> {
    type Count = unsafe extern "C" fn(*mut c_int) -> c_int;
    type Get = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type Name = unsafe extern "C" fn(*mut std::ffi::c_char, c_int, c_int) -> c_int;
    let (count, get, name) = (
        driver_fn(&DEVICE_GET_COUNT, c"cuDeviceGetCount"),
        driver_fn(&DEVICE_GET, c"cuDeviceGet"),
        driver_fn(&DEVICE_GET_NAME, c"cuDeviceGetName"),
    );
    if count.is_null() || get.is_null() || name.is_null() {
        return Vec::new();
    }
    // SAFETY: the driver's functions of these names, of these signatures.
    let (count, get, name): (Count, Get, Name) = unsafe {
        (
            std::mem::transmute::<*mut c_void, Count>(count),
            std::mem::transmute::<*mut c_void, Get>(get),
            std::mem::transmute::<*mut c_void, Name>(name),
        )
    };
    let mut n: c_int = 0;
    // SAFETY: driver calls with valid out-pointers; the name buffer's length is passed.
    if unsafe { count(&mut n) } != 0 {
        return Vec::new();
    }
    // A machine has at most a few dozen devices; a larger figure is not one to trust.
    (0..n.clamp(0, 64))
        .map(|ordinal| {
            let mut dev: c_int = 0;
            let mut buf = [0 as std::ffi::c_char; 256];
            // SAFETY: driver calls with valid out-pointers; the buffer's length is passed (one byte
            // kept for the NUL).
            let ok = unsafe { get(&mut dev, ordinal) } == 0
                // SAFETY: as above.
                && unsafe { name(buf.as_mut_ptr(), buf.len() as c_int - 1, dev) } == 0;
            if !ok {
                return String::new();
            }
            // SAFETY: zero-initialised and the driver writes at most len - 1 bytes.
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The PCI bus id of the device of this ordinal, as NVML takes it (`0000:01:00.0`): how a CUDA
/// ordinal (which `CUDA_VISIBLE_DEVICES` renumbers) is found among NVML's devices.
pub fn pci_bus_id(ordinal: i32) -> Option<String> {
    type Get = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type BusId = unsafe extern "C" fn(*mut std::ffi::c_char, c_int, c_int) -> c_int;
    let (get, bus_id) = (
        driver_fn(&DEVICE_GET, c"cuDeviceGet"),
        driver_fn(&DEVICE_GET_PCI_BUS_ID, c"cuDeviceGetPCIBusId"),
    );
    if get.is_null() || bus_id.is_null() {
        return None;
    }
    // SAFETY: the driver's functions of these names, of these signatures.
    let (get, bus_id): (Get, BusId) = unsafe {
        (
            std::mem::transmute::<*mut c_void, Get>(get),
            std::mem::transmute::<*mut c_void, BusId>(bus_id),
        )
    };
    let mut dev: c_int = 0;
    // NVML's own buffer size for a bus id is 32; the driver truncates to the length given.
    let mut buf = [0 as std::ffi::c_char; 64];
    // SAFETY: driver calls with valid out-pointers; one byte of the buffer is kept for the NUL.
    let ok = unsafe { get(&mut dev, ordinal) } == 0
        // SAFETY: as above.
        && unsafe { bus_id(buf.as_mut_ptr(), buf.len() as c_int - 1, dev) } == 0;
    // SAFETY: zero-initialised, and the driver writes at most len - 1 bytes.
    ok.then(|| {
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    })
}

/// The ordinal of the current context's device.
pub fn current_device() -> Option<i32> {
    let p = driver_fn(&CTX_GET_DEVICE, c"cuCtxGetDevice");
    if p.is_null() {
        return None;
    }
    // SAFETY: the driver's cuCtxGetDevice, of this signature.
    let f: CuCtxGetDevice = unsafe { std::mem::transmute(p) };
    let mut d: c_int = -1;
    // SAFETY: a valid out-pointer.
    (unsafe { f(&mut d) } == 0).then_some(d)
}

/// A memory pool attribute that is a cuuint64_t (reserved or used bytes, thresholds).
pub fn pool_attribute(pool: u64, attr: c_int) -> Option<u64> {
    type F = unsafe extern "C" fn(u64, c_int, *mut c_void) -> c_int;
    let p = driver_fn(&POOL_GET_ATTRIBUTE, c"cuMemPoolGetAttribute");
    if p.is_null() {
        return None;
    }
    // SAFETY: the driver's cuMemPoolGetAttribute, of this signature.
    let f: F = unsafe { std::mem::transmute(p) };
    let mut v: u64 = 0;
    // SAFETY: the attributes asked for are cuuint64_t, which `v` holds.
    (unsafe { f(pool, attr, (&mut v as *mut u64).cast()) } == 0).then_some(v)
}

/// The size of the allocation that holds `ptr`.
pub fn address_range(ptr: u64) -> Option<u64> {
    type F = unsafe extern "C" fn(*mut u64, *mut usize, u64) -> c_int;
    let p = driver_fn(&GET_ADDRESS_RANGE, c"cuMemGetAddressRange_v2");
    if p.is_null() {
        return None;
    }
    // SAFETY: the driver's cuMemGetAddressRange_v2, of this signature.
    let f: F = unsafe { std::mem::transmute(p) };
    let (mut base, mut size) = (0u64, 0usize);
    // SAFETY: valid out-pointers.
    (unsafe { f(&mut base, &mut size, ptr) } == 0).then_some(size as u64)
}

/// The device's current memory pool, where cuMemAllocAsync takes memory from.
pub fn device_mem_pool(device: i32) -> Option<u64> {
    type F = unsafe extern "C" fn(*mut u64, c_int) -> c_int;
    let p = driver_fn(&DEVICE_GET_MEM_POOL, c"cuDeviceGetMemPool");
    if p.is_null() {
        return None;
    }
    // SAFETY: the driver's cuDeviceGetMemPool, of this signature.
    let f: F = unsafe { std::mem::transmute(p) };
    let mut pool: u64 = 0;
    // SAFETY: a valid out-pointer.
    (unsafe { f(&mut pool, device) } == 0 && pool != 0).then_some(pool)
}
