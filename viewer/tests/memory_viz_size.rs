//! The memory_viz export of a long PyTorch-like run stays near the trace's size, in its file
//! and in the memory it takes to write: stacks are shared, not repeated in every event, and the
//! history is capped (`--max-entries`). The speed: `cargo bench -p gpuleak --bench memory_viz`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use gpuleak::filter::What;
use gpuleak::model::Model;
use gpuleak::render::memory_viz;
use gpuleak_analysis::ReportOptions;

/// The system allocator, counting the bytes held and their peak.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator as it came; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1 << 20;

#[test]
fn fifty_thousand_tensors_32_frames_deep_export_near_the_traces_size() {
    let d = common::scratch("memory-viz-size");
    let trace = d.join("run.trace");
    let bytes = common::tensor_trace(50_000, 32);
    std::fs::write(&trace, &bytes).unwrap();
    let model = Model::load(&trace, &ReportOptions::default(), What::Live, true).unwrap();
    assert!(model.timeline.as_ref().unwrap().changes.len() > 99_000);

    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = memory_viz::render(&model, gpuleak::filter::MAX_ENTRIES).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let size = out.bytes.len();
    // Each event's entries hold a reference to their stack, not the stack.
    assert!(
        size < 8 * bytes.len(),
        "{size} bytes of pickle from a trace of {}",
        bytes.len()
    );
    assert!(
        peak < 3 * size + 16 * MIB,
        "{peak} bytes held to write {size} bytes"
    );
    assert!(out.note.is_none(), "{:?}", out.note);

    // Capped, the history keeps the latest allocations and frees and says what it left out.
    let capped = memory_viz::render(&model, 10_000).unwrap();
    assert!(capped.bytes.len() < size / 4);
    let note = capped.note.expect("a cut history says so");
    assert!(
        note.contains("latest 10,000 of 99,") && note.contains("--max-entries"),
        "{note}"
    );
    // Read back, every entry has its whole stack: 10,000 allocations and frees, each two or
    // three entries, the last allocation's among them.
    let snapshot: serde_pickle::Value =
        serde_pickle::value_from_slice(&capped.bytes, Default::default()).expect("a pickle");
    let text = format!("{snapshot:?}");
    let entries = text.matches("\"time_us\"").count();
    assert!((20_000..=30_000).contains(&entries), "{entries} entries");
    let frames = text.matches("\"filename\"").count();
    assert!(
        frames >= entries * 32,
        "{frames} frames for {entries} entries"
    );
    assert!(text.contains(&format!("I64({})", 0x7f00_0000_0000u64 + 49_999 * 0x1000)));
}
