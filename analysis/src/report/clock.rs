//! Where a report's iterations come from ([`Clock`]): markers, else NVTX ranges, else the launch
//! sequence's period, else fixed time windows, with the prologue of a model loading and the
//! first step of a cut-off run left unjudged; and live bytes per iteration on that clock.

use std::collections::HashMap;

use regex::Regex;

use crate::growth::{self, Judgement, LastPoint, Verdict};
use crate::memory::SiteKey;
use crate::model::Source;
use crate::period::AutoIterations;
use crate::replay::{OomEvent, Replay};
use crate::thresholds::{MIN_AUTO_ITERATIONS, MIN_RANGE_ITERATIONS};

/// Choices that change how a report reads the trace.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    /// NVTX ranges whose name matches mark iterations (`--iteration-range`); when several names
    /// match, the one that occurs most often. Without it, the outermost range that repeats.
    pub iteration_range: Option<Regex>,
}

/// The NVTX range whose openings are iterations: with a pattern, the matching name that occurs
/// most often; without, the most frequent outermost name occurring at least 3 times. Ties go to
/// the range seen first.
pub(super) fn choose_range(replay: &Replay, pattern: Option<&Regex>) -> Option<usize> {
    replay
        .ranges()
        .iter()
        .enumerate()
        .filter(|(_, r)| match pattern {
            Some(p) => r.count > 0 && p.is_match(&r.name),
            None => r.min_depth == 0 && r.count >= MIN_RANGE_ITERATIONS,
        })
        .min_by_key(|(i, r)| (std::cmp::Reverse(r.count), *i))
        .map(|(i, _)| i)
}

/// Where the report's iterations come from: markers, else NVTX ranges, else the launch
/// sequence's period, else fixed time windows.
pub(super) struct Clock {
    pub(super) source: Option<Source>,
    /// Index into [`Replay::ranges`]; present only when `source` is "nvtx".
    pub(super) range: Option<usize>,
    /// The trace so far is a model being loaded: no iterations ([`Replay::auto_outcome`]).
    pub(super) loading: bool,
    /// Time windows before the one the steps begin in ([`Replay::steps_begin_ns`]: the first
    /// launch, or the first after a model built on the device): the program was loading, and
    /// memory that only climbs while a model loads is no leak. 0 for other sources.
    pub(super) prologue: usize,
    /// What the report should say about the choice.
    pub(super) notes: Vec<String>,
    pub(super) count: u64,
    pub(super) start_ns: u64,
    pub(super) width_ns: u64,
    /// Present only when `source` is "auto".
    pub(super) auto: Option<AutoIterations>,
    /// Time windows stand in for the steps of a program whose period is not found yet
    /// ([`Clock::windows_can_judge`]).
    pub(super) windows_cut_steps: bool,
    /// Sites' live bytes when the epilogue began ([`Replay::epilogue`]): where the last
    /// iteration ends for them; empty when there is no epilogue.
    pub(super) epilogue: HashMap<SiteKey, u64>,
}

impl Clock {
    pub(super) fn of(replay: &Replay, pattern: Option<&Regex>) -> Clock {
        let (start_ns, width_ns, windows) = replay.time_windows();
        let mut notes = Vec::new();
        let range = if replay.markers() == 0 {
            choose_range(replay, pattern)
        } else {
            None
        };
        if let Some(p) = pattern {
            if replay.markers() > 0 {
                notes.push(format!(
                    "--iteration-range {p}: the program marks its iterations \
                     (gpuleak_mark_iteration); markers are used instead"
                ));
            } else if range.is_none() {
                notes.push(format!(
                    "--iteration-range {p}: no NVTX range in the trace matches"
                ));
            }
        }
        // Loading a model is not iterating: with no step yet, the whole trace is its prologue,
        // and time windows over it would call every climbing site a leak.
        let (auto, loading) = if replay.markers() == 0 && range.is_none() {
            let (found, loading) = replay.auto_outcome();
            (
                found.filter(|a| a.boundaries.len() >= MIN_AUTO_ITERATIONS),
                loading,
            )
        } else {
            (None, false)
        };
        if loading {
            notes.push(
                "no iteration yet: the launches so far repeat one kernel while memory only \
                 climbs, which is a model being loaded (a kernel per parameter), not a step; \
                 nothing is judged until the program's steps begin"
                    .to_string(),
            );
        }
        // A trace that stops (cut off, or read live) while the program's first step runs holds
        // no step's end: the step's activations climb window after window, which time windows
        // would call a leak. Its launches' opening coming again is the second step.
        let in_first_step = !loading
            && auto.is_none()
            && replay.markers() == 0
            && range.is_none()
            && !replay.complete()
            && replay.in_first_step();
        if in_first_step {
            notes.push(
                "no step has ended yet: the launches the program opened with have not come \
                 again, so the trace stops inside its first step; nothing is judged until the \
                 second step begins"
                    .to_string(),
            );
        }
        let (source, count) = if replay.markers() > 0 {
            (Some(Source::Marker), replay.markers())
        } else if let Some(i) = range {
            (Some(Source::Nvtx), replay.ranges()[i].count)
        } else if let Some(a) = &auto {
            (Some(Source::Auto), a.boundaries.len() as u64)
        } else if loading || in_first_step {
            (None, 0)
        } else if replay.events() > 0 {
            (Some(Source::Time), u64::from(windows) + 1)
        } else {
            (None, 0)
        };
        let windows_cut_steps = source == Some(Source::Time) && replay.has_steps();
        if windows_cut_steps {
            notes.push(
                "iterations not found yet: the program's kernels repeat, but not yet often \
                 enough for their period to be found (three repetitions of its step or \
                 request); time windows stand in, and they may cut its steps apart, so memory \
                 that comes and goes within a step is not judged (no sawtooth, no plateau) \
                 until the iterations are found"
                    .to_string(),
            );
        }
        let prologue = match (source, replay.steps_begin_ns()) {
            (Some(Source::Time), Some(t)) => {
                (t.saturating_sub(start_ns) / width_ns.max(1)).saturating_sub(1) as usize
            }
            _ => 0,
        };
        Clock {
            source,
            range,
            loading,
            prologue,
            notes,
            count,
            start_ns,
            width_ns,
            auto,
            windows_cut_steps,
            epilogue: replay.epilogue().unwrap_or_default(),
        }
    }

    /// Whether a verdict over this clock's iterations can be given. Time windows over a
    /// program that runs steps of unknown length may be shorter than a step or straddle two:
    /// a step's activations then rise in one window and fall in the next, which reads as a
    /// sawtooth ("keeps memory through each cycle: free it"), and weights loaded before the
    /// steps read as a plateau. Only growth that outlasts the windows (a leak) is told; the
    /// rest waits for the iterations. The one place this rule is written.
    pub(super) fn windows_can_judge(&self, verdict: Verdict) -> bool {
        !self.windows_cut_steps || !matches!(verdict, Verdict::Sawtooth | Verdict::Plateau)
    }

    /// Where the series' last point stands: at a clean exit, inside the time window the trace
    /// stops in, or inside the iteration it stops in.
    pub(super) fn last_point(&self, replay: &Replay) -> LastPoint {
        if replay.complete() {
            LastPoint::AtExit
        } else if self.source == Some(Source::Time) {
            LastPoint::InsideWindow
        } else {
            LastPoint::InsideIteration
        }
    }

    /// A site's live bytes at the end of the last iteration: before the epilogue, if the trace
    /// has one, else now.
    pub(super) fn last_end(&self, key: &SiteKey, live_now: u64) -> u64 {
        self.epilogue.get(key).copied().unwrap_or(live_now)
    }

    /// A device or physical site's growth over the iterations it was seen in, warm-up left
    /// out; none where the iterations cannot support its verdict ([`Clock::windows_can_judge`]).
    pub(super) fn judge(&self, replay: &Replay, key: &SiteKey, live_now: u64) -> Option<Judgement> {
        self.judge_all(replay, key, live_now)
            .filter(|j| self.windows_can_judge(j.verdict))
    }

    fn judge_all(&self, replay: &Replay, key: &SiteKey, live_now: u64) -> Option<Judgement> {
        let series = replay.site_series(key)?;
        let live_now = self.last_end(key, live_now);
        let (ends, first) = match self.source? {
            Source::Marker => (
                growth::iteration_ends(&series.at_markers, live_now),
                series.first_marker.saturating_sub(1) as usize,
            ),
            Source::Nvtx => {
                let b = series
                    .at_ranges
                    .get(self.range?)
                    .cloned()
                    .unwrap_or_default();
                (
                    growth::iteration_ends(&b.at, live_now),
                    b.first.saturating_sub(1) as usize,
                )
            }
            Source::Auto => {
                let s = self.auto.as_ref()?.series.get(key)?;
                (
                    growth::iteration_ends(&s.at, live_now),
                    s.first.saturating_sub(1) as usize,
                )
            }
            Source::Time => {
                let mut ends = series.at_windows.clone();
                ends.push(live_now);
                (ends, series.first_window as usize)
            }
        };
        let first = first.max(self.prologue);
        let ends = growth::judged_ends(&ends, first, self.last_point(replay));
        // The warm-up is the first steps after the prologue, not the prologue's last windows.
        let warm = self.prologue + growth::warm_up(ends.len().saturating_sub(self.prologue));
        let from = warm.max(first);
        let judged = growth::judge(ends.get(from..)?)?;
        // A site born after the warm-up: its birth is a step too. Through a caching allocator a
        // leak's first segment comes from its line like the later ones (earlier leaked blocks
        // landed in other sites' segments), and without it a run of a few segments shows one
        // step less than it climbed. Only a staircase counts it: a site born once and flat since
        // is no leak.
        if first > warm
            && judged.verdict != Verdict::Sawtooth
            && let Some(stairs) = ends.get(warm..).and_then(growth::staircase)
        {
            return Some(stairs);
        }
        if judged.verdict == Verdict::Steady {
            // Growth that stopped within the warm-up (a cache filled in the first steps) is
            // still a plateau: warm-up is left out to avoid false leaks, not to hide growth.
            if let Some(whole) = ends.get(first..).and_then(growth::judge)
                && whole.verdict == Verdict::Plateau
            {
                return Some(whole);
            }
        }
        Some(judged)
    }

    pub(super) fn iteration_of(&self, o: &OomEvent) -> Option<u64> {
        match self.source? {
            Source::Marker => o.markers_before.checked_sub(1),
            Source::Nvtx => o.ranges_before.get(self.range?)?.checked_sub(1),
            Source::Auto => self.auto.as_ref()?.iteration_after(o.launches_before),
            Source::Time => Some(self.window_of(o.time_ns)),
        }
    }

    /// The time window `time_ns` falls in (the last one for any time after it).
    pub(super) fn window_of(&self, time_ns: u64) -> u64 {
        (time_ns.saturating_sub(self.start_ns) / self.width_ns).min(self.count.saturating_sub(1))
    }
}

/// Judges the whole device's live bytes per iteration as a site's: the prologue, an iteration
/// that has not ended ([`growth::judged_ends`], as [`Clock::judge`] does) and the warm-up left
/// out, on the memory that moves ([`growth::judge_above_base`]); none where the iterations
/// cannot support its verdict ([`Clock::windows_can_judge`]).
pub(super) fn judge_whole(
    ends: &[u64],
    clock: &Clock,
    replay: &Replay,
) -> Option<growth::Judgement> {
    let ends = ends.get(clock.prologue..).unwrap_or_default();
    let ends = growth::judged_ends(ends, 0, clock.last_point(replay));
    growth::judge_above_base(ends.get(growth::warm_up(ends.len())..)?)
        .filter(|j| clock.windows_can_judge(j.verdict))
}

/// Device and physical memory live at the end of each iteration (as the report counts iterations, warm-up
/// included): the sum over device and physical sites of each site's live bytes at that iteration's end; the
/// last entry is what is live now. Empty for a trace with no device allocations.
pub fn device_live_per_iteration(replay: &Replay, options: &ReportOptions) -> Vec<u64> {
    let clock = Clock::of(replay, options.iteration_range.as_ref());
    live_per_iteration(replay, &clock, |_| true)
}

/// Each device or physical site's live bytes at the end of every iteration, as
/// [`device_live_per_iteration`] sums them (the last entry is what is live now): for charts of
/// memory over iterations by site.
pub fn site_live_per_iteration(
    replay: &Replay,
    options: &ReportOptions,
) -> HashMap<SiteKey, Vec<u64>> {
    let clock = Clock::of(replay, options.iteration_range.as_ref());
    replay
        .sites()
        .iter()
        .filter_map(|(key, stats)| Some((*key, clock.ends(replay, key, stats.live_bytes)?)))
        .collect()
}

/// [`device_live_per_iteration`] over the sites `keep` keeps.
pub(super) fn live_per_iteration(
    replay: &Replay,
    clock: &Clock,
    keep: impl Fn(&SiteKey) -> bool,
) -> Vec<u64> {
    let mut total: Vec<u64> = Vec::new();
    for (key, stats) in replay.sites().iter().filter(|(k, _)| keep(k)) {
        let Some(ends) = clock.ends(replay, key, stats.live_bytes) else {
            continue;
        };
        if ends.len() > total.len() {
            total.resize(ends.len(), 0);
        }
        for (t, e) in total.iter_mut().zip(ends) {
            *t = t.saturating_add(e);
        }
    }
    total
}

impl Clock {
    /// A device or physical site's live bytes at the end of every iteration, from the first; `None` for
    /// sites of other memory or a trace with no iterations.
    pub(super) fn ends(&self, replay: &Replay, key: &SiteKey, live_now: u64) -> Option<Vec<u64>> {
        let series = replay.site_series(key)?;
        let live_now = self.last_end(key, live_now);
        Some(match self.source? {
            Source::Marker => growth::iteration_ends(&series.at_markers, live_now),
            Source::Nvtx => {
                let b = series
                    .at_ranges
                    .get(self.range?)
                    .cloned()
                    .unwrap_or_default();
                growth::iteration_ends(&b.at, live_now)
            }
            Source::Auto => {
                let s = self.auto.as_ref()?.series.get(key)?;
                growth::iteration_ends(&s.at, live_now)
            }
            Source::Time => {
                let mut ends = series.at_windows.clone();
                ends.push(live_now);
                ends
            }
        })
    }
}
