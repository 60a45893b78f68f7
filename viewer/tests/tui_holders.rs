//! The live view of a Python image server that keeps every output in a `GALLERY` list: its
//! stacks open on the server's own Python line, and H shows what keeps a site's memory, asked
//! of the running process (the test answers as the hook would: it takes the request file and
//! appends the walk to the trace) or read from a finished trace.

mod common;

use std::time::{Duration, Instant};

use common::python::{Live, gallery_server};
use common::scratch;
use common::screen::{press, screen, snapshot};
use crossterm::event::KeyCode;
use gpuleak::tui::App;
use gpuleak_analysis::ReportOptions;
use gpuleak_trace::HoldersReason;

fn finished(requests: u64, walk: Option<HoldersReason>) -> App {
    let mut server = gallery_server(4321, requests);
    if let Some(reason) = walk {
        server.holders(reason, requests);
    }
    let mut app = App::from_bytes(server.end(), ReportOptions::default());
    app.ui.color = false;
    app
}

/// The Stack pane's text (right of the table), its lines joined.
fn stack_pane(text: &[String]) -> String {
    text.iter()
        .filter_map(|l| {
            let right = l.split("││").nth(1)?;
            Some(right.trim_end_matches('│').trim().to_string())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_stack_pane_of_a_pytorch_site_opens_on_the_users_python_line() {
    let mut app = finished(3, None);
    press(&mut app, KeyCode::Char('2'));
    // The weights come first (most live memory); the images' site is the second row.
    press(&mut app, KeyCode::Char('j'));
    let site = &app.selected_site().unwrap().label;
    assert!(site.contains("app.py:122"), "{site}");
    let text = screen(&app, 120, 24);
    let pane = stack_pane(&text);
    let all = text.join("\n");
    // The pipeline's two library lines, then the server's own, then PyTorch's 30 C++ frames.
    let at = |s: &str| {
        pane.find(s)
            .unwrap_or_else(|| panic!("{s} not in the pane:\n{all}"))
    };
    assert!(pane.starts_with("#30 VaeImageProcessor"), "{all}");
    assert!(
        at("#32 generate (/srv/app.py:122)") < at("#0  libtorch_cuda.so+0x"),
        "{all}"
    );
    assert!(at("(diffusers/image_processor.py:210)") > 0, "{all}");
}

#[test]
fn on_a_finished_trace_h_shows_the_gallery_as_what_keeps_the_images() {
    let mut app = finished(3, Some(HoldersReason::Exit));
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('H'));
    let text = screen(&app, 120, 30);
    let all = text.join("\n");
    assert!(all.contains(" Holders (H: back to the stack) "), "{all}");
    assert!(
        all.contains("Holders at exit (1234567 Python objects visited in 420 ms)"),
        "{all}"
    );
    assert!(all.contains("this site: 4.50 MiB in 3"), "{all}");
    // The three images are one group: what a leak looks like.
    assert!(
        all.contains("`GALLERY[*]` ×3, 4.50 MiB: held by user code;"),
        "{all}"
    );
    assert!(all.contains("512 MiB  weights (1)"), "{all}");
    assert!(
        all.contains("512 MiB  pipe.unet (UNet2DConditionModel)"),
        "{all}"
    );
    snapshot("holders_finished", &text);
    // The weights' site: the UNet's parameter, not the gallery.
    press(&mut app, KeyCode::Char('k'));
    let all = screen(&app, 120, 30).join("\n");
    assert!(
        all.contains("this site: 512 MiB in 1") && all.contains("pipe.unet.conv_in.weight"),
        "{all}"
    );
    assert!(!all.contains("GALLERY"), "{all}");
    // H again, or Esc, is back to the stack.
    press(&mut app, KeyCode::Esc);
    assert!(screen(&app, 120, 30).join("\n").contains(" Stack"));
}

#[test]
fn without_any_walk_the_pane_says_why() {
    let mut app = finished(2, None);
    press(&mut app, KeyCode::Char('H'));
    let all = screen(&app, 120, 30).join("\n");
    assert!(all.contains("no holders recorded"), "{all}");
}

/// A running server (the test's own pid, so running as long as the test) after `requests`
/// requests, its trace followed by the live view, the images' site selected and H pressed.
struct Asked {
    trace: std::path::PathBuf,
    request: std::path::PathBuf,
    server: Live,
    app: App,
    t0: Instant,
}

impl Asked {
    fn new(name: &str, requests: u64) -> Asked {
        let dir = scratch(name);
        let trace = dir.join("run.trace");
        let server = gallery_server(std::process::id(), requests);
        std::fs::write(&trace, &server.buf).unwrap();
        let mut app = App::follow(std::slice::from_ref(&trace), ReportOptions::default());
        app.ui.color = false;
        let t0 = Instant::now();
        app.tick(t0);
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('H'));
        Asked {
            trace,
            request: dir.join("run.trace.want-holders"),
            server,
            app,
            t0,
        }
    }

    /// The process's side: it takes the request and appends its walk, as the hook does.
    fn answer(&mut self, requests: u64) {
        std::fs::remove_file(&self.request).unwrap();
        self.server.holders(HoldersReason::OnDemand, requests);
        self.write();
    }

    /// The trace file as the server has written it so far.
    fn write(&self) {
        std::fs::write(&self.trace, &self.server.buf).unwrap();
    }

    /// The screen `secs` seconds after H.
    fn screen_at(&mut self, secs: u64) -> String {
        self.app.tick(self.t0 + Duration::from_secs(secs));
        screen(&self.app, 120, 30).join("\n")
    }
}

#[test]
fn h_asks_the_running_server_and_shows_its_answer() {
    let mut s = Asked::new("tui-holders-live", 2);
    assert!(s.request.exists(), "H makes the request beside the trace");
    let all = s.screen_at(1);
    assert!(all.contains("asking for holders… 1 s"), "{all}");

    s.answer(2);
    let all = s.screen_at(2);
    assert!(!all.contains("asking for holders"), "{all}");
    assert!(
        all.contains("Holders when asked (1234567 Python objects visited in 420"),
        "{all}"
    );
    assert!(all.contains("this site: 3.00 MiB in 2"), "{all}");
    assert!(all.contains("`GALLERY[*]` ×2, 3.00 MiB"), "{all}");
}

#[test]
fn a_server_that_never_answers_is_said_so() {
    let mut s = Asked::new("tui-holders-silent", 1);
    let all = s.screen_at(20);
    assert!(
        all.contains("no answer: did not take the request in 20 s"),
        "{all}"
    );
}

#[test]
fn after_an_out_of_memory_failure_the_overview_says_what_the_memory_was() {
    let mut server = gallery_server(4321, 2);
    server.holders(HoldersReason::OutOfMemory, 1);
    server.holders(HoldersReason::Exit, 2);
    let mut app = App::from_bytes(server.end(), ReportOptions::default());
    app.ui.color = false;
    let all = screen(&app, 120, 30).join("\n");
    assert!(
        all.contains(
            "At the out-of-memory failure: weights 512 MiB, held by user code 1.50 MiB, \
             largest model pipe.unet"
        ) && all.contains("(UNet2DConditionModel) 512 MiB (H: holders)"),
        "{all}"
    );
    // The pane shows the walk at exit, and the failure's figures beside it.
    press(&mut app, KeyCode::Char('H'));
    let all = screen(&app, 120, 40).join("\n");
    assert!(all.contains("Holders at exit"), "{all}");
    assert!(all.contains("at the out-of-memory failure:"), "{all}");
    assert!(all.contains("1.50 MiB  held by user code (1)"), "{all}");
}

#[test]
fn images_freed_at_exit_after_the_walk_are_still_matched_to_the_gallery() {
    // Python's teardown frees every tensor after the walk at exit: the live set at the trace's
    // end holds no image, the one when the walk was made holds all three.
    let mut server = gallery_server(4321, 3);
    server.holders(HoldersReason::Exit, 3);
    server.free_images(3);
    let mut app = App::from_bytes(server.end(), ReportOptions::default());
    app.ui.color = false;
    press(&mut app, KeyCode::Char('2'));
    let images = app
        .rows()
        .position(|s| s.label.contains("app.py:122"))
        .unwrap();
    for _ in 0..images {
        press(&mut app, KeyCode::Char('j'));
    }
    press(&mut app, KeyCode::Char('H'));
    let all = screen(&app, 120, 30).join("\n");
    assert!(all.contains("this site: 4.50 MiB in 3"), "{all}");
    assert!(all.contains("`GALLERY[*]` ×3"), "{all}");
}

#[test]
fn an_image_dropped_after_the_answer_leaves_the_pane_speaking_of_the_walk() {
    // The server answers with both images in its gallery, then drops one: the pane shows what
    // the walk found, its site's figures and its totals alike.
    let mut s = Asked::new("tui-holders-after", 2);
    s.answer(2);
    s.server
        .call(gpuleak_trace::Api::CudaFree, common::python::image(1), 0, 2);
    s.write();
    let all = s.screen_at(1);
    assert!(all.contains("Holders when asked"), "{all}");
    assert!(all.contains("3.00 MiB  held by user code (2)"), "{all}");
    assert!(all.contains("this site: 3.00 MiB in 2"), "{all}");
}
