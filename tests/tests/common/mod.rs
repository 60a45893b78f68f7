//! What the integration tests share: reading a trace back, the calls a program reported set
//! against the events recorded, and the lines a fake or a test program printed.

// Each test file uses some of these.
#![allow(dead_code)]

use std::path::Path;

use gpuleak_analysis::replay::Replay;
use gpuleak_tests::{Call, Run, RunOutput};
use gpuleak_trace::{Api, Event, Record};

/// Every record of a trace, and whether it ended cleanly (no cut record).
pub fn records(path: &Path) -> (Vec<Record>, bool) {
    let mut r = gpuleak_trace::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(rec) = r
        .next_record()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        out.push(rec);
    }
    (out, r.truncated().is_none())
}

pub fn events(path: &Path) -> Vec<Event> {
    records(path)
        .0
        .into_iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

pub fn replay(path: &Path) -> Replay {
    let mut r = gpuleak_trace::open(path).unwrap();
    Replay::from_reader(&mut r).unwrap()
}

/// The API names the hook records, as a program prints them (`cuMemAlloc_v2` is `cuMemAlloc`).
pub fn recorded_name(api: &str) -> Option<&'static str> {
    let base = api.trim_end_matches("_v2").trim_end_matches("_ptsz");
    Api::ALL.iter().map(|a| a.name()).find(|n| *n == base)
}

/// The calls a program reported that the trace must hold, in order: allocation APIs, and frees
/// of anything but NULL (freeing NULL is a no-op the hook skips).
pub fn expected(calls: &[Call]) -> Vec<(String, i64, u64, u64)> {
    calls
        .iter()
        .filter(|c| !c.child)
        .filter_map(|c| {
            let name = recorded_name(&c.api)?;
            let is_free = name.contains("Free");
            if is_free && c.ptr == 0 {
                return None;
            }
            Some((
                name.to_string(),
                c.code,
                c.ptr,
                if is_free { 0 } else { c.size },
            ))
        })
        .collect()
}

pub fn seen(evs: &[Event]) -> Vec<(String, i64, u64, u64)> {
    evs.iter()
        .map(|e| (e.api.name().to_string(), e.result as i64, e.address, e.size))
        .collect()
}

pub fn hooked(program: &str) -> RunOutput {
    let out = Run::program(program).hook().run();
    out.assert_success();
    out
}

pub const GIB: u64 = 1 << 30;

pub fn lines_without_ptr(out: &gpuleak_tests::RunOutput) -> Vec<String> {
    out.calls().iter().map(|c| c.without_ptr()).collect()
}

pub const MIB: u64 = 1 << 20;

/// The lines of a program's stdout that are not call lines (`pool-reserved before 1048576`).
pub fn other_lines(out: &gpuleak_tests::RunOutput) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| gpuleak_tests::parse_calls(l).is_empty())
        .map(String::from)
        .collect()
}

pub fn free_after(out: &gpuleak_tests::RunOutput) -> Vec<u64> {
    out.calls()
        .iter()
        .filter(|c| c.api == "cuMemGetInfo_v2")
        .map(|c| c.size)
        .collect()
}
