//! Programs whose steps are CUDA graph launches (torch.compile "reduce-overhead", captured UNets)
//! launch no kernel per step through the launch APIs, only their graph. gpuleak counts graph
//! launches as launches, so such a program with no markers still gets automatic iterations.
//!
//! `graph_steps` (tests/programs) launches the same graph at the start of every step, keeps
//! 1 MiB per step (`leak_step`) and frees 4 MiB of scratch (`step_scratch`), through the driver
//! (dlsym; `cuGraphLaunch_ptsz` through `cudaGetDriverEntryPoint`) or the runtime
//! (`cudaGraphLaunch[_ptsz]`, which reaches `cuGraphLaunch` inside the runtime). Checked: what
//! the program saw is what it sees without the hook; each successful graph launch is one Launch
//! record under the outermost API, naming the executable graph, and a failed one none; the report
//! finds `source = "auto"` iterations, one per step, and a leak of 1 MiB per iteration at
//! `leak_step`.

use std::path::Path;

use gpuleak_tests::{Call, Run, RunOutput};
use gpuleak_trace::{Launch, LaunchApi, Record};

const MIB: u64 = 1 << 20;
const STEPS: u64 = 12;

fn launches(path: &Path) -> Vec<Launch> {
    let mut r = gpuleak_trace::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(rec) = r
        .next_record()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        if let Record::Launch(l) = rec {
            out.push(l);
        }
    }
    out
}

/// What a program printed, without the pointers (which change from run to run).
fn shape(out: &RunOutput) -> Vec<String> {
    out.stdout
        .lines()
        .map(|l| match gpuleak_tests::parse_calls(l).first() {
            Some(c) => c.without_ptr(),
            None => l.to_string(),
        })
        .collect()
}

/// Runs `graph_steps MODE` with and without the hook and checks everything but the launches'
/// API; returns the hooked run, its launches and the executable graph the program launched.
fn graph_steps(mode: &str) -> (RunOutput, Vec<Launch>, u64) {
    let plain = Run::program("graph_steps").arg(mode).run();
    plain.assert_success();
    let out = Run::program("graph_steps").arg(mode).hook().run();
    out.assert_success();
    // The same calls, with the same return codes, the failing launch's included.
    assert_eq!(shape(&out), shape(&plain), "{mode}\n{out}");

    let calls = out.calls();
    let launched: Vec<&Call> = calls
        .iter()
        .filter(|c| c.api.contains("GraphLaunch"))
        .collect();
    assert_eq!(launched.len() as u64, STEPS + 1, "{mode}\n{out}");
    let exec = launched[0].ptr;
    assert_ne!(exec, 0, "{mode}\n{out}");
    assert!(
        launched[..STEPS as usize]
            .iter()
            .all(|c| c.ptr == exec && c.code == 0)
    );
    assert_eq!(
        (launched[STEPS as usize].ptr, launched[STEPS as usize].code),
        (0, 1)
    );

    let ls = launches(out.trace());
    let graphs: Vec<&Launch> = ls.iter().filter(|l| l.function == exec).collect();
    // Successful launches only, each the executable graph, on the stream it was launched on.
    assert_eq!(graphs.len() as u64, STEPS, "{mode}: {ls:#?}");
    assert!(graphs.iter().all(|l| l.stream == 0), "{mode}: {ls:#?}");

    let json = gpuleak_tests::report_json(out.trace());
    let it = &json["iterations"];
    assert_eq!(it["source"], "auto", "{mode}: {it:#}");
    assert_eq!(it["count"], STEPS, "{mode}: {it:#}");
    assert_eq!(it["launches_per_iteration"], 1, "{mode}: {it:#}");
    let leak = gpuleak_tests::site_at(&json, "leak_step");
    assert_eq!(leak["verdict"], "leak", "{mode}: {leak:#}");
    assert_eq!(leak["bytes_per_iteration"], MIB, "{mode}: {leak:#}");
    assert_eq!(leak["live_bytes_at_end"], STEPS * MIB, "{mode}: {leak:#}");
    let scratch = gpuleak_tests::site_at(&json, "step_scratch");
    assert_ne!(scratch["verdict"], "leak", "{mode}: {scratch:#}");
    assert_eq!(scratch["live_bytes_at_end"], 0, "{mode}: {scratch:#}");
    (out, ls, exec)
}

#[test]
fn driver_graph_launches_through_dlsym_give_auto_iterations() {
    let (_, ls, exec) = graph_steps("driver");
    let apis: Vec<(LaunchApi, u64)> = ls.iter().map(|l| (l.api, l.function)).collect();
    assert_eq!(apis, vec![(LaunchApi::CuGraphLaunch, exec); STEPS as usize]);
}

#[test]
fn driver_graph_launches_ptsz_through_cuda_get_driver_entry_point_give_auto_iterations() {
    let (out, ls, exec) = graph_steps("driver-ptsz");
    // The program got the per-thread variant (the hook's wrapper stands for it).
    assert!(
        out.stdout
            .contains("entry cuGraphLaunch 0 0 cuGraphLaunch_ptsz\n"),
        "{out}"
    );
    let apis: Vec<(LaunchApi, u64)> = ls.iter().map(|l| (l.api, l.function)).collect();
    assert_eq!(apis, vec![(LaunchApi::CuGraphLaunch, exec); STEPS as usize]);
}

#[test]
fn runtime_graph_launches_are_recorded_once_under_the_runtime_and_give_auto_iterations() {
    for mode in ["runtime", "runtime-ptsz"] {
        let (_, ls, exec) = graph_steps(mode);
        // The warm-up kernel, then one record per cudaGraphLaunch: its cuGraphLaunch inside the
        // runtime is not a second launch.
        assert_eq!(ls[0].api, LaunchApi::CudaLaunchKernel, "{mode}: {ls:#?}");
        assert_ne!(ls[0].function, exec);
        let apis: Vec<(LaunchApi, u64)> = ls[1..].iter().map(|l| (l.api, l.function)).collect();
        assert_eq!(
            apis,
            vec![(LaunchApi::CudaGraphLaunch, exec); STEPS as usize],
            "{mode}"
        );
    }
}
