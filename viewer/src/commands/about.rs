//! What gpuleak says about itself: `--version` (its version, the hook `run` would preload and
//! the trace format it writes).

use std::path::{Path, PathBuf};

use super::hook::{VERSION, check_hook_version, hook_version, locate_hook};

/// The lines of `gpuleak --version`. A missing hook or one of another version is said, not
/// refused: `--version` is what a user runs to find out why `run` refuses it.
pub fn version_text(
    flag: Option<&Path>,
    env: Option<std::ffi::OsString>,
    exe_dir: Option<PathBuf>,
) -> String {
    let hook = match locate_hook(flag, env, exe_dir) {
        Ok(found) => {
            let version = std::fs::read(&found.path)
                .ok()
                .and_then(|b| hook_version(&b))
                .unwrap_or_else(|| "unknown".into());
            let verdict = match check_hook_version(&found) {
                Ok(()) => String::new(),
                Err(_) => format!(" (not {VERSION}: `gpuleak run` refuses it)"),
            };
            format!(
                "{} ({}), version {version}{verdict}",
                found.path.display(),
                found.from
            )
        }
        Err(fail) => format!("none: {}", fail.message),
    };
    format!(
        "gpuleak {VERSION}\nhook: {hook}\ntrace format: version {} (reads {} to {})\n",
        gpuleak_trace::FORMAT_VERSION,
        gpuleak_trace::encode::OLDEST_READABLE_VERSION,
        gpuleak_trace::FORMAT_VERSION
    )
}

/// `gpuleak --version` for this process: the hook as `gpuleak run` without `--hook` finds it.
pub fn version() -> i32 {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    print!(
        "{}",
        version_text(None, std::env::var_os("GPULEAK_HOOK"), exe_dir)
    );
    0
}
