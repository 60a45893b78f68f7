//! The terminal UI drawn on ratatui's TestBackend, keys pressed, and screens compared with
//! their snapshots in `tests/tui_snapshots/`.

use std::path::Path;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use gpuleak::tui::App;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

pub fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| gpuleak::tui::view::draw(f, app)).unwrap();
    t
}

pub fn lines(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

pub fn screen(app: &App, width: u16, height: u16) -> Vec<String> {
    lines(&render(app, width, height))
}

pub fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn press(app: &mut App, code: KeyCode) {
    app.handle(&key(code));
}

/// Compares a whole screen with its snapshot; `UPDATE_SNAPSHOTS=1` writes it instead.
pub fn snapshot(name: &str, text: &[String]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tui_snapshots")
        .join(format!("{name}.txt"));
    let got: String = text.iter().map(|l| format!("{}\n", l.trim_end())).collect();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with UPDATE_SNAPSHOTS=1 to write it. The screen:\n{got}",
            path.display()
        )
    });
    if got != want {
        let diff: Vec<String> = got
            .lines()
            .zip(want.lines())
            .enumerate()
            .filter(|(_, (g, w))| g != w)
            .map(|(i, (g, w))| format!("line {i}:\n  got:  {g}\n  want: {w}"))
            .collect();
        panic!(
            "screen {name} differs from {}:\n{}\nwhole screen:\n{got}",
            path.display(),
            diff.join("\n")
        );
    }
}
