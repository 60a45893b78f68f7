//! One unit for the iterations, said the same way on every surface: a trace with no marks and
//! no repeating launches is judged over time windows, and nothing then speaks of iterations;
//! iterations found in the launches say what one is.

mod common;

use common::*;

#[test]
fn a_run_over_time_windows_is_told_in_time_windows_everywhere() {
    // Before: "time window 35" in the diagnosis, "in iteration 35" in the out-of-memory
    // section and "/iteration" in the totals of one report.
    let d = scratch("units-time");
    std::fs::write(d.join("a.trace"), leaky_trace(40, true)).unwrap();
    let o = gpuleak(&["report", "a.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("    in time window "), "{out}");
    assert!(out.contains("/time window"), "{out}");
    assert!(!out.contains("iteration "), "{out}");
    assert!(!out.contains("/iteration"), "{out}");
    let o = gpuleak(&["report", "--format", "html", "a.trace"], &d);
    let html = stdout(&o);
    assert!(html.contains(", in time window "), "{html}");
    assert!(!html.contains(", in iteration "), "{html}");
}

#[test]
fn iterations_found_in_the_launches_say_what_one_is() {
    // Before: "+128 KiB/iteration" with no word that an iteration was a request of 4 steps.
    let d = scratch("units-auto");
    std::fs::write(
        d.join("a.trace"),
        unmarked_trace(30, 2 * MIB, Steps::Launches),
    )
    .unwrap();
    let o = gpuleak(&["report", "a.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let meaning = "an iteration here is one repetition of the launch sequence (4 kernel \
                   launches): one step of the program, or a request of several";
    assert!(out.contains(&format!("not marked; {meaning}")), "{out}");
    let diagnosis = out
        .split("Findings:")
        .next()
        .unwrap()
        .replace("\n    ", " ");
    assert!(
        diagnosis.contains("An iteration here is one repetition of the launch sequence"),
        "{out}"
    );
}

#[test]
fn a_server_that_marks_each_request_reports_growth_per_request() {
    // Before: "Iterations: 30 (from markers)", "+2.00 MiB/iteration", "every iteration", and
    // "iter 30 (marker)" with "/iter" in the live view's header, though the program calls each
    // one a request.
    let trace = labelled_marker_trace(30, 2 * MIB, "request");
    let d = scratch("units-marker-label");
    std::fs::write(d.join("a.trace"), &trace).unwrap();
    let o = gpuleak(&["report", "a.trace"], &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Iterations: 30 (from markers labelled \"request\": one request each)"),
        "{out}"
    );
    assert!(out.contains("+2.00 MiB/request"), "{out}");
    assert!(out.contains("every request"), "{out}");
    assert!(!out.contains("iteration"), "{out}");

    let mut app = gpuleak::tui::App::from_bytes(trace, gpuleak_analysis::ReportOptions::default());
    app.ui.color = false;
    let s = &app.data.summary;
    assert_eq!(s.per, "request");
    assert_eq!(s.iteration_source, "marker");
    let header = common::screen::screen(&app, 120, 30).join("\n");
    assert!(header.contains("request 30 (marker)"), "{header}");
    assert!(header.contains("MiB/request"), "{header}");
    // The Sites table's growth column and the order it is sorted by, in the same word.
    common::screen::press(&mut app, crossterm::event::KeyCode::Tab);
    common::screen::press(&mut app, crossterm::event::KeyCode::Char('s'));
    let sites = common::screen::screen(&app, 120, 30).join("\n");
    assert!(sites.contains("sorted by bytes/request"), "{sites}");
    assert!(sites.contains("live       bytes/request allocs"), "{sites}");
}
