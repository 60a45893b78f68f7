//! Where things are: the fake CUDA libraries and test programs built by `build.rs`, and the
//! workspace's own build outputs (which `cargo test` alone does not build).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The directory holding the fake `libcuda.so.1` and `libcudart.so.12` (test doubles).
pub const FAKE_CUDA_DIR: &str = env!("GPULEAK_FAKE_CUDA_DIR");
/// The directory holding the compiled test programs and `ctypes_alloc.py`.
pub const PROGRAMS_DIR: &str = env!("GPULEAK_TEST_PROGRAMS_DIR");

/// Default limit for one [`Run`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// File name (in the run's temporary directory) given to the hook through `GPULEAK_OUTPUT`.
pub const DEFAULT_TRACE_NAME: &str = "trace-%p.trace";

/// The directory holding the fake `libcuda.so.1` / `libcudart.so.12`.
pub fn fake_cuda_dir() -> PathBuf {
    PathBuf::from(FAKE_CUDA_DIR)
}

/// The directory holding the compiled test programs.
pub fn programs_dir() -> PathBuf {
    PathBuf::from(PROGRAMS_DIR)
}

/// The path of a test program (`"runtime_basic"`, `"ctypes_alloc.py"` ...); panics if absent.
pub fn program(name: &str) -> PathBuf {
    let path = programs_dir().join(name);
    assert!(
        path.exists(),
        "no test program {name} in {}",
        programs_dir().display()
    );
    path
}

/// `target/<profile>`: the grandparent of the running test executable
/// (`target/<profile>/deps/<test>-<hash>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("cannot find the target directory from {}", exe.display()))
        .to_path_buf()
}

fn built(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} does not exist: build the workspace first: cargo build --workspace",
        path.display()
    );
    path
}

/// `target/<profile>/libgpuleak_hook.so`; panics if it has not been built.
pub fn hook_path() -> PathBuf {
    built("libgpuleak_hook.so")
}

/// `target/<profile>/gpuleak`; panics if it has not been built.
pub fn gpuleak_bin() -> PathBuf {
    built("gpuleak")
}

/// Runs the C compiler (`cc`) with `args`; panics with its messages if it fails. For what a
/// test builds when it runs (a Python extension against the installed headers, a stub driver).
pub fn cc<I, S>(args: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new("cc").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run cc: {e}");
    });
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `target/<profile>/gpuleak-sampler` (the cudarc diffusion sampler of `kernels/`); panics if it
/// has not been built. It is another package's binary, which cargo builds for a test only when
/// the workspace is built first (`scripts/test.sh` does), like [`gpuleak_bin`].
pub fn sampler_bin() -> PathBuf {
    built("gpuleak-sampler")
}
