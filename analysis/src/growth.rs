//! Judging a site's growth over iterations: leak, sawtooth, plateau or steady.
//!
//! The input is the site's live bytes at the end of each iteration it was seen in, warm-up
//! already left out. The slope is Theil–Sen (the median of the slopes between every pair of
//! points), so a few odd iterations do not move it.

use serde::Serialize;

pub use crate::thresholds::MIN_ITERATIONS;
use crate::thresholds::{
    FLAT_TOLERANCE_DIVISOR, FULL_CONFIDENCE_CYCLES, LEAK_CONFIDENCE_PAIRS, LEAK_KEPT_SHARE,
    LEAK_NON_DECREASING, PLATEAU_TAIL_SHARE, SAWTOOTH_MIN_DROPS, SLOPE_POINTS,
};

/// What a site's live bytes did over the iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Rises steadily and is not given back.
    Leak,
    /// Rises within runs of iterations and falls back to a base, repeatedly.
    Sawtooth,
    /// Grew, then stopped: flat for the last part of the run.
    Plateau,
    /// What an iteration takes it gives back.
    Steady,
}

impl Verdict {
    /// The name the JSON report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Leak => "leak",
            Verdict::Sawtooth => "sawtooth",
            Verdict::Plateau => "plateau",
            Verdict::Steady => "steady",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict, the robust slope in bytes per iteration, and how sure the verdict is, in [0, 1]:
/// the one growth figure sites, devices and the whole process share.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub bytes_per_iteration: i64,
    pub confidence: f64,
}

impl Judgement {
    /// The one leak predicate: live bytes rise over iterations and are not given back.
    pub fn leaks(&self) -> bool {
        self.verdict == Verdict::Leak
    }
}

/// Iterations left out at the start: the first, or the first 10%, when enough remain.
pub fn warm_up(iterations: usize) -> usize {
    if iterations <= MIN_ITERATIONS {
        0
    } else {
        iterations
            .div_ceil(10)
            .max(1)
            .min(iterations - MIN_ITERATIONS)
    }
}

/// Theil–Sen slope of `v` against its index.
pub fn theil_sen(v: &[u64]) -> f64 {
    let points: Vec<(f64, f64)> = if v.len() > SLOPE_POINTS {
        (0..SLOPE_POINTS)
            .map(|k| {
                let i = k * (v.len() - 1) / (SLOPE_POINTS - 1);
                (i as f64, v[i] as f64)
            })
            .collect()
    } else {
        v.iter()
            .enumerate()
            .map(|(i, &y)| (i as f64, y as f64))
            .collect()
    };
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (a, &(xa, ya)) in points.iter().enumerate() {
        for &(xb, yb) in &points[a + 1..] {
            slopes.push((yb - ya) / (xb - xa));
        }
    }
    median(&mut slopes)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn round2(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

/// Judges live bytes at the end of consecutive iterations (warm-up already left out); `None`
/// for fewer than [`MIN_ITERATIONS`].
pub fn judge(v: &[u64]) -> Option<Judgement> {
    let m = v.len();
    if m < MIN_ITERATIONS {
        return None;
    }
    let slope = theil_sen(v);
    let bytes_per_iteration = slope.round() as i64;
    let peak = v.iter().copied().max().unwrap_or(0);
    let judgement = |verdict, confidence: f64| {
        Some(Judgement {
            verdict,
            bytes_per_iteration,
            confidence: round2(confidence),
        })
    };
    if peak == 0 {
        return judgement(Verdict::Steady, 1.0);
    }
    let tol = tolerance(v);
    let steps = (m - 1) as f64;
    // More iterations, more certainty.
    let sample = m as f64 / (m as f64 + 2.0);

    // Sawtooth: rises over a run of iterations, then falls back by half the peak or more, at
    // least twice. A value that merely flips between two levels (sampled scratch) has no runs.
    let mut drops = 0usize;
    let mut run_start = 0;
    for i in 1..m {
        if v[i] < v[i - 1] && v[i - 1] - v[i] >= peak.div_ceil(2) {
            let rises = v[run_start..i].windows(2).filter(|w| w[1] > w[0]).count();
            if rises >= 2 {
                drops += 1;
            }
            run_start = i;
        }
    }
    if drops >= SAWTOOTH_MIN_DROPS {
        // Over the whole run a sawtooth's slope is about zero; what it costs is how fast it
        // climbs within a cycle: the median of its rising steps.
        let mut rises: Vec<u64> = v
            .windows(2)
            .filter(|w| w[1] > w[0])
            .map(|w| w[1] - w[0])
            .collect();
        rises.sort_unstable();
        let climb = rises.get(rises.len() / 2).copied().unwrap_or(0);
        return Some(Judgement {
            verdict: Verdict::Sawtooth,
            bytes_per_iteration: i64::try_from(climb).unwrap_or(i64::MAX),
            confidence: round2((drops as f64 / FULL_CONFIDENCE_CYCLES).min(1.0) * sample),
        });
    }

    // Plateau: flat for the last 30% or more, higher than where it started, and for longer than
    // the series' own rhythm (a caching allocator's leak climbs a segment at a time, so "flat for
    // a while" is how it looks between steps, not a sign that growth stopped).
    if plateau_tail(v, tol) {
        let last = v[m - 1];
        let flat_tail = v
            .iter()
            .rev()
            .take_while(|&&x| x.abs_diff(last) <= tol)
            .count();
        let confidence = (flat_tail as f64 / (m as f64 * 0.5)).min(1.0) * sample;
        return judgement(Verdict::Plateau, confidence);
    }
    if let Some(stairs) = staircase(v) {
        return Some(stairs);
    }

    // Leak: a positive robust slope, nearly every step up or flat, and the growth kept.
    let non_decreasing = v.windows(2).filter(|w| w[1] >= w[0]).count() as f64 / steps;
    let net = v[m - 1] as f64 - v[0] as f64;
    // A slope that rounds to no byte per iteration is no leak, however steady.
    if bytes_per_iteration > 0
        && non_decreasing >= LEAK_NON_DECREASING
        && net >= LEAK_KEPT_SHARE * slope * steps
    {
        let mut pairs = 0u64;
        let mut rising = 0u64;
        for (a, &x) in v.iter().enumerate() {
            for &y in &v[a + 1..] {
                pairs += 1;
                rising += u64::from(y > x);
            }
            if pairs > LEAK_CONFIDENCE_PAIRS {
                break;
            }
        }
        let rising = rising as f64 / pairs.max(1) as f64;
        return judgement(Verdict::Leak, non_decreasing.min(rising) * sample);
    }

    let flat = v.windows(2).filter(|w| w[0].abs_diff(w[1]) <= tol).count() as f64 / steps;
    judgement(Verdict::Steady, flat * sample)
}

/// Judges a sum of sites (a device's memory in all) by the rules of [`judge`], on what moves
/// above the least it held over the iterations judged. A site's series is its own memory; a
/// device's carries a base that every iteration keeps (the weights), and judged whole that base
/// would set the tolerance and the sawtooth's fall: a leak of 32 KiB a step under 16 MiB of
/// weights is "flat" by 1% of the peak and the device a plateau while its leaking site is a
/// leak, and a sawtooth falling by its own height is not half the peak and reads as a leak.
/// Taken off, the device is judged on the memory its sites judge, and their verdicts agree.
///
/// A device's memory also steps up once where a site's seldom does: the first step's activations,
/// a workspace made on first use, the weights of a second model. A `leak` whose climb is mostly
/// one rise (more than half of it in one iteration) is a step up, not growth that repeats: what
/// follows the step is judged on its own, and unless it leaks too the device is a `plateau`
/// (grew, then stopped), however noisy the level stretch after the step.
pub fn judge_above_base(v: &[u64]) -> Option<Judgement> {
    let base = v.iter().copied().min().unwrap_or(0);
    let above: Vec<u64> = v.iter().map(|x| x - base).collect();
    let judged = judge(&above)?;
    if !judged.leaks() {
        return Some(judged);
    }
    let Some(step) = one_step_up(&above) else {
        return Some(judged);
    };
    match judge_above_base(&v[step..]) {
        Some(after) if after.leaks() => Some(after),
        _ => Some(Judgement {
            verdict: Verdict::Plateau,
            ..judged
        }),
    }
}

/// Where `v` (its least value 0) rises by more than half its peak in one iteration: the index
/// of the iteration after that rise. `None` when no single rise is most of the climb.
fn one_step_up(v: &[u64]) -> Option<usize> {
    let peak = v.iter().copied().max().unwrap_or(0);
    (1..v.len()).find(|&i| v[i].saturating_sub(v[i - 1]) > peak / 2)
}

/// What counts as "no change" in a series: allocations are discrete, so flat is usually exactly
/// flat.
fn tolerance(v: &[u64]) -> u64 {
    v.iter().copied().max().unwrap_or(0) / FLAT_TOLERANCE_DIVISOR
}

/// Whether the series ends on a flat run that makes it a plateau: 30% of it or more (two points
/// at least: a single last value always "agrees with itself"), longer than every flat run
/// between its earlier changes, and above where it started.
fn plateau_tail(v: &[u64], tol: u64) -> bool {
    let m = v.len();
    let Some(&last) = v.last() else {
        return false;
    };
    let flat_tail = v
        .iter()
        .rev()
        .take_while(|&&x| x.abs_diff(last) <= tol)
        .count();
    let min_tail = ((m as f64 * PLATEAU_TAIL_SHARE).ceil() as usize).max(2);
    flat_tail >= min_tail
        && flat_tail < m
        && flat_tail > Shape::of(v, tol).longest_inner_run
        && last > v[0] + tol
}

/// A staircase that keeps climbing, judged `leak`: steps up (two at least) separated by flat
/// runs, nothing given back, and no flat tail long enough for a plateau. `None` for any other
/// series.
///
/// "Nothing given back" is measured against the highest point so far, not step by step: a
/// drain by less than the tolerance each step is flat at every step and still gives back half
/// of a jump over fifty of them.
///
/// Its Theil–Sen slope is unstable (most pairs of points lie on one flat run, and a few steps
/// more or less at the edges move it); what it costs is its average climb over whole periods,
/// from its first step to its last, which is the leak's rate however the edges fall.
pub fn staircase(v: &[u64]) -> Option<Judgement> {
    let m = v.len();
    if m < MIN_ITERATIONS {
        return None;
    }
    let tol = tolerance(v);
    let shape = Shape::of(v, tol);
    let [first, .., last] = shape.rises[..] else {
        return None;
    };
    if shape.flat_steps < shape.rises.len()
        || shape.falls > 0
        || gives_back(v, tol)
        || plateau_tail(v, tol)
    {
        return None;
    }
    // Nothing given back, so the last step ends above the first: the climb is positive.
    let climb = v[last].saturating_sub(v[first]) as f64 / (last - first) as f64;
    if climb.round() < 1.0 {
        return None;
    }
    let periods = (shape.rises.len() - 1) as f64;
    let sample = m as f64 / (m as f64 + 2.0);
    Some(Judgement {
        verdict: Verdict::Leak,
        bytes_per_iteration: climb.round() as i64,
        confidence: round2((periods / FULL_CONFIDENCE_CYCLES).min(1.0) * sample),
    })
}

/// Whether the series ever drops more than the tolerance below its highest point so far.
fn gives_back(v: &[u64], tol: u64) -> bool {
    let mut high = 0;
    v.iter().any(|&x| {
        high = high.max(x);
        high - x > tol
    })
}

/// Where a series changes by more than the tolerance, and the flat runs between.
struct Shape {
    /// Indices `i` where `v[i]` rose above `v[i - 1]` by more than the tolerance.
    rises: Vec<usize>,
    /// Changes down by more than the tolerance.
    falls: usize,
    /// Steps (pairs of neighbours) within the tolerance.
    flat_steps: usize,
    /// The longest run of points between two changes: the series' rhythm. The runs before its
    /// first change and after its last are cut by the window's edges, so they say nothing.
    longest_inner_run: usize,
}

impl Shape {
    fn of(v: &[u64], tol: u64) -> Shape {
        let mut shape = Shape {
            rises: Vec::new(),
            falls: 0,
            flat_steps: 0,
            longest_inner_run: 0,
        };
        let mut run = 1;
        let mut changes = 0;
        for i in 1..v.len() {
            if v[i].abs_diff(v[i - 1]) <= tol {
                shape.flat_steps += 1;
                run += 1;
                continue;
            }
            if v[i] > v[i - 1] {
                shape.rises.push(i);
            } else {
                shape.falls += 1;
            }
            if changes > 0 {
                shape.longest_inner_run = shape.longest_inner_run.max(run);
            }
            changes += 1;
            run = 1;
        }
        shape
    }
}

/// Where a series' last point was taken, which decides whether it is judged with the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LastPoint {
    /// The program exited cleanly: the last iteration has no end of its own (no marker, range
    /// or launch after it), so its point is where the program stood at exit, with whatever it
    /// did after its last step: garbage its collector had not run on yet, output buffers, a
    /// last step cut short. Judged, that point makes false leaks: the corpus' python-gc.trace
    /// (4 marked steps) has a site at 2, 2, 2, then 4 MiB at exit, a "leak", and a device
    /// "plateau" where it leaks 1 MiB a step.
    AtExit,
    /// The trace stops inside an iteration (the program still runs, or was killed): what that
    /// iteration holds while it runs (its activations) is live, as at no iteration's end.
    InsideIteration,
    /// The trace stops inside a time window: its end is a point like every window's.
    InsideWindow,
}

/// The points of `ends` (live bytes at the end of each iteration, the last one where the trace
/// stops) that are judged, `first` being the first the site was seen in. An iteration that has
/// not ended is not judged: three or four steps of a run cut off are a flat series with the
/// running step's activations as its last point, and two points up to a third make a "leak"
/// of every temporary. The last point of a clean exit is left out when [`MIN_ITERATIONS`] are
/// still judged without it.
pub fn judged_ends(ends: &[u64], first: usize, last: LastPoint) -> &[u64] {
    let drop_last = match last {
        LastPoint::AtExit => ends.len() > first + MIN_ITERATIONS,
        LastPoint::InsideIteration => true,
        LastPoint::InsideWindow => false,
    };
    match ends {
        [rest @ .., _] if drop_last => rest,
        all => all,
    }
}

/// Live bytes at the end of each iteration for iterations bounded by markers: `at_markers[i]`
/// is the live figure at marker `i`; the last iteration ends at `live_now`.
pub fn iteration_ends(at_markers: &[u64], live_now: u64) -> Vec<u64> {
    at_markers
        .iter()
        .skip(1)
        .copied()
        .chain(std::iter::once(live_now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_steady_leak_is_a_leak_with_its_slope() {
        let v: Vec<u64> = (0..20).map(|i| 100 * MIB + i * 3 * MIB).collect();
        let j = judge(&v).unwrap();
        assert_eq!(j.verdict, Verdict::Leak);
        assert_eq!(j.bytes_per_iteration, 3 * MIB as i64);
        assert!(j.confidence > 0.8);
    }

    #[test]
    fn flat_is_steady_and_two_points_are_not_judged() {
        assert_eq!(judge(&[5; 10]).unwrap().verdict, Verdict::Steady);
        assert_eq!(judge(&[5, 6]), None);
    }

    #[test]
    fn growth_that_stops_is_a_plateau() {
        let v = [1, 2, 3, 4, 5, 6, 6, 6, 6, 6];
        assert_eq!(
            judge(&v.map(|x| x * MIB)).unwrap().verdict,
            Verdict::Plateau
        );
    }

    #[test]
    fn three_rising_points_are_a_leak_not_a_plateau() {
        assert_eq!(
            judge(&[2, 3, 4].map(|x| x * MIB)).unwrap().verdict,
            Verdict::Leak
        );
    }

    #[test]
    fn a_reset_every_few_steps_is_a_sawtooth_that_climbs_by_its_step() {
        let v: Vec<u64> = (0..30).map(|i| (i % 10 + 1) * MIB).collect();
        let j = judge(&v).unwrap();
        assert_eq!(j.verdict, Verdict::Sawtooth);
        assert_eq!(j.bytes_per_iteration, MIB as i64);
    }

    /// A caching allocator's leak: `base`, then a `SEGMENT` more every `k` iterations (moved
    /// by `jitter`, which sums to zero), five steps, then `tail` flat points after the last.
    fn staircase(k: usize, jitter: &[isize], tail: usize, noise: bool) -> Vec<u64> {
        const SEGMENT: u64 = 20 * MIB;
        let mut at = vec![k / 2 + 1];
        for j in 0..4 {
            let d = k as isize + jitter.get(j).copied().unwrap_or(0);
            at.push(at[j] + d.max(1) as usize);
        }
        let len = at[4] + tail;
        (0..len)
            .map(|i| {
                let steps = at.iter().filter(|&&a| a <= i).count() as u64;
                // Wobble well inside 1% of the peak: alignment, a small buffer coming and going.
                let wobble = if noise && i % 3 == 1 { 256 << 10 } else { 0 };
                100 * MIB + steps * SEGMENT + wobble
            })
            .collect()
    }

    #[test]
    fn a_staircase_that_keeps_climbing_is_a_leak_at_its_average_climb() {
        for k in 1..=20 {
            for (jitter, noise) in [(&[][..], false), (&[1, -1, -1, 1][..], true)] {
                let jitter = if k >= 3 { jitter } else { &[] };
                // Ending on a flat run shorter than the rhythm: the next step is still to come.
                let tail = (k / 2).max(1);
                let v = staircase(k, jitter, tail, noise);
                let j = judge(&v).unwrap();
                let truth = (20 * MIB) as f64 / k as f64;
                assert_eq!(j.verdict, Verdict::Leak, "k={k} jitter={jitter:?}: {v:?}");
                let error = (j.bytes_per_iteration as f64 - truth).abs() / truth;
                assert!(
                    error <= 0.10,
                    "k={k} jitter={jitter:?}: {} B/iteration, truth {truth}",
                    j.bytes_per_iteration
                );
            }
        }
    }

    #[test]
    fn a_staircase_whose_flat_tail_outlasts_its_rhythm_is_a_plateau() {
        for k in 1..=20 {
            for (jitter, noise) in [(&[][..], false), (&[1, -1, -1, 1][..], true)] {
                let jitter = if k >= 3 { jitter } else { &[] };
                // Longer than any earlier flat run, and 30% of the series or more.
                let before = staircase(k, jitter, 0, noise).len();
                let tail = (k + 3).max(before / 2 + 1);
                let v = staircase(k, jitter, tail, noise);
                let j = judge(&v).unwrap();
                assert_eq!(
                    j.verdict,
                    Verdict::Plateau,
                    "k={k} jitter={jitter:?}: {v:?}"
                );
            }
        }
    }

    #[test]
    fn a_flat_tail_as_long_as_the_rhythm_is_still_a_leak() {
        // A step every 10 iterations; the last 10 flat points are a third of the series but no
        // longer than the flat runs before them.
        let v: Vec<u64> = (0..30).map(|i| (100 + 20 * (i / 10)) * MIB).collect();
        let j = judge(&v).unwrap();
        assert_eq!(j.verdict, Verdict::Leak);
        assert_eq!(j.bytes_per_iteration, 2 * MIB as i64);
    }

    #[test]
    fn one_step_up_then_flat_is_a_plateau_not_a_staircase() {
        let v: Vec<u64> = (0..20)
            .map(|i| if i < 8 { 10 * MIB } else { 30 * MIB })
            .collect();
        assert_eq!(judge(&v).unwrap().verdict, Verdict::Plateau);
    }

    #[test]
    fn warm_up_is_the_first_iteration_or_the_first_tenth() {
        assert_eq!(warm_up(3), 0);
        assert_eq!(warm_up(4), 1);
        assert_eq!(warm_up(50), 5);
    }
}
