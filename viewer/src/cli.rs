//! The command line: what each subcommand takes, and the help text that explains it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::filter::What;

#[derive(Debug, Parser)]
#[command(
    name = "gpuleak",
    version,
    // `--version` says which hook `run` would preload, found at run time: gpuleak's own flag.
    disable_version_flag = true,
    subcommand_required = false,
    arg_required_else_help = true,
    about = "Find where GPU memory goes in CUDA programs, with no code change",
    long_about = "Find where GPU memory goes in CUDA programs, with no code change.\n\n\
        gpuleak runs your program with a small library preloaded (LD_PRELOAD) that records every \
        CUDA allocation and free with its call stack (Python frames too, for Python programs) \
        into a trace file, and shows it live in the terminal. It finds the program's iterations \
        (steps), tells which call sites grow memory every iteration (leaks) and when the device \
        will be full, and why an allocation failed for lack of memory: a leak, an input too \
        large for the device, one iteration's peak, or fragmentation. `gpuleak report`, `view` \
        and `diff` read a saved trace later.",
    after_help = "Examples:\n  \
        gpuleak run -- python sample.py --steps 50\n  \
        gpuleak run -o sd.trace ./sampler\n  \
        gpuleak report sd.trace\n  \
        gpuleak report --format json sd.trace > sd.json\n  \
        gpuleak view sd.trace\n  \
        gpuleak report --format html -o sd.html sd.trace\n  \
        gpuleak export --format pprof sd.trace   (then: go tool pprof -top sd.trace.pb.gz)\n  \
        gpuleak holders sd.trace        (what keeps the memory of a running Python program)\n  \
        gpuleak demo --no-tui            (a leaking diffusion sampler, on the fake driver without a GPU)\n  \
        gpuleak completions bash         (shell completions; gpuleak man: the man page)"
)]
pub struct Cli {
    /// Print gpuleak's version, the hook library `gpuleak run` would preload (where it was found,
    /// and its version) and the trace format version it writes.
    #[arg(short = 'V', long)]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Run(RunArgs),
    Report(ReportArgs),
    Diff(DiffArgs),
    View(ViewArgs),
    Export(ExportArgs),
    Holders(HoldersArgs),
    Demo(DemoArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// Print a shell completion script for gpuleak.
///
/// bash: `gpuleak completions bash > ~/.local/share/bash-completion/completions/gpuleak`;
/// zsh: `gpuleak completions zsh > ~/.zfunc/_gpuleak` (with ~/.zfunc in fpath);
/// fish: `gpuleak completions fish > ~/.config/fish/completions/gpuleak.fish`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print gpuleak's man page (roff), or a subcommand's.
///
/// `gpuleak man > ~/.local/share/man/man1/gpuleak.1`, `gpuleak man run >
/// ~/.local/share/man/man1/gpuleak-run.1`; `gpuleak man | man -l -` reads it at once.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (gpuleak-SUBCOMMAND(1)) [default: gpuleak(1)].
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

/// Write a trace in the format of another tool: pprof, flame graphs, speedscope, PyTorch's
/// memory_viz, Perfetto.
///
/// The GPU memory of the trace (device, managed, array, graph and physical memory; not pinned
/// host memory, mappings or reserved address space) by call stack, as the report finds it:
/// the same sites, frames (Python lines too) and verdicts. --what chooses which memory: what is
/// live at the end (default), what leaking sites hold, or everything allocated over the run.
/// The file goes beside the trace with the format's extension (run.trace.pb.gz, .folded, .svg,
/// .speedscope.json, .pickle, .perfetto.json) unless -o names another; its path is printed.
/// An existing file is replaced only when -o names it (-o - writes to standard output).
#[derive(Debug, Args)]
#[command(after_help = "Formats, and what opens them:\n  \
    pprof        gzipped profile.proto with Go's heap sample types (alloc_objects, alloc_space, \
    inuse_objects, inuse_space): go tool pprof -sample_index=inuse_space -top FILE, \
    or -http=: for its web UI\n  \
    folded       collapsed stacks, root first, one line per stack with its bytes: flamegraph.pl, \
    inferno-flamegraph, speedscope\n  \
    flamegraph   an SVG flame graph of the chosen bytes (drawn by inferno): any browser\n  \
    speedscope   speedscope's file format, one profile per measure (live bytes, live \
    allocations, bytes allocated, allocations): https://www.speedscope.app or `speedscope FILE`\n  \
    memory-viz   a PyTorch memory snapshot pickle (segments, device_traces, the latest \
    --max-entries allocations and frees): \
    https://pytorch.org/memory_viz, python -m torch.cuda._memory_viz stats|trace|trace_plot FILE\n  \
    perfetto     Chrome trace-event JSON: device memory and top sites as counters, iterations \
    as slices, out-of-memory failures as instants with their stacks: https://ui.perfetto.dev\n\n\
    Examples:\n  \
    gpuleak export --format pprof run.trace && go tool pprof -top run.trace.pb.gz\n  \
    gpuleak export --format flamegraph --what leaked -o leaks.svg run.trace\n  \
    gpuleak export --format folded -o - run.trace | flamegraph.pl > run.svg")]
pub struct ExportArgs {
    /// The trace file written by `gpuleak run` (only this process: each worker's FILE.<pid> is
    /// exported on its own).
    #[arg(value_name = "TRACE")]
    pub file: PathBuf,

    /// The format to write.
    #[arg(long, short, value_enum, value_name = "FORMAT")]
    pub format: ExportFormat,

    /// Where to write [default: TRACE with the format's extension, which must not exist yet].
    /// A file named here is replaced; `-` is standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Which memory: `live` at the end of the trace, `leaked` (what the sites the report calls
    /// a leak held at the last iteration, even if freed at exit), or everything `allocated` over the run. pprof carries all
    /// four measures and opens on the one chosen; the timelines (memory-viz, perfetto) show
    /// every allocation of the sites chosen.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = What::Live)]
    pub what: What,

    /// Perfetto: how many sites get their own counter track, largest first.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    /// memory-viz: the allocations and frees kept in the history, the latest ones, as PyTorch's
    /// `max_entries` keeps its history (0: all); what is cut is said on stderr. The segments
    /// live at the end are always all there.
    #[arg(long, value_name = "N", default_value_t = crate::filter::MAX_ENTRIES)]
    pub max_entries: usize,

    /// NVTX ranges whose name matches REGEX mark iterations, as for `gpuleak report`.
    #[arg(long, value_name = "REGEX")]
    pub iteration_range: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Gzipped profile.proto for `go tool pprof`.
    Pprof,
    /// Collapsed stacks for flame graph tools.
    Folded,
    /// An SVG flame graph.
    Flamegraph,
    /// speedscope's JSON file format.
    Speedscope,
    /// A PyTorch memory snapshot pickle for memory_viz.
    MemoryViz,
    /// Chrome trace-event JSON for Perfetto's UI.
    Perfetto,
}

/// Browse a trace in a terminal UI; a trace still being written is followed live.
///
/// An overview (device memory over time with iteration ticks and OOM marks, and the findings),
/// a table of call sites with the selected site's whole stack and its growth per iteration, the
/// live allocations, and per-iteration allocated / freed / net. On a complete trace, [ and ] (or
/// the arrows left and right) move a time cursor: the live set at the end of any iteration.
/// Tab switches screens, j/k or the arrows move, / filters by frame text, s sorts, p pauses,
/// ? lists every key, q quits. Colour is left out when NO_COLOR is set. It needs a terminal
/// (without one, `gpuleak report FILE`); a file that is not a trace is refused at once.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// The trace file written by `gpuleak run`; its workers' FILE.<pid> beside it are the run's
    /// other processes, as for `gpuleak report` (n and N switch between them).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// NVTX ranges whose name matches REGEX mark iterations, as for `gpuleak report`.
    #[arg(long, value_name = "REGEX")]
    pub iteration_range: Option<String>,
}

/// Show what keeps device memory alive in a Python program: the holders.
///
/// For each owner of device memory (a PyTorch tensor's storage, an object with
/// __cuda_array_interface__), the reference path from a root to it in the program's words
/// (`GALLERY[3]`, `pipe.unet.down_blocks[0]...weight`, a local of a suspended generator), its
/// role (parameter, buffer, gradient, optimizer state, autograd graph, held by user code,
/// reachable from C only), its size and the model it belongs to; holders that differ only in
/// indices grouped (`GALLERY[*]` ×12), largest first, with totals by role and by model: each walk
/// as `gpuleak report` says it in its Holders section, under one line per process. The walk runs
/// inside the program, under the hook.
///
/// For a run still being recorded, each live process of the run (or the one --pid names) is
/// asked for a walk (an empty file TRACE.want-holders beside its trace, which the hook removes),
/// and its answer is waited for (--wait). For a finished trace, the walks the report shows are
/// shown without asking: at exit, at each out-of-memory failure, and the last one asked for.
///
/// Exit status: 0 when every process has holders to show; 1 when one did not answer or is gone
/// (each said on stderr, with why); 2 for a trace or --pid that does not exist.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    gpuleak holders run.trace\n  \
    gpuleak holders --pid 12345 --wait 30 run.trace\n  \
    gpuleak holders --json run.trace > holders.json")]
pub struct HoldersArgs {
    /// The trace file of the run, as `gpuleak run -o` wrote it (its workers' FILE.<pid> beside
    /// it are the run's other processes).
    #[arg(value_name = "TRACE")]
    pub file: PathBuf,

    /// Only the process with this pid.
    #[arg(long, value_name = "N")]
    pub pid: Option<u32>,

    /// Seconds to wait for a running process to answer (a walk takes up to about 2 s, and
    /// starts once the program lets the interpreter run Python: one busy in C answers later).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub wait: f64,

    /// JSON for tools: every process with its state and its snapshots, each the report's
    /// `holders[]` object (reason, end, entries, by_role, by_model, groups, ...).
    #[arg(long)]
    pub json: bool,
}

/// Compare two traces site by site.
///
/// Sites are matched by their symbolized call stacks (not stack ids, which differ between
/// runs). Lists each site's memory live at the end and growth per iteration in both traces,
/// largest change in live memory first.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The trace to compare against (before).
    #[arg(value_name = "A")]
    pub a: PathBuf,

    /// The trace compared (after).
    #[arg(value_name = "B")]
    pub b: PathBuf,

    /// `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// NVTX ranges whose name matches REGEX (a regular expression, unanchored) mark iterations:
    /// each push or start of the range begins one. When several names match, the one that occurs
    /// most often. Without this option the outermost range that repeats at least 3 times does;
    /// iterations marked with gpuleak_mark_iteration take precedence over either.
    #[arg(long, value_name = "REGEX")]
    pub iteration_range: Option<String>,
}

/// Run a program and record its GPU memory use.
///
/// The program runs with the gpuleak hook preloaded (put in front of any LD_PRELOAD already
/// set). The trace file is created when the program first calls CUDA; a program that never does
/// leaves no file. Child processes that use CUDA write their own trace beside it, named
/// FILE.<pid>. Ctrl-C reaches the program as usual; SIGINT and SIGTERM sent to gpuleak are passed
/// on to it. gpuleak exits with the program's exit code (128 + signal if it was killed).
///
/// When stdout is a terminal, the live view shows the run as it goes (every process that uses
/// CUDA; n switches between them); its output goes to FILE.log meanwhile. When the program
/// ends the view stays, with its exit status, until q. q while it still runs leaves it running
/// and recording (gpuleak then exits 0); Ctrl-C in the view sends it SIGINT.
#[derive(Debug, Args)]
#[command(after_help = "Environment:\n  \
    GPULEAK_HOOK    the hook library, when --hook is not given\n\n\
    NVTX_INJECTION64_PATH  set to the hook, so that programs using NVTX v3 (PyTorch's \
    torch.cuda.nvtx, for one) report their ranges; one already set is kept, and then NVTX ranges \
    are not seen\n\n\
    The program sees GPULEAK_OUTPUT (the trace path; %p in it becomes the process id), LD_PRELOAD \
    and NVTX_INJECTION64_PATH (and GPULEAK_MAX_SIZE with --max-size).")]
pub struct RunArgs {
    /// Where to write the trace [default: gpuleak-<command>-<pid>.trace in the current directory].
    /// A file of that name must not exist: a trace is never replaced.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Record only; do not show the live view. Without it, the live view opens when stdout is
    /// a terminal (and not otherwise): the program's stdout and stderr then go to FILE.log
    /// beside the trace and its stdin is /dev/null, since the view owns the terminal. Use
    /// --no-tui for a program that talks to the terminal.
    #[arg(long)]
    pub no_tui: bool,

    /// The hook library to preload [default: $GPULEAK_HOOK, else libgpuleak_hook.so beside the
    /// gpuleak executable].
    #[arg(long, value_name = "PATH")]
    pub hook: Option<PathBuf>,

    /// NVTX ranges whose name matches REGEX (a regular expression, unanchored) mark iterations:
    /// each push or start of the range begins one. When several names match, the one that occurs
    /// most often. Without this option the outermost range that repeats at least 3 times does;
    /// iterations marked with gpuleak_mark_iteration take precedence over either.
    #[arg(long, value_name = "REGEX")]
    pub iteration_range: Option<String>,

    /// PyTorch: make every tensor an allocation event by switching the caching allocator to
    /// `backend:cudaMallocAsync` in PYTORCH_ALLOC_CONF and PYTORCH_CUDA_ALLOC_CONF (both set,
    /// to what either held merged with it, so that every PyTorch version reads it and 2.9 does not
    /// warn; a different backend is replaced, with a note). Without it, PyTorch's events are its caching
    /// allocator's segments (cudaMalloc) or, with expandable_segments:True, VMM calls.
    #[arg(long)]
    pub torch_tensors: bool,

    /// Keep each process's trace under SIZE on disk (512M, 2G; at least 1M), for runs of hours:
    /// the trace is written in segments, each starting with what was live then, and the oldest
    /// are dropped. Reports read what is kept: live bytes stay exact, totals and iterations
    /// count from the oldest kept segment, and the report says what was dropped. Sets
    /// GPULEAK_MAX_SIZE.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_size)]
    pub max_size: Option<u64>,

    /// The program to run and its arguments. Put `--` before it when its own options could be
    /// taken for gpuleak's.
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

/// Summarise a recorded trace.
///
/// Findings come first: every call site whose device memory leaks (grows each iteration and is
/// never given back), saws (grows over runs of iterations, then falls back) or plateaus, with its
/// growth per iteration and, for a leak, the iteration at which the device would be full.
/// Iterations are what the program marked with gpuleak_mark_iteration; without markers, the
/// openings of an NVTX range (see --iteration-range); without those, the repeating sequence of
/// kernel launches; failing that, fixed time windows stand in for them (and the report says so).
/// With --fail-on leak the exit status is 1 when any site leaks; with --fail-on hidden-leak, when
/// the report says that a caching allocator may hide a leak.
///
/// Shows totals for device memory (managed memory, arrays and graph memory included), pinned host
/// memory and every other kind of memory apart (VMM physical memory, mappings, reserved address
/// space, registered host memory, imported memory), what async frees returned to pools, the call
/// sites with the most memory still allocated at the end, and every allocation that failed for
/// lack of memory with what was live at that moment. A trace cut short (the program was killed)
/// is reported up to where it ends, with a warning.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The trace file written by `gpuleak run`. Its workers' traces beside it (`FILE.<pid>`,
    /// written by the processes the program started) are read with it, as one run: a table of
    /// processes first, leaking ones first, then each one's report. Several files name the
    /// processes to read, and no others (each once; traces that are not one run's are headed
    /// as so many traces, not as a run).
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,

    /// `text` for people, `json` for tools (every site, stable field names), `html`: one
    /// self-contained page (no network, no external script or style) with the diagnosis, a
    /// chart of device memory over iterations by site, the findings with their stacks, the
    /// iterations and the out-of-memory failures. With several processes the JSON is
    /// `{"schema": 1, "processes": [...]}`, each with its whole report, and the page has one
    /// section per process.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// Write the report to OUT (replaced if it exists) instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// How many sites the text and HTML reports list (json lists all).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    /// Exit with status 1 when the trace shows a problem of these kinds (a comma-separated list;
    /// `leak`: some site's live memory grows steadily over iterations and is not given back;
    /// `hidden-leak`: the report says that a leak may be hidden by a caching allocator, whose
    /// segments do not grow while what it hands out from them may: record again with what the
    /// report names, such as `gpuleak run --torch-tensors`); 0 otherwise. The report is printed
    /// either way. For CI: `--fail-on leak,hidden-leak` fails on both.
    #[arg(long, value_enum, value_name = "WHAT", value_delimiter = ',')]
    pub fail_on: Vec<FailOn>,

    /// NVTX ranges whose name matches REGEX (a regular expression, unanchored) mark iterations:
    /// each push or start of the range begins one. When several names match, the one that occurs
    /// most often. Without this option the outermost range that repeats at least 3 times does;
    /// iterations marked with gpuleak_mark_iteration take precedence over either.
    #[arg(long, value_name = "REGEX")]
    pub iteration_range: Option<String>,
}

fn parse_max_size(text: &str) -> Result<u64, String> {
    match gpuleak_trace::parse_size(text) {
        Some(n) if n >= 1 << 20 => Ok(n),
        Some(_) => Err("the smallest cap is 1M".into()),
        None => Err("not a size: write it as 512M, 2G or a number of bytes".into()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Leak,
    HiddenLeak,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Html,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("gpuleak").chain(args.iter().copied()))
    }

    fn run_args(args: &[&str]) -> RunArgs {
        match parse(args).expect("parses").command {
            Some(Command::Run(r)) => r,
            other => panic!("expected run, got {other:?}"),
        }
    }

    #[test]
    fn every_subcommand_takes_an_iteration_range() {
        for args in [
            &["report", "--iteration-range", "^step$", "a.trace"][..],
            &["diff", "--iteration-range", "^step$", "a", "b"],
            &["run", "--iteration-range", "^step$", "--", "prog"],
        ] {
            let pattern = match parse(args).expect("parses").command {
                Some(Command::Report(r)) => r.iteration_range,
                Some(Command::Diff(d)) => d.iteration_range,
                Some(Command::Run(r)) => r.iteration_range,
                Some(Command::View(v)) => v.iteration_range,
                Some(Command::Export(e)) => e.iteration_range,
                _ => None,
            };
            assert_eq!(pattern.as_deref(), Some("^step$"));
        }
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_the_command_after_a_double_dash() {
        let r = run_args(&[
            "run", "-o", "x.trace", "--", "python", "-u", "s.py", "--steps", "5",
        ]);
        assert_eq!(r.output, Some(PathBuf::from("x.trace")));
        assert_eq!(r.command, ["python", "-u", "s.py", "--steps", "5"]);
        assert!(!r.no_tui);
    }

    #[test]
    fn run_options_after_the_command_belong_to_the_command() {
        let r = run_args(&["run", "--no-tui", "./sampler", "--hook", "-o", "y"]);
        assert!(r.no_tui);
        assert_eq!(r.hook, None);
        assert_eq!(r.output, None);
        assert_eq!(r.command, ["./sampler", "--hook", "-o", "y"]);
    }

    #[test]
    fn run_without_a_command_is_refused() {
        assert!(parse(&["run"]).is_err());
        assert!(parse(&["run", "--hook", "h.so", "--"]).is_err());
    }

    #[test]
    fn report_defaults_to_text_and_ten_sites() {
        match parse(&["report", "a.trace"]).unwrap().command {
            Some(Command::Report(r)) => {
                assert_eq!(r.format, ReportFormat::Text);
                assert_eq!(r.top, 10);
                assert_eq!(r.files, [PathBuf::from("a.trace")]);
            }
            other => panic!("expected report, got {other:?}"),
        }
    }

    #[test]
    fn report_accepts_json_and_refuses_unknown_formats() {
        match parse(&["report", "--format", "json", "a.trace"])
            .unwrap()
            .command
        {
            Some(Command::Report(r)) => assert_eq!(r.format, ReportFormat::Json),
            other => panic!("expected report, got {other:?}"),
        }
        assert!(parse(&["report", "--format", "xml", "a.trace"]).is_err());
        assert!(parse(&["report"]).is_err());
    }
}

/// Run gpuleak's demo: a diffusion sampler with a leak, under gpuleak.
///
/// The sampler (gpuleak-sampler, built beside gpuleak) runs DDIM with a small CUDA denoiser. On
/// a machine without a GPU it runs on gpuleak's fake CUDA driver, a test double built with the
/// workspace (kernels are then not executed, only their launches counted). Like `gpuleak run`,
/// it writes a trace; with --no-tui the report follows the run.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The leak to put in the sampler.
    #[arg(long, value_enum, default_value_t = DemoLeak::PerStep)]
    pub leak: DemoLeak,

    /// Print the report after the run instead of the live view.
    #[arg(long)]
    pub no_tui: bool,

    /// Where to write the trace, which must not exist [default: gpuleak-demo.trace, or
    /// gpuleak-demo-2.trace and so on when that is taken: a trace is never replaced].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Denoising steps per image.
    #[arg(long, default_value_t = 20)]
    pub steps: u32,

    /// Images sampled.
    #[arg(long, default_value_t = 4)]
    pub images: u32,

    /// Have the sampler mark its steps with gpuleak_mark_iteration (without it, gpuleak finds
    /// the steps from the repeating kernel launches).
    #[arg(long)]
    pub mark: bool,

    /// Use the fake CUDA driver even when this machine has a GPU.
    #[arg(long)]
    pub fake_cuda: bool,

    /// Milliseconds the sampler sleeps after each step [default: 60 on the fake driver with the
    /// live view, where steps take no time, so that there is something to watch; else 0].
    #[arg(long, value_name = "MS")]
    pub step_ms: Option<u64>,
}

/// The sampler's `--leak` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DemoLeak {
    /// No leak.
    None,
    /// A scratch buffer never freed, every step.
    PerStep,
    /// Every step's latents kept across images.
    KeepLatents,
    /// Every step's latents kept through an image, freed at its end.
    Sawtooth,
    /// A model loaded at every switch, the old one never freed.
    ModelSwitch,
}

impl DemoLeak {
    /// The value as written on the command line.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}
