//! Judging a site's growth over iterations: leak, sawtooth, plateau or steady.
//!
//! The input is the site's live bytes at the end of each iteration it was seen in, warm-up
//! already left out. The slope is Theil–Sen (the median of the slopes between every pair of
//! points), so a few odd iterations do not move it.

/// What a site's live bytes did over the iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Leak => "leak",
            Verdict::Sawtooth => "sawtooth",
            Verdict::Plateau => "plateau",
            Verdict::Steady => "steady",
        }
    }
}

/// A verdict, the robust slope in bytes per iteration, and how sure the verdict is, in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub bytes_per_iteration: i64,
    pub confidence: f64,
}

/// Fewer iterations than this and nothing is judged.
pub const MIN_ITERATIONS: usize = 3;

/// Points the slope is computed over at most (evenly spaced when there are more iterations).
const SLOPE_POINTS: usize = 200;

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
    // What counts as "no change": allocations are discrete, so flat is usually exactly flat.
    let tol = peak / 100;
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
    if drops >= 2 {
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
            confidence: round2((drops as f64 / 3.0).min(1.0) * sample),
        });
    }

    // Plateau: flat for the last 30% or more, higher than where it started.
    let last = v[m - 1];
    let flat_tail = v
        .iter()
        .rev()
        .take_while(|&&x| x.abs_diff(last) <= tol)
        .count();
    // Two points at least: a single last value always "agrees with itself".
    let min_tail = ((m as f64 * 0.3).ceil() as usize).max(2);
    if flat_tail >= min_tail && flat_tail < m && last > v[0] + tol {
        let confidence = (flat_tail as f64 / (m as f64 * 0.5)).min(1.0) * sample;
        return judgement(Verdict::Plateau, confidence);
    }

    // Leak: a positive robust slope, nearly every step up or flat, and the growth kept.
    let non_decreasing = v.windows(2).filter(|w| w[1] >= w[0]).count() as f64 / steps;
    let net = v[m - 1] as f64 - v[0] as f64;
    if slope > 0.0 && non_decreasing >= 0.8 && net >= 0.5 * slope * steps {
        let mut pairs = 0u64;
        let mut rising = 0u64;
        for (a, &x) in v.iter().enumerate() {
            for &y in &v[a + 1..] {
                pairs += 1;
                rising += u64::from(y > x);
            }
            if pairs > 40_000 {
                break;
            }
        }
        let rising = rising as f64 / pairs.max(1) as f64;
        return judgement(Verdict::Leak, non_decreasing.min(rising) * sample);
    }

    let flat = v.windows(2).filter(|w| w[0].abs_diff(w[1]) <= tol).count() as f64 / steps;
    judgement(Verdict::Steady, flat * sample)
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

    #[test]
    fn warm_up_is_the_first_iteration_or_the_first_tenth() {
        assert_eq!(warm_up(3), 0);
        assert_eq!(warm_up(4), 1);
        assert_eq!(warm_up(50), 5);
    }
}
