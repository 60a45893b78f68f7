//! Keys to actions: the only place that knows which key does what.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What the user asked for, independent of the key that asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    NextScreen,
    PrevScreen,
    Up,
    Down,
    Sort,
    ToggleHelp,
    CloseHelp,
}

/// Every key, as the help overlay and the footer list them: (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "switch screen (Overview, Sites)"),
    ("j / Down", "move down"),
    ("k / Up", "move up"),
    ("s", "sort the sites (bytes/iter, live, allocations)"),
    ("?", "show or hide this help"),
    ("Esc", "close this help"),
    ("q / Ctrl-C", "quit"),
];

/// The action a terminal event asks for, if any.
pub fn action(event: &Event) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => key_action(key),
        _ => None,
    }
}

fn key_action(key: &KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Action::Quit);
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Tab => Action::NextScreen,
        KeyCode::BackTab => Action::PrevScreen,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Esc => Action::CloseHelp,
        _ => return None,
    })
}
