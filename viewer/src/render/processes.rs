//! The reports of a run's processes: the processes table, leaking processes first, then each
//! process's report; as JSON, one document holding them all.

use std::fmt::Write as _;
use std::path::Path;

use gpuleak_analysis::growth::Verdict;
use gpuleak_analysis::units::{bytes, count};

use crate::findings::{device_verdict, leak_lines};
use crate::input::{Proc, is_one_run};

/// The processes table and each process's report, leaking processes first; headed "A run of
/// N processes" for one run's traces, "N traces" for traces named that are not one run's.
pub fn text(procs: &[Proc], top: usize) -> String {
    let mut s = String::new();
    let leaking = procs.iter().filter(|p| p.leaks()).count();
    let what = if is_one_run(procs.iter().map(|p| p.path.as_path())) {
        format!(
            "A run of {}",
            count(procs.len() as u64, "process", "processes")
        )
    } else {
        count(procs.len() as u64, "trace", "traces")
    };
    let _ = writeln!(
        s,
        "{what}{}:",
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
            Verdict::Leak.as_str()
        } else {
            device_verdict(&r.iterations).unwrap_or("-")
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
        s.push_str(&super::text::render_text(&p.report, top));
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
                "device_verdict": device_verdict(&r.iterations),
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

/// What `--fail-on leak` says of these processes.
pub fn leak_lines_of(procs: &[Proc]) -> Vec<String> {
    let procs: Vec<_> = procs
        .iter()
        .map(|p| (p.path.as_path(), &p.report))
        .collect();
    leak_lines(&procs)
}
