//! `gpuleak view FILE`: the terminal UI over a run's traces (the file and its workers'
//! `FILE.<pid>`), followed while they are being written.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, SystemTime};

use gpuleak_trace::DecodeError;
use gpuleak_trace::encode::{MAGIC, PRELUDE_LEN};

use crate::cli::ViewArgs;
use crate::error::{EXIT_USAGE, Fail, decode_fail};
use crate::input::traces_of;
use crate::tui;

/// How long a file without its prelude yet may be one the hook has just created: older, it is
/// not a trace that will come.
const NEW_FOR: Duration = Duration::from_secs(30);

pub fn view(args: &ViewArgs) -> Result<i32, Fail> {
    let mut app = app(args)?;
    if !has_terminal() {
        return Err(Fail::new(
            EXIT_USAGE,
            format!(
                "view needs a terminal (without one: gpuleak report {})",
                args.file.display()
            ),
        ));
    }
    tui::term::install_stop_signals();
    tui::term::run(&mut app).map_err(|e| Fail::new(1, format!("terminal: {e}")))?;
    Ok(0)
}

/// Whether there is a terminal to draw on (standard output) and to read keys from (standard
/// input, or the controlling terminal as crossterm opens it).
fn has_terminal() -> bool {
    std::io::stdout().is_terminal()
        && (std::io::stdin().is_terminal()
            || std::fs::OpenOptions::new()
                .read(true)
                .open("/dev/tty")
                .is_ok())
}

/// The view of `args`, before it takes the terminal; what cannot be shown is refused here.
pub fn app(args: &ViewArgs) -> Result<tui::App, Fail> {
    let options = crate::input::options(args.iteration_range.as_deref())?;
    // The run's processes, as `gpuleak report` finds them: the file and its workers' beside it.
    let file = args.file.clone();
    let paths = traces_of(std::slice::from_ref(&file))?;
    // A file just created by the hook may not hold its prelude yet: that one is waited for.
    // Anything else that is not a trace is refused before the screen is taken over.
    for path in &paths {
        if !just_created(path)? {
            gpuleak_trace::open(path).map_err(|e| decode_fail(path, e))?;
        }
    }
    // Followed, not loaded: a trace still being written keeps coming in, and so do workers
    // that start later.
    let mut app = tui::App::follow(&paths, options).with_discovery(Box::new(move || {
        traces_of(std::slice::from_ref(&file)).unwrap_or_default()
    }));
    app.tick(std::time::Instant::now());
    Ok(app)
}

/// Whether `path` is a trace the hook has just created and not yet written its prelude to: a
/// new file, shorter than the prelude, that starts as a trace starts. One that starts otherwise
/// never becomes a trace and is refused.
fn just_created(path: &Path) -> Result<bool, Fail> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(false);
    };
    if !meta.is_file() || meta.len() >= PRELUDE_LEN as u64 {
        return Ok(false);
    }
    let head = std::fs::read(path).unwrap_or_default();
    if !MAGIC.starts_with(&head[..head.len().min(MAGIC.len())]) {
        return Err(decode_fail(
            path,
            DecodeError::Malformed {
                offset: 0,
                message: "not a gpuleak trace (bad magic)".into(),
            },
        ));
    }
    let age = meta
        .modified()
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default();
    Ok(age < NEW_FOR)
}
