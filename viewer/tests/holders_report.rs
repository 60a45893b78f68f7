//! Holders in `gpuleak report`, text and HTML, as a user runs it: the gallery that keeps every
//! output is named under its finding and in a "Holders" section, a capped walk says so, and the
//! HTML findings open on the Python line.

mod common;

use common::*;
use gpuleak_trace::WalkEnd;

fn report(name: &str, trace: Vec<u8>, args: &[&str]) -> String {
    let d = scratch(name);
    std::fs::write(d.join("a.trace"), trace).unwrap();
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    all.push("a.trace");
    let o = gpuleak(&all, &d);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_gallery_that_keeps_every_output_is_named_as_the_holder_in_the_text_report() {
    let out = report("holders-text", gallery_trace(12, WalkEnd::Complete), &[]);
    // The diagnosis names the holder first (its paragraph unwrapped).
    let said = out.replace("\n    ", " ");
    assert!(
        said.contains(
            "`GALLERY` (app.py, a module global) keeps one 1.50 MiB tensor per iteration (12 at \
             exit); 18.0 MiB live at the end; made at main (app.py:122)."
        ),
        "{out}"
    );
    // The finding shows its holder right under its line.
    let findings = &out[out.find("Findings:").expect("findings")..];
    let leak = findings.lines().position(|l| l.contains("leak")).unwrap();
    let under = findings.lines().nth(leak + 1).unwrap();
    assert!(
        under.contains(
            "held by `GALLERY[*]` ×12, 18.0 MiB: held by user code; app.py, a module global"
        ),
        "{out}"
    );
    // The section: grouped holders largest first, totals by role and model, the unheld part.
    let section = &out[out
        .find("Holders at exit (250000 Python objects visited in 12 ms):")
        .expect("section")..];
    let lines: Vec<&str> = section.lines().collect();
    assert!(lines[1].contains("`GALLERY[*]` ×12, 18.0 MiB"), "{section}");
    assert!(
        lines[2].contains(
            "`pipe.unet.conv_in.weight`, 8.00 MiB: weights of pipe.unet (UNet2DConditionModel)"
        ),
        "{section}"
    );
    assert!(
        section.contains("by role: held by user code 18.0 MiB (12), weights 8.00 MiB (1)"),
        "{section}"
    );
    assert!(
        section.contains("by model: pipe.unet (UNet2DConditionModel) 8.00 MiB"),
        "{section}"
    );
    assert!(
        section.contains("not reachable from Python: 0 B of 26.0 MiB live"),
        "{section}"
    );
}

#[test]
fn a_capped_walk_says_so_in_one_line() {
    let out = report("holders-capped", gallery_trace(4, WalkEnd::TimeCap), &[]);
    assert!(
        out.contains(
            "Holders at exit: the walk stopped at its time cap, so holders not reached yet are \
             missing (stopped after 2.0 s)."
        ),
        "{out}"
    );
    let out = report(
        "holders-unavailable",
        gallery_trace(4, WalkEnd::Unavailable),
        &[],
    );
    assert!(
        out.contains(
            "Holders at exit: holders are not available for this process (not a Python \
             program gpuleak can run code in)."
        ),
        "{out}"
    );
    // Nothing found, nothing new in the diagnosis: the leak is named by its site as before.
    assert!(out.contains("grows +1.50 MiB/iteration"), "{out}");
}

#[test]
fn the_html_report_names_the_holders_and_opens_findings_on_the_python_line() {
    let page = report(
        "holders-html",
        gallery_trace(12, WalkEnd::Complete),
        &["--format", "html"],
    );
    assert!(
        page.contains("<h2>Holders: what keeps the memory</h2>"),
        "{page}"
    );
    assert!(
        page.contains("<td><code>GALLERY[*]</code></td><td class=\"num\">12</td>"),
        "{page}"
    );
    let findings =
        &page[page.find("<h2>Findings</h2>").unwrap()..page.find("<h2>Sites by").unwrap()];
    assert!(findings.contains("held by `GALLERY[*]` ×12"), "{findings}");
    // Python frames first: the library's Python frame, then the user's line, then the native
    // frames folded into one line.
    let stack = &findings[findings.find("<ol class=\"stack\">").unwrap()..];
    let vae = stack
        .find("_denormalize")
        .expect("the library's Python frame");
    let main = stack.find("main (app.py:122)").expect("the user's line");
    let native = stack
        .find("3 library frames:")
        .expect("native frames folded");
    assert!(vae < main && main < native, "{stack}");
}

#[test]
fn a_20_mib_segment_is_kept_by_the_1_5_mib_tensor_a_list_holds() {
    let out = report("holders-segment", segment_kept_trace(), &[]);
    let section = &out[out
        .find("Holders at the out-of-memory failure")
        .expect("section")..];
    assert!(
        section.contains(
            "a 20.0 MiB segment from main (app.py:122) kept by `GALLERY[3]`, 1.50 MiB of it"
        ),
        "{out}"
    );
    // The rest of both segments is the allocator's cache, which no Python object covers.
    assert!(
        section.contains("not reachable from Python: 30.5 MiB of 40.0 MiB live"),
        "{out}"
    );
    // The failure is read from the walk: weights and a module-level list, nothing grown.
    let said = out.replace("\n    ", " ");
    assert!(
        said.contains(
            "At the failure the memory was: weights of `pipe.unet (UNet2DConditionModel)` \
             8.00 MiB, held by module globals of app.py 1.50 MiB, not reachable from Python \
             30.5 MiB."
        ),
        "{out}"
    );
}
