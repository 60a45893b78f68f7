//! The live view of a program that died of a lack of memory, with the failure explained
//! (`Report.oom`, written by hand in common/oom.rs as the analysis would fill it): the
//! Overview's mark says the cause, what filled the device most and the first thing to try, and
//! a pane beside the chart lists every part.

mod common;

use common::oom::decode_oom;
use common::screen::screen;
use common::{leaky_trace, many_sites_trace};
use gpuleak::tui::App;
use gpuleak_analysis::ReportOptions;

const PANE: &str = "Out of memory: what filled the device";

/// A sampler that leaked until an allocation failed, its failure explained.
fn failed_app() -> App {
    let mut app = App::from_bytes(leaky_trace(10, true), ReportOptions::default());
    app.ui.color = false;
    app.data.oom = Some(decode_oom("Decoder.forward (vae.py:300)"));
    app
}

fn line_with<'a>(text: &'a [String], needle: &str) -> &'a String {
    text.iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", text.join("\n")))
}

#[test]
fn the_failure_mark_says_the_cause_the_largest_parts_and_the_first_fix() {
    let app = failed_app();
    let text = screen(&app, 160, 40);
    let findings = text
        .iter()
        .position(|l| l.contains(" Findings "))
        .unwrap_or_else(|| panic!("{}", text.join("\n")));
    // The mark heads the Findings: the cause, then the three largest parts, then the fix.
    assert!(
        text[findings + 1].contains(
            "Out of memory: what is loaded fits, but one step's peak does not (short by 576 MiB)"
        ),
        "{}",
        text.join("\n")
    );
    let filled = &text[findings + 2];
    assert!(
        filled.contains("filled by loaded before the work began 2.00 GiB")
            && filled.contains("working memory of the time window in flight 1.25 GiB"),
        "{filled}"
    );
    // Free memory is no part of what filled the device.
    assert!(!filled.contains("free on the device"), "{filled}");
    line_with(
        &text,
        "fix: decode in tiles: pipe.vae.enable_tiling() (saves ~768 MiB)",
    );
}

#[test]
fn the_overview_lists_every_part_beside_the_chart() {
    let app = failed_app();
    let text = screen(&app, 160, 40);
    let title = line_with(&text, PANE);
    // Beside the chart, on the same row as its title.
    assert!(title.contains("live device memory over time"), "{title}");
    for part in [
        "2.00 GiB  50%  loaded before the work began",
        "1.25 GiB  31%  working memory of the time window in flight",
        " 448 MiB  11%  free on the device",
        "~300 MiB   7%  CUDA context and memory outside any allocation seen",
        "8.00 MiB  <1%  CUDA library workspaces: cuBLAS 8.00 MiB",
        "together 3.99 GiB of the device's 4.00 GiB; 12.0 MiB unexplained",
        "2. use a smaller batch or resolution",
        "evidence: the failed request came from Decoder.forward",
    ] {
        line_with(&text, part);
    }
    // On a narrow terminal the pane goes under the chart.
    let narrow = screen(&app, 80, 40);
    let title = line_with(&narrow, PANE);
    assert!(!title.contains("live device memory"), "{title}");
    line_with(&narrow, "live device memory over time");
}

#[test]
fn without_an_explained_failure_there_is_no_mark_and_no_pane() {
    // A run that never failed, and one that failed with no explanation in the report.
    for (trace, failed) in [
        (many_sites_trace(5, 5), false),
        (leaky_trace(10, true), true),
    ] {
        let mut app = App::from_bytes(trace, ReportOptions::default());
        app.ui.color = false;
        assert_eq!(app.data.summary.oom, failed);
        app.data.oom = None;
        let all = screen(&app, 160, 40).join("\n");
        assert!(!all.contains(PANE), "{all}");
        assert!(!all.contains("Out of memory: "), "{all}");
    }
}
