//! Iterations marked by NVTX ranges (`source = "nvtx"`): which range is chosen, with and without
//! `--iteration-range`, and what the report says.

use gpuleak_analysis::{MAX_RANGES, Replay, Report, ReportOptions, Site, Symbolizer};
use gpuleak_trace::*;
use regex::Regex;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Sites: 1 leaking 3 MiB per step, 2 scratch freed each step.
struct Trace {
    buf: Vec<u8>,
    enc: Encoder,
    seq: u64,
    time: u64,
    next: u64,
}

impl Trace {
    fn new() -> Trace {
        let header = Header {
            pid: 1,
            exe: "/usr/bin/sample".into(),
            start_mono_ns: 1_000,
            stacks: "native".into(),
            ..Header::default()
        };
        let mut buf = Vec::new();
        let enc = Encoder::start(&header, &mut buf);
        let mut t = Trace {
            buf,
            enc,
            seq: 0,
            time: 1_000,
            next: 0x1000_0000,
        };
        for site in 1..=2u32 {
            t.enc
                .stack(site, &[0x10_0000 + u64::from(site) * 0x1000], &mut t.buf);
        }
        t
    }

    fn event(&mut self, api: Api, address: u64, size: u64, result: u32, stack: u32) -> &mut Self {
        self.time += 1_000;
        let e = Event {
            seq: self.seq,
            time_ns: self.time,
            tid: 7,
            api,
            device: 0,
            stream: 0,
            address,
            size,
            result,
            stack,
            mem_info: Some(MemInfo {
                free: 100 * MIB,
                total: 16 * GIB,
            }),
            aux: 0,
            pool_reserved: None,
        };
        self.seq += 1;
        self.enc.event(&e, &mut self.buf);
        self
    }

    fn alloc(&mut self, size: u64, stack: u32) -> u64 {
        self.next += 0x100_0000;
        let a = self.next;
        self.event(Api::CudaMalloc, a, size, 0, stack);
        a
    }

    fn free(&mut self, address: u64) {
        self.event(Api::CudaFree, address, 0, 0, 0);
    }

    fn range(&mut self, op: RangeOp, depth: u32, name: Option<&str>, domain: Option<&str>) {
        self.time += 1_000;
        let r = Range {
            time_ns: self.time,
            tid: 7,
            op,
            depth,
            id: 0,
            name: name.map(String::from),
            domain: domain.map(String::from),
        };
        self.enc.range(&r, &mut self.buf);
    }

    fn push(&mut self, depth: u32, name: &str) {
        self.range(RangeOp::Push, depth, Some(name), None);
    }

    fn pop(&mut self, depth: u32) {
        self.range(RangeOp::Pop, depth, None, None);
    }

    /// One sampler step: "step" at `depth`, a nested "unet" twice (more frequent, but inner),
    /// 8 MiB scratch freed, 3 MiB kept.
    fn step(&mut self, depth: u32) {
        self.push(depth, "step");
        let scratch = self.alloc(8 * MIB, 2);
        for _ in 0..2 {
            self.push(depth + 1, "unet");
            self.pop(depth + 1);
        }
        self.alloc(3 * MIB, 1);
        self.free(scratch);
        self.pop(depth);
    }

    /// `images` images in the domain "sampler" ("image", pushed at depth 0 there), each of
    /// `steps` steps. `step_depth` is the depth the hook gives "step" pushes: 0 when it counts
    /// per domain, 1 when it counts every domain on the thread.
    fn sampler(images: u32, steps: u32, step_depth: u32) -> Trace {
        let mut t = Trace::new();
        for _ in 0..images {
            t.range(RangeOp::Push, 0, Some("image"), Some("sampler"));
            for _ in 0..steps {
                t.step(step_depth);
            }
            t.range(RangeOp::Pop, 0, None, Some("sampler"));
        }
        t
    }

    fn replay(&self) -> Replay {
        Replay::from_reader(&mut Reader::new(&self.buf[..]).unwrap()).unwrap()
    }

    fn report(&self, pattern: Option<&str>) -> Report {
        let options = ReportOptions {
            iteration_range: pattern.map(|p| Regex::new(p).unwrap()),
        };
        Report::build_with(&self.replay(), &mut Symbolizer::new(), &options)
    }
}

fn site(r: &Report, stack: u32) -> &Site {
    r.sites.iter().find(|s| s.stack_id == stack).unwrap()
}

#[test]
fn the_outermost_repeating_range_marks_iterations() {
    for step_depth in [0, 1] {
        let r = Trace::sampler(4, 10, step_depth).report(None);
        assert_eq!(r.iterations.source.as_deref(), Some("nvtx"), "{step_depth}");
        assert_eq!(r.iterations.range.as_deref(), Some("step"));
        assert_eq!(r.iterations.count, 40);
        let leak = site(&r, 1);
        assert_eq!(leak.verdict.as_deref(), Some("leak"));
        assert_eq!(leak.bytes_per_iteration, Some(3 * MIB as i64));
        assert_eq!(site(&r, 2).verdict.as_deref(), Some("steady"));
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
    let r = Trace::sampler(8, 10, 0).report(Some("^image$"));
    assert_eq!(r.iterations.source.as_deref(), Some("nvtx"));
    assert_eq!(r.iterations.range.as_deref(), Some("image"));
    assert_eq!(r.iterations.count, 8);
    let leak = site(&r, 1);
    assert_eq!(leak.verdict.as_deref(), Some("leak"));
    assert_eq!(leak.bytes_per_iteration, Some(30 * MIB as i64));

    // An inner range may be asked for by name.
    let r = Trace::sampler(4, 10, 0).report(Some("unet"));
    assert_eq!(r.iterations.range.as_deref(), Some("unet"));
    assert_eq!(r.iterations.count, 80);
}

#[test]
fn of_several_matching_names_the_most_frequent_wins() {
    let r = Trace::sampler(4, 10, 0).report(Some("^(image|step)$"));
    assert_eq!(r.iterations.range.as_deref(), Some("step"));
    assert_eq!(r.iterations.count, 40);
}

#[test]
fn a_pattern_that_matches_nothing_falls_back_and_says_so() {
    let r = Trace::sampler(4, 10, 0).report(Some("^denoise$"));
    assert_ne!(r.iterations.source.as_deref(), Some("nvtx"));
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
    let r = t.report(None);
    assert_ne!(r.iterations.source.as_deref(), Some("nvtx"));
    assert_eq!(r.iterations.range, None);
    let r = t.report(Some("step"));
    assert_eq!(r.iterations.source.as_deref(), Some("nvtx"));
    assert_eq!(r.iterations.count, 2);
}

#[test]
fn markers_come_before_ranges() {
    let mut t = Trace::new();
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
    let r = t.report(None);
    assert_eq!(r.iterations.source.as_deref(), Some("marker"));
    assert_eq!(r.iterations.range, None);
    let r = t.report(Some("step"));
    assert_eq!(r.iterations.source.as_deref(), Some("marker"));
    assert!(r.notes.iter().any(|n| n.contains("markers are used")));
}

#[test]
fn start_ranges_count_and_unnamed_ones_do_not() {
    let mut t = Trace::new();
    for _ in 0..4 {
        t.range(RangeOp::Start, 0, Some("request"), None);
        t.range(RangeOp::Push, 0, None, None);
        t.pop(0);
        t.alloc(MIB, 1);
        t.range(RangeOp::End, 0, None, None);
    }
    let r = t.report(None);
    assert_eq!(r.iterations.range.as_deref(), Some("request"));
    assert_eq!(r.iterations.count, 4);
    assert_eq!(site(&r, 1).bytes_per_iteration, Some(MIB as i64));
}

#[test]
fn an_oom_is_placed_in_its_range_iteration() {
    let mut t = Trace::sampler(1, 5, 0);
    t.push(0, "step");
    t.event(Api::CudaMalloc, 0, 20 * GIB, 2, 1);
    t.pop(0);
    let r = t.report(None);
    assert_eq!(r.iterations.source.as_deref(), Some("nvtx"));
    assert_eq!(r.ooms.len(), 1);
    assert_eq!(r.ooms[0].iteration, Some(5));
}

#[test]
fn at_most_max_ranges_names_are_followed() {
    let mut t = Trace::new();
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
