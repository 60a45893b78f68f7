//! The out-of-memory report (`Report.oom`) in the text report and the HTML page: the request,
//! what filled the device part by part against its total, the cause and the advice with its
//! evidence. The report is written by hand (common/oom.rs) on a trace that failed, as the
//! analysis would fill it.

mod common;

use common::oom::decode_oom;
use common::{leaky_trace, many_sites_trace, scratch};
use gpuleak::filter::What;
use gpuleak::model::Model;
use gpuleak::render::{html, text::render_text};
use gpuleak_analysis::ReportOptions;

const HEADING: &str = "Out of memory: what filled the device";

/// A sampler that leaks until an allocation fails, loaded as `gpuleak report` loads it.
fn failed_run(name: &str, trace: Vec<u8>) -> Model {
    let d = scratch(name);
    let path = d.join("a.trace");
    std::fs::write(&path, trace).unwrap();
    Model::load(&path, &ReportOptions::default(), What::Live, true).unwrap()
}

/// The text report's out-of-memory section: from its heading to the next blank line.
fn section(text: &str) -> Vec<&str> {
    let at = text
        .find(HEADING)
        .unwrap_or_else(|| panic!("no {HEADING:?} in:\n{text}"));
    text[at..].lines().take_while(|l| !l.is_empty()).collect()
}

/// The line of `lines` that holds `needle`.
fn line_with<'a>(lines: &[&'a str], needle: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", lines.join("\n")))
}

#[test]
fn a_decode_that_does_not_fit_is_told_part_by_part_with_the_fix_and_its_evidence() {
    let mut m = failed_run("oom-text", leaky_trace(10, true));
    m.report.oom = Some(decode_oom("Decoder.forward (vae.py:300)"));
    let text = render_text(&m.report, 10);
    // After the diagnosis, before the findings.
    let (diagnosis, oom) = (
        text.find("Diagnosis:").unwrap(),
        text.find(HEADING).unwrap(),
    );
    assert!(diagnosis < oom, "{text}");
    assert!(text.find("Findings:").is_none_or(|f| oom < f), "{text}");
    let s = section(&text);
    // The request, wrapped over two lines.
    let request = format!("{} {}", s[1].trim(), s[2].trim());
    assert_eq!(
        request,
        "cudaMalloc of 1.00 GiB by Decoder.forward (vae.py:300) failed; retried after the \
         program freed 141 MiB",
    );
    // Every part with its bytes and its share of the device; the estimate marked.
    for (bytes, share, what) in [
        (
            "2.00 GiB",
            "50%",
            "loaded before the work began: UNET (UNet2DConditionModel) 1.60 GiB",
        ),
        (
            "1.25 GiB",
            "31%",
            "working memory of the time window in flight",
        ),
        ("448 MiB", "11%", "free on the device"),
        (
            "~300 MiB",
            "7%",
            "CUDA context and memory outside any allocation seen",
        ),
        (
            "8.00 MiB",
            "<1%",
            "CUDA library workspaces: cuBLAS 8.00 MiB",
        ),
    ] {
        let l = line_with(&s, what);
        assert!(
            l.contains(&format!("{bytes}  {share:>3}  ")),
            "{what}: {l}\n{}",
            s.join("\n")
        );
    }
    line_with(
        &s,
        "together 3.99 GiB of the device's 4.00 GiB; 12.0 MiB unexplained",
    );
    line_with(
        &s,
        "Cause: what is loaded fits, but one step's peak does not (short by 576 MiB)",
    );
    let tiling = s
        .iter()
        .position(|l| l.contains("1. decode in tiles: pipe.vae.enable_tiling() (saves ~768 MiB)"))
        .unwrap_or_else(|| panic!("{}", s.join("\n")));
    assert!(
        s[tiling + 1].contains("evidence: the failed request came from Decoder.forward"),
        "{}",
        s.join("\n")
    );
    line_with(&s, "2. use a smaller batch or resolution");
    line_with(&s, "evidence: one request's working memory is 1.25 GiB");
}

#[test]
fn a_report_without_an_explained_failure_has_no_out_of_memory_section() {
    // A run that never failed, and a run that failed with no explanation in the report (the
    // `ooms[]` list stays; the section needs `oom`).
    for (name, trace, failed) in [
        ("oom-clean", many_sites_trace(5, 5), false),
        ("oom-none", leaky_trace(10, true), true),
    ] {
        let mut m = failed_run(name, trace);
        assert_eq!(!m.report.ooms.is_empty(), failed, "{name}");
        m.report.oom = None;
        let text = render_text(&m.report, 10);
        assert!(!text.contains(HEADING), "{name}:\n{text}");
        let page = html::render(std::slice::from_ref(&m), 10);
        assert!(!page.contains(HEADING), "{name}");
    }
}

#[test]
fn the_page_shows_the_device_as_one_bar_of_parts_and_escapes_the_request() {
    let mut m = failed_run("oom-html", leaky_trace(10, true));
    m.report.oom = Some(decode_oom("<script>alert('x')</script> (app.py:1)"));
    let page = html::render(std::slice::from_ref(&m), 10);
    assert!(!page.contains("<script"), "a label was written as markup");
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; (app.py:1)"),
        "the label is missing"
    );
    let at = page.find(HEADING).expect("no out-of-memory section");
    let section = &page[at..at + page[at..].find("</div>").unwrap()];
    // One bar: a rectangle per part, each with its figures; a legend entry per part.
    assert_eq!(section.matches("<rect").count(), 5, "{section}");
    assert!(
        section.contains(
            "<title>2.00 GiB (50% of the device): loaded before the work began: UNET \
             (UNet2DConditionModel) 1.60 GiB, TEXT_ENCODER (CLIPTextModel) 246 MiB, VAE \
             (AutoencoderKL) 162 MiB</title>"
        ),
        "{section}"
    );
    assert_eq!(section.matches("class=\"swatch\"").count(), 5, "{section}");
    // The half of the bar the weights take.
    assert!(section.contains("width=\"500.00\""), "{section}");
    assert!(
        section.contains("Cause:</strong> what is loaded fits"),
        "{section}"
    );
    assert!(
        section.contains("decode in tiles: pipe.vae.enable_tiling() (saves ~768 MiB)")
            && section.contains("evidence: the failed request came from Decoder.forward"),
        "{section}"
    );
    // Nothing fetched.
    assert!(!section.contains("http"), "{section}");
}
