//! `gpuleak report`: a run's traces read back, as text for people, JSON for tools or an HTML
//! page; `--fail-on leak` makes a leak the exit status.

use gpuleak_analysis::units::count;

use crate::cli::{FailOn, ReportArgs, ReportFormat};
use crate::error::Fail;
use crate::input::{load_all, options, traces_of};
use crate::model::Model;
use crate::render::text::render_text;
use crate::render::{html, processes};

pub fn report(args: &ReportArgs) -> Result<i32, Fail> {
    let options = options(args.iteration_range.as_deref())?;
    let paths = traces_of(&args.files)?;
    let (out, leaks) = if args.format == ReportFormat::Html {
        // The page draws memory over time: each process's trace is read with its timeline.
        let models = Model::load_all(&paths, &options)?;
        let leaks = html::leak_lines(&models);
        (html::render(&models, args.top), leaks)
    } else {
        let procs = load_all(&paths, &options)?;
        let out = match (args.format, &procs[..]) {
            (ReportFormat::Json, [one]) => one.report.to_json() + "\n",
            (ReportFormat::Json, all) => processes::json(all) + "\n",
            (_, [one]) => render_text(&one.report, args.top),
            (_, all) => processes::text(all, args.top),
        };
        (out, processes::leak_lines_of(&procs))
    };
    match &args.output {
        Some(path) => crate::output::write_output(path, out.as_bytes(), true)?,
        None => crate::output::emit(out.as_bytes())
            .map_err(|e| Fail::new(1, format!("cannot write the report: {e}")))?,
    }
    Ok(match args.fail_on {
        Some(FailOn::Leak) if !leaks.is_empty() => {
            // Said on stderr, so a CI log shows why the job failed whatever the format.
            eprintln!(
                "gpuleak: --fail-on leak: {} {}: {}",
                count(leaks.len() as u64, "site", "sites"),
                if leaks.len() == 1 { "leaks" } else { "leak" },
                leaks.join("; ")
            );
            1
        }
        _ => 0,
    })
}
