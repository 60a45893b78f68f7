//! NVML, asked which processes use a device and how much of its memory each holds: the one
//! thing the driver cannot tell a process about others. `libnvidia-ml.so.1` is opened at the
//! first question and kept (never closed: the program may hold its functions too); each
//! question is one `nvmlInit_v2` … `nvmlShutdown` pair, so NVML's initialisation count is the
//! program's own again afterwards, whatever the program did with it.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_ulonglong, c_void};
use std::sync::OnceLock;

use libloading::Library;

const SUCCESS: c_int = 0;
const ERROR_INSUFFICIENT_SIZE: c_int = 7;
/// `usedGpuMemory` when NVML cannot say (NVML_VALUE_NOT_AVAILABLE).
const NOT_AVAILABLE: u64 = u64::MAX;
/// Processes that start between two calls make the list grow again; a few tries suffice.
const TRIES: usize = 4;

/// `nvmlProcessInfo_t`, the entry of `nvmlDeviceGetComputeRunningProcesses_v3` (nvml.h, CUDA 12).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ProcessInfo {
    pid: c_uint,
    used_gpu_memory: c_ulonglong,
    gpu_instance_id: c_uint,
    compute_instance_id: c_uint,
}

type Init = unsafe extern "C" fn() -> c_int;
type HandleByBusId = unsafe extern "C" fn(*const c_char, *mut *mut c_void) -> c_int;
type RunningProcesses = unsafe extern "C" fn(*mut c_void, *mut c_uint, *mut ProcessInfo) -> c_int;
type ErrorString = unsafe extern "C" fn(c_int) -> *const c_char;

struct Nvml {
    init: Init,
    shutdown: Init,
    by_bus_id: HandleByBusId,
    running: RunningProcesses,
    error_string: Option<ErrorString>,
    /// Kept so that the functions above stay mapped; a static's value is never dropped.
    _lib: Library,
}

/// One process on the device: its pid and NVML's figure for it (`None`: NVML cannot say).
pub type Process = (u32, Option<u64>);

/// The processes on the device at this PCI bus id (`0000:01:00.0`), or why NVML cannot say, in
/// the user's words.
pub fn processes_on(pci_bus_id: &str) -> Result<Vec<Process>, String> {
    let nvml = nvml()?;
    // SAFETY: NVML's own nvmlInit_v2; it counts initialisations and may be called from any
    // thread at any time.
    let r = unsafe { (nvml.init)() };
    if r != SUCCESS {
        return Err(format!("NVML did not start ({})", nvml.says(r)));
    }
    let answer = ask(nvml, pci_bus_id);
    // Pairs the nvmlInit_v2 above: the program's own initialisations are still counted.
    // SAFETY: NVML's own nvmlShutdown, after a successful nvmlInit_v2 of this thread.
    unsafe { (nvml.shutdown)() };
    answer
}

fn ask(nvml: &Nvml, pci_bus_id: &str) -> Result<Vec<Process>, String> {
    let bus = CString::new(pci_bus_id).map_err(|_| "a PCI bus id with a NUL".to_string())?;
    let mut device: *mut c_void = std::ptr::null_mut();
    // SAFETY: a NUL-terminated string and a valid out-pointer; NVML is initialised.
    let r = unsafe { (nvml.by_bus_id)(bus.as_ptr(), &mut device) };
    if r != SUCCESS {
        return Err(format!(
            "NVML did not find the device at PCI bus id {pci_bus_id} ({})",
            nvml.says(r)
        ));
    }
    let mut infos = vec![ProcessInfo::default(); 16];
    for _ in 0..TRIES {
        let mut count = infos.len() as c_uint;
        // SAFETY: `count` entries of the v3 layout are writable at `infos`; the handle is
        // NVML's own.
        let r = unsafe { (nvml.running)(device, &mut count, infos.as_mut_ptr()) };
        match r {
            SUCCESS => {
                let n = (count as usize).min(infos.len());
                return Ok(infos[..n]
                    .iter()
                    .map(|p| {
                        let used =
                            (p.used_gpu_memory != NOT_AVAILABLE).then_some(p.used_gpu_memory);
                        (p.pid, used)
                    })
                    .collect());
            }
            ERROR_INSUFFICIENT_SIZE => {
                let want = (count as usize).max(infos.len() * 2) + 8;
                infos.resize(want.min(1 << 16), ProcessInfo::default());
            }
            _ => {
                return Err(format!(
                    "NVML did not list the processes on the device ({})",
                    nvml.says(r)
                ));
            }
        }
    }
    Err("NVML's list of processes kept growing".to_string())
}

impl Nvml {
    /// NVML's words for a return code, with the code.
    fn says(&self, r: c_int) -> String {
        let text = self.error_string.and_then(|f| {
            // SAFETY: nvmlErrorString returns a static string for any code (or NULL).
            let p = unsafe { f(r) };
            // SAFETY: when not NULL, a NUL-terminated static string.
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        });
        match text {
            Some(t) => format!("{t}, NVML error {r}"),
            None => format!("NVML error {r}"),
        }
    }
}

fn nvml() -> Result<&'static Nvml, String> {
    static NVML: OnceLock<Result<Nvml, String>> = OnceLock::new();
    NVML.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Nvml, String> {
    // SAFETY: opening NVML runs its constructors, which a program may run at any time by loading
    // it itself (PyTorch does at its first out-of-memory report); if it is already loaded this is
    // the same library.
    let lib = unsafe { Library::new("libnvidia-ml.so.1") }
        .map_err(|e| format!("NVML is not available ({e})"))?;
    /// A function of NVML by name, of the type the caller names.
    fn get<T: Copy>(lib: &Library, name: &str) -> Result<T, String> {
        // SAFETY: each name below is NVML's function of the type it is taken as (nvml.h).
        unsafe { lib.get::<T>(name.as_bytes()) }
            .map(|s| *s)
            .map_err(|_| format!("NVML lacks {name}"))
    }
    Ok(Nvml {
        init: get(&lib, "nvmlInit_v2")?,
        shutdown: get(&lib, "nvmlShutdown")?,
        by_bus_id: get(&lib, "nvmlDeviceGetHandleByPciBusId_v2")?,
        running: get(&lib, "nvmlDeviceGetComputeRunningProcesses_v3")?,
        error_string: get(&lib, "nvmlErrorString").ok(),
        _lib: lib,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 40 processes on the device: more than the first buffer holds.
    const MANY: c_uint = 40;

    unsafe extern "C" fn ok() -> c_int {
        SUCCESS
    }

    unsafe extern "C" fn by_bus_id(bus: *const c_char, device: *mut *mut c_void) -> c_int {
        // SAFETY: `ask` passes a NUL-terminated string and a valid out-pointer.
        let bus = unsafe { CStr::from_ptr(bus) };
        if bus.to_bytes() != b"0000:01:00.0" {
            return 6;
        }
        // SAFETY: as above.
        unsafe { *device = std::ptr::dangling_mut::<c_void>() };
        SUCCESS
    }

    /// As NVML: a count below the list's is answered with the count needed.
    unsafe extern "C" fn running(
        _: *mut c_void,
        count: *mut c_uint,
        infos: *mut ProcessInfo,
    ) -> c_int {
        // SAFETY: `ask` passes its buffer's length in `count` and the buffer.
        unsafe {
            if *count < MANY {
                *count = MANY;
                return ERROR_INSUFFICIENT_SIZE;
            }
            for i in 0..MANY {
                let used = if i == 0 {
                    NOT_AVAILABLE
                } else {
                    u64::from(i) << 20
                };
                *infos.add(i as usize) = ProcessInfo {
                    pid: 1000 + i,
                    used_gpu_memory: used,
                    gpu_instance_id: u32::MAX,
                    compute_instance_id: u32::MAX,
                };
            }
            *count = MANY;
        }
        SUCCESS
    }

    fn fake() -> Nvml {
        Nvml {
            init: ok,
            shutdown: ok,
            by_bus_id,
            running,
            error_string: None,
            _lib: libloading::os::unix::Library::this().into(),
        }
    }

    #[test]
    fn a_list_longer_than_the_first_buffer_is_asked_for_again_in_full() {
        let got = ask(&fake(), "0000:01:00.0").unwrap();
        assert_eq!(got.len(), MANY as usize);
        assert_eq!(got[0], (1000, None), "NVML's 'not available' is no figure");
        assert_eq!(got[39], (1039, Some(39 << 20)));
    }

    #[test]
    fn a_device_nvml_does_not_know_is_said_in_words() {
        let err = ask(&fake(), "0000:02:00.0").unwrap_err();
        assert_eq!(
            err,
            "NVML did not find the device at PCI bus id 0000:02:00.0 (NVML error 6)"
        );
    }
}
