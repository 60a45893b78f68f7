//! The real terminal: raw mode and the alternate screen, restored on quit, on error, on panic
//! and on SIGINT/SIGTERM; the traces read and the screen redrawn on a tick, keys as they come.

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event;
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::state::App;
use super::view;

/// How often the traces are read and the screen redrawn; keys are applied as they come.
pub const TICK: Duration = Duration::from_millis(150);

/// The tick while a trace has more to read than a tick's reading time allowed.
pub const CATCH_UP_TICK: Duration = Duration::from_millis(5);

/// Set from a signal handler (SIGINT or SIGTERM sent to gpuleak): the loop ends at its next
/// turn and the terminal is restored on the way out, as on quit.
pub static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// For `gpuleak view`: SIGINT and SIGTERM end the UI cleanly instead of killing gpuleak with the
/// terminal still in raw mode. (`gpuleak run` has its own handler, which forwards them to the
/// program and sets [`STOP`] too.)
pub fn install_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a valid handler, flags and empty mask; the handler
        // only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_stop as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The terminal is in raw mode on the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen, and shows the cursor. Only the first call after
/// entering does anything: leaving the alternate screen twice (panic hook, then the guard while
/// unwinding) moves the cursor back over what was printed in between, the panic message.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
    }
}

/// Restores the terminal when dropped: on quit, on error and while unwinding.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Shows `app` until the user quits or a signal asks gpuleak to stop.
pub fn run(app: &mut App) -> io::Result<()> {
    // A panic restores the terminal before its message is printed, so the message is readable.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));

    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let _guard = Guard;
    execute!(io::stdout(), EnterAlternateScreen, crossterm::cursor::Hide)?;
    let mut terminal: Terminal<CrosstermBackend<Stdout>> =
        Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;

    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next {
            app.tick(now);
            terminal.draw(|f| view::draw(f, app))?;
            // Reading a large trace in goes on at once, keys still answered in between.
            next = now + if app.behind() { CATCH_UP_TICK } else { TICK };
        }
        let wait = next.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            let ev = event::read()?;
            app.handle(&ev);
            // Keys answer at once; only new data waits for the tick.
            terminal.draw(|f| view::draw(f, app))?;
        }
        if app.quit || STOP.load(Ordering::SeqCst) {
            return Ok(());
        }
    }
}
