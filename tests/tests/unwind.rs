//! The two native unwinders (GPULEAK_UNWIND): framehop's CFI walk records the same stacks as
//! libgcc's, frame for frame, on `unwind_chain`'s known call chains.

use std::collections::HashMap;
use std::path::Path;

use gpuleak_tests::Run;
use gpuleak_trace::Record;

/// One stack: each frame as (file name of its object, offset from the object's load bias), so
/// that runs with different address layouts compare.
type Frames = Vec<(String, u64)>;

/// The stack of every event of a trace, in order.
fn stacks(trace: &Path) -> Vec<Frames> {
    let mut r = gpuleak_trace::open(trace).unwrap();
    let mut modules = Vec::new();
    let mut by_id: HashMap<u32, Vec<u64>> = HashMap::new();
    let mut events = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        match rec {
            Record::Module(m) => modules.push(m),
            Record::Stack(s) => {
                by_id.insert(s.id, s.frames);
            }
            Record::Event(e) => events.push(e.stack),
            _ => {}
        }
    }
    events
        .iter()
        .map(|id| {
            by_id.get(id).map_or_else(Vec::new, |frames| {
                frames
                    .iter()
                    .map(
                        |&ip| match modules.iter().find(|m| ip >= m.start && ip < m.end) {
                            Some(m) => (
                                Path::new(&m.path)
                                    .file_name()
                                    .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                                ip - m.base,
                            ),
                            None => ("?".to_string(), ip),
                        },
                    )
                    .collect()
            })
        })
        .collect()
}

fn run(unwinder: Option<&str>, depth: Option<&str>) -> Vec<Frames> {
    let mut run = Run::program("unwind_chain")
        .env("GPULEAK_STACKS", "native")
        .env_remove("GPULEAK_UNWIND");
    if let Some(u) = unwinder {
        run = run.env("GPULEAK_UNWIND", u);
    }
    if let Some(d) = depth {
        run = run.env("GPULEAK_STACK_DEPTH", d);
    }
    let out = run.hook().run();
    out.assert_success();
    let s = stacks(out.trace());
    // Six alloc/free pairs (see the program's header).
    assert_eq!(s.len(), 12, "events of {unwinder:?}: {s:#?}");
    s
}

fn in_program(frames: &Frames) -> usize {
    frames.iter().filter(|f| f.0 == "unwind_chain").count()
}

/// Without the libgcc fallback, so the stacks compared are framehop's own; the signal handler's
/// pair (the last two events) is where framehop hands over to libgcc, and is empty here.
#[test]
fn framehop_alone_matches_libgcc_frame_for_frame() {
    let libgcc = run(Some("libgcc"), None);
    let framehop = run(Some("framehop-only"), None);
    for (i, (a, b)) in libgcc.iter().zip(&framehop).enumerate().take(10) {
        assert_eq!(a, b, "event {i}: libgcc (left) and framehop (right) differ");
    }
    assert!(framehop[10].is_empty() && framehop[11].is_empty());

    for s in &libgcc {
        assert!(
            !s.iter().any(|f| f.0.contains("gpuleak_hook") || f.0 == "?"),
            "a hook frame or an unknown address: {s:#?}"
        );
    }
    // chain_leaf, chain_mid, chain_top, main at least.
    assert!(in_program(&libgcc[0]) >= 4, "{:#?}", libgcc[0]);
    // chain_leaf, 40 x descend, main.
    assert!(in_program(&libgcc[2]) >= 42, "{:#?}", libgcc[2]);
    // The thread's stack ends in libc (start_thread, clone), not in the program's main.
    assert!(in_program(&libgcc[8]) >= 6, "{:#?}", libgcc[8]);
    assert!(
        libgcc[8].last().unwrap().0.starts_with("libc"),
        "{:#?}",
        libgcc[8]
    );
    // Through the signal frame: chain_leaf, the handler, then signal_site and main past it.
    assert!(in_program(&libgcc[10]) >= 4, "{:#?}", libgcc[10]);
}

/// The default unwinder, fallback included, gives libgcc's stacks for every event, the signal
/// handler's too; and so does a capped stack.
#[test]
fn the_default_unwinder_matches_libgcc_with_and_without_a_cap() {
    assert_eq!(run(None, None), run(Some("libgcc"), None));
    let capped = run(None, Some("10"));
    assert_eq!(capped, run(Some("libgcc"), Some("10")));
    assert!(capped.iter().all(|s| s.len() <= 10));
    assert_eq!(capped[2].len(), 10);
}
