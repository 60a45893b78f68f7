//! Damaged and crafted traces through the whole analysis: whatever the reader accepts, the
//! replay and the report take without a panic (debug builds check every arithmetic overflow),
//! and a module path naming something that is not a file is never read.
//!
//! The records come from the trace crate's generators (every record kind with arbitrary
//! fields), then bytes are flipped, inserted, deleted or cut. `PROPTEST_CASES` sets how many
//! cases a run tries (CI's run is bounded by it); failures found are kept in
//! `hostile.proptest-regressions` beside this file and replayed first.

#[path = "../../trace/tests/common/mod.rs"]
mod generate;

use std::time::{Duration, Instant};

use gpuleak_analysis::{Replay, Report, Symbolizer};
use gpuleak_trace::Reader;
use proptest::prelude::*;

/// Replays what can be read (up to the first bad record, as `gpuleak report` does) and builds
/// the report and its JSON.
fn analyse(bytes: &[u8]) {
    let Ok(mut reader) = Reader::new(bytes) else {
        return;
    };
    let mut replay = Replay::new();
    let _ = replay.read_from(&mut reader);
    let report = Report::build(&replay, &mut Symbolizer::new());
    let json = report.to_json();
    assert!(json.starts_with('{'));
}

#[derive(Clone, Debug)]
enum Damage {
    Xor(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn arb_damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Damage::Xor(i, b)),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(i, b)| Damage::Insert(i, b)),
        2 => (any::<usize>(), 1usize..12).prop_map(|(i, n)| Damage::Delete(i, n)),
        1 => any::<usize>().prop_map(Damage::Truncate),
    ]
}

fn damage(bytes: &mut Vec<u8>, d: &Damage) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match d {
        Damage::Xor(i, b) => bytes[i % n] ^= b,
        Damage::Insert(i, b) => {
            let i = i % (n + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Damage::Delete(i, k) => {
            let i = i % n;
            bytes.drain(i..(i + k).min(n));
        }
        Damage::Truncate(i) => bytes.truncate(i % (n + 1)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
    ))]

    #[test]
    fn any_trace_the_reader_accepts_is_analysed_without_a_panic(
        (header, records) in generate::arb_trace(48),
    ) {
        let (bytes, _) = generate::encode(&header, &records);
        analyse(&bytes);
    }

    #[test]
    fn a_damaged_trace_is_analysed_up_to_the_damage_without_a_panic(
        (header, records) in generate::arb_trace(48),
        damages in prop::collection::vec(arb_damage(), 1..5),
    ) {
        let (mut bytes, _) = generate::encode(&header, &records);
        for d in &damages {
            damage(&mut bytes, d);
        }
        analyse(&bytes);
    }
}

#[test]
fn a_module_that_names_a_device_is_not_read() {
    // A crafted trace naming /dev/zero (endless) and /dev/stdin as loaded objects, with a
    // stack inside each: symbolizing must not read them.
    use gpuleak_trace::{Encoder, Header, Module};
    let header = Header {
        pid: 1,
        stacks: "native".into(),
        ..Header::default()
    };
    let mut bytes = Vec::new();
    let mut enc = Encoder::start(&header, &mut bytes);
    for (i, path) in ["/dev/zero", "/dev/stdin", "/proc/self/mem"]
        .iter()
        .enumerate()
    {
        let base = 0x1000_0000 * (i as u64 + 1);
        enc.module(
            &Module {
                path: path.to_string(),
                base,
                start: base,
                end: base + 0x10_0000,
                build_id: vec![],
            },
            &mut bytes,
        );
        enc.stack(i as u32 + 1, &[base + 0x1234], &mut bytes);
        // An allocation at that stack: a site, whose frames the report symbolizes.
        enc.event(
            &gpuleak_trace::Event {
                seq: i as u64,
                time_ns: i as u64 + 1,
                tid: 1,
                api: gpuleak_trace::Api::CudaMalloc,
                device: 0,
                stream: 0,
                address: 0x9000 + i as u64 * 0x1000,
                size: 4096,
                result: 0,
                stack: i as u32 + 1,
                mem_info: None,
                aux: 0,
                pool_reserved: None,
            },
            &mut bytes,
        );
    }
    let started = Instant::now();
    let mut reader = Reader::new(&bytes[..]).unwrap();
    let replay = Replay::from_reader(&mut reader).unwrap();
    let report = Report::build(&replay, &mut Symbolizer::new());
    assert_eq!(report.sites.len(), 3, "every allocation is a site");
    assert!(report.sites.iter().all(|s| !s.frames.is_empty()));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
