//! Keys to actions, the only place that knows which key does what, and actions applied.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::App;
use super::ui::{AllocSort, Screen};

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
    /// Scroll the stack pane towards the outermost frame (`StackDown`) or back.
    StackDown,
    StackUp,
    Sort,
    Filter,
    Pause,
    NextProcess,
    PrevProcess,
    /// The next device of the process (all of them, then each in turn).
    NextDevice,
    CursorBack,
    CursorForward,
    /// Show what keeps the memory (asking a running process for it) or back to the stack.
    Holders,
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
    ("J / K", "scroll the stack pane down / up"),
    (
        "H",
        "holders: what keeps the memory (asks a running program)",
    ),
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
    (
        "Esc",
        "close help or holders, leave the cursor, clear the filter",
    ),
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
        KeyCode::Char('J') => Action::StackDown,
        KeyCode::Char('K') => Action::StackUp,
        KeyCode::Char('H') => Action::Holders,
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

impl App {
    /// Applies a terminal event: text while the filter is being typed, else its action.
    pub fn handle(&mut self, event: &Event) {
        if self.ui.editing_filter {
            match filter_edit(event) {
                Some(Edit::Char(c)) => {
                    self.ui.filter.push(c);
                    self.refilter();
                }
                Some(Edit::Backspace) => {
                    self.ui.filter.pop();
                    self.refilter();
                }
                Some(Edit::Done) => self.ui.editing_filter = false,
                Some(Edit::Cancel) => {
                    self.ui.editing_filter = false;
                    self.ui.filter.clear();
                    self.refilter();
                }
                None => {}
            }
            return;
        }
        if let Some(action) = action(event) {
            self.apply(action);
        }
    }

    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Quit => {
                self.ui.detached = self.program_running();
                self.ui.quit = true;
            }
            Action::Interrupt => match self.state.run.as_ref() {
                Some(run) if run.exit().is_none() => {
                    if let Some(f) = &run.interrupt {
                        f();
                    }
                }
                _ => self.ui.quit = true,
            },
            Action::ToggleHelp => self.ui.help = !self.ui.help,
            Action::CloseHelp => {
                if self.ui.help {
                    self.ui.help = false;
                } else if self.ui.holders && self.ui.screen == Screen::Sites {
                    // Only where it is drawn: elsewhere Esc keeps its other meanings.
                    self.ui.holders = false;
                } else if self.ui.cursor.is_some() {
                    self.ui.cursor = None;
                    self.ui.moment = None;
                } else if !self.ui.filter.is_empty() {
                    self.ui.filter.clear();
                    self.refilter();
                }
            }
            Action::NextScreen | Action::PrevScreen => {
                let i = Screen::ALL
                    .iter()
                    .position(|s| *s == self.ui.screen)
                    .unwrap_or(0);
                let n = Screen::ALL.len();
                let j = if action == Action::NextScreen {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.ui.screen = Screen::ALL[j];
            }
            Action::Screen(n) => {
                if let Some(s) = Screen::ALL.get(n) {
                    self.ui.screen = *s;
                }
            }
            Action::Down => self.move_by(1),
            Action::Up => self.move_by(-1),
            Action::PageDown => self.move_by(20),
            Action::PageUp => self.move_by(-20),
            Action::StackDown => {
                self.ui.stack_scroll =
                    (self.ui.stack_scroll + 1).min(self.stack_len().saturating_sub(1));
            }
            Action::StackUp => self.ui.stack_scroll = self.ui.stack_scroll.saturating_sub(1),
            Action::Sort => match self.ui.screen {
                Screen::Allocations => {
                    self.ui.alloc_sort = match self.ui.alloc_sort {
                        AllocSort::Size => AllocSort::Age,
                        AllocSort::Age => AllocSort::Size,
                    };
                    self.refilter();
                    // A new order is shown from its top, scrolled only as far as the
                    // selection needs.
                    self.ui.offsets[1].set(0);
                    self.ui.stack_scroll = 0;
                }
                _ => {
                    self.ui.sort = self.ui.sort.next();
                    self.resort();
                    self.ui.offsets[0].set(0);
                    self.ui.stack_scroll = 0;
                }
            },
            Action::Filter => {
                // A new filter, not more of the last one (Esc while typing clears it too).
                self.ui.filter.clear();
                self.refilter();
                self.ui.editing_filter = true;
            }
            Action::Pause => {
                self.ui.paused = !self.ui.paused;
                if !self.ui.paused {
                    self.analyse();
                }
            }
            Action::NextProcess | Action::PrevProcess => {
                let n = self.state.procs.len();
                if n > 1 {
                    self.state.current = if action == Action::NextProcess {
                        (self.state.current + 1) % n
                    } else {
                        (self.state.current + n - 1) % n
                    };
                    self.ui.cursor = None;
                    self.ui.moment = None;
                    self.analyse();
                }
            }
            Action::NextDevice => {
                let ordinals: Vec<i32> = self.data.devices.iter().map(|d| d.ordinal).collect();
                if ordinals.len() > 1 {
                    self.ui.device_filter = match self.ui.device_filter {
                        None => ordinals.first().copied(),
                        Some(d) => ordinals
                            .iter()
                            .position(|&o| o == d)
                            .and_then(|i| ordinals.get(i + 1).copied()),
                    };
                    // Figures, findings and lists are made again for the device chosen.
                    self.state.analysed = None;
                    self.analyse();
                }
            }
            Action::Holders => self.toggle_holders(),
            Action::CursorBack => self.move_cursor(-1),
            Action::CursorForward => self.move_cursor(1),
        }
    }
}
