//! Iterations marked by the program (`gpuleak_mark_iteration("request")`) are counted in the
//! program's own word: the label its markers carry.

mod common;

use common::*;

/// A server with its model loaded that marks each of `requests` requests with `label` and
/// keeps 2 MiB of each (a cache that is never trimmed).
fn server(requests: u64, label: impl Fn(u64) -> Option<String>) -> Trace {
    let mut t = Trace::hooked();
    t.alloc(0x100, 4 * GIB, 1);
    for n in 0..requests {
        t.label_markers(label(n));
        t.marker();
        t.alloc(0x9000 + n, 64 * MIB, 3).free(0x9000 + n);
        t.alloc(0x1000 + n, 2 * MIB, 2);
    }
    t
}

#[test]
fn a_server_that_marks_each_request_reports_growth_per_request() {
    let r = server(30, |_| Some("request".into())).report();
    assert_eq!(r.iterations.marker_label.as_deref(), Some("request"));
    assert_eq!(r.iterations.unit(), "request");
    assert_eq!(r.iterations.unit_short(), "request");
    let text = &r.diagnosis[0].text;
    assert!(text.contains("every request"), "{text}");
    assert!(text.contains("+2.00 MiB/request"), "{text}");
    assert!(!text.contains("iteration"), "{text}");
}

#[test]
fn markers_without_a_common_label_are_iterations() {
    // Each request named apart ("request 17"): no label is the unit's.
    let r = server(30, |n| Some(format!("request {n}"))).report();
    assert_eq!(r.iterations.marker_label, None);
    assert_eq!(r.iterations.unit(), "iteration");
    let r = server(30, |_| None).report();
    assert_eq!(r.iterations.unit(), "iteration");
    // Most markers unlabelled: the few labels do not name the unit.
    let r = server(30, |n| (n % 3 == 0).then(|| "request".to_string())).report();
    assert_eq!(r.iterations.unit(), "iteration");
}
