//! Iterations found early in a long launch sequence (issue 23): watched live, a pipeline whose
//! requests launch thousands of kernels has its requests found after a few of them, not after
//! the whole prefix; until then time windows call nothing sawtooth or plateau.

mod common;

use common::*;
use gpuleak_analysis::growth::Verdict;
use gpuleak_analysis::model::Source;

/// Launches per request.
const PERIOD: u64 = 5_000;
/// Launches before the first request: a model loaded one kernel per weight.
const LOADING: u64 = 300;
/// Launches of the first request's set-up: kernels of its libraries' own, launched once.
const SET_UP: u64 = 1_500;

/// The kernel launched at position `k` of a request: one of a few hundred, in an order that
/// repeats only from request to request (an encoder, a denoiser's blocks, a decoder).
fn kernel(k: u64) -> u64 {
    let mut x = k.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    0x7000 + (x ^ (x >> 31)) % 300
}

/// A model loading, optionally a first request's set-up, then `requests` requests of
/// [`PERIOD`] launches (a fraction cuts the last): each takes 25 activations of 16 MiB (site 3)
/// in its first half and gives them back in its second, and keeps `kept` bytes (site 2) to the
/// end.
fn pipeline(requests: f64, set_up: bool, kept: u64) -> Trace {
    let mut t = Trace::new();
    for p in 0..LOADING {
        t.alloc(0x10_0000 + p, 4 * MIB, 1);
        t.launch(0x6000);
    }
    if set_up {
        for k in 0..SET_UP {
            t.launch(0x20_0000 + k);
        }
    }
    let half = PERIOD / 2;
    let mut activations = Vec::new();
    for i in 0..(requests * PERIOD as f64) as u64 {
        let (request, k) = (i / PERIOD, i % PERIOD);
        t.launch(kernel(k));
        if k % 100 == 0 {
            if k < half {
                activations.push(t.alloc_next(16 * MIB, 3));
            } else if let Some(a) = activations.pop() {
                t.free(a);
            }
        }
        if k == PERIOD - 1 && kept > 0 {
            t.alloc(0x5000_0000 + request, kept, 2);
        }
    }
    t
}

/// The trace's records, to be applied one by one as the live view reads a growing file.
fn records(t: &Trace) -> Vec<Record> {
    let mut reader = Reader::new(t.bytes()).unwrap();
    std::iter::from_fn(|| reader.next_record().unwrap()).collect()
}

/// The report after each `every` records, as the live view refreshes: (launches read, report).
fn watched(t: &Trace, every: usize) -> Vec<(u64, Report)> {
    let mut replay = Replay::new();
    let mut seen = Vec::new();
    let recs = records(t);
    let last = recs.len() - 1;
    for (i, r) in recs.into_iter().enumerate() {
        replay.apply(r);
        if i % every == every - 1 || i == last {
            seen.push((
                replay.launches(),
                Report::build(&replay, &mut Symbolizer::new()),
            ));
        }
    }
    seen
}

fn judged_within_steps(r: &Report) -> Vec<(u32, Verdict)> {
    r.sites
        .iter()
        .filter_map(|s| Some((s.stack_id, s.verdict()?)))
        .filter(|(_, v)| matches!(v, Verdict::Sawtooth | Verdict::Plateau))
        .collect()
}

#[test]
fn requests_of_thousands_of_launches_are_found_live_within_four_of_them() {
    for set_up in [false, true] {
        let t = pipeline(10.0, set_up, 2 * MIB);
        let before_steps = LOADING + if set_up { SET_UP } else { 0 };
        let seen = watched(&t, 1_000);
        let (found_at, _) = seen
            .iter()
            .find(|(_, r)| r.iterations.source == Some(Source::Auto))
            .expect("the requests found");
        let periods = (found_at - before_steps) as f64 / PERIOD as f64;
        assert!(
            periods <= 4.0,
            "set-up {set_up}: found after {periods} requests"
        );
        // From then on, every refresh counts requests of the right length.
        for (launches, r) in seen.iter().filter(|(l, _)| l >= found_at) {
            assert_eq!(
                r.iterations.launches_per_iteration,
                Some(PERIOD),
                "set-up {set_up}, {launches} launches: {:?}",
                r.iterations
            );
        }
        // Refined to the end, the live count is the whole trace's report's.
        let (_, live) = seen.last().unwrap();
        let whole = t.report();
        assert_eq!(whole.iterations.source, Some(Source::Auto));
        assert!(
            whole.iterations.count.abs_diff(10) <= 1,
            "{:?}",
            whole.iterations
        );
        assert_eq!(live.iterations.count, whole.iterations.count);
        assert_eq!(verdict(live, 2), Some("leak"), "set-up {set_up}");
        assert_eq!(verdict(live, 3), Some("steady"), "set-up {set_up}");
    }
}

#[test]
fn a_trace_cut_after_four_requests_has_its_requests_in_the_report() {
    let r = pipeline(4.0, true, 2 * MIB).report();
    assert_eq!(
        r.iterations.source,
        Some(Source::Auto),
        "{:?}",
        r.iterations
    );
    assert_eq!(r.iterations.launches_per_iteration, Some(PERIOD));
}

#[test]
fn time_windows_that_cut_requests_apart_call_nothing_sawtooth_or_plateau() {
    // Before: over 20 time windows of a few hundred launches each, the activations rose in one window
    // and fell in the next: "SAWTOOTH ... freeing it each window lowers the peak".
    for requests in [1.5, 2.0, 2.5] {
        let r = pipeline(requests, false, 0).report();
        // The second request has begun: windows stand in, the requests not yet found.
        assert_eq!(r.iterations.source, Some(Source::Time), "{requests}");
        assert_eq!(
            judged_within_steps(&r),
            [],
            "{requests} requests over {:?}",
            r.iterations
        );
        assert!(
            !matches!(
                r.iterations.device_verdict(),
                Some(Verdict::Sawtooth | Verdict::Plateau)
            ),
            "{requests}: {:?}",
            r.iterations
        );
        assert!(
            r.diagnosis
                .iter()
                .all(|d| d.cause != gpuleak_analysis::Cause::HeldPerCycle),
            "{:?}",
            r.diagnosis
        );
        // Nor "no leak": windows that cut steps apart cannot show memory kept from step to step.
        assert!(
            r.diagnosis
                .iter()
                .all(|d| d.cause != gpuleak_analysis::Cause::Healthy),
            "{:?}",
            r.diagnosis
        );
        if r.iterations.source == Some(Source::Time) {
            assert!(r.iterations.windows_cut_steps, "{requests}");
            assert!(
                r.notes
                    .iter()
                    .any(|n| n.contains("iterations not found yet")),
                "{:?}",
                r.notes
            );
        }
    }
}

#[test]
fn time_windows_still_judge_a_program_whose_launches_do_not_repeat() {
    // Every launch a kernel of its own: no steps to cut apart, so windows judge as before.
    let mut t = Trace::new();
    for i in 0..400u64 {
        t.launch(0x7000 + i);
        if i % 20 == 0 {
            t.alloc(0x1000 + i, 8 * MIB, 3);
        }
        if i % 20 == 10 {
            t.free(0x1000 + i - 10);
        }
    }
    let r = t.report();
    assert_eq!(r.iterations.source, Some(Source::Time));
    assert!(!r.iterations.windows_cut_steps);
    assert!(
        r.notes
            .iter()
            .all(|n| !n.contains("iterations not found yet"))
    );
}
