//! Iterations marked by NVTX ranges (`source = "nvtx"`): which range is chosen, with and without
//! `--iteration-range`, and what the report says.

mod common;

use common::*;
use gpuleak_analysis::MAX_RANGES;

// Sites: 1 leaking 3 MiB per step, 2 scratch freed each step.
impl Trace {
    /// One sampler step: "step" at `depth`, a nested "unet" twice (more frequent, but inner),
    /// 8 MiB scratch freed, 3 MiB kept.
    fn step(&mut self, depth: u32) {
        self.push(depth, "step");
        let scratch = self.alloc_next(8 * MIB, 2);
        for _ in 0..2 {
            self.push(depth + 1, "unet");
            self.pop(depth + 1);
        }
        self.alloc_next(3 * MIB, 1);
        self.free(scratch);
        self.pop(depth);
    }

    /// `images` images in the domain "sampler" ("image", pushed at depth 0 there), each of
    /// `steps` steps. `step_depth` is the depth the hook gives "step" pushes: 0 when it counts
    /// per domain, 1 when it counts every domain on the thread.
    fn sampler(images: u32, steps: u32, step_depth: u32) -> Trace {
        let mut t = Trace::new().mem_info_always();
        for _ in 0..images {
            t.range(RangeOp::Push, 0, Some("image"), Some("sampler"));
            for _ in 0..steps {
                t.step(step_depth);
            }
            t.range(RangeOp::Pop, 0, None, Some("sampler"));
        }
        t
    }
}

#[test]
fn the_outermost_repeating_range_marks_iterations() {
    for step_depth in [0, 1] {
        let r = Trace::sampler(4, 10, step_depth).report_with(None);
        assert_eq!(
            r.iterations.source.map(|s| s.as_str()),
            Some("nvtx"),
            "{step_depth}"
        );
        assert_eq!(r.iterations.range.as_deref(), Some("step"));
        assert_eq!(r.iterations.count, 40);
        let leak = site(&r, 1);
        assert_eq!(leak.verdict().map(|v| v.as_str()), Some("leak"));
        assert_eq!(leak.bytes_per_iteration(), Some(3 * MIB as i64));
        assert_eq!(site(&r, 2).verdict().map(|v| v.as_str()), Some("steady"));
        let json = r.to_json();
        assert!(json.contains("\"source\": \"nvtx\""), "{json}");
        assert!(json.contains("\"range\": \"step\""), "{json}");
    }
}

#[test]
fn the_replay_counts_pushes_and_the_smallest_depth_per_name() {
    let replay = Trace::sampler(3, 5, 1).replay();
    let ranges = replay.ranges();
    let find = |n: &str| ranges.iter().find(|r| r.name == n).unwrap();
    assert_eq!(find("image").count, 3);
    assert_eq!(find("image").domain.as_deref(), Some("sampler"));
    assert_eq!(find("step").count, 15);
    assert_eq!(find("step").min_depth, 0, "depth counts within the domain");
    assert_eq!(find("unet").count, 30);
    assert_eq!(find("unet").min_depth, 1);
}

#[test]
fn a_pattern_picks_the_range() {
    let r = Trace::sampler(8, 10, 0).report_with(Some("^image$"));
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("nvtx"));
    assert_eq!(r.iterations.range.as_deref(), Some("image"));
    assert_eq!(r.iterations.count, 8);
    let leak = site(&r, 1);
    assert_eq!(leak.verdict().map(|v| v.as_str()), Some("leak"));
    assert_eq!(leak.bytes_per_iteration(), Some(30 * MIB as i64));

    // An inner range may be asked for by name.
    let r = Trace::sampler(4, 10, 0).report_with(Some("unet"));
    assert_eq!(r.iterations.range.as_deref(), Some("unet"));
    assert_eq!(r.iterations.count, 80);
}

#[test]
fn of_several_matching_names_the_most_frequent_wins() {
    let r = Trace::sampler(4, 10, 0).report_with(Some("^(image|step)$"));
    assert_eq!(r.iterations.range.as_deref(), Some("step"));
    assert_eq!(r.iterations.count, 40);
}

#[test]
fn a_pattern_that_matches_nothing_falls_back_and_says_so() {
    let r = Trace::sampler(4, 10, 0).report_with(Some("^denoise$"));
    assert_ne!(r.iterations.source.map(|s| s.as_str()), Some("nvtx"));
    assert_eq!(r.iterations.range, None);
    assert!(
        r.notes.iter().any(|n| n.contains("no NVTX range")),
        "{:?}",
        r.notes
    );
}

#[test]
fn ranges_seen_fewer_than_three_times_are_not_iterations_unless_asked_for() {
    let t = Trace::sampler(2, 1, 0);
    let r = t.report_with(None);
    assert_ne!(r.iterations.source.map(|s| s.as_str()), Some("nvtx"));
    assert_eq!(r.iterations.range, None);
    let r = t.report_with(Some("step"));
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("nvtx"));
    assert_eq!(r.iterations.count, 2);
}

#[test]
fn markers_come_before_ranges() {
    let mut t = Trace::new().mem_info_always();
    for _ in 0..5 {
        t.time += 1_000;
        t.enc.marker(
            &Marker {
                time_ns: t.time,
                tid: 7,
                label: None,
            },
            &mut t.buf,
        );
        t.step(0);
    }
    let r = t.report_with(None);
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("marker"));
    assert_eq!(r.iterations.range, None);
    let r = t.report_with(Some("step"));
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("marker"));
    assert!(r.notes.iter().any(|n| n.contains("markers are used")));
}

#[test]
fn start_ranges_count_and_unnamed_ones_do_not() {
    let mut t = Trace::new().mem_info_always();
    for _ in 0..4 {
        t.range(RangeOp::Start, 0, Some("request"), None);
        t.range(RangeOp::Push, 0, None, None);
        t.pop(0);
        t.alloc_next(MIB, 1);
        t.range(RangeOp::End, 0, None, None);
    }
    let r = t.report_with(None);
    assert_eq!(r.iterations.range.as_deref(), Some("request"));
    assert_eq!(r.iterations.count, 4);
    assert_eq!(site(&r, 1).bytes_per_iteration(), Some(MIB as i64));
}

#[test]
fn an_oom_is_placed_in_its_range_iteration() {
    let mut t = Trace::sampler(1, 5, 0);
    t.push(0, "step");
    t.event(Api::CudaMalloc, 0, 20 * GIB, 2, 1);
    t.pop(0);
    let r = t.report_with(None);
    assert_eq!(r.iterations.source.map(|s| s.as_str()), Some("nvtx"));
    assert_eq!(r.ooms.len(), 1);
    assert_eq!(r.ooms[0].iteration, Some(5));
}

#[test]
fn at_most_max_ranges_names_are_followed() {
    let mut t = Trace::new().mem_info_always();
    for i in 0..MAX_RANGES + 8 {
        t.push(0, &format!("r{i}"));
        t.pop(0);
    }
    for _ in 0..5 {
        t.step(0);
    }
    let replay = t.replay();
    assert_eq!(replay.ranges().len(), MAX_RANGES);
    assert!(replay.ranges().iter().all(|r| r.name != "step"));
}
