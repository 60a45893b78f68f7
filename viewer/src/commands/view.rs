//! `gpuleak view FILE`: the terminal UI over a trace, followed while it is being written.

use crate::cli::ViewArgs;
use crate::error::{Fail, decode_fail};
use crate::tui;

pub fn view(args: &ViewArgs) -> Result<i32, Fail> {
    let mut app = app(args)?;
    tui::term::install_stop_signals();
    tui::term::run(&mut app).map_err(|e| Fail::new(1, format!("terminal: {e}")))?;
    Ok(0)
}

/// The view of `args`, before it takes the terminal; what cannot be shown is refused here.
pub fn app(args: &ViewArgs) -> Result<tui::App, Fail> {
    let options = crate::input::options(args.iteration_range.as_deref())?;
    // A file just created by the hook may not hold its prelude yet: that one is waited for.
    // Anything else that is not a trace is refused before the screen is taken over.
    let just_created = std::fs::metadata(&args.file)
        .is_ok_and(|m| m.is_file() && m.len() < gpuleak_trace::encode::PRELUDE_LEN as u64);
    if !just_created {
        gpuleak_trace::open(&args.file).map_err(|e| decode_fail(&args.file, e))?;
    }
    // Followed, not loaded: a trace still being written keeps coming in.
    let mut app = tui::App::follow(std::slice::from_ref(&args.file), options);
    app.tick(std::time::Instant::now());
    Ok(app)
}
