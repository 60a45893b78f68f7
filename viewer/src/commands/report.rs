//! `gpuleak report`: a run's traces read back, as text for people, JSON for tools or an HTML
//! page; `--fail-on leak` makes a leak the exit status, `--fail-on hidden-leak` a leak the
//! report says a caching allocator may hide.

use gpuleak_analysis::units::count;

use crate::cli::{FailOn, ReportArgs, ReportFormat};
use crate::error::Fail;
use crate::findings::hidden_leak_lines;
use crate::input::{load_all, options, traces_of};
use crate::model::Model;
use crate::render::text::render_text;
use crate::render::{html, processes};

pub fn report(args: &ReportArgs) -> Result<i32, Fail> {
    let options = options(args.iteration_range.as_deref())?;
    let paths = traces_of(&args.files)?;
    let (out, leaks, hidden) = if args.format == ReportFormat::Html {
        // The page draws memory over time: each process's trace is read with its timeline.
        let models = Model::load_all(&paths, &options)?;
        let leaks = html::leak_lines(&models);
        let pairs: Vec<_> = models
            .iter()
            .map(|m| (m.path.as_path(), &m.report))
            .collect();
        let hidden = hidden_leak_lines(&pairs);
        (html::render(&models, args.top), leaks, hidden)
    } else {
        let procs = load_all(&paths, &options)?;
        let out = match (args.format, &procs[..]) {
            (ReportFormat::Json, [one]) => one.report.to_json() + "\n",
            (ReportFormat::Json, all) => processes::json(all) + "\n",
            (_, [one]) => render_text(&one.report, args.top),
            (_, all) => processes::text(all, args.top),
        };
        let pairs: Vec<_> = procs
            .iter()
            .map(|p| (p.path.as_path(), &p.report))
            .collect();
        let hidden = hidden_leak_lines(&pairs);
        (out, processes::leak_lines_of(&procs), hidden)
    };
    match &args.output {
        Some(path) => crate::output::write_output(path, out.as_bytes(), true)?,
        None => crate::output::emit(out.as_bytes())
            .map_err(|e| Fail::new(1, format!("cannot write the report: {e}")))?,
    }
    let mut code = 0;
    // Said on stderr, so a CI log shows why the job failed whatever the format.
    if args.fail_on.contains(&FailOn::Leak) && !leaks.is_empty() {
        eprintln!(
            "gpuleak: --fail-on leak: {} {}: {}",
            count(leaks.len() as u64, "site", "sites"),
            if leaks.len() == 1 { "leaks" } else { "leak" },
            leaks.join("; ")
        );
        code = 1;
    }
    if args.fail_on.contains(&FailOn::HiddenLeak) && !hidden.is_empty() {
        eprintln!("gpuleak: --fail-on hidden-leak: {}", hidden.join("; "));
        code = 1;
    }
    Ok(code)
}
