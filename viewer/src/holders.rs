//! Asking a running process for holders, for `gpuleak holders` and the live view alike: the
//! request file beside its trace, whether the process still runs, and why one did not answer.
//! What a walk found, and how it is said, is the analysis' ([`gpuleak_analysis::holders`]).

use std::path::{Path, PathBuf};

use gpuleak_analysis::Replay;

/// The file that asks a running process for a walk: the hook looks for it beside the process's
/// own trace, removes it, and writes a Holders record (reason on demand) shortly after.
pub fn request_path(trace: &Path) -> PathBuf {
    let mut name = trace.as_os_str().to_owned();
    name.push(".want-holders");
    PathBuf::from(name)
}

/// Asks the process of `trace` for a walk: makes the request file beside its trace (one left
/// there already stands) and returns its path.
pub fn ask(trace: &Path) -> std::io::Result<PathBuf> {
    let request = request_path(trace);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&request)?;
    Ok(request)
}

/// Whether a process is running (not a zombie waiting to be reaped): one that is not will
/// never answer a request.
pub fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Why a process asked did not answer in `waited` seconds, as far as can be told from outside:
/// whether it took the request (the hook removes the file) and whether it runs Python at all.
pub fn no_answer_why(replay: &Replay, picked_up: bool, waited: f64) -> String {
    let python = replay
        .sites()
        .keys()
        .any(|k| replay.python_stack(k.stack).is_some_and(|s| !s.is_empty()));
    if picked_up {
        format!(
            "took the request but gave no answer in {waited} s: the walk waits until the \
             program lets the interpreter run Python"
        )
    } else if !python {
        format!(
            "did not answer in {waited} s: not a Python program (no Python frames in its \
             trace); holders are found in Python programs only"
        )
    } else {
        format!(
            "did not take the request in {waited} s (a hook without on-demand holders, or one \
             that cannot run Python in this process)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_sits_beside_the_process_trace() {
        assert_eq!(
            request_path(Path::new("/srv/run.trace.12345")),
            Path::new("/srv/run.trace.12345.want-holders")
        );
    }
}
