//! `gpuleak export`: a trace in the formats of the tools people already use. The model is read
//! once; one renderer per format writes the bytes; this picks the output path and writes it.

use std::path::{Path, PathBuf};

use crate::cli::{ExportArgs, ExportFormat};
use crate::error::Fail;
use crate::input::options;
use crate::model::Model;
use crate::output::{emit, refuse_existing, write_output};
use crate::render::{flamegraph, folded, memory_viz, perfetto, pprof, speedscope};

/// `gpuleak export TRACE --format FORMAT [-o OUT] [--what WHAT]`.
pub fn export(args: &ExportArgs) -> Result<i32, Fail> {
    let options = options(args.iteration_range.as_deref())?;
    let (out, explicit) = match &args.output {
        Some(o) => (o.clone(), true),
        None => (default_output(&args.file, args.format), false),
    };
    // Refused before the trace is read: a long replay should not end in "file exists".
    refuse_existing(&out, explicit)?;
    let needs_timeline = matches!(
        args.format,
        ExportFormat::MemoryViz | ExportFormat::Perfetto
    );
    let model = Model::load(&args.file, &options, args.what, needs_timeline)?;
    let bytes = match args.format {
        ExportFormat::Pprof => pprof::render(&model),
        ExportFormat::Folded => folded::render(&model).into_bytes(),
        ExportFormat::Flamegraph => flamegraph::render(&model)?,
        ExportFormat::Speedscope => speedscope::render(&model).into_bytes(),
        ExportFormat::MemoryViz => {
            let out = memory_viz::render(&model, args.max_entries)?;
            if let Some(note) = out.note {
                eprintln!("gpuleak: {note}");
            }
            out.bytes
        }
        ExportFormat::Perfetto => perfetto::render(&model, args.top).into_bytes(),
    };
    write_output(&out, &bytes, explicit)?;
    // The path written is said, unless the bytes went to a stream (`-`, `/dev/stdout`), where it
    // would be taken for part of them.
    if out.as_os_str() != "-" && out.is_file() {
        let _ = emit(format!("{}\n", out.display()).as_bytes());
    }
    Ok(0)
}

/// Beside the trace, with the format's usual extension: `run.trace.pb.gz`.
pub fn default_output(trace: &Path, format: ExportFormat) -> PathBuf {
    let mut name = trace.as_os_str().to_os_string();
    name.push(format.extension());
    PathBuf::from(name)
}

impl ExportFormat {
    /// What each format's files end with, as its tools expect.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Pprof => ".pb.gz",
            ExportFormat::Folded => ".folded",
            ExportFormat::Flamegraph => ".svg",
            ExportFormat::Speedscope => ".speedscope.json",
            ExportFormat::MemoryViz => ".pickle",
            ExportFormat::Perfetto => ".perfetto.json",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_output_sits_beside_the_trace() {
        assert_eq!(
            default_output(Path::new("runs/a.trace"), ExportFormat::Pprof),
            PathBuf::from("runs/a.trace.pb.gz")
        );
        assert_eq!(
            default_output(Path::new("a.trace"), ExportFormat::Speedscope),
            PathBuf::from("a.trace.speedscope.json")
        );
    }
}
