//! The hook library `gpuleak run` preloads: where it is (a flag, the environment, beside the
//! executable in a cargo build, in the Python package of a wheel) and whether it is of this
//! gpuleak's version, read from the file without loading it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{EXIT_USAGE, Fail, io_reason};

/// The hook's file name, looked for beside the gpuleak executable.
pub const HOOK_FILE: &str = "libgpuleak_hook.so";

/// The marker the hook carries in its file (`GPULEAK_HOOK_VERSION=<version>` then a NUL byte).
pub const HOOK_MARKER: &[u8] = b"GPULEAK_HOOK_VERSION=";

/// This gpuleak's version: the hook it preloads must be the same.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A hook library found, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundHook {
    pub path: PathBuf,
    pub from: HookSource,
}

/// Where a hook was found, in the order they are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookSource {
    Flag,
    Environment,
    BesideExecutable,
    Package,
}

impl HookSource {
    /// The words of `--version` and the errors.
    pub fn words(self) -> &'static str {
        match self {
            HookSource::Flag => "given with --hook",
            HookSource::Environment => "named by GPULEAK_HOOK",
            HookSource::BesideExecutable => "beside the gpuleak executable",
            HookSource::Package => "in the installed gpuleak Python package",
        }
    }
}

/// `--hook`, else `$GPULEAK_HOOK`, else `libgpuleak_hook.so` beside the gpuleak executable (a
/// cargo build), else in the `gpuleak` Python package installed with the executable (a wheel:
/// `<prefix>/bin/gpuleak` and `<prefix>/lib/pythonX.Y/site-packages/gpuleak/`); refused unless
/// it is a hook of this gpuleak's version.
pub fn find_hook(
    flag: Option<&Path>,
    env: Option<OsString>,
    exe_dir: Option<PathBuf>,
) -> Result<PathBuf, Fail> {
    let found = locate_hook(flag, env, exe_dir)?;
    check_hook_version(&found)?;
    Ok(found.path)
}

/// Where the hook is, without looking inside it.
pub fn locate_hook(
    flag: Option<&Path>,
    env: Option<OsString>,
    exe_dir: Option<PathBuf>,
) -> Result<FoundHook, Fail> {
    let (path, from) = if let Some(p) = flag {
        (p.to_path_buf(), HookSource::Flag)
    } else if let Some(p) = env.filter(|p| !p.is_empty()) {
        (PathBuf::from(p), HookSource::Environment)
    } else if let Some(dir) = exe_dir {
        let beside = dir.join(HOOK_FILE);
        match installed_package(&dir).filter(|_| !beside.is_file()) {
            Some(p) => (p.join(HOOK_FILE), HookSource::Package),
            None => (beside, HookSource::BesideExecutable),
        }
    } else {
        return Err(Fail::new(
            EXIT_USAGE,
            format!("cannot find {HOOK_FILE}: gpuleak's own location is unknown; use --hook PATH"),
        ));
    };
    if !path.is_file() {
        return Err(Fail::new(
            EXIT_USAGE,
            format!(
                "hook library not found: {} ({}); pass --hook PATH or set GPULEAK_HOOK",
                path.display(),
                from.words()
            ),
        ));
    }
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    // The loader splits LD_PRELOAD at spaces and colons; such a path would load something else.
    if path
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|b| *b == b':' || *b == b' ')
    {
        return Err(Fail::new(
            EXIT_USAGE,
            format!(
                "hook path {} contains a space or colon, which LD_PRELOAD cannot carry; \
                 copy the library elsewhere",
                path.display()
            ),
        ));
    }
    Ok(FoundHook { path, from })
}

/// The `gpuleak` Python package installed with this executable (a wheel): pip puts the command
/// in `<prefix>/bin` and the package in `<prefix>/lib/python3.X/site-packages/gpuleak` (a venv,
/// `--user`, conda or the system alike). It is known by the hook inside it; with several Python
/// versions in one prefix, the first in name order.
pub fn installed_package(exe_dir: &Path) -> Option<PathBuf> {
    let prefix = exe_dir.parent()?;
    let mut found: Vec<PathBuf> = ["lib", "lib64"]
        .iter()
        .filter_map(|lib| std::fs::read_dir(prefix.join(lib)).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .map(|e| e.path().join("site-packages/gpuleak"))
        .filter(|p| p.join(HOOK_FILE).is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// The version a hook library says it is, read from its bytes: loading it into gpuleak would run
/// its constructors, which start recording. `None` for a file without the marker.
pub fn hook_version(bytes: &[u8]) -> Option<String> {
    let at = bytes
        .windows(HOOK_MARKER.len())
        .position(|w| w == HOOK_MARKER)?
        + HOOK_MARKER.len();
    let rest = &bytes[at..];
    let end = rest.iter().take(64).position(|b| *b == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// Refuses a hook of another version than this gpuleak (its trace, its environment variables
/// and its marks may differ), or a file that is no gpuleak hook.
pub fn check_hook_version(hook: &FoundHook) -> Result<(), Fail> {
    let bytes = std::fs::read(&hook.path).map_err(|e| {
        Fail::new(
            EXIT_USAGE,
            format!(
                "cannot read the hook library {} ({}): {}",
                hook.path.display(),
                hook.from.words(),
                io_reason(&e)
            ),
        )
    })?;
    match hook_version(&bytes) {
        Some(v) if v == VERSION => Ok(()),
        Some(v) => Err(Fail::new(
            EXIT_USAGE,
            format!(
                "hook library {} ({}) is version {v}, this gpuleak is {VERSION}: use the hook \
                 built with it (pass --hook PATH or set GPULEAK_HOOK)",
                hook.path.display(),
                hook.from.words()
            ),
        )),
        None => Err(Fail::new(
            EXIT_USAGE,
            format!(
                "{} ({}) is not a gpuleak hook library (no version marker in it); pass --hook \
                 PATH or set GPULEAK_HOOK",
                hook.path.display(),
                hook.from.words()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gpuleak-hook-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_missing_hook_names_where_it_was_looked_for() {
        let d = scratch("nohook");
        let err = find_hook(None, None, Some(d.clone())).unwrap_err();
        assert_eq!(err.code, EXIT_USAGE);
        assert!(
            err.message
                .contains(&d.join(HOOK_FILE).display().to_string())
        );
        assert!(err.message.contains("beside the gpuleak executable"));
        let err = find_hook(None, Some("/nope/h.so".into()), Some(d.clone())).unwrap_err();
        assert!(err.message.contains("/nope/h.so") && err.message.contains("GPULEAK_HOOK"));
    }

    #[test]
    fn the_hook_flag_wins_over_the_environment_and_the_executable_dir() {
        let d = scratch("hooks");
        let flag = d.join("flag.so");
        let env = d.join("env.so");
        let hook = format!("\x7fELF..GPULEAK_HOOK_VERSION={VERSION}\0..");
        std::fs::write(&flag, &hook).unwrap();
        std::fs::write(&env, &hook).unwrap();
        std::fs::write(d.join(HOOK_FILE), &hook).unwrap();
        let found = find_hook(Some(&flag), Some(env.clone().into()), Some(d.clone())).unwrap();
        assert!(found.ends_with("flag.so"));
        let found = find_hook(None, Some(env.into()), Some(d.clone())).unwrap();
        assert!(found.ends_with("env.so"));
        let found = find_hook(None, None, Some(d.clone())).unwrap();
        assert!(found.ends_with(HOOK_FILE));
    }

    #[test]
    fn a_wheels_hook_is_found_in_its_package_and_a_cargo_builds_beside_the_executable() {
        let prefix = scratch("venv");
        let bin = prefix.join("bin");
        let package = prefix.join("lib/python3.11/site-packages/gpuleak");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join(HOOK_FILE), b"").unwrap();
        let found = locate_hook(None, None, Some(bin.clone())).unwrap();
        assert_eq!(found.path, package.join(HOOK_FILE).canonicalize().unwrap());
        assert_eq!(found.from, HookSource::Package);
        std::fs::write(bin.join(HOOK_FILE), b"").unwrap();
        let found = locate_hook(None, None, Some(bin.clone())).unwrap();
        assert_eq!(found.from, HookSource::BesideExecutable);
    }

    #[test]
    fn the_hooks_version_is_read_from_its_marker() {
        assert_eq!(
            hook_version(b"..GPULEAK_HOOK_VERSION=1.2.3\0GPULEAK").as_deref(),
            Some("1.2.3")
        );
        assert_eq!(hook_version(b"GPULEAK_HOOK_VERSION=1.2.3"), None);
        assert_eq!(hook_version(b"libcuda.so.1"), None);
    }
}
