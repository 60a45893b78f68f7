//! Python stacks: a Python sampler's allocation sites name its Python functions and lines, and
//! its per-step leak gets the leak verdict at the line that leaks.
//!
//! The sampler (`programs/python_sampler.py`) calls the fake driver through ctypes from nested
//! functions: `ctypes.PyDLL` keeps the GIL held during the call, as a C extension such as
//! PyTorch does; `ctypes.CDLL` releases it, as a thread that allocates without the GIL (autograd's)
//! does. The lines the tests expect carry a `# site: NAME` comment in the program.
//!
//! Needs `python3` (CPython 3.9 or later; only 3.11 was available where this was written);
//! skipped without it.

use std::path::Path;
use std::process::Command;

use gpuleak_tests::{Run, RunOutput};
use serde_json::Value;

const MIB: u64 = 1 << 20;
const STEPS: u64 = 8;

macro_rules! needs_python {
    () => {
        if !gpuleak_tests::have_python() {
            eprintln!("skipped: no python3");
            return;
        }
    };
}

/// Run from the source tree: a Python program needs no build step.
fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/python_sampler.py")
}

/// The line of the program that carries `# site: NAME`.
fn line_of(name: &str) -> usize {
    let src = std::fs::read_to_string(script()).unwrap();
    let tag = format!("# site: {name}");
    let found: Vec<usize> = src
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_end().ends_with(&tag))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(found.len(), 1, "one line tagged {tag:?}");
    found[0]
}

/// `python_sampler.py --steps 8 ARGS...` under the hook, with `env` added.
fn sample(args: &[&str], env: &[(&str, &str)]) -> (RunOutput, Value) {
    sample_with("python3", args, env)
}

fn sample_with(python: &str, args: &[&str], env: &[(&str, &str)]) -> (RunOutput, Value) {
    let mut run = Run::new(python)
        .arg(script())
        .args(["--steps", &STEPS.to_string()])
        .args(args);
    for (k, v) in env {
        run = run.env(k, v);
    }
    let out = run.hook().run();
    out.assert_success();
    assert!(out.stdout.contains(&format!("done {STEPS}")), "{out}");
    let json = gpuleak_tests::report_json(out.trace());
    (out, json)
}

fn sites(json: &Value) -> &Vec<Value> {
    json["sites"].as_array().expect("sites is an array")
}

fn frames(site: &Value) -> Vec<&str> {
    site["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

/// Whether `python3` gives code objects their qualified name (`co_qualname`, 3.11+); before,
/// frames are named by the bare function (`alloc`, not `Cuda.alloc`).
fn qualified_names() -> bool {
    static QUALIFIED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *QUALIFIED.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import sys; print(sys.version_info >= (3, 11))"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "True")
    })
}

/// A Python frame as the report shows it: `function (/path/python_sampler.py:LINE)`;
/// `function` is qualified (`Cuda.alloc`), as CPython 3.11+ names it.
fn python_frame(function: &str, site: &str) -> String {
    let name = if qualified_names() {
        function
    } else {
        function.rsplit('.').next().unwrap_or(function)
    };
    format!("{name} ({}:{})", script().display(), line_of(site))
}

/// The frames that are the program's Python code.
fn python_frames(site: &Value) -> Vec<&str> {
    frames(site)
        .into_iter()
        .filter(|f| f.contains("python_sampler.py"))
        .collect()
}

/// The one site with `frame` among its frames.
fn site_with<'a>(json: &'a Value, frame: &str) -> &'a Value {
    let found: Vec<&Value> = sites(json)
        .iter()
        .filter(|s| frames(s).contains(&frame))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one site with frame {frame:?}; sites: {:#}",
        json["sites"]
    );
    found[0]
}

#[test]
fn a_python_leaks_finding_shows_its_python_frames_first_in_the_text_report() {
    needs_python!();
    let (out, json) = sample(&[], &[]);
    let leak = site_with(&json, &python_frame("Sampler.denoise_step", "leak"));
    let label = leak["label"].as_str().unwrap();
    // --top 0: the finding alone must say where the leak is.
    let text = Command::new(gpuleak_tests::gpuleak_bin())
        .args(["report", "--top", "0"])
        .arg(out.trace())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    let (_, findings) = text.split_once("\nFindings:\n").expect("findings");
    let stack: Vec<&str> = (findings.lines().skip_while(|l| !l.contains(label)).skip(1))
        .take_while(|l| l.starts_with("      "))
        .map(str::trim)
        .collect();
    // The Python line that called the driver and the step that leaks, before any native
    // frame; bounded, the rest counted.
    assert!(
        stack.len() >= 2 && stack.len() <= 10,
        "{label:?}'s stack in\n{text}"
    );
    assert_eq!(stack[0], python_frame("Cuda.alloc", "alloc"), "{text}");
    assert_eq!(
        stack[1],
        python_frame("Sampler.denoise_step", "leak"),
        "{text}"
    );
}

#[test]
fn a_python_samplers_sites_name_its_functions_and_lines() {
    needs_python!();
    let (_, json) = sample(&[], &[]);
    // Python is in the process and GPULEAK_STACKS is unset: both kinds of frames.
    assert_eq!(json["process"]["stacks"], "all");

    let leak = site_with(&json, &python_frame("Sampler.denoise_step", "leak"));
    let py = python_frames(leak);
    // Innermost first, the whole Python stack: the call into the driver, the step, the loop,
    // main and the module.
    assert_eq!(py[0], python_frame("Cuda.alloc", "alloc"));
    assert_eq!(py[1], python_frame("Sampler.denoise_step", "leak"));
    assert!(py[2].starts_with("sample ("), "{py:?}");
    assert!(py[3].starts_with("main ("), "{py:?}");
    assert!(py[4].starts_with("<module> ("), "{py:?}");
    assert_eq!(py.len(), 5, "{py:?}");

    // Joined at the interpreter boundary: the native frames below Python (ctypes, libffi) come
    // first, the interpreter's own frames are gone.
    let all = frames(leak);
    assert_eq!(
        &all[all.len() - py.len()..],
        &py[..],
        "Python frames are outermost"
    );
    assert!(
        all.len() > py.len(),
        "native frames below Python are kept: {all:?}"
    );
    assert!(
        !all.iter().any(|f| f.starts_with("_PyEval_EvalFrame")
            || f.starts_with("Py_BytesMain")
            || f.starts_with("_start")),
        "interpreter frames left in: {all:?}"
    );
    // The site is named by its Python line, not by ctypes' ffi_call.
    let named = leak["user_frame"].as_u64().unwrap_or(0) as usize;
    assert_eq!(all[named], python_frame("Cuda.alloc", "alloc"), "{all:?}");

    // The same call at another line of the step is another site.
    let scratch = site_with(&json, &python_frame("Sampler.denoise_step", "scratch"));
    assert_ne!(scratch["stack_id"], leak["stack_id"]);
    let weights = site_with(&json, &python_frame("Sampler.__init__", "weights"));
    assert_eq!(weights["allocations"], 1);
}

#[test]
fn the_per_step_leak_gets_the_verdict_at_its_python_line() {
    needs_python!();
    let (_, json) = sample(&[], &[]);
    assert_eq!(json["iterations"]["source"], "marker");
    assert_eq!(json["iterations"]["count"], STEPS);
    let leaks: Vec<&Value> = sites(&json)
        .iter()
        .filter(|s| s["verdict"] == "leak")
        .collect();
    assert_eq!(leaks.len(), 1, "one leaking site: {:#}", json["sites"]);
    let leak = leaks[0];
    assert_eq!(leak["bytes_per_iteration"], MIB);
    assert_eq!(leak["live_bytes_at_end"], STEPS * MIB);
    // The first frame of the program's own code that is not the allocation helper is the line
    // that keeps the latent.
    let py = python_frames(leak);
    assert_eq!(
        py[1],
        python_frame("Sampler.denoise_step", "leak"),
        "{py:?}"
    );
    // The scratch buffer, freed every step at the line above, is no leak.
    let scratch = site_with(&json, &python_frame("Sampler.denoise_step", "scratch"));
    assert_eq!(scratch["verdict"], "steady");
    assert_eq!(scratch["live_bytes_at_end"], 0);
}

#[test]
fn a_python_with_the_interpreter_in_its_executable_works_the_same() {
    // Debian's /usr/bin/python3.11 has libpython linked in, where `python3` here is a build
    // with a shared libpython: the API is found, and the stacks joined, in both.
    let python = "/usr/bin/python3.11";
    if !Path::new(python).exists() {
        gpuleak_tests::skip(
            "a_python_with_the_interpreter_in_its_executable_works_the_same",
            &format!("no {python}"),
        );
        return;
    }
    let (_, json) = sample_with(python, &[], &[]);
    let leak = site_with(&json, &python_frame("Sampler.denoise_step", "leak"));
    assert_eq!(leak["verdict"], "leak");
    let all = frames(leak);
    assert!(
        !all.iter()
            .any(|f| f.starts_with("_PyEval_EvalFrame") || f.starts_with("_start")),
        "interpreter frames left in: {all:?}"
    );
}

#[test]
fn a_thread_without_the_gil_gets_its_own_python_lines() {
    needs_python!();
    // ctypes.CDLL releases the GIL for the call (as PyTorch's bindings, pybind11's
    // gil_scoped_release and Cython's nogil do); with --thread, on a second thread while the
    // main thread runs Python and holds the GIL whenever it can. The frames are read from
    // memory: each allocation gets its own thread's Python line, and the leak is flagged there.
    for args in [&["--dll", "cdll", "--thread"][..], &["--dll", "cdll"][..]] {
        let (_, json) = sample(args, &[]);
        let allocations: u64 = sites(&json)
            .iter()
            .map(|s| s["allocations"].as_u64().unwrap())
            .sum();
        assert_eq!(allocations, 1 + 2 * STEPS, "{args:?}: {:#}", json["sites"]);
        let leak = site_with(&json, &python_frame("Sampler.denoise_step", "leak"));
        assert_eq!(leak["verdict"], "leak", "{args:?}: {leak:#}");
        assert_eq!(leak["allocations"], STEPS, "{args:?}: {leak:#}");
        let scratch = site_with(&json, &python_frame("Sampler.denoise_step", "scratch"));
        assert_eq!(scratch["live_bytes_at_end"], 0, "{args:?}: {scratch:#}");
        let all = frames(leak);
        assert!(
            all.iter().any(|f| f.starts_with("ffi_call")),
            "{args:?}: native frames below Python: {all:?}"
        );
        if args.contains(&"--thread") {
            assert!(
                !all.iter().any(|f| f.starts_with("main (")),
                "{args:?}: the main thread's frames in the worker's stack: {all:?}"
            );
        }
    }
}

#[test]
fn a_python_thread_holding_the_gil_gets_its_own_python_frames() {
    needs_python!();
    let (_, json) = sample(&["--thread"], &[]);
    let leak = site_with(&json, &python_frame("Sampler.denoise_step", "leak"));
    let all = frames(leak);
    assert!(
        all.iter().any(|f| f.starts_with(if qualified_names() {
            "Thread.run ("
        } else {
            "run ("
        })),
        "the worker thread's stack: {all:?}"
    );
    assert!(
        !all.iter().any(|f| f.starts_with("main (")),
        "the main thread's frames in the worker's stack: {all:?}"
    );
}

#[test]
fn frees_run_by_the_garbage_collector_are_recorded() {
    needs_python!();
    // Reading Python frames allocates frame objects on 3.11; were the collector allowed to run
    // then, the finalizers' frees would happen inside gpuleak's own recording and go unseen.
    let (_, json) = sample(&["--gc"], &[]);
    let cyclic = site_with(&json, &python_frame("alloc_after_garbage", "cyclic"));
    assert_eq!(cyclic["allocations"], STEPS);
    assert_eq!(cyclic["frees"], STEPS, "{cyclic:#}");
    assert_eq!(cyclic["live_bytes_at_end"], 0);
    let after = site_with(&json, &python_frame("alloc_after_garbage", "after-garbage"));
    assert_eq!(after["frees"], STEPS);
}

#[test]
fn gpuleak_stacks_native_gives_no_python_frames() {
    needs_python!();
    let (_, json) = sample(&[], &[("GPULEAK_STACKS", "native")]);
    assert_eq!(json["process"]["stacks"], "native");
    for s in sites(&json) {
        assert!(python_frames(s).is_empty(), "Python frames in {s:#}");
    }
    assert!(
        sites(&json)
            .iter()
            .any(|s| frames(s).iter().any(|f| f.starts_with("_PyEval_EvalFrame"))),
        "native stacks go through the interpreter: {:#}",
        json["sites"]
    );
}

#[test]
fn gpuleak_stacks_python_gives_python_frames_only() {
    needs_python!();
    let (_, json) = sample(&[], &[("GPULEAK_STACKS", "python")]);
    assert_eq!(json["process"]["stacks"], "python");
    let leak = site_with(&json, &python_frame("Sampler.denoise_step", "leak"));
    assert_eq!(frames(leak), python_frames(leak), "only Python frames");
    assert_eq!(frames(leak)[0], python_frame("Cuda.alloc", "alloc"));
}

#[test]
fn a_program_without_python_gets_native_stacks_by_default() {
    let out = Run::program("runtime_basic").hook().run();
    out.assert_success();
    let (header, notes) = header_and_notes(out.trace());
    assert_eq!(header.stacks, "native");
    assert!(notes.is_empty(), "{notes:?}");

    // Asking for Python frames where there is no Python: native stacks, and a note says why.
    let out = Run::program("runtime_basic")
        .env("GPULEAK_STACKS", "python")
        .hook()
        .run();
    out.assert_success();
    let (header, notes) = header_and_notes(out.trace());
    assert_eq!(header.stacks, "native");
    assert!(
        notes.iter().any(|n| n.contains("GPULEAK_STACKS=python")),
        "{notes:?}"
    );
}

fn header_and_notes(trace: &Path) -> (gpuleak_trace::Header, Vec<String>) {
    let mut header = None;
    let mut notes = Vec::new();
    for rec in gpuleak_trace::open(trace).unwrap() {
        match rec.unwrap() {
            gpuleak_trace::Record::Header(h) => header = Some(h),
            gpuleak_trace::Record::Note(n) => notes.push(n),
            _ => {}
        }
    }
    (header.expect("a header"), notes)
}

/// One stack record of a trace: its native frames, innermost first, each as (file name of the
/// module, offset in it), comparable across processes; and whether it has Python frames.
struct StackRecord {
    native: Vec<(String, u64)>,
    python: bool,
}

/// The stack records of a trace, read with the trace reader alone (no symbols).
fn stack_records(trace: &Path) -> Vec<StackRecord> {
    let mut modules: Vec<gpuleak_trace::Module> = Vec::new();
    let mut raw: Vec<(Vec<u64>, bool)> = Vec::new();
    for rec in gpuleak_trace::open(trace).unwrap() {
        match rec.unwrap() {
            gpuleak_trace::Record::Module(m) => modules.push(m),
            gpuleak_trace::Record::Stack(s) => raw.push((s.frames, false)),
            gpuleak_trace::Record::PyStack(s) => raw.push((s.frames, true)),
            _ => {}
        }
    }
    // The sampler loads nothing after its first allocation, so no module moves.
    let place = |ip: u64| {
        let m = modules
            .iter()
            .find(|m| ip >= m.start && ip < m.end)
            .unwrap_or_else(|| panic!("{ip:#x} is in no recorded module"));
        let name = m.path.rsplit('/').next().unwrap().to_string();
        (name, ip - m.base)
    };
    raw.into_iter()
        .map(|(frames, python)| StackRecord {
            native: frames.into_iter().map(place).collect(),
            python,
        })
        .collect()
}

/// The module holding CPython: libpython, or a python executable with the interpreter linked in.
/// A record's native part ends at its first interpreter frame, kept as its last one.
fn assert_ends_at_interpreter(what: &str, native: &[(String, u64)]) {
    let inside: Vec<usize> = (0..native.len())
        .filter(|&i| is_interpreter(&native[i].0))
        .collect();
    assert_eq!(
        inside,
        [native.len() - 1],
        "{what}: the native part ends at the first interpreter frame: {native:?}"
    );
}

fn is_interpreter(module: &str) -> bool {
    module.starts_with("libpython") || (module.starts_with("python") && !module.contains(".so"))
}

/// `all` mode records the native frames of a thread running Python only up to where they enter
/// the interpreter (that frame included): what lies beyond is the interpreter's own, which the
/// report drops, and unwinding it was most of an event's cost. The report reads the same as
/// before: the ctypes/libffi frames innermost, then the Python frames at their lines. Threads
/// without Python frames, and `native` mode, keep the whole stack.
#[test]
fn all_mode_records_native_frames_only_up_to_the_interpreter() {
    needs_python!();
    let mut pythons = vec!["python3"];
    // The interpreter linked into the executable rather than a shared libpython.
    if Path::new("/usr/bin/python3.11").exists() {
        pythons.push("/usr/bin/python3.11");
    }
    for python in pythons {
        let (all_run, json) = sample_with(python, &[], &[]);
        assert_eq!(json["process"]["stacks"], "all");
        let (native_run, _) = sample_with(python, &[], &[("GPULEAK_STACKS", "native")]);
        let native = stack_records(native_run.trace());
        let recorded = stack_records(all_run.trace());
        let with_python: Vec<&StackRecord> = recorded.iter().filter(|s| s.python).collect();
        assert!(!with_python.is_empty(), "{python}: no Python stacks");
        for s in &with_python {
            // Innermost, the foreign call ctypes makes (libffi); last, and only there, the
            // interpreter frame that called into ctypes.
            assert!(
                s.native[0].0.starts_with("libffi"),
                "{python}: {:?}",
                s.native
            );
            assert_ends_at_interpreter(python, &s.native);
            // The very frames `native` mode records for the same call, up to there; there, the
            // stack goes on through the interpreter to the program's start.
            let full = native
                .iter()
                .find(|n| n.native.starts_with(&s.native))
                .unwrap_or_else(|| panic!("{python}: no native stack starts with {:?}", s.native));
            assert!(
                full.native.len() > s.native.len() + 2,
                "{python}: native mode's stack is the whole one: {:?}",
                full.native
            );
        }

        // What the report shows is unchanged: the native frames below Python, then the
        // Python stack, at the lines of the calls.
        let leak = site_with(&json, &python_frame("Sampler.denoise_step", "leak"));
        let all = frames(leak);
        let first_python = all
            .iter()
            .position(|f| f.contains("python_sampler.py"))
            .unwrap();
        let below = &all[..first_python];
        assert!(
            below.iter().any(|f| f.starts_with("ffi_call")),
            "{python}: {all:?}"
        );
        // Debian's _ctypes has no symbols: `_ctypes.cpython-311-x86_64-linux-gnu.so+0x9613`.
        assert!(
            below
                .iter()
                .any(|f| f.starts_with("PyCFuncPtr_call") || f.starts_with("_ctypes")),
            "{python}: {all:?}"
        );
        assert!(
            !below
                .iter()
                .any(|f| f.starts_with("_PyObject_MakeTpCall") || f.starts_with("_PyEval")),
            "{python}: {all:?}"
        );
        assert_eq!(
            &all[first_python..first_python + 2],
            [
                python_frame("Cuda.alloc", "alloc"),
                python_frame("Sampler.denoise_step", "leak")
            ],
            "{python}: {all:?}"
        );
        assert_eq!(all.last().unwrap().split(" (").next(), Some("<module>"));
    }

    // Without the GIL (ctypes.CDLL releases it) the same: Python frames, and native ones only
    // up to the interpreter.
    let (out, _) = sample(&["--dll", "cdll"], &[]);
    let recorded = stack_records(out.trace());
    assert!(!recorded.is_empty());
    for s in &recorded {
        assert!(s.python, "no Python frames: {:?}", s.native);
        assert_ends_at_interpreter("python3 (cdll)", &s.native);
    }
}

/// A C extension that releases the GIL around `cudaMalloc` (`Py_BEGIN_ALLOW_THREADS`, what
/// pybind11's gil_scoped_release and Cython's nogil compile to): on a CPython whose layout the
/// hook knows, each allocation gets its caller's Python line, and the leak is flagged there.
#[test]
fn a_c_extension_that_releases_the_gil_gets_its_callers_lines() {
    needs_python!();
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include']); \
             print(sysconfig.get_config_var('EXT_SUFFIX'))",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let (include, suffix) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    if !Path::new(include).join("Python.h").exists() {
        gpuleak_tests::skip(
            "a_c_extension_that_releases_the_gil_gets_its_callers_lines",
            &format!("no Python.h in {include}"),
        );
        return;
    }
    let programs = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs");
    let dir = gpuleak_tests::TempDir::new("nogil-ext");
    let ext = dir.path().join(format!("nogil_ext{suffix}"));
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("fake-cuda");
    let source = programs.join("nogil_ext.c");
    let lib_dir = gpuleak_tests::fake_cuda_dir();
    gpuleak_tests::cc([
        "-shared".as_ref(),
        "-fPIC".as_ref(),
        "-O1".as_ref(),
        "-g".as_ref(),
        "-I".as_ref(),
        include.as_ref(),
        "-I".as_ref(),
        fake.as_os_str(),
        source.as_os_str(),
        "-o".as_ref(),
        ext.as_os_str(),
        "-L".as_ref(),
        lib_dir.as_os_str(),
        "-lcudart".as_ref(),
    ]);
    let script = programs.join("nogil_sampler.py");
    let out = Run::new("python3")
        .arg(&script)
        .args(["--steps", &STEPS.to_string()])
        .env("PYTHONPATH", dir.path())
        .hook()
        .run();
    out.assert_success();
    assert!(out.stdout.contains(&format!("done {STEPS}")), "{out}");
    let json = gpuleak_tests::report_json(out.trace());
    if json["notes"]
        .as_array()
        .is_some_and(|n| n.iter().any(|n| n.as_str().unwrap().contains("C API")))
    {
        gpuleak_tests::skip(
            "a_c_extension_that_releases_the_gil_gets_its_callers_lines",
            &format!("no layout for this CPython: {}", json["notes"]),
        );
        return;
    }
    let source = std::fs::read_to_string(&script).unwrap();
    let line = |site: &str| {
        source
            .lines()
            .position(|l| l.contains(&format!("# site: {site}")))
            .unwrap()
            + 1
    };
    let at =
        |function: &str, site: &str| format!("{function} ({}:{})", script.display(), line(site));
    let leak = site_with(&json, &at("keep", "leak"));
    assert_eq!(leak["allocations"], STEPS, "{leak:#}");
    assert_eq!(leak["verdict"], "leak", "{leak:#}");
    let scratch = site_with(&json, &at("scratch", "scratch"));
    assert_eq!(scratch["allocations"], STEPS, "{scratch:#}");
    assert_ne!(scratch["verdict"], "leak", "{scratch:#}");
}
