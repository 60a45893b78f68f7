//! Iterations found in the launch sequence when the program marks none (`source = "auto"`).
//!
//! A sampler step launches the same kernels in the same order every step. The replay keeps the
//! launched functions of the first [`PREFIX_LAUNCHES`] launches as small ids, finds the smallest
//! period `p` with `seq[i] == seq[i + p]` for at least 90% of `i`, and takes as boundaries each
//! launch of the period's anchor: the function launched once per period that the trace launched
//! first (or, when none is launched once per period, every `p`-th launch from where the
//! repetition starts).
//!
//! Boundaries are known only once the period is, so while it collects the prefix the replay logs
//! device and physical sites' live bytes as they change (bounded by [`LOG_CAP`]) and rebuilds the series at the
//! boundaries from that log; after the prefix it records them at each anchor launch, as it does
//! at markers. Memory stays bounded: the prefix, the log, and sites times iterations.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::memory::SiteKey;

use crate::thresholds::{
    ANCHOR_COUNT_SHARE, FIRST_STEP_LAUNCHES, LOADING_MIN_LAUNCHES, PERIOD_MATCH,
    PERIOD_MAX_COMPARISONS, PERIOD_MIN_REPEATS, PERIOD_MIN_TAIL, SEARCH_AGAIN_SHARE,
    WARM_UP_EIGHTHS,
};
pub use crate::thresholds::{LOG_CAP, PREFIX_LAUNCHES};

/// Where iterations start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// Each launch of this function id.
    Function(u32),
    /// Launch positions `start`, `start + period`, ...
    Stride { start: u64, period: u64 },
}

impl Anchor {
    pub fn is_boundary(self, position: u64, function: u32) -> bool {
        match self {
            Anchor::Function(f) => f == function,
            Anchor::Stride { start, period } => {
                position >= start && (position - start).is_multiple_of(period)
            }
        }
    }
}

/// The smallest period the sequence repeats with (90% of positions), if any repeats at least
/// three times.
pub fn find_period(seq: &[u32]) -> Option<usize> {
    let n = seq.len();
    let mut budget = PERIOD_MAX_COMPARISONS;
    for p in 1..=n / PERIOD_MIN_REPEATS {
        let total = n - p;
        let allowed = ((1.0 - PERIOD_MATCH) * total as f64).floor() as usize;
        let mut misses = 0;
        let mut compared = 0;
        for i in 0..total {
            compared += 1;
            if seq[i] != seq[i + p] {
                misses += 1;
                if misses > allowed {
                    break;
                }
            }
        }
        if misses <= allowed {
            return Some(p);
        }
        budget = budget.checked_sub(compared)?;
    }
    None
}

/// The period of the sequence and where its repetition is looked at: the whole sequence, or,
/// when a warm-up (a first eager step, CUDA-graph capture, model loading, a library's set-up in
/// the first request) breaks more than the tolerated share of positions, the sequence from an
/// eighth, a quarter, three eighths of the way on, then its last half, last quarter, last
/// eighth... down to [`PERIOD_MIN_TAIL`] launches. The steps repeat to the end; a warm-up only
/// happens at the start.
///
/// The eighths find a long period early: read live, a sequence of a few periods after a
/// warm-up holds three whole periods past its first eighth well before its last half does.
pub fn find_period_after_warm_up(seq: &[u32]) -> Option<(usize, usize)> {
    let n = seq.len();
    let eighths = (0..WARM_UP_EIGHTHS).map(|k| k * n / 8);
    let halves = std::iter::successors(Some(n / 2), |&len| Some(len / 2))
        .take_while(|&len| len >= PERIOD_MIN_TAIL)
        .map(|len| n - len);
    let mut tried = HashSet::new();
    eighths
        .chain(halves)
        .filter(|&start| tried.insert(start))
        .find_map(|start| find_period(&seq[start..]).map(|p| (p, start)))
}

/// The anchor of a period `p` found in `seq[start..]`, as positions in the whole `seq`.
pub fn anchor_from(seq: &[u32], p: usize, start: usize) -> Anchor {
    match anchor(&seq[start..], p) {
        Anchor::Stride { start: s, period } => Anchor::Stride {
            start: s + start as u64,
            period,
        },
        function => function,
    }
}

/// The anchor of a period `p` in `seq`: among functions launched about once per period, the one
/// launched first; else a stride from where the sequence first repeats a whole period.
pub fn anchor(seq: &[u32], p: usize) -> Anchor {
    // Counted from where the steps start: a model loaded one kernel per parameter before them
    // repeats with any period and would inflate the count of periods.
    let from = repeats_from(seq, p).unwrap_or(0);
    let repeats = (seq.len() - from) as f64 / p as f64;
    let mut counts: HashMap<u32, (usize, usize)> = HashMap::new();
    for (i, &f) in seq.iter().enumerate().skip(from) {
        counts.entry(f).or_insert((0, i)).0 += 1;
    }
    let once = counts
        .iter()
        .filter(|(_, (count, _))| {
            let c = *count as f64;
            c >= (1.0 - ANCHOR_COUNT_SHARE) * repeats
                && c <= (1.0 + ANCHOR_COUNT_SHARE) * repeats + 1.0
        })
        .min_by_key(|(_, (_, first))| *first);
    if let Some((&f, _)) = once {
        return Anchor::Function(f);
    }
    Anchor::Stride {
        start: from as u64,
        period: p as u64,
    }
}

/// The first position where a whole period `p` repeats exactly and is no run of one function
/// (for `p > 1`): one kernel launched per parameter while a model loads repeats with every
/// period, and is no step of any.
fn repeats_from(seq: &[u32], p: usize) -> Option<usize> {
    (0..(seq.len() + 1).saturating_sub(2 * p)).find(|&i| {
        let window = &seq[i..i + p];
        seq[i..i + p] == seq[i + p..i + 2 * p] && (p == 1 || window.iter().any(|&f| f != window[0]))
    })
}

/// The boundaries left once the prologue is taken off: a launch of the anchor before the first
/// step (a kernel of the step also run while the model loads) starts no iteration. The first
/// step is the last boundary at or before the first position where a whole period repeats
/// exactly; everything before it is the prologue. A first step that differs from the others
/// (an eager warm-up step with kernels of its own) still counts: the repetition starts inside
/// it, after its anchor. When no period repeats exactly, every boundary is kept.
fn after_prologue(seq: &[u32], p: usize, boundaries: Vec<u64>) -> Vec<u64> {
    let Some(repeats_from) = repeats_from(seq, p) else {
        return boundaries;
    };
    let first = boundaries.partition_point(|&b| b <= repeats_from as u64);
    match first.checked_sub(1) {
        Some(first) => boundaries[first..].to_vec(),
        None => boundaries,
    }
}

/// One device or physical site's live bytes at auto boundaries, as [`crate::SiteSeries`] keeps them at
/// markers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoSeries {
    /// Boundaries before the site first allocated: 0 means before the first iteration.
    pub first: u64,
    /// Live bytes at each boundary (0 before the site existed).
    pub at: Vec<u64>,
}

/// Iterations found in the launch sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoIterations {
    /// Launches per iteration.
    pub period: u64,
    /// Launch positions (0-based) where iterations start.
    pub boundaries: Vec<u64>,
    pub series: HashMap<SiteKey, AutoSeries>,
}

impl AutoIterations {
    /// The iteration running after `launches` launches; `None` before the first.
    pub fn iteration_after(&self, launches: u64) -> Option<u64> {
        (self.boundaries.partition_point(|&b| b < launches) as u64).checked_sub(1)
    }
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Collecting,
    Found {
        anchor: Anchor,
        found: AutoIterations,
    },
    Failed,
    /// The prefix repeated one kernel while memory only climbed: the program was loading.
    Loading,
}

/// What the launch sequence says about iterations.
#[derive(Clone, Debug)]
enum Outcome {
    Found(Anchor, AutoIterations),
    /// No period looks like a step, but one kernel repeats while memory only climbs: a model
    /// being loaded (weights initialised or copied one kernel per parameter).
    Loading,
    None,
}

/// The run of one kernel the launches open with: a model built on the device launches one per
/// parameter (its initialisation) before the program's steps begin.
#[derive(Debug, Default)]
struct Opening {
    /// (launches before, time) of the first launch that is not the opening kernel's (another
    /// function, or a graph): where the run ended.
    end: Option<(u64, u64)>,
    /// Whether the run was a model loading, decided when the prefix is let go.
    loading: Option<bool>,
}

/// Whether the launches the program's steps opened with have come again: until they have, a
/// trace that stops holds no step's end.
#[derive(Debug, Default)]
struct FirstStep {
    /// The first [`FIRST_STEP_LAUNCHES`] launch ids after the opening kernel's run.
    start: Vec<u32>,
    /// The latest launch ids, as many as `start` holds once it is full.
    recent: std::collections::VecDeque<u32>,
    again: bool,
    /// Launches seen, the opening kernel's run included.
    launches: u64,
}

impl FirstStep {
    fn launch(&mut self, id: u32) {
        self.launches += 1;
        if self.again {
            return;
        }
        if self.start.len() < FIRST_STEP_LAUNCHES {
            self.start.push(id);
            return;
        }
        if self.recent.len() == FIRST_STEP_LAUNCHES {
            self.recent.pop_front();
        }
        self.recent.push_back(id);
        self.again = self.recent.len() == FIRST_STEP_LAUNCHES
            && id == self.start[FIRST_STEP_LAUNCHES - 1]
            && self.recent.iter().eq(self.start.iter());
    }
}

/// The last search for the period.
#[derive(Clone, Copy, Debug)]
struct Search {
    /// The prefix's length then.
    at: usize,
    /// The period and where its repetition was looked at, if found.
    found: Option<(usize, usize)>,
}

/// What the replay keeps to find iterations in the launch sequence.
#[derive(Debug, Default)]
pub(crate) struct Auto {
    opening: Opening,
    first_step: FirstStep,
    ids: HashMap<u64, u32>,
    /// Ids of launched CUDA graphs: one launch can be a whole step.
    graphs: HashSet<u32>,
    seq: Vec<u32>,
    /// Device and physical sites' live bytes at the first launch.
    base: Option<HashMap<SiteKey, u64>>,
    /// (launches before, site, live bytes after) for each device-site change after the first
    /// launch, while collecting.
    log: Vec<(u64, SiteKey, u64)>,
    state: State,
    /// The last look at the prefix, by the lengths of the sequence and log it saw: a report
    /// asks several times (its clock, its charts, the live view's ticks), and between two
    /// reads nothing changes.
    looked: Mutex<Option<((usize, usize), Outcome)>>,
    searched: Mutex<Option<Search>>,
}

impl Auto {
    /// A launch at position `position` (launches before it), of a CUDA graph when `graph`.
    /// `device_live` gives every device site's live bytes now, asked only at the first launch
    /// and at boundaries.
    pub fn launch(
        &mut self,
        position: u64,
        function: u64,
        graph: bool,
        time_ns: u64,
        device_live: impl FnOnce() -> Vec<(SiteKey, u64)>,
    ) {
        let next = self.ids.len() as u32;
        let id = *self.ids.entry(function).or_insert(next);
        // The first function launched has id 0.
        if self.opening.end.is_none() && position > 0 && (id != 0 || graph) {
            self.opening.end = Some((position, time_ns));
            // A run of the first kernel (a model built on the device) is not the first step.
            if position > 1 {
                self.first_step = FirstStep {
                    launches: position,
                    ..FirstStep::default()
                };
            }
        }
        if self.opening.end.is_some() || position == 0 {
            self.first_step.launch(id);
        }
        if graph && matches!(self.state, State::Collecting) {
            self.graphs.insert(id);
        }
        match &mut self.state {
            State::Collecting => {
                if self.base.is_none() {
                    self.base = Some(device_live().into_iter().collect());
                }
                self.seq.push(id);
            }
            State::Found { anchor, found } => {
                if anchor.is_boundary(position, id) {
                    found.boundaries.push(position);
                    let live: HashMap<SiteKey, u64> = device_live().into_iter().collect();
                    for (key, series) in &mut found.series {
                        series.at.push(live.get(key).copied().unwrap_or(0));
                    }
                }
            }
            State::Failed | State::Loading => {}
        }
        if matches!(self.state, State::Collecting) && self.seq.len() >= PREFIX_LAUNCHES {
            self.freeze();
        }
    }

    /// A device or physical site's live bytes changed to `live` after `launches` launches.
    pub fn site_changed(&mut self, launches: u64, key: SiteKey, live: u64) {
        match &mut self.state {
            State::Collecting => {
                if self.base.is_none() {
                    return;
                }
                self.log.push((launches, key, live));
            }
            State::Found { found, .. } => {
                let n = found.boundaries.len();
                found.series.entry(key).or_insert_with(|| AutoSeries {
                    first: n as u64,
                    at: vec![0; n],
                });
            }
            State::Failed | State::Loading => {}
        }
        if matches!(self.state, State::Collecting) && self.log.len() >= LOG_CAP {
            self.freeze();
        }
    }

    fn freeze(&mut self) {
        self.opening.loading = Some(self.opening_loads());
        // The period is fixed from here on: looked for in the whole prefix, not taken from
        // an earlier, shorter look.
        self.searched = Mutex::new(None);
        self.looked = Mutex::new(None);
        self.state = match self.rebuild() {
            Outcome::Found(anchor, found) => State::Found { anchor, found },
            Outcome::Loading => State::Loading,
            Outcome::None => State::Failed,
        };
        self.seq = Vec::new();
        self.graphs = HashSet::new();
        self.log = Vec::new();
        self.base = None;
        self.looked = Mutex::new(None);
        self.searched = Mutex::new(None);
    }

    /// [`Auto::look`], once for each length of the prefix and the log.
    fn rebuild(&self) -> Outcome {
        let seen = (self.seq.len(), self.log.len());
        let mut looked = self.looked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, outcome)) = looked.as_ref()
            && *at == seen
        {
            return outcome.clone();
        }
        let outcome = self.look();
        *looked = Some((seen, outcome.clone()));
        outcome
    }

    /// The period and where its repetition was looked at ([`find_period_after_warm_up`]),
    /// searched again only once the prefix has grown by a [`SEARCH_AGAIN_SHARE`]th since the
    /// last search: read live, the prefix is looked at on every refresh, and a search costs
    /// up to [`PERIOD_MAX_COMPARISONS`] per tail. Searched at geometrically spaced lengths,
    /// their cost is a bounded multiple of the last one's, a bounded cost per launch. The
    /// boundaries, the prologue and the series are still taken from the whole prefix on every
    /// look, so an early period counts every iteration read since, and a later search's
    /// period replaces it.
    fn period(&self) -> Option<(usize, usize)> {
        let n = self.seq.len();
        let mut searched = self.searched.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Search { at, found }) = *searched
            && at <= n
            && n - at < at / SEARCH_AGAIN_SHARE
        {
            return found;
        }
        let found = find_period_after_warm_up(&self.seq);
        *searched = Some(Search { at: n, found });
        found
    }

    /// The period, its anchor and the series at its boundaries, from the prefix and the log.
    fn look(&self) -> Outcome {
        let Some(base) = self.base.as_ref() else {
            return Outcome::None;
        };
        let Some((p, start)) = self.period() else {
            return Outcome::None;
        };
        let anchor = anchor_from(&self.seq, p, start);
        let all: Vec<u64> = self
            .seq
            .iter()
            .enumerate()
            .filter(|&(i, &f)| anchor.is_boundary(i as u64, f))
            .map(|(i, _)| i as u64)
            .collect();
        let boundaries = after_prologue(&self.seq, p, all);
        if !self.looks_like_a_step(p, start, boundaries.first().copied()) {
            return Outcome::Loading;
        }
        let mut live: HashMap<SiteKey, u64> = base.clone();
        let mut series: HashMap<SiteKey, AutoSeries> =
            base.keys().map(|&k| (k, AutoSeries::default())).collect();
        let mut log = self.log.iter().peekable();
        for (n, &b) in boundaries.iter().enumerate() {
            while let Some(&&(at, key, bytes)) = log.peek() {
                if at > b {
                    break;
                }
                live.insert(key, bytes);
                series.entry(key).or_insert_with(|| AutoSeries {
                    first: n as u64,
                    at: vec![0; n],
                });
                log.next();
            }
            for (key, s) in &mut series {
                s.at.push(live.get(key).copied().unwrap_or(0));
            }
        }
        let n = boundaries.len();
        for &(_, key, _) in log {
            series.entry(key).or_insert_with(|| AutoSeries {
                first: n as u64,
                at: vec![0; n],
            });
        }
        Outcome::Found(
            anchor,
            AutoIterations {
                period: p as u64,
                boundaries,
                series,
            },
        )
    }

    /// Whether the period `p` found in `seq[start..]` looks like a program's step: it launches
    /// more than one function, or a CUDA graph (a captured step is one launch), or memory is
    /// given back within its repetitions, or none is allocated. One kernel repeating while
    /// memory only climbs is a model being loaded (a kernel per parameter, weights
    /// initialised or cast one by one): taken for the step, each parameter's allocation would
    /// be a leak "every iteration".
    ///
    /// Memory is looked at over the run of that kernel only: the program's first step, which
    /// follows the loading in the same prefix, gives memory back, and taken for the loading's
    /// it made each parameter's kernel a step.
    fn looks_like_a_step(&self, p: usize, start: usize, first: Option<u64>) -> bool {
        let from = first.unwrap_or(start as u64);
        let at = (from as usize).min(self.seq.len());
        let period = &self.seq[at..(at + p).min(self.seq.len())];
        if period
            .iter()
            .any(|f| *f != period[0] || self.graphs.contains(f))
        {
            return true;
        }
        let run_end = self.seq[at..]
            .iter()
            .position(|&f| f != period[0])
            .map_or(self.seq.len(), |n| at + n);
        !self.memory_only_climbs(from, run_end as u64)
    }

    /// Whether device memory only climbed (rose, and nothing taken since `from` was given back)
    /// between the launches at positions `from` and `to`: a model being loaded. The one test of loading,
    /// for a period of one kernel and for the run the launches open with.
    fn memory_only_climbs(&self, from: u64, to: u64) -> bool {
        let Some(base) = self.base.as_ref() else {
            return false;
        };
        let mut live = base.clone();
        // Sites that took memory during the run: only what they give back again is memory
        // coming and going. Casting a model (`.half()`) gives back the weights it replaces,
        // which were taken before the run: that is still loading.
        let mut rose: HashSet<SiteKey> = HashSet::new();
        let (mut grew, mut gave_back) = (false, false);
        for &(at, key, bytes) in &self.log {
            if at > to {
                break;
            }
            let before = live.insert(key, bytes).unwrap_or(0);
            if at > from {
                if bytes > before {
                    grew = true;
                    rose.insert(key);
                }
                gave_back |= bytes < before && rose.contains(&key);
            }
        }
        grew && !gave_back
    }

    /// Whether the launches open with a model being loaded: a run of one kernel (no graph), at
    /// least [`LOADING_MIN_LAUNCHES`] long, while memory only climbs.
    fn opening_loads(&self) -> bool {
        if let Some(loading) = self.opening.loading {
            return loading;
        }
        let run = self.opening.end.map_or(self.seq.len() as u64, |(at, _)| at);
        run >= LOADING_MIN_LAUNCHES && !self.graphs.contains(&0) && self.memory_only_climbs(0, run)
    }

    /// When the program's steps began, if its launches opened with a model being loaded (one
    /// kernel per parameter while memory only climbs): the first launch after that run. `None`
    /// when they did not, or the run goes on.
    pub fn loading_ended_ns(&self) -> Option<u64> {
        let (_, time_ns) = self.opening.end?;
        self.opening_loads().then_some(time_ns)
    }

    /// Whether the program is inside its first step: its kernels repeat (it has steps: at least
    /// two launches per kernel it launched), but the launches its steps opened with have not
    /// come again. A program whose kernels never repeat has no steps to wait for.
    pub fn in_first_step(&self) -> bool {
        !self.first_step.again && self.has_steps()
    }

    /// Whether the program runs steps: its kernels repeat (at least two launches per kernel it
    /// launched), whether or not their period has been found.
    pub fn has_steps(&self) -> bool {
        let launches = self.first_step.launches;
        launches > 0 && launches >= 2 * self.ids.len() as u64
    }

    /// The iterations found so far; `None` when the launches do not repeat.
    pub fn iterations(&self) -> Option<AutoIterations> {
        match &self.state {
            State::Collecting => match self.rebuild() {
                Outcome::Found(_, found) => Some(found),
                _ => None,
            },
            State::Found { found, .. } => Some(found.clone()),
            State::Failed | State::Loading => None,
        }
    }

    /// [`Auto::iterations`], and whether the launches so far are a model being loaded and no
    /// step (one kernel repeating while memory only climbs), from one look at the prefix.
    pub fn outcome(&self) -> (Option<AutoIterations>, bool) {
        match &self.state {
            State::Collecting => match self.rebuild() {
                Outcome::Found(_, found) => (Some(found), false),
                Outcome::Loading => (None, true),
                Outcome::None => (None, false),
            },
            State::Found { found, .. } => (Some(found.clone()), false),
            State::Loading => (None, true),
            State::Failed => (None, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_smallest_period_despite_a_warm_up() {
        let mut seq = vec![9, 8, 7];
        for _ in 0..20 {
            seq.extend([1, 2, 3, 3, 4]);
        }
        assert_eq!(find_period(&seq), Some(5));
        assert_eq!(anchor(&seq, 5), Anchor::Function(1));
        assert_eq!(find_period(&[1, 1, 1, 1]), Some(1));
    }

    #[test]
    fn a_warm_up_longer_than_a_tenth_of_the_run_is_looked_past() {
        // 300 launches of an eager first step and of graph capture, then 50 steps of one graph
        // launch each: the whole sequence repeats at far fewer than 90% of positions.
        let mut seq: Vec<u32> = (100..400).collect();
        seq.extend(std::iter::repeat_n(7, 50));
        assert_eq!(find_period(&seq), None);
        let (p, start) = find_period_after_warm_up(&seq).unwrap();
        assert_eq!(p, 1);
        assert_eq!(anchor_from(&seq, p, start), Anchor::Function(7));

        // The same with a four-kernel step and no function launched once per step.
        let mut seq: Vec<u32> = (100..400).collect();
        for _ in 0..80 {
            seq.extend([1, 1, 2, 2]);
        }
        let (p, start) = find_period_after_warm_up(&seq).unwrap();
        assert_eq!(p, 4);
        let Anchor::Stride { start: s, period } = anchor_from(&seq, p, start) else {
            panic!("a stride")
        };
        assert_eq!(period, 4);
        // The stride starts inside the steps, as a position in the whole sequence (its phase
        // is a choice when no function marks the step's start).
        assert!(s >= 300, "{s}");
    }

    #[test]
    fn a_long_period_after_a_set_up_is_found_once_three_periods_follow_it() {
        // A first request's 150 launches of set-up, then 3.2 requests of 500 launches: the
        // set-up breaks more than a tenth of the positions, and the last half holds fewer than
        // three requests. Before: no period until 6 requests had come.
        let request = |k: u32| (k.wrapping_mul(2_654_435_761) >> 13) % 97;
        let mut seq: Vec<u32> = (1_000..1_150).collect();
        seq.extend((0..1_600).map(|i| request(i % 500)));
        assert_eq!(find_period(&seq), None);
        let (p, start) = find_period_after_warm_up(&seq).unwrap();
        assert_eq!(p, 500);
        assert!(start >= 150, "{start}");
    }

    #[test]
    fn no_period_in_distinct_launches_or_too_few_repeats() {
        let seq: Vec<u32> = (0..100).collect();
        assert_eq!(find_period(&seq), None);
        assert_eq!(find_period(&[1, 2, 1, 2, 3]), None);
    }

    #[test]
    fn a_period_with_no_single_function_uses_a_stride() {
        let mut seq = vec![];
        for _ in 0..10 {
            seq.extend([1, 1, 2, 2]);
        }
        assert_eq!(find_period(&seq), Some(4));
        assert_eq!(
            anchor(&seq, 4),
            Anchor::Stride {
                start: 0,
                period: 4
            }
        );
    }
}
