//! What the commands read: the traces of a run (a launcher's workers write theirs beside the
//! first, `TRACE.<pid>`), each loaded and replayed, with the report options the command line
//! asks for. Any failure is one line naming the file.

use std::path::{Path, PathBuf};

use gpuleak_analysis::{Replay, Report, ReportOptions, Symbolizer};

use crate::error::{EXIT_USAGE, Fail, decode_fail};
use crate::findings::report_leaks;
use crate::format::{process_name, warn_ends_early};

/// The report options the command line asks for; a pattern that is no regular expression is one
/// line naming what is wrong with it.
pub fn options(iteration_range: Option<&str>) -> Result<ReportOptions, Fail> {
    let iteration_range = match iteration_range {
        None => None,
        Some(p) => Some(regex::Regex::new(p).map_err(|e| {
            // The regex crate explains syntax errors over several lines; the last says what.
            let text = e.to_string();
            let why = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ")
                .to_string();
            Fail::new(
                EXIT_USAGE,
                format!("--iteration-range {p:?}: not a regular expression: {why}"),
            )
        })?),
    };
    Ok(ReportOptions { iteration_range })
}

/// Reads and replays a whole trace; any error is one line naming the file and the byte.
pub fn load(path: &Path) -> Result<Replay, Fail> {
    let mut reader = gpuleak_trace::open(path).map_err(|e| decode_fail(path, e))?;
    Replay::from_reader(&mut reader).map_err(|e| decode_fail(path, e))
}

/// One process of a run: its trace and the report built from it.
pub struct Proc {
    pub path: PathBuf,
    pub report: Report,
}

impl Proc {
    pub fn leaks(&self) -> bool {
        report_leaks(&self.report)
    }

    /// "pid 1234, rank 2" (the rank when a launcher set it).
    pub fn name(&self) -> String {
        process_name(&self.path, &self.report)
    }
}

/// A path as the file it names, however it is spelled (the file itself need not exist).
fn identity(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match path.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// Whether traces are one run's: a trace and its workers' `FILE.<pid>` beside it, or those
/// workers alone. Traces named that are not (two runs compared side by side) are not a run.
pub fn is_one_run<'a>(paths: impl IntoIterator<Item = &'a Path>) -> bool {
    let main_of = |p: &Path| {
        let p = identity(p);
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        match name.as_deref().and_then(|n| n.rsplit_once('.')) {
            Some((main, pid)) if pid_digits(pid).is_some() => p.with_file_name(main),
            _ => p,
        }
    };
    let mut mains = paths.into_iter().map(main_of);
    let first = mains.next();
    mains.all(|m| Some(&m) == first.as_ref())
}

/// The traces a report covers: the files named (each once), and, for a single file, its workers'
/// `FILE.<pid>` beside it (the file itself may be absent: a launcher that made no CUDA call
/// writes none). In the order given, then by pid.
pub fn traces_of(files: &[PathBuf]) -> Result<Vec<PathBuf>, Fail> {
    // A file named twice (`a.trace ./a.trace`) is one process.
    let mut seen = std::collections::HashSet::new();
    let files: Vec<PathBuf> = files
        .iter()
        .filter(|f| seen.insert(identity(f)))
        .cloned()
        .collect();
    if files.len() != 1 {
        return Ok(files);
    }
    let main = &files[0];
    let mut siblings = siblings(main);
    if siblings.is_empty() || main.is_file() {
        siblings.insert(0, (0, main.clone()));
    }
    if siblings.is_empty() {
        return Err(decode_fail(
            main,
            gpuleak_trace::DecodeError::Io(std::io::ErrorKind::NotFound.into()),
        ));
    }
    Ok(siblings.into_iter().map(|(_, p)| p).collect())
}

/// `FILE.<pid>` files beside `main`, by pid.
fn siblings(main: &Path) -> Vec<(u32, PathBuf)> {
    let dir = match main.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = main.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let pid = sibling_pid(&name, &file)?;
            Some((pid, main.with_file_name(&file)))
        })
        .collect();
    found.sort();
    found
}

/// The pid in `FILE.<pid>`, the name the hook gives a process's trace when `FILE` is taken (a
/// launcher's worker, a forked child); `None` for any other name.
pub fn sibling_pid(main: &str, file: &str) -> Option<u32> {
    let rest = file.strip_prefix(main)?.strip_prefix('.')?;
    pid_digits(rest)
}

/// A pid written in decimal, nothing else.
pub fn pid_digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Reports of every trace, leaking processes first (then as given).
pub fn load_all(
    paths: &[PathBuf],
    options: &gpuleak_analysis::ReportOptions,
) -> Result<Vec<Proc>, Fail> {
    let mut symbols = Symbolizer::new();
    let mut procs = Vec::with_capacity(paths.len());
    for path in paths {
        let replay = load(path)?;
        if let Some(at) = replay.truncated_at() {
            warn_ends_early(path, at, "reporting");
        }
        procs.push(Proc {
            path: path.clone(),
            report: Report::build_with(&replay, &mut symbols, options),
        });
    }
    // Stable: among leaking (or healthy) processes the order given stays.
    procs.sort_by_key(|p| !p.leaks());
    Ok(procs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_and_its_workers_are_found_by_pid() {
        let dir = std::env::temp_dir().join(format!("gpuleak-procs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "run.trace.12",
            "run.trace.7",
            "run.trace.x",
            "run.trace.7.log",
            "other.trace",
        ] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let main = dir.join("run.trace");
        // The launcher wrote no trace of its own: its workers are the run.
        let got = traces_of(std::slice::from_ref(&main)).unwrap();
        assert_eq!(got, [dir.join("run.trace.7"), dir.join("run.trace.12")]);
        std::fs::write(&main, b"").unwrap();
        let got = traces_of(std::slice::from_ref(&main)).unwrap();
        assert_eq!(got[0], main);
        assert_eq!(got.len(), 3);
        // Files named one by one are taken as they are.
        let named = [dir.join("other.trace"), main.clone()];
        assert_eq!(traces_of(&named).unwrap(), named);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
