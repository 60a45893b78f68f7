//! Keys to actions: the only place that knows which key does what.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What the user asked for, independent of the key that asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Ctrl-C: SIGINT to the running program, as without the TUI; quits once it has ended.
    Interrupt,
    NextScreen,
    PrevScreen,
    /// A screen by its number (0-based).
    Screen(usize),
    Up,
    Down,
    PageUp,
    PageDown,
    Sort,
    Filter,
    Pause,
    NextProcess,
    PrevProcess,
    /// The next device of the process (all of them, then each in turn).
    NextDevice,
    CursorBack,
    CursorForward,
    ToggleHelp,
    CloseHelp,
}

/// Every key, as the help overlay lists them: (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    (
        "Tab / Shift-Tab",
        "switch screen (Overview, Sites, Allocations, Iterations)",
    ),
    ("1 2 3 4", "go to a screen"),
    ("j / Down", "move down"),
    ("k / Up", "move up"),
    ("PgDn / PgUp", "move a page"),
    (
        "/",
        "filter sites and allocations by frame text (Enter keeps)",
    ),
    ("s", "sort (sites: live, bytes/iter, allocations, verdict)"),
    ("p", "pause the display (the trace is still read)"),
    ("n / N", "next / previous process of the run"),
    (
        "g",
        "next device (GPU) of the process: all, then each alone",
    ),
    (
        "[ ] / Left Right",
        "time cursor: live set at an iteration's end",
    ),
    ("Esc", "close help, leave the cursor, clear the filter"),
    ("?", "show or hide this help"),
    (
        "Ctrl-C",
        "interrupt the program (SIGINT); quit once it ended",
    ),
    ("q", "quit; a running program goes on recording"),
];

/// The footer: the keys used most, shortest first to fit.
pub const FOOTER: &[(&str, &str)] = &[
    ("Tab", "screens"),
    ("j/k", "move"),
    ("/", "filter"),
    ("s", "sort"),
    ("p", "pause"),
    ("n", "process"),
    ("[ ]", "cursor"),
    ("?", "help"),
    ("q", "quit"),
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
        return (key.code == KeyCode::Char('c')).then_some(Action::Interrupt);
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Tab => Action::NextScreen,
        KeyCode::BackTab => Action::PrevScreen,
        KeyCode::Char(c @ '1'..='4') => Action::Screen(c as usize - '1' as usize),
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Char('/') => Action::Filter,
        KeyCode::Char('p') => Action::Pause,
        KeyCode::Char('n') => Action::NextProcess,
        KeyCode::Char('N') => Action::PrevProcess,
        KeyCode::Char('g') => Action::NextDevice,
        KeyCode::Char('[') | KeyCode::Left => Action::CursorBack,
        KeyCode::Char(']') | KeyCode::Right => Action::CursorForward,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Esc => Action::CloseHelp,
        _ => return None,
    })
}

/// A key while the filter is being typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    Char(char),
    Backspace,
    /// Enter: keep the filter, back to the keys.
    Done,
    /// Esc: clear it.
    Cancel,
}

pub fn filter_edit(event: &Event) -> Option<Edit> {
    let Event::Key(key) = event else {
        return None;
    };
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(Edit::Cancel);
    }
    Some(match key.code {
        KeyCode::Char(c) => Edit::Char(c),
        KeyCode::Backspace => Edit::Backspace,
        KeyCode::Enter => Edit::Done,
        KeyCode::Esc => Edit::Cancel,
        _ => return None,
    })
}
