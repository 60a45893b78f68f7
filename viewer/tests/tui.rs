//! The terminal UI's screens, drawn on ratatui's TestBackend from traces built in memory.

mod common;

#[allow(dead_code)]
#[path = "../src/tui/mod.rs"]
mod tui;

use common::{MIB, stepped_trace};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use gpuleak_analysis::{Replay, ReportOptions};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use tui::App;
use tui::input::{Action, KEYS, action};
use tui::state::{Screen, SortKey};

/// A sampler that leaks 3 MiB a step for 20 steps, beside 1 GiB of weights.
fn leaky_app() -> App {
    let bytes = stepped_trace(20, 3 * MIB);
    let mut reader = gpuleak_trace::Reader::new(&bytes[..]).unwrap();
    let replay = Replay::from_reader(&mut reader).unwrap();
    let mut app = App::load(&replay, &ReportOptions::default());
    app.color = false;
    app
}

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| tui::view::draw(f, app)).unwrap();
    t
}

fn lines(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

fn screen(app: &App, width: u16, height: u16) -> Vec<String> {
    lines(&render(app, width, height))
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn the_overview_shows_the_header_and_the_leak_as_a_finding() {
    let app = leaky_app();
    // Live device memory at each of the 20 iterations' ends: the weights plus 3 MiB a step.
    assert_eq!(app.series.len(), 20);
    assert_eq!(app.series[0], (1 << 30) + 3 * MIB);
    assert_eq!(app.series[19], (1 << 30) + 60 * MIB);
    let text = screen(&app, 120, 30);
    let all = text.join("\n");
    assert!(all.contains("pid 77") && all.contains("complete"), "{all}");
    assert!(all.contains("iter 20 (marker)"), "{all}");
    let finding = text
        .iter()
        .find(|l| l.contains("LEAK"))
        .unwrap_or_else(|| panic!("no LEAK finding:\n{all}"));
    assert!(finding.contains("+3.00 MiB/iter"), "{finding}");
    assert!(finding.contains("live 60.0 MiB"), "{finding}");
    assert!(finding.contains("full at iter ~"), "{finding}");
    assert!(all.contains("live device memory per iter"), "{all}");
}

#[test]
fn a_clean_trace_has_no_findings() {
    let bytes = stepped_trace(20, 0);
    let mut reader = gpuleak_trace::Reader::new(&bytes[..]).unwrap();
    let replay = Replay::from_reader(&mut reader).unwrap();
    let mut app = App::load(&replay, &ReportOptions::default());
    app.color = false;
    let all = screen(&app, 120, 30).join("\n");
    assert!(!all.contains("LEAK"), "{all}");
    assert!(all.contains("no leak, sawtooth or plateau found"), "{all}");
}

#[test]
fn the_sites_table_lists_the_leak_first_when_sorted_by_bytes_per_iteration() {
    let mut app = leaky_app();
    app.apply(Action::NextScreen);
    assert_eq!(app.screen, Screen::Sites);

    let first_row = |app: &App| {
        let text = screen(app, 140, 30);
        let header = text
            .iter()
            .position(|l| l.contains("verdict") && l.contains("bytes/iter"))
            .unwrap_or_else(|| panic!("no table header:\n{}", text.join("\n")));
        text[header + 1].clone()
    };
    // By live memory the 1 GiB of weights comes first.
    assert_eq!(app.sort, SortKey::Live);
    let row = first_row(&app);
    assert!(row.contains("1.00 GiB") && !row.contains("leak"), "{row}");

    app.apply(action(&key(KeyCode::Char('s'))).unwrap());
    assert_eq!(app.sort, SortKey::BytesPerIteration);
    let row = first_row(&app);
    assert!(row.contains("leak") && row.contains("+3.00 MiB"), "{row}");
    let all = screen(&app, 140, 30).join("\n");
    assert!(all.contains("sorted by bytes/iter"), "{all}");
    assert!(all.contains(" Stack ") && all.contains("#0 "), "{all}");
}

#[test]
fn moving_selects_another_site_and_its_stack() {
    let mut app = leaky_app();
    app.apply(Action::NextScreen);
    let before = app.selected_site().unwrap().stack_id;
    app.apply(action(&key(KeyCode::Char('j'))).unwrap());
    assert_eq!(app.selected, 1);
    assert_ne!(app.selected_site().unwrap().stack_id, before);
    app.apply(action(&key(KeyCode::Up)).unwrap());
    app.apply(Action::Up);
    assert_eq!(app.selected, 0);
    for _ in 0..100 {
        app.apply(Action::Down);
    }
    assert_eq!(app.selected, app.order.len() - 1);
}

#[test]
fn the_help_overlay_lists_every_key() {
    let mut app = leaky_app();
    let all = screen(&app, 100, 30).join("\n");
    assert!(!all.contains(" Keys "), "{all}");
    app.apply(action(&key(KeyCode::Char('?'))).unwrap());
    let all = screen(&app, 100, 30).join("\n");
    assert!(all.contains(" Keys "), "{all}");
    for (k, what) in KEYS {
        assert!(all.contains(k), "help lacks {k:?}:\n{all}");
        assert!(all.contains(what), "help lacks {what:?}:\n{all}");
    }
    app.apply(action(&key(KeyCode::Esc)).unwrap());
    assert!(!app.help);
}

#[test]
fn the_footer_lists_the_keys() {
    let app = leaky_app();
    let text = screen(&app, 100, 30);
    let footer = text.last().unwrap();
    for k in ["Tab", "j/k", "s sort", "? help", "q quit"] {
        assert!(footer.contains(k), "{footer}");
    }
}

#[test]
fn a_tiny_terminal_gets_a_message() {
    let app = leaky_app();
    let all = screen(&app, 20, 5).join("\n");
    assert!(all.contains("too small"), "{all}");
    assert!(!all.contains("Findings"), "{all}");
}

#[test]
fn keys_map_to_actions() {
    assert_eq!(action(&key(KeyCode::Tab)), Some(Action::NextScreen));
    assert_eq!(action(&key(KeyCode::BackTab)), Some(Action::PrevScreen));
    assert_eq!(action(&key(KeyCode::Char('j'))), Some(Action::Down));
    assert_eq!(action(&key(KeyCode::Down)), Some(Action::Down));
    assert_eq!(action(&key(KeyCode::Char('k'))), Some(Action::Up));
    assert_eq!(action(&key(KeyCode::Char('q'))), Some(Action::Quit));
    assert_eq!(action(&key(KeyCode::Char('x'))), None);
    let ctrl_c = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(action(&ctrl_c), Some(Action::Quit));
    let mut app = leaky_app();
    app.apply(Action::Quit);
    assert!(app.quit);
}

#[test]
fn leaks_are_red_only_with_colour() {
    let find_red = |app: &App| {
        let t = render(app, 120, 30);
        let buf = t.backend().buffer();
        buf.content()
            .iter()
            .any(|c| c.fg == Color::Red && c.symbol() == "L")
    };
    let mut app = leaky_app();
    assert!(!find_red(&app));
    app.color = true;
    assert!(find_red(&app));
}
