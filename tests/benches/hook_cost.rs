//! What an intercepted call costs the profiled program: the hook over the fake driver, with
//! stacks off and on, and per frame of stack depth.
//!
//! Needs the release hook: `cargo build --release && cargo bench -p gpuleak-tests --bench hook_cost`.
//! GPULEAK_STACKS is read once per process, so the bench runs itself once per mode. The modes
//! inherit the environment: `GPULEAK_UNWIND=libgcc` measures native stacks with libgcc's
//! unwinder instead of the default CFI walk.
//!
//! Python stacks are measured from Python (`programs/python_sampler.py --bench`): alloc/free
//! pairs through `ctypes.PyDLL` (the GIL held, as in a C extension) and `ctypes.CDLL` (the GIL
//! released, as around PyTorch's ops), without the hook and with each GPULEAK_STACKS mode, at
//! two Python call depths. `GPULEAK_BENCH_MODE=python` runs only that part.

use std::ffi::c_void;
use std::hint::black_box;
use std::os::raw::{c_int, c_uint};
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};

type Alloc = unsafe extern "C" fn(*mut u64, usize) -> c_uint;
type Free = unsafe extern "C" fn(u64) -> c_uint;

type LaunchKernel = unsafe extern "C" fn(
    *mut c_void,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    c_uint,
    *mut c_void,
    *mut *mut c_void,
    *mut *mut c_void,
) -> c_uint;

struct Driver {
    alloc: Alloc,
    free: Free,
    launch: LaunchKernel,
    _libs: Vec<Library>,
}

/// Loads the fake driver and, with the hook, takes cuMemAlloc_v2/cuMemFree_v2 through the hook's
/// `dlsym` the way cudarc does: the measured path is the wrapper a dlopen+dlsym program gets.
fn load(with_hook: bool) -> Driver {
    type Dlsym = unsafe extern "C" fn(*mut c_void, *const std::ffi::c_char) -> *mut c_void;
    let fake = gpuleak_tests::fake_cuda_dir().join("libcuda.so.1");
    // SAFETY: the fake driver and the hook are gpuleak's own libraries; each symbol is taken with
    // the C signature the driver API declares for it, and the libraries stay loaded for the run.
    unsafe {
        let cuda =
            Library::open(Some(&fake), RTLD_NOW | RTLD_GLOBAL).expect("load the fake driver");
        let init: unsafe extern "C" fn(c_uint) -> c_int = *cuda.get(b"cuInit\0").unwrap();
        assert_eq!(init(0), 0);
        let retain: unsafe extern "C" fn(*mut *mut c_void, c_int) -> c_int =
            *cuda.get(b"cuDevicePrimaryCtxRetain\0").unwrap();
        let set: unsafe extern "C" fn(*mut c_void) -> c_int =
            *cuda.get(b"cuCtxSetCurrent\0").unwrap();
        let mut ctx = std::ptr::null_mut();
        assert_eq!(retain(&mut ctx, 0), 0);
        assert_eq!(set(ctx), 0);
        let mut libs = Vec::new();
        let (alloc, free, launch): (Alloc, Free, LaunchKernel) = if with_hook {
            let hook =
                Library::open(Some(gpuleak_tests::hook_path()), RTLD_NOW).expect("load the hook");
            let dlsym: Dlsym = *hook.get(b"dlsym\0").unwrap();
            let handle = cuda.into_raw();
            let a = dlsym(handle, c"cuMemAlloc_v2".as_ptr());
            let f = dlsym(handle, c"cuMemFree_v2".as_ptr());
            let l = dlsym(handle, c"cuLaunchKernel".as_ptr());
            let cuda = Library::from_raw(handle);
            assert!(!a.is_null() && !f.is_null());
            assert_ne!(
                a,
                *cuda.get::<*mut c_void>(b"cuMemAlloc_v2\0").unwrap(),
                "not wrapped"
            );
            libs.push(hook);
            libs.push(cuda);
            (
                std::mem::transmute::<*mut c_void, Alloc>(a),
                std::mem::transmute::<*mut c_void, Free>(f),
                std::mem::transmute::<*mut c_void, LaunchKernel>(l),
            )
        } else {
            let a: Alloc = *cuda.get(b"cuMemAlloc_v2\0").unwrap();
            let f: Free = *cuda.get(b"cuMemFree_v2\0").unwrap();
            let l: LaunchKernel = *cuda.get(b"cuLaunchKernel\0").unwrap();
            libs.push(cuda);
            (a, f, l)
        };
        Driver {
            alloc,
            free,
            launch,
            _libs: libs,
        }
    }
}

#[inline(never)]
fn pair_at_depth(d: &Driver, depth: usize) {
    if depth > 1 {
        pair_at_depth(d, black_box(depth - 1));
        black_box(());
        return;
    }
    let mut p = 0u64;
    // SAFETY: cuMemAlloc_v2/cuMemFree_v2 of the loaded driver, with a valid out-pointer, freeing
    // only what was just allocated.
    unsafe {
        assert_eq!((d.alloc)(&mut p, 4096), 0);
        assert_eq!((d.free)(p), 0);
    }
}

/// What the `dlsym` hook costs on names it does not wrap (every program pays this, CUDA or not),
/// next to glibc's own `dlsym` and to a name it does wrap.
fn dlsym_cost(c: &mut Criterion) {
    type Dlsym = unsafe extern "C" fn(*mut c_void, *const std::ffi::c_char) -> *mut c_void;
    let fake = gpuleak_tests::fake_cuda_dir().join("libcuda.so.1");
    // SAFETY: libc, the fake driver and the hook stay loaded for the run; `dlsym` is called with
    // their handles and NUL-terminated names, as its C signature says.
    unsafe {
        let libc_h = Library::open(Some("libc.so.6"), RTLD_NOW)
            .unwrap()
            .into_raw();
        let cuda = Library::open(Some(&fake), RTLD_NOW).unwrap().into_raw();
        let hook =
            Library::open(Some(gpuleak_tests::hook_path()), RTLD_NOW).expect("load the hook");
        let hooked: Dlsym = *hook.get(b"dlsym\0").unwrap();
        let plain: Dlsym = *Library::open(Some("libc.so.6"), RTLD_NOW)
            .unwrap()
            .get(b"dlsym\0")
            .unwrap();
        let mut g = c.benchmark_group("dlsym");
        g.bench_function("glibc/malloc", |b| {
            b.iter(|| plain(black_box(libc_h), black_box(c"malloc".as_ptr())))
        });
        g.bench_function("hook/malloc", |b| {
            b.iter(|| hooked(black_box(libc_h), black_box(c"malloc".as_ptr())))
        });
        g.bench_function("glibc/cuCtxSynchronize", |b| {
            b.iter(|| plain(black_box(cuda), black_box(c"cuCtxSynchronize".as_ptr())))
        });
        g.bench_function("glibc/cuMemAlloc_v2", |b| {
            b.iter(|| plain(black_box(cuda), black_box(c"cuMemAlloc_v2".as_ptr())))
        });
        g.bench_function("hook/cuCtxSynchronize_unwrapped", |b| {
            b.iter(|| hooked(black_box(cuda), black_box(c"cuCtxSynchronize".as_ptr())))
        });
        g.bench_function("hook/cuMemAlloc_v2_wrapped", |b| {
            b.iter(|| hooked(black_box(cuda), black_box(c"cuMemAlloc_v2".as_ptr())))
        });
        g.finish();
        std::mem::forget(hook);
    }
}

fn run(mode: &str) {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    if mode == "dlsym" {
        dlsym_cost(&mut c);
        c.final_summary();
        return;
    }
    let d = load(mode != "baseline");
    let mut g = c.benchmark_group(format!("hook/{mode}"));
    // An alloc/free pair is two events.
    g.throughput(Throughput::Elements(2));
    let depths: &[usize] = if mode == "native" {
        &[1, 10, 20, 40]
    } else {
        &[1]
    };
    if mode != "native" {
        // Launches are recorded without a stack whatever GPULEAK_STACKS says.
        let mut kernel = 0u8;
        let f = &mut kernel as *mut u8 as *mut c_void;
        g.throughput(Throughput::Elements(1));
        g.bench_function("cu_launch_kernel", |b| {
            // SAFETY: cuLaunchKernel of the fake driver, which only counts the launch; null
            // parameters are what a kernel without arguments passes.
            b.iter(|| unsafe {
                let (null, none) = (std::ptr::null_mut(), std::ptr::null_mut());
                assert_eq!(
                    (d.launch)(black_box(f), 1, 1, 1, 32, 1, 1, 0, null, none, none),
                    0
                );
            })
        });
        g.throughput(Throughput::Elements(2));
    }
    for &depth in depths {
        g.bench_function(format!("alloc_free_pair/depth_{depth}"), |b| {
            b.iter(|| pair_at_depth(&d, black_box(depth)))
        });
    }
    g.finish();
    c.final_summary();
}

/// ns per alloc/free pair of `python_sampler.py --bench`, the best of `rounds` runs.
fn python_pair_ns(
    stacks: Option<&str>,
    dll: &str,
    nest: u32,
    pairs: u32,
    rounds: u32,
) -> Option<f64> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/python_sampler.py");
    let mut best: Option<f64> = None;
    for _ in 0..rounds {
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .args(["--bench", &pairs.to_string(), "--nest", &nest.to_string()])
            .args(["--dll", dll])
            .env("LD_LIBRARY_PATH", gpuleak_tests::fake_cuda_dir())
            .env("GPULEAK_OUTPUT", "/dev/null")
            .env_remove("LD_PRELOAD")
            .env_remove("GPULEAK_STACKS");
        if let Some(mode) = stacks {
            cmd.env("LD_PRELOAD", gpuleak_tests::hook_path());
            if mode != "default" {
                cmd.env("GPULEAK_STACKS", mode);
            }
        }
        let out = cmd.output().ok()?;
        if !out.status.success() {
            eprintln!("python_sampler.py --bench failed: {out:?}");
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let ns: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("bench "))?
            .trim()
            .parse()
            .ok()?;
        best = Some(best.map_or(ns, |b: f64| b.min(ns)));
    }
    best
}

/// The cost per event with Python stacks, as a table: an alloc/free pair is two events.
fn python_cost() {
    if Command::new("python3").arg("-V").output().is_err() {
        eprintln!("python stacks: skipped, no python3");
        return;
    }
    const PAIRS: u32 = 100_000;
    println!("\npython stacks: ns per alloc/free pair (2 events), best of 5 runs of {PAIRS} pairs");
    // ctypes.PyDLL keeps the GIL during the call (as a C extension that does not release it);
    // ctypes.CDLL releases it (as PyTorch's ops, pybind11's gil_scoped_release, Cython's nogil).
    for (dll, gil) in [("pydll", "GIL held"), ("cdll", "GIL released")] {
        println!(
            "{:<28} {:>14} {:>14}",
            format!("mode ({gil})"),
            "6 Python frames",
            "25 Python frames"
        );
        for (name, stacks) in [
            ("no hook", None),
            ("GPULEAK_STACKS=off", Some("off")),
            ("GPULEAK_STACKS=native", Some("native")),
            ("GPULEAK_STACKS=python", Some("python")),
            ("GPULEAK_STACKS=all", Some("all")),
        ] {
            let shallow = python_pair_ns(stacks, dll, 1, PAIRS, 5);
            let deep = python_pair_ns(stacks, dll, 20, PAIRS, 5);
            let show = |v: Option<f64>| v.map_or("failed".to_string(), |v| format!("{v:.0}"));
            println!("{name:<28} {:>14} {:>14}", show(shallow), show(deep));
        }
    }
}

fn main() {
    if let Ok(mode) = std::env::var("GPULEAK_BENCH_MODE") {
        if mode == "python" {
            return python_cost();
        }
        return run(&mode);
    }
    let exe = std::env::current_exe().expect("own path");
    // native_10: stacks capped at 10 frames, the "typical 10-frame stack" of the cost target.
    // `_file`: the trace written to a regular file (through the hook's mapping of it), as in a
    // real run; the others write to /dev/null (through the writer thread).
    for mode in [
        "baseline",
        "off",
        "off_file",
        "native_10",
        "native_10_file",
        "native",
        "dlsym",
    ] {
        let stacks = if mode.starts_with("native") {
            "native"
        } else {
            "off"
        };
        let depth = if mode.starts_with("native_10") {
            "10"
        } else {
            "64"
        };
        let file =
            std::env::temp_dir().join(format!("gpuleak-bench-{}-{mode}.trace", std::process::id()));
        let output = if mode.ends_with("_file") {
            file.as_os_str()
        } else {
            "/dev/null".as_ref()
        };
        let status = Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .env("GPULEAK_BENCH_MODE", mode)
            .env("GPULEAK_STACKS", stacks)
            .env("GPULEAK_STACK_DEPTH", depth)
            .env("GPULEAK_OUTPUT", output)
            .status()
            .expect("run the bench for one mode");
        let _ = std::fs::remove_file(&file);
        assert!(status.success(), "bench mode {mode} failed");
    }
    python_cost();
}
