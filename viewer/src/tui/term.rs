//! The real terminal: raw mode and the alternate screen, restored on quit and on panic; input
//! read as it comes, the screen redrawn on a tick.

use std::io::{self, Stdout};
use std::time::{Duration, Instant};

use crossterm::event;
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::input;
use super::state::App;
use super::view;

/// How often the screen is redrawn; keys pressed in between are applied together.
pub const TICK: Duration = Duration::from_millis(100);

/// Leaves raw mode and the alternate screen, and shows the cursor. Safe to call twice.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

/// Restores the terminal when dropped: on quit, on error and while unwinding.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Shows `app` until the user quits.
pub fn run(mut app: App) -> io::Result<()> {
    // A panic restores the terminal before its message is printed, so the message is readable.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));

    enable_raw_mode()?;
    let _guard = Guard;
    execute!(io::stdout(), EnterAlternateScreen, crossterm::cursor::Hide)?;
    let mut terminal: Terminal<CrosstermBackend<Stdout>> =
        Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;

    let mut next = Instant::now();
    loop {
        if Instant::now() >= next {
            terminal.draw(|f| view::draw(f, &app))?;
            next = Instant::now() + TICK;
        }
        let wait = next.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            let ev = event::read()?;
            if let Some(action) = input::action(&ev) {
                app.apply(action);
            }
        }
        if app.quit {
            return Ok(());
        }
    }
}
