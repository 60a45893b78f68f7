//! A run is all its processes: a launcher (torchrun, accelerate, multiprocessing) starts workers,
//! each of which writes its own trace (`TRACE.<pid>` beside the first). `gpuleak report TRACE`
//! reads them all, `gpuleak report A B C` any set, and says which process leaks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gpuleak_analysis::units::{bytes, count};
use gpuleak_analysis::{Report, Symbolizer};

use crate::Fail;
use crate::report::{decode_fail, load};

/// One process of a run: its trace and the report built from it.
pub struct Proc {
    pub path: PathBuf,
    pub report: Report,
}

impl Proc {
    pub fn leaks(&self) -> bool {
        self.report.sites.iter().any(|s| s.leaks())
    }

    /// "pid 1234, rank 2" (the rank when a launcher set it).
    pub fn name(&self) -> String {
        match &self.report.process {
            Some(p) => match p.rank {
                Some(r) => format!("pid {}, rank {r}", p.pid),
                None => format!("pid {}", p.pid),
            },
            None => self.path.display().to_string(),
        }
    }
}

/// The traces a report covers: the files named, and, for a single file, its workers'
/// `FILE.<pid>` beside it (the file itself may be absent: a launcher that made no CUDA call
/// writes none). In the order given, then by pid.
pub fn traces_of(files: &[PathBuf]) -> Result<Vec<PathBuf>, Fail> {
    if files.len() != 1 {
        return Ok(files.to_vec());
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
            let rest = file.strip_prefix(&name)?.strip_prefix('.')?;
            let pid = (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
                .then(|| rest.parse().ok())
                .flatten()?;
            Some((pid, main.with_file_name(&file)))
        })
        .collect();
    found.sort();
    found
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
        if let Some(offset) = replay.truncated_at() {
            eprintln!(
                "gpuleak: warning: {}: trace ends early at byte {offset} (process killed?); \
                 reporting what was recorded before it",
                path.display()
            );
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

/// The processes table and each process's report, leaking processes first.
pub fn text(procs: &[Proc], top: usize) -> String {
    let mut s = String::new();
    let leaking = procs.iter().filter(|p| p.leaks()).count();
    let _ = writeln!(
        s,
        "A run of {}{}:",
        count(procs.len() as u64, "process", "processes"),
        match leaking {
            0 => String::new(),
            n => format!(", {n} leaking"),
        }
    );
    let _ = writeln!(
        s,
        "  {:<8} {:<5} {:<20} {:>10} {:>10}  {:<9} command",
        "pid", "rank", "device", "live", "peak", "verdict"
    );
    for p in procs {
        let r = &p.report;
        let (pid, rank, device, command) = match &r.process {
            Some(h) => (
                h.pid.to_string(),
                h.rank.map_or("-".to_string(), |r| r.to_string()),
                h.device.clone().unwrap_or_else(|| "-".to_string()),
                // The program by its name: the table is for telling workers apart.
                h.argv
                    .iter()
                    .enumerate()
                    .map(|(i, a)| match (i, Path::new(a).file_name()) {
                        (0, Some(name)) => name.to_string_lossy().into_owned(),
                        _ => a.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            None => (
                "?".into(),
                "-".into(),
                "-".into(),
                p.path.display().to_string(),
            ),
        };
        let verdict = if p.leaks() {
            "leak".to_string()
        } else {
            r.iterations
                .device_verdict()
                .map_or_else(|| "-".to_string(), |v| v.as_str().to_string())
        };
        let _ = writeln!(
            s,
            "  {pid:<8} {rank:<5} {:<20} {:>10} {:>10}  {verdict:<9} {}",
            truncate(&device, 20),
            bytes(r.gpu.live_bytes_at_end),
            bytes(r.gpu.peak_live_bytes),
            truncate(&command, 60)
        );
    }
    for p in procs {
        let _ = writeln!(s);
        let _ = writeln!(s, "== {} ({}) ==", p.name(), p.path.display());
        s.push_str(&crate::report::render_text(&p.report, top));
    }
    s
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 3).collect();
        format!("{cut}...")
    }
}

/// `{"schema": 1, "processes": [...]}`: each process's summary and whole report.
pub fn json(procs: &[Proc]) -> String {
    let list: Vec<serde_json::Value> = procs
        .iter()
        .map(|p| {
            let r = &p.report;
            serde_json::json!({
                "trace": p.path.display().to_string(),
                "pid": r.process.as_ref().map(|h| h.pid),
                "rank": r.process.as_ref().and_then(|h| h.rank),
                "local_rank": r.process.as_ref().and_then(|h| h.local_rank),
                "command": r.process.as_ref().map(|h| h.argv.clone()),
                "device": r.process.as_ref().and_then(|h| h.device.clone()),
                "live_bytes_at_end": r.gpu.live_bytes_at_end,
                "peak_live_bytes": r.gpu.peak_live_bytes,
                "leaks": p.leaks(),
                "device_verdict": r.iterations.device_verdict(),
                "report": r,
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "schema": gpuleak_analysis::SCHEMA,
        "processes": list,
    }))
    .unwrap_or_default()
}

/// "pid 1236, rank 2: grow_chunk (...) <- pool_alloc <- leak_latents (+2.00 MiB/iteration)" for
/// every leaking site of every process.
pub fn leak_lines(procs: &[Proc]) -> Vec<String> {
    let several = procs.len() > 1;
    procs
        .iter()
        .flat_map(|p| {
            p.report.sites.iter().filter(|s| s.leaks()).map(move |s| {
                let site = format!(
                    "{} ({}/iteration)",
                    s.label,
                    crate::tui::state::signed_bytes(s.bytes_per_iteration().unwrap_or(0))
                );
                if several {
                    format!("{}: {site}", p.name())
                } else {
                    site
                }
            })
        })
        .collect()
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
