//! `gpuleak run` preloads only the hook built with it: a missing hook, or one of another version,
//! is refused in one line before the program runs, and `--version` says which hook it found.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The real hook, beside the gpuleak binary under test (the workspace build puts both there).
fn built_hook() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_gpuleak"));
    let hook = bin.parent().unwrap().join("libgpuleak_hook.so");
    assert!(
        hook.is_file(),
        "{} is not built: cargo build --workspace",
        hook.display()
    );
    hook
}

/// A copy of the real hook whose marker says another version (same length, so the file is
/// otherwise the same library).
fn hook_of_another_version(d: &Path) -> (PathBuf, String) {
    let mut bytes = std::fs::read(built_hook()).unwrap();
    let marker = format!("GPULEAK_HOOK_VERSION={VERSION}\0");
    let other: String = VERSION
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_ne!(other, VERSION);
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .expect("the built hook carries its version marker");
    let from = at + "GPULEAK_HOOK_VERSION=".len();
    bytes[from..from + other.len()].copy_from_slice(other.as_bytes());
    let path = d.join("libgpuleak_hook.so");
    std::fs::write(&path, bytes).unwrap();
    (path, other)
}

/// `gpuleak run --hook HOOK -- touch ran`: whether the program ran shows in the file it leaves.
fn run_with(d: &Path, hook: &Path) -> Output {
    gpuleak(
        &[
            "run",
            "--no-tui",
            "--hook",
            hook.to_str().unwrap(),
            "-o",
            "t.trace",
            "--",
            "touch",
            "ran",
        ],
        d,
    )
}

fn one_line_refusal(o: &Output, d: &Path) -> String {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!d.join("ran").exists(), "the program must not run");
    err
}

#[test]
fn a_missing_hook_is_refused_in_one_line_before_the_program_runs() {
    let d = scratch("hook-missing");
    let o = run_with(&d, &d.join("absent.so"));
    let err = one_line_refusal(&o, &d);
    assert!(
        err.starts_with("gpuleak: hook library not found:") && err.contains("absent.so"),
        "{err}"
    );
}

#[test]
fn a_hook_of_another_version_is_refused_in_one_line_naming_both_versions() {
    let d = scratch("hook-other");
    let (hook, other) = hook_of_another_version(&d);
    let o = run_with(&d, &hook);
    let err = one_line_refusal(&o, &d);
    assert!(
        err.contains(&format!("is version {other}, this gpuleak is {VERSION}")),
        "{err}"
    );
}

#[test]
fn a_file_that_is_no_gpuleak_hook_is_refused() {
    let d = scratch("hook-none");
    let not_hook = d.join("libz.so");
    std::fs::write(&not_hook, b"\x7fELF not a hook").unwrap();
    let err = one_line_refusal(&run_with(&d, &not_hook), &d);
    assert!(err.contains("is not a gpuleak hook library"), "{err}");
}

#[test]
fn the_hook_built_with_gpuleak_is_preloaded_and_the_program_runs() {
    let d = scratch("hook-right");
    let o = run_with(&d, &built_hook());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(d.join("ran").exists());
}

#[test]
fn version_names_the_hook_it_would_preload_and_the_trace_format() {
    let d = scratch("hook-version");
    let o = gpuleak(&["--version"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let hook = built_hook().canonicalize().unwrap();
    assert_eq!(
        out,
        format!(
            "gpuleak {VERSION}\nhook: {} (beside the gpuleak executable), version {VERSION}\n\
             trace format: version {} (reads 1 to {})\n",
            hook.display(),
            gpuleak_trace::FORMAT_VERSION,
            gpuleak_trace::FORMAT_VERSION
        )
    );
}

#[test]
fn version_says_when_the_hook_it_finds_is_of_another_version() {
    let d = scratch("hook-version-other");
    let (hook, other) = hook_of_another_version(&d);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_gpuleak"))
        .arg("--version")
        .env("GPULEAK_HOOK", &hook)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "(named by GPULEAK_HOOK), version {other} (not {VERSION}: `gpuleak run` refuses it)"
        )),
        "{out}"
    );
}

#[test]
fn an_installed_wheels_command_finds_the_hook_in_its_python_package() {
    // The wheel's layout: <prefix>/bin/gpuleak and the package in site-packages.
    let prefix = scratch("hook-wheel");
    let bin = prefix.join("bin");
    let package = prefix.join("lib/python3.11/site-packages/gpuleak");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&package).unwrap();
    let exe = bin.join("gpuleak");
    // A hard link: the binary is large, and the executable's own path is what it reads.
    if std::fs::hard_link(env!("CARGO_BIN_EXE_gpuleak"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_gpuleak"), &exe).unwrap();
    }
    std::fs::copy(built_hook(), package.join("libgpuleak_hook.so")).unwrap();
    let o = std::process::Command::new(&exe)
        .arg("--version")
        .env_remove("GPULEAK_HOOK")
        .output()
        .unwrap();
    let out = stdout(&o);
    let expected = package.join("libgpuleak_hook.so").canonicalize().unwrap();
    assert!(
        out.contains(&format!(
            "hook: {} (in the installed gpuleak Python package), version {VERSION}",
            expected.display()
        )),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&prefix);
}
