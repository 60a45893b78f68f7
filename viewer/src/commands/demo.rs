//! `gpuleak demo`: gpuleak's own diffusion sampler (`gpuleak-sampler`, from kernels/) run with a
//! leak under `gpuleak run`, on the real GPU when there is one, otherwise on gpuleak's fake CUDA
//! driver (a test double built with the workspace), saying which. Both are found beside gpuleak
//! in a cargo build, or in the `demo` folder of the installed wheel's Python package (the wheel
//! ships them for the demo alone: see docs/install.md).

use std::ffi::{CStr, OsString, c_int};
use std::path::{Path, PathBuf};

use clap::Parser;

use super::hook::installed_package;
use super::run::Ended;
use crate::cli::{Cli, Command, DemoArgs};
use crate::error::{EXIT_USAGE, Fail};

/// The sampler's binary, built beside gpuleak by `cargo build`.
const SAMPLER: &str = "gpuleak-sampler";

/// The wheel's copies of the sampler and the fake driver, in its Python package.
const PACKAGE_DEMO: &str = "demo";

/// The sampler beside gpuleak (a cargo build), else the wheel's.
fn find_sampler(exe_dir: &Path) -> Option<PathBuf> {
    let beside = exe_dir.join(SAMPLER);
    if beside.is_file() {
        return Some(beside);
    }
    let packaged = installed_package(exe_dir)?.join(PACKAGE_DEMO).join(SAMPLER);
    packaged.is_file().then_some(packaged)
}

/// The CUDA driver the demo's sampler will load.
#[derive(Debug)]
enum Driver {
    /// The system's libcuda.so.1, with this many devices.
    Real(i32),
    /// gpuleak's fake driver, already found through LD_LIBRARY_PATH.
    FakeInPath,
    /// No usable driver: the fake one has to be put in LD_LIBRARY_PATH.
    None,
}

/// What `dlopen("libcuda.so.1")` finds in this process's library path, and whether it sees a
/// device. Asked here rather than left to the sampler, so that a machine with the driver
/// installed but no GPU still gets the fake driver.
fn probe_driver() -> Driver {
    // SAFETY: dlopen/dlsym with NUL-terminated names; the functions are called with the
    // driver API's signatures (cuInit(unsigned), cuDeviceGetCount(int *)).
    unsafe {
        let h = libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL);
        if h.is_null() {
            return Driver::None;
        }
        if !libc::dlsym(h, c"fakeCudaLaunchCount".as_ptr()).is_null() {
            return Driver::FakeInPath;
        }
        let sym = |name: &CStr| libc::dlsym(h, name.as_ptr());
        let (init, count) = (sym(c"cuInit"), sym(c"cuDeviceGetCount"));
        if init.is_null() || count.is_null() {
            return Driver::None;
        }
        let init: extern "C" fn(u32) -> c_int = std::mem::transmute(init);
        let count: extern "C" fn(*mut c_int) -> c_int = std::mem::transmute(count);
        let mut n: c_int = 0;
        if init(0) != 0 || count(&mut n) != 0 || n < 1 {
            return Driver::None;
        }
        Driver::Real(n)
    }
}

/// The build command that makes the binaries found in `exe_dir` (target/debug or
/// target/release).
fn build_command(exe_dir: &Path) -> &'static str {
    if exe_dir.file_name().is_some_and(|n| n == "debug") {
        "cargo build"
    } else {
        "cargo build --release"
    }
}

/// The newest `<exe_dir>/build/gpuleak-tests-*/out/fake-cuda` holding a libcuda.so.1 (a cargo
/// build), else the wheel's copy.
fn find_fake_driver(exe_dir: &Path) -> Option<PathBuf> {
    built_fake_driver(exe_dir).or_else(|| {
        let packaged = installed_package(exe_dir)?
            .join(PACKAGE_DEMO)
            .join("fake-cuda");
        packaged.join("libcuda.so.1").is_file().then_some(packaged)
    })
}

fn built_fake_driver(exe_dir: &Path) -> Option<PathBuf> {
    let build = std::fs::read_dir(exe_dir.join("build")).ok()?;
    build
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("gpuleak-tests-")
        })
        .map(|e| e.path().join("out").join("fake-cuda"))
        .filter_map(|dir| {
            let modified = std::fs::metadata(dir.join("libcuda.so.1"))
                .and_then(|m| m.modified())
                .ok()?;
            Some((modified, dir))
        })
        .max()
        .map(|(_, dir)| dir)
}

fn parse(args: Vec<OsString>) -> Result<Command, Fail> {
    Cli::try_parse_from(args)
        .map_err(|e| Fail::new(EXIT_USAGE, format!("demo: {}", e.to_string().trim())))?
        .command
        .ok_or_else(|| Fail::new(1, "demo: its command line has no subcommand"))
}

pub fn demo(args: &DemoArgs) -> Result<i32, Fail> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .ok_or_else(|| Fail::new(EXIT_USAGE, "cannot find gpuleak's own location"))?;
    let build = build_command(&exe_dir);
    let sampler = find_sampler(&exe_dir).ok_or_else(|| {
        Fail::new(
            EXIT_USAGE,
            format!(
                "the demo sampler is not built: no {} (build it from the gpuleak workspace with \
                 `{build}`, or install the gpuleak wheel, which ships it)",
                exe_dir.join(SAMPLER).display()
            ),
        )
    })?;
    let driver = if args.fake_cuda {
        Driver::None
    } else {
        probe_driver()
    };
    let fake = !matches!(driver, Driver::Real(_));
    match driver {
        Driver::Real(n) => eprintln!(
            "gpuleak demo: running on the real GPU ({n} device{} seen by libcuda.so.1)",
            if n == 1 { "" } else { "s" }
        ),
        Driver::FakeInPath => eprintln!(
            "gpuleak demo: LD_LIBRARY_PATH leads to gpuleak's fake CUDA driver (a test double: \
             kernels are not executed); running on it"
        ),
        Driver::None => {
            let fake = find_fake_driver(&exe_dir).ok_or_else(|| {
                Fail::new(
                    EXIT_USAGE,
                    format!(
                        "no GPU here, and gpuleak's fake CUDA driver is not built (no {}/build/\
                         gpuleak-tests-*/out/fake-cuda/libcuda.so.1): build it from the gpuleak \
                         workspace with `{build}`, or install the gpuleak wheel, which ships it",
                        exe_dir.display()
                    ),
                )
            })?;
            eprintln!(
                "gpuleak demo: {}; running on gpuleak's fake CUDA driver (a test double: kernels \
                 are not executed, only their launches counted): {}",
                if args.fake_cuda {
                    "--fake-cuda given"
                } else {
                    "no GPU here (no usable libcuda.so.1)"
                },
                fake.display()
            );
            let mut path = fake.into_os_string();
            if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
                path.push(":");
                path.push(old);
            }
            // SAFETY: gpuleak has started no thread yet (the run below starts none before it
            // spawns the sampler), so nothing reads the environment concurrently.
            unsafe { std::env::set_var("LD_LIBRARY_PATH", path) };
        }
    }

    let output = args
        .output
        .clone()
        .unwrap_or_else(|| free_name(Path::new(".")));
    // Through the command line, so that `gpuleak demo` stays exactly `gpuleak run` on the
    // sampler, whatever options run gains.
    let mut run: Vec<OsString> = vec!["gpuleak".into(), "run".into()];
    if args.no_tui {
        run.push("--no-tui".into());
    }
    run.extend(["-o".into(), output.clone().into_os_string(), "--".into()]);
    run.push(sampler.into_os_string());
    for a in [
        "--leak".to_string(),
        args.leak.name(),
        "--steps".into(),
        args.steps.to_string(),
        "--images".into(),
        args.images.to_string(),
    ] {
        run.push(a.into());
    }
    if args.mark {
        run.push("--mark".into());
    }
    let step_ms = args
        .step_ms
        .unwrap_or(if fake && !args.no_tui { 60 } else { 0 });
    if step_ms > 0 {
        run.push("--step-ms".into());
        run.push(step_ms.to_string().into());
    }
    let Command::Run(run_args) = parse(run)? else {
        return Err(Fail::new(
            1,
            "demo: its run command line parsed as something else",
        ));
    };
    let code = match super::run::run_until(&run_args)? {
        Ended::Exited(code) => code,
        Ended::Detached => {
            // The sampler runs on: its trace is not saved yet, it is still being written.
            eprintln!(
                "gpuleak demo: the sampler is still recording to {0}; `gpuleak view {0}` \
                 follows it, `gpuleak report {0}` reports on it once it ends",
                output.display()
            );
            return Ok(0);
        }
    };
    if code != 0 {
        return Ok(code);
    }
    if args.no_tui {
        let report = vec![
            OsString::from("gpuleak"),
            "report".into(),
            output.clone().into_os_string(),
        ];
        let Command::Report(report_args) = parse(report)? else {
            return Err(Fail::new(
                1,
                "demo: its report command line parsed as something else",
            ));
        };
        let code = super::report::report(&report_args)?;
        eprintln!(
            "gpuleak demo: trace saved in {0}; `gpuleak view {0}` browses it",
            output.display()
        );
        return Ok(code);
    }
    eprintln!(
        "gpuleak demo: trace saved in {0}; `gpuleak report {0}` prints the report, `gpuleak view \
         {0}` browses it",
        output.display()
    );
    Ok(0)
}

/// The first of `gpuleak-demo.trace`, `gpuleak-demo-2.trace`, ... not in `dir`: a demo run again
/// keeps the trace of the last one.
fn free_name(dir: &Path) -> PathBuf {
    (1..)
        .map(|n| match n {
            1 => PathBuf::from("gpuleak-demo.trace"),
            n => PathBuf::from(format!("gpuleak-demo-{n}.trace")),
        })
        .find(|p| std::fs::symlink_metadata(dir.join(p)).is_err())
        .unwrap_or_default()
}
