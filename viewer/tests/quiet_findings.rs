//! Every list of findings leaves out what the analysis calls quiet, and every list of sites
//! keeps it, saying why: a pipeline's two 616-byte plateaus are not findings in the text report,
//! the HTML page or the live view, while a 128 MiB cache filled after the work began is.

mod common;

use common::screen::{press, screen};
use crossterm::event::KeyCode;
use gpuleak::filter::What;
use gpuleak::model::Model;
use gpuleak::render::html;
use gpuleak::render::text::render_text;
use gpuleak::tui::App;
use gpuleak_analysis::{Quiet, ReportOptions};
use gpuleak_trace::{Api, Encoder, Event, Header, Marker, MemInfo, Trailer};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// 2 GiB of weights (site 1) before the first marker, then 20 marked steps with 1 GiB of
/// scratch (site 3, freed); at the first and sixth steps, sites 2 and 4 keep 308 bytes each and
/// site 5 keeps 64 MiB: three plateaus, two of them tiny. A 16 GiB device.
fn pipeline() -> Vec<u8> {
    let mut buf = Vec::new();
    let header = Header {
        pid: 21,
        exe: "/usr/bin/pipeline".into(),
        stacks: "native".into(),
        ..Header::default()
    };
    let mut enc = Encoder::start(&header, &mut buf);
    for site in 1..=5u32 {
        enc.stack(site, &[0x1000 * u64::from(site)], &mut buf);
    }
    let (mut seq, mut time, mut next) = (0u64, 0u64, 0x1000_0000u64);
    let mut alloc = |enc: &mut Encoder, buf: &mut Vec<u8>, api, size, stack| {
        seq += 1;
        time += 1000;
        if api == Api::CudaMalloc {
            next += 0x100_0000;
        }
        enc.event(
            &Event {
                seq,
                time_ns: time,
                tid: 1,
                api,
                device: 0,
                stream: 0,
                address: next,
                size,
                result: 0,
                stack,
                mem_info: Some(MemInfo {
                    free: GIB,
                    total: 16 * GIB,
                }),
                aux: 0,
                pool_reserved: None,
            },
            buf,
        );
        time
    };
    alloc(&mut enc, &mut buf, Api::CudaMalloc, 2 * GIB, 1);
    let mut now = 1000;
    for step in 0..20u64 {
        enc.marker(
            &Marker {
                time_ns: now + 1,
                tid: 1,
                label: None,
            },
            &mut buf,
        );
        alloc(&mut enc, &mut buf, Api::CudaMalloc, GIB, 3);
        now = alloc(&mut enc, &mut buf, Api::CudaFree, 0, 3);
        if step == 0 || step == 5 {
            alloc(&mut enc, &mut buf, Api::CudaMalloc, 308, 2);
            alloc(&mut enc, &mut buf, Api::CudaMalloc, 308, 4);
            now = alloc(&mut enc, &mut buf, Api::CudaMalloc, 64 * MIB, 5);
        }
    }
    enc.trailer(&Trailer::default(), &mut buf);
    buf
}

/// The label of the site whose frame is at `0x<site>000`.
fn label(site: u32) -> String {
    format!("{:#x}", 0x1000 * site)
}

#[test]
fn the_text_report_lists_the_cache_and_not_the_tiny_plateaus() {
    let bytes = pipeline();
    let mut reader = gpuleak_trace::Reader::new(&bytes[..]).unwrap();
    let replay = gpuleak_analysis::Replay::from_reader(&mut reader).unwrap();
    let r = gpuleak_analysis::Report::build(&replay, &mut gpuleak_analysis::Symbolizer::new());
    let quiet: Vec<(u32, Option<Quiet>)> = r.sites.iter().map(|s| (s.stack_id, s.quiet)).collect();
    assert!(quiet.contains(&(2, Some(Quiet::Negligible))), "{quiet:?}");
    assert!(quiet.contains(&(4, Some(Quiet::Negligible))), "{quiet:?}");
    assert!(quiet.contains(&(5, None)), "{quiet:?}");
    let text = render_text(&r, 10);
    let findings = &text[text.find("Findings:").expect("the cache is a finding")..];
    let findings = &findings[..findings.find("\n\n").unwrap_or(findings.len())];
    assert!(findings.contains(&label(5)), "{findings}");
    assert!(
        !findings.contains(&label(2)) && !findings.contains(&label(4)),
        "{findings}"
    );
    // The list says what it left out, so that it does not read as if they were missed.
    assert!(
        findings.contains("(not findings: 2 sites too small to matter)"),
        "{findings}"
    );
}

#[test]
fn the_html_page_keeps_the_tiny_plateaus_in_the_sites_saying_why() {
    let path = std::env::temp_dir().join(format!("gpuleak-quiet-{}.trace", std::process::id()));
    std::fs::write(&path, pipeline()).unwrap();
    let m = Model::load(&path, &ReportOptions::default(), What::Live, true).unwrap();
    let _ = std::fs::remove_file(&path);
    let page = html::render(&[m], 10);
    let findings = &page[page.find("<h2>Findings</h2>").unwrap()..];
    let (findings, sites) = findings.split_at(findings.find("<h2>Sites").unwrap());
    assert!(findings.contains(&label(5)), "{findings}");
    assert!(!findings.contains(&label(2)), "{findings}");
    assert!(
        findings.contains("not findings: 2 sites too small to matter."),
        "{findings}"
    );
    let row = &sites[sites.find(&format!("<code>{}</code>", label(2))).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("plateau (negligible)"), "{row}");
}

#[test]
fn the_live_view_finds_the_cache_and_shows_the_tiny_plateaus_as_negligible() {
    let mut app = App::from_bytes(pipeline(), ReportOptions::default());
    app.ui.color = false;
    let found: Vec<u32> = app.findings().iter().map(|s| s.stack_id).collect();
    assert_eq!(found, [5]);
    press(&mut app, KeyCode::Tab);
    let all = screen(&app, 140, 30).join("\n");
    let rows: Vec<&str> = all.lines().filter(|l| l.contains("negligible")).collect();
    assert_eq!(rows.len(), 2, "{all}");
}
