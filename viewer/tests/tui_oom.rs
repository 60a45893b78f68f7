//! The live view of a program that died of a lack of memory, with the failure explained
//! (`Report.oom`, written by hand in common/oom.rs as the analysis would fill it): beside the
//! chart that marks the failure, a pane leads with the cause and the first thing to try, then
//! lists every part of the device and all the advice.

mod common;

use common::oom::decode_oom;
use common::screen::screen;
use common::{leaky_trace, many_sites_trace, stepped_trace};
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

/// The row of the screen holding `needle`.
fn row_of(text: &[String], needle: &str) -> usize {
    text.iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", text.join("\n")))
}

#[test]
fn beside_the_failure_mark_the_pane_leads_with_the_cause_and_the_first_fix() {
    let app = failed_app();
    let text = screen(&app, 200, 40);
    // The pane sits beside the chart that marks the failure (•), on the row of its title.
    let title = row_of(&text, PANE);
    assert!(text[title].contains("• = OOM"), "{}", text[title]);
    assert!(
        text[title + 1].contains(
            "Cause: what is loaded fits, but one step's peak does not (short by 576 MiB)"
        ),
        "{}",
        text.join("\n")
    );
    assert!(
        text[title + 2].contains("Fix: decode in tiles: pipe.vae.enable_tiling() (saves ~768 MiB)"),
        "{}",
        text.join("\n")
    );
    // Then the largest parts first.
    let loaded = row_of(&text, "2.00 GiB  50%  loaded before the work began");
    let working = row_of(
        &text,
        "1.25 GiB  31%  working memory of the time window in flight",
    );
    assert!(
        title + 2 < loaded && loaded < working,
        "{}",
        text.join("\n")
    );
}

#[test]
fn on_a_small_terminal_the_pane_still_says_why_and_what_to_do_and_the_chart_keeps_its_legend() {
    // Marked steps and a failure: the chart's longest title (ticks and the OOM mark).
    let mut app = App::from_bytes(stepped_trace(20, 3 << 20), ReportOptions::default());
    app.ui.color = false;
    app.data.oom = Some(decode_oom("Decoder.forward (vae.py:300)"));
    let text = screen(&app, 120, 24);
    line_with(&text, "Cause: what is loaded fits");
    line_with(&text, "Fix: decode in tiles");
    // Too narrow for both side by side: the pane goes under the chart, whose title stays whole
    // with the OOM mark's legend.
    let chart = row_of(&text, "live device memory over time");
    assert!(
        text[chart].contains("█ = iter start") && text[chart].contains(", • = OOM ─"),
        "{}",
        text[chart]
    );
    assert!(row_of(&text, PANE) > chart, "{}", text.join("\n"));
}

#[test]
fn the_pane_lists_every_part_against_the_device_and_all_the_advice() {
    let app = failed_app();
    let text = screen(&app, 200, 40);
    for part in [
        "cudaMalloc of 1.00 GiB by Decoder.forward (vae.py:300) failed; retried after the program",
        "  141 MiB",
        "2.00 GiB  50%  loaded before the work began",
        "1.25 GiB  31%  working memory of the time window in flight",
        " 448 MiB  11%  free on the device",
        "~300 MiB   7%  CUDA context and memory outside any allocation seen",
        "8.00 MiB  <1%  CUDA library workspaces: cuBLAS 8.00 MiB",
        "together 3.99 GiB of the device's 4.00 GiB; 12.0 MiB unexplained",
        "1. decode in tiles: pipe.vae.enable_tiling() (saves ~768 MiB)",
        "evidence: the failed request came from Decoder.forward",
        "2. use a smaller batch or resolution",
        "evidence: one request's working memory is 1.25 GiB",
    ] {
        line_with(&text, part);
    }
    // On a narrower terminal the pane goes under the chart.
    let narrow = screen(&app, 120, 40);
    let title = line_with(&narrow, PANE);
    assert!(!title.contains("live device memory"), "{title}");
    line_with(&narrow, "live device memory over time");
    line_with(&narrow, "Cause: what is loaded fits");
}

#[test]
fn without_an_explained_failure_there_is_no_pane() {
    // A run that never failed, and one that failed with no explanation in the report.
    for (trace, failed) in [
        (many_sites_trace(5, 5), false),
        (leaky_trace(10, true), true),
    ] {
        let mut app = App::from_bytes(trace, ReportOptions::default());
        app.ui.color = false;
        assert_eq!(app.data.summary.oom, failed);
        app.data.oom = None;
        let all = screen(&app, 200, 40).join("\n");
        assert!(!all.contains(PANE), "{all}");
        assert!(!all.contains("Cause: "), "{all}");
    }
}
