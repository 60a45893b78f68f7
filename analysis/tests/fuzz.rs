//! A mutation fuzzer over the reader, the replay and the report, seeded with real traces.
//!
//! The corpus (`tests/corpus/`) holds traces the hook wrote for the test programs: every record
//! kind, Python stacks, several devices, pools, graphs, a killed process's reserved zeros.
//! Each round takes one, damages it the ways files get damaged or crafted (bits flipped,
//! lengths and counts made huge, records cut, spliced from another trace, duplicated), and
//! checks that reading, replaying and reporting it neither panics (debug builds check every
//! arithmetic overflow) nor allocates more than the input can justify: a length field that
//! claims terabytes must be an error, not an allocation.
//!
//! It runs for `GPULEAK_FUZZ_SECONDS` (default 5; CI runs it longer) from the seed in
//! `GPULEAK_FUZZ_SEED` (default: the clock, printed). An input that fails is written to
//! `target/fuzz-findings/` and named in the failure; add it to the corpus once fixed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gpuleak_analysis::{Replay, Report, Symbolizer};
use gpuleak_trace::Reader;

/// Counts the bytes the test holds, and the most it held since the last reset.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator as it came (the same layout and
// pointer); only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new) };
        if !q.is_null() {
            if new >= layout.size() {
                let now =
                    HELD.fetch_add(new - layout.size(), Ordering::Relaxed) + new - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                HELD.fetch_sub(layout.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "trace"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Reads, replays and reports `bytes` as `gpuleak report` does (up to the first bad record);
/// how many records were read.
fn analyse(bytes: &[u8]) -> usize {
    let Ok(mut reader) = Reader::new(bytes) else {
        return 0;
    };
    let mut replay = Replay::new();
    let mut records = 0;
    while let Ok(Some(r)) = reader.next_record() {
        replay.apply(r);
        records += 1;
    }
    let report = Report::build(&replay, &mut Symbolizer::new());
    let json = report.to_json();
    assert!(json.starts_with('{'));
    records
}

/// The most the analysis may hold for an input of `len` bytes: a fixed part (the symbolizer,
/// the report's tables) and a bounded factor of what the input really holds.
fn allowance(len: usize) -> usize {
    (64 << 20) + len * 200
}

/// xorshift64*: the fuzzer needs reproducible choices, not good randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that break lengths and counts: zero, one past a byte, the varint of 2^32, of 2^63,
/// of 2^64 - 1, and an overlong varint.
const HOSTILE_VARINTS: &[&[u8]] = &[
    &[0x00],
    &[0x80, 0x01],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80, 0x80, 0x80, 0x80, 0x10],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ],
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    let n = input.len().max(1);
    match rng.below(9) {
        0 => {
            let i = rng.below(n).min(input.len().saturating_sub(1));
            if let Some(b) = input.get_mut(i) {
                *b ^= 1 << rng.below(8);
            }
        }
        1 => {
            let i = rng.below(n).min(input.len().saturating_sub(1));
            if let Some(b) = input.get_mut(i) {
                *b = [0x00, 0x01, 0x7f, 0x80, 0xff][rng.below(5)];
            }
        }
        2 => {
            // A length or count made huge: overwrite at a byte where a varint may start.
            let v = HOSTILE_VARINTS[rng.below(HOSTILE_VARINTS.len())];
            let i = rng.below(n).min(input.len());
            let end = (i + v.len()).min(input.len());
            input.splice(i..end, v.iter().copied());
        }
        3 => {
            let i = rng.below(n + 1).min(input.len());
            let len = rng.below(16) + 1;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            input.splice(i..i, bytes);
        }
        4 => {
            let i = rng.below(n).min(input.len());
            let end = (i + rng.below(64) + 1).min(input.len());
            input.drain(i..end);
        }
        5 => {
            let cut = rng.below(n + 1).min(input.len());
            input.truncate(cut);
        }
        6 => {
            // A stretch of the same trace repeated: records defined twice, times going back.
            let i = rng.below(n).min(input.len());
            let end = (i + rng.below(256) + 1).min(input.len());
            let chunk = input[i..end].to_vec();
            let at = rng.below(n + 1).min(input.len());
            input.splice(at..at, chunk);
        }
        7 if !other.is_empty() => {
            // Another trace's records spliced in: stacks and modules that do not belong.
            let i = rng.below(other.len());
            let end = (i + rng.below(512) + 1).min(other.len());
            let at = rng.below(n + 1).min(input.len());
            input.splice(at..at, other[i..end].iter().copied());
        }
        _ => {
            // Zeros: reserved space in the middle of a trace.
            let at = rng.below(n + 1).min(input.len());
            let len = rng.below(64) + 1;
            input.splice(at..at, std::iter::repeat_n(0u8, len));
        }
    }
}

fn save_finding(bytes: &[u8], seed: u64, round: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-findings");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("seed-{seed}-round-{round}.trace"));
    let _ = std::fs::write(&path, bytes);
    path
}

#[test]
fn every_trace_in_the_corpus_is_read_whole() {
    let corpus = corpus();
    assert!(corpus.len() >= 8, "the corpus is missing: {}", corpus.len());
    for (path, bytes) in &corpus {
        let mut reader =
            Reader::new(&bytes[..]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let replay =
            Replay::from_reader(&mut reader).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(replay.events() > 0, "{}: no events", path.display());
        assert_eq!(reader.truncated(), None, "{}", path.display());
    }
}

#[test]
fn damaged_and_crafted_traces_are_analysed_without_a_panic_in_bounded_memory() {
    let seconds: u64 = std::env::var("GPULEAK_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("GPULEAK_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    eprintln!("fuzz: seed {seed} for {seconds} s (GPULEAK_FUZZ_SEED, GPULEAK_FUZZ_SECONDS)");
    let corpus = corpus();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut rng = Rng(seed);
    let mut round = 0u64;
    let mut records = 0usize;
    while Instant::now() < deadline {
        let (_, base) = &corpus[rng.below(corpus.len())];
        let (_, other) = &corpus[rng.below(corpus.len())];
        let mut input = base.clone();
        for _ in 0..rng.below(4) + 1 {
            mutate(&mut rng, &mut input, other);
        }
        let before = HELD.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(|| analyse(&input));
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
        match outcome {
            Ok(n) => records += n,
            Err(_) => {
                let path = save_finding(&input, seed, round);
                panic!(
                    "round {round} (seed {seed}) panicked; the input is {}",
                    path.display()
                );
            }
        }
        if peak > allowance(input.len()) {
            let path = save_finding(&input, seed, round);
            panic!(
                "round {round} (seed {seed}): {peak} bytes held for a {}-byte input; the input \
                 is {}",
                input.len(),
                path.display()
            );
        }
        round += 1;
    }
    eprintln!("fuzz: {round} inputs, {records} records read, no finding");
    assert!(round > 0);
}
