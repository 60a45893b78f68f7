//! The charts tell the weights from what the steps keep, in the live view's overview and on the
//! HTML page: a leak of 128 KiB a step above 2 GiB of weights climbs on a chart of its own
//! scale, where the chart of all memory draws it as a flat line.

mod common;

use common::screen::screen;
use gpuleak::filter::What;
use gpuleak::model::Model;
use gpuleak::render::html;
use gpuleak::tui::App;
use gpuleak_analysis::ReportOptions;
use gpuleak_trace::{Api, Encoder, Event, Header, Marker, Trailer};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// 2 GiB of weights loaded before the first marker, then 20 marked steps, each with 64 MiB of
/// scratch freed within it and 128 KiB kept for good.
fn weights_and_a_small_leak() -> Vec<u8> {
    let mut buf = Vec::new();
    let header = Header {
        pid: 12,
        exe: "/usr/bin/sampler".into(),
        stacks: "native".into(),
        ..Header::default()
    };
    let mut enc = Encoder::start(&header, &mut buf);
    for site in 1..=3u32 {
        enc.stack(site, &[0x1000 * u64::from(site)], &mut buf);
    }
    let mut time = 0u64;
    let mut seq = 0u64;
    let mut event = |enc: &mut Encoder, buf: &mut Vec<u8>, api, address, size, stack| {
        seq += 1;
        time += 1000;
        enc.event(
            &Event {
                seq,
                time_ns: time,
                tid: 1,
                api,
                device: 0,
                stream: 0,
                address,
                size,
                result: 0,
                stack,
                mem_info: None,
                aux: 0,
                pool_reserved: None,
            },
            buf,
        );
    };
    event(&mut enc, &mut buf, Api::CudaMalloc, 0x100, 2 * GIB, 1);
    for step in 0..20u64 {
        enc.marker(
            &Marker {
                // Between the step's events: 4 µs a step, each event 1 µs after the last.
                time_ns: 1500 + step * 3000,
                tid: 1,
                label: None,
            },
            &mut buf,
        );
        event(&mut enc, &mut buf, Api::CudaMalloc, 0x200, 64 * MIB, 2);
        event(&mut enc, &mut buf, Api::CudaFree, 0x200, 0, 2);
        event(
            &mut enc,
            &mut buf,
            Api::CudaMalloc,
            0x1_000 + step,
            128 * KIB,
            3,
        );
    }
    enc.trailer(&Trailer::default(), &mut buf);
    buf
}

#[test]
fn a_128_kib_leak_above_2_gib_of_weights_climbs_on_a_chart_of_its_own() {
    let mut app = App::from_bytes(weights_and_a_small_leak(), ReportOptions::default());
    app.ui.color = false;
    assert_eq!(app.data.loaded, 2 * GIB);
    assert_eq!(app.data.bands.len(), 20);
    for w in app.data.bands.windows(2) {
        assert_eq!(w[1].kept - w[0].kept, 128 * KIB, "{:?}", app.data.bands);
        assert_eq!(w[1].loaded, 2 * GIB);
    }

    let text = screen(&app, 120, 34);
    let all = text.join("\n");
    assert!(
        all.contains("dotted = loaded 2.00 GiB"),
        "the chart of all memory marks the weights' floor:\n{all}"
    );
    assert!(
        all.contains("kept above what was loaded (2.00 GiB)"),
        "a chart of what the steps keep:\n{all}"
    );
    // Its axis tops at what the last step kept, not at the weights: 20 × 128 KiB.
    let panel = &all[all.find("kept above what was loaded").unwrap()..];
    assert!(panel.contains("2.50 MiB│"), "{panel}");
    assert!(
        !panel[..panel.find("Findings").unwrap()].contains("GiB│"),
        "{panel}"
    );
}

#[test]
fn the_html_page_draws_what_the_steps_keep_on_its_own_scale() {
    let path = std::env::temp_dir().join(format!("gpuleak-chart-{}.trace", std::process::id()));
    std::fs::write(&path, weights_and_a_small_leak()).unwrap();
    let m = Model::load(&path, &ReportOptions::default(), What::Live, true).unwrap();
    let _ = std::fs::remove_file(&path);
    let page = html::render(&[m], 10);
    // Each step's scratch took it 64 MiB above where it began, 128 KiB under its end.
    assert!(
        page.contains("<title>working memory, given back within the iteration: 63.9 MiB"),
        "the page's first chart draws each step's scratch as working memory"
    );
    // The second chart is on the scale of what is kept: not the weights', nor the scratch's.
    let own = &page[page
        .find("on its own scale")
        .expect("a chart of what is kept")..];
    let own = &own[..own.find("</svg>").expect("the chart's end")];
    assert!(own.contains(">2.50 MiB</text>"), "{own}");
    assert!(
        !own.contains(" GiB</text>") && !own.contains("64.0 MiB"),
        "{own}"
    );
    assert!(
        own.contains("<title>kept from iteration to iteration: 2.50 MiB at the last"),
        "{own}"
    );
}
