//! The real terminal: raw mode and the alternate screen, restored on quit, on error, on panic
//! and on SIGINT/SIGTERM; the traces read and the screen redrawn on a tick, keys as they come.
//! The view ends when its terminal goes away (a hangup, or the end of its input).

use std::fs::File;
use std::io::{self, Stdout};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event;
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::app::App;
use super::view;

/// How often the traces are read and the screen redrawn; keys are applied as they come.
pub const TICK: Duration = Duration::from_millis(150);

/// The tick while a trace has more to read than a tick's reading time allowed.
pub const CATCH_UP_TICK: Duration = Duration::from_millis(5);

/// Set from a signal handler (SIGINT or SIGTERM sent to gpuleak): the loop ends at its next
/// turn and the terminal is restored on the way out, as on quit.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// How long gpuleak view may take to restore the terminal after a stop signal before it ends
/// without doing so: whatever holds the loop up (a write to a terminal that takes no more
/// output), the signal still ends gpuleak.
const STOP_GRACE_S: libc::c_uint = 3;

extern "C" fn on_stop(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    // SAFETY: alarm(2) is async-signal-safe. SIGALRM keeps its default action (gpuleak never
    // sets one), which ends the process if the loop has not ended it first.
    unsafe { libc::alarm(STOP_GRACE_S) };
}

/// For `gpuleak view`: SIGINT, SIGTERM and SIGHUP end the UI cleanly instead of killing gpuleak
/// with the terminal still in raw mode. (`gpuleak run` has its own handler, which forwards them
/// to the program and sets [`STOP`] too.)
pub fn install_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a valid handler, flags and empty mask; the handler
        // only stores to an atomic and calls alarm(2), both async-signal-safe.
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

/// The terminal's input, watched beside crossterm's reader. crossterm reads a terminal at its
/// end (a hangup, an SSH session gone) in a loop that never returns, so it is only asked for
/// an event once this says there is input, and the waiting is done here, where a signal ends
/// the wait (poll(2) is never restarted after a handler).
struct Input {
    fd: RawFd,
    /// `/dev/tty` opened when stdin is not the terminal (as crossterm does); kept open while
    /// it is watched.
    _tty: Option<File>,
}

/// What waiting on the terminal's input found.
#[derive(Debug, PartialEq, Eq)]
enum Ready {
    /// The time ran out or a signal came: nothing to read.
    Nothing,
    /// Bytes to read: crossterm may read them without waiting.
    Input,
    /// The terminal went away or its input ended: nothing will come any more.
    Gone,
}

impl Input {
    /// The same terminal crossterm reads: stdin if it is one, else `/dev/tty`.
    fn open() -> io::Result<Input> {
        // SAFETY: isatty(3) on a descriptor number; an unopened one is only an error.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 {
            return Ok(Input {
                fd: libc::STDIN_FILENO,
                _tty: None,
            });
        }
        let tty = std::fs::OpenOptions::new().read(true).open("/dev/tty")?;
        Ok(Input {
            fd: tty.as_raw_fd(),
            _tty: Some(tty),
        })
    }

    /// Waits up to `wait` for input, a hangup or a signal.
    fn wait(&self, wait: Duration) -> Ready {
        // Rounded up: a wait of less than a millisecond must not turn into a busy loop.
        let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        let mut p = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, its count 1.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 {
            return match io::Error::last_os_error().kind() {
                io::ErrorKind::Interrupted => Ready::Nothing,
                _ => Ready::Gone,
            };
        }
        if n == 0 {
            return Ready::Nothing;
        }
        if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Ready::Gone;
        }
        // Readable with nothing to read: the end of the input (raw mode answers a read as soon
        // as one byte is there, so a live terminal is readable only with bytes waiting).
        let mut waiting: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through a valid pointer.
        let r = unsafe { libc::ioctl(self.fd, libc::FIONREAD, &mut waiting) };
        if r < 0 || waiting <= 0 {
            Ready::Gone
        } else {
            Ready::Input
        }
    }
}

/// Shows `app` until the user quits, a signal asks gpuleak to stop, or the terminal goes away.
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
    let input = Input::open()?;

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
        if input.wait(wait) == Ready::Gone {
            return Ok(());
        }
        // What crossterm holds already (several keys read at once, a resize), then what came:
        // each time only after the terminal is seen to be still there.
        while !app.ui.quit
            && input.wait(Duration::ZERO) != Ready::Gone
            && event::poll(Duration::ZERO)?
        {
            let ev = event::read()?;
            app.handle(&ev);
            // Keys answer at once; only new data waits for the tick.
            terminal.draw(|f| view::draw(f, app))?;
        }
        if app.ui.quit || STOP.load(Ordering::SeqCst) {
            return Ok(());
        }
    }
}
