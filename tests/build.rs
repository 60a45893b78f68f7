//! Builds the fake CUDA driver and runtime (test doubles) and the C/C++ test programs.
//!
//! Outputs, exported to the crate as compile-time environment variables:
//! - `GPULEAK_FAKE_CUDA_DIR`: `$OUT_DIR/fake-cuda`, holding `libcuda.so.1` (+ `libcuda.so`) and
//!   `libcudart.so.12` (+ `libcudart.so`);
//! - `GPULEAK_TEST_PROGRAMS_DIR`: `$OUT_DIR/programs`, holding the programs of `programs/`
//!   (and a copy of `ctypes_alloc.py`, and `libinterposer.so`, which wraps `cuMemAlloc_v2` and
//!   `cudaMalloc`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A program: source file, linked against (`None`: no CUDA library), whether it is C++.
struct Program {
    source: &'static str,
    link: Option<&'static str>,
    cpp: bool,
}

const fn c(source: &'static str, link: Option<&'static str>) -> Program {
    Program {
        source,
        link,
        cpp: false,
    }
}

const PROGRAMS: &[Program] = &[
    c("runtime_basic.c", Some("cudart")),
    c("driver_linked.c", Some("cuda")),
    c("driver_dlopen.c", None),
    c("runtime_dlopen.c", None),
    c("threads.c", Some("cudart")),
    c("oom.c", Some("cudart")),
    c("nvml_owner.c", Some("cudart")),
    c("sleeper.c", Some("cudart")),
    c("forker.c", Some("cudart")),
    c("exit_thread.c", Some("cudart")),
    c("no_cuda.c", None),
    c("procaddress.c", None),
    c("static_runtime.c", None),
    c("cudarc_style.c", None),
    c("runtime_entry_point.c", Some("cudart")),
    c("vmm.c", Some("cuda")),
    c("pool.c", Some("cuda")),
    c("caching.c", Some("cuda")),
    c("multi_gpu.c", Some("cudart")),
    c("unbound_user.c", None),
    c("two_runtimes.c", None),
    c("long_run.c", Some("cudart")),
    c("exit_now.c", Some("cudart")),
    c("graph_nodes.c", Some("cuda")),
    c("graph_steps.c", Some("cudart")),
    c("arrays.c", Some("cuda")),
    c("host_register.c", Some("cuda")),
    c("ipc.c", Some("cuda")),
    c("late_dlopen.c", None),
    c("sampler.c", Some("cudart")),
    c("nvtx_sampler.c", Some("cudart")),
    c("unwind_chain.c", Some("cudart")),
    c("torch_runtime.c", Some("cudart")),
    c("blas_nvml.c", None),
    Program {
        source: "abort_uncaught.cpp",
        link: Some("cudart"),
        cpp: true,
    },
];

const HEADERS: &[&str] = &[
    "fake-cuda/fake_cuda.h",
    "fake-cuda/fake_cuda_runtime.h",
    "fake-cuda/fake_size.h",
    "programs/report.h",
    "programs/driver_calls.h",
    "programs/expect.h",
];

const SCRIPTS: &[&str] = &["ctypes_alloc.py"];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let fake_src = manifest.join("fake-cuda");
    let prog_src = manifest.join("programs");
    let fake_dir = out.join("fake-cuda");
    let prog_dir = out.join("programs");
    fs::create_dir_all(&fake_dir).unwrap();
    fs::create_dir_all(&prog_dir).unwrap();

    println!("cargo:rerun-if-changed=build.rs");
    for h in HEADERS {
        println!("cargo:rerun-if-changed={h}");
    }

    let cc = compiler(false);
    let cxx = compiler(true);

    // The doubles. -z defs: the runtime must not depend on libcuda symbols at link time (it
    // reaches the driver only through dlopen + cuGetProcAddress_v2, like the real one).
    let libs = [
        ("fake_cuda.c", "libcuda.so.1", "libcuda.so"),
        ("fake_cudart.c", "libcudart.so.12", "libcudart.so"),
        // For real PyTorch: its cuBLAS / cuBLASLt / NVML, as no-ops that succeed.
        ("fake_cublas.c", "libcublas.so.12", "libcublas.so"),
        ("fake_cublaslt.c", "libcublasLt.so.12", "libcublasLt.so"),
        ("fake_nvml.c", "libnvidia-ml.so.1", "libnvidia-ml.so"),
    ];
    let mut jobs = Vec::new();
    for (source, soname, link_name) in libs {
        println!("cargo:rerun-if-changed=fake-cuda/{source}");
        let mut cmd = Command::new(&cc.0);
        cmd.args(&cc.1)
            .args([
                "-std=gnu11",
                "-Wall",
                "-Wextra",
                "-O2",
                "-g",
                "-fPIC",
                "-shared",
                "-pthread",
            ])
            .arg(format!("-Wl,-soname,{soname}"))
            .args(["-Wl,-z,defs", "-o"])
            .arg(fake_dir.join(soname))
            .arg(fake_src.join(source))
            .arg("-ldl");
        jobs.push((source.to_string(), spawn(cmd)));
        link(&fake_dir, soname, link_name);
    }
    wait_all(jobs);

    // The programs: debug info and frame pointers so stacks symbolize, -rdynamic so the
    // executable's own functions are in its dynamic symbol table. No rpath: tests set
    // LD_LIBRARY_PATH, so the same binary runs on the fake or on a real CUDA.
    let mut jobs = Vec::new();
    for p in PROGRAMS {
        println!("cargo:rerun-if-changed=programs/{}", p.source);
        let tool = if p.cpp { &cxx } else { &cc };
        let stem = Path::new(p.source).file_stem().unwrap();
        let mut cmd = Command::new(&tool.0);
        cmd.args(&tool.1)
            .args([
                "-Wall",
                "-Wextra",
                "-g",
                "-O0",
                "-fno-omit-frame-pointer",
                "-rdynamic",
            ])
            .arg("-pthread")
            .arg("-I")
            .arg(&fake_src)
            .arg("-o")
            .arg(prog_dir.join(stem))
            .arg(prog_src.join(p.source));
        if let Some(lib) = p.link {
            cmd.arg("-L").arg(&fake_dir).arg(format!("-l{lib}"));
        }
        cmd.arg("-ldl");
        jobs.push((p.source.to_string(), spawn(cmd)));
    }
    wait_all(jobs);

    // The preload used to show that the fake's own pointers bypass interposers.
    println!("cargo:rerun-if-changed=programs/interposer.c");
    let mut cmd = Command::new(&cc.0);
    cmd.args(&cc.1)
        .args(["-Wall", "-Wextra", "-g", "-O2", "-fPIC", "-shared"])
        .arg("-I")
        .arg(&fake_src)
        .arg("-o")
        .arg(prog_dir.join("libinterposer.so"))
        .arg(prog_src.join("interposer.c"))
        .arg("-ldl");
    wait_all(vec![("interposer.c".to_string(), spawn(cmd))]);

    for s in SCRIPTS {
        println!("cargo:rerun-if-changed=programs/{s}");
        fs::copy(prog_src.join(s), prog_dir.join(s)).unwrap();
    }

    println!(
        "cargo:rustc-env=GPULEAK_FAKE_CUDA_DIR={}",
        fake_dir.display()
    );
    println!(
        "cargo:rustc-env=GPULEAK_TEST_PROGRAMS_DIR={}",
        prog_dir.display()
    );
}

/// The C (or C++) compiler the `cc` crate would use, with the flags it would pass for this
/// target (-m64, -fPIC ...), minus its optimisation and debug flags, which we set ourselves.
fn compiler(cpp: bool) -> (PathBuf, Vec<std::ffi::OsString>) {
    let lang = if cpp { "C++" } else { "C" };
    let tool = cc::Build::new()
        .cpp(cpp)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .try_get_compiler()
        .unwrap_or_else(|e| {
            panic!(
                "gpuleak-tests needs a {lang} compiler to build the fake CUDA libraries and the \
                 test programs, and none was found ({e}). Install gcc and g++ (Debian/Ubuntu: \
                 apt-get install gcc g++), or set CC/CXX."
            )
        });
    let path = tool.path().to_path_buf();
    let works = Command::new(&path)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        panic!(
            "gpuleak-tests needs a {lang} compiler to build the fake CUDA libraries and the test \
             programs; `{}` does not run. Install gcc and g++ (Debian/Ubuntu: apt-get install \
             gcc g++), or set CC/CXX.",
            path.display()
        );
    }
    let args = tool
        .args()
        .iter()
        .filter(|a| {
            let a = a.to_string_lossy();
            !(a.starts_with("-O") || a.starts_with("-g"))
        })
        .cloned()
        .collect();
    (path, args)
}

fn spawn(mut cmd: Command) -> (String, Child) {
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    (shown, child)
}

/// Waits for every compiler run; compiler warnings become cargo warnings, errors fail the build.
fn wait_all(jobs: Vec<(String, (String, Child))>) {
    let mut failed = Vec::new();
    for (source, (shown, child)) in jobs {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        for line in stderr.lines() {
            println!("cargo:warning={source}: {line}");
        }
        if !out.status.success() {
            failed.push(format!("{source}: {shown}\n{stderr}"));
        }
    }
    if !failed.is_empty() {
        panic!(
            "compiling the fake CUDA / test programs failed:\n{}",
            failed.join("\n")
        );
    }
}

/// `libcuda.so` -> `libcuda.so.1`, for `-lcuda` at link time.
fn link(dir: &Path, target: &str, name: &str) {
    let path = dir.join(name);
    let _ = fs::remove_file(&path);
    std::os::unix::fs::symlink(target, &path).unwrap();
}
