//! A Python program whose holders cannot be found says so once, in the trace.

use std::sync::{Once, OnceLock};

use gpuleak_trace::{Holders, HoldersReason, WalkEnd};

use crate::sync::Mutex;

static UNAVAILABLE: Mutex<Option<String>> = Mutex::new(None);

/// Whether the exit walk ran, asked at exit once the setup has been asked for.
static WALKED: OnceLock<fn() -> bool> = OnceLock::new();

/// A Python program whose holders cannot be found: said once, in a record made at exit (after
/// the interpreter's own exit handlers, before the trace's trailer).
pub fn unavailable(why: &str) {
    UNAVAILABLE.lock().get_or_insert_with(|| why.to_string());
    at_exit();
}

/// The setup was asked for: a program whose exit walk did not run (its first allocation came
/// as the interpreter was exiting, too late to register it) says so at exit.
pub fn unless_walked(walked: fn() -> bool) {
    let _ = WALKED.set(walked);
    at_exit();
}

fn at_exit() {
    static AT_EXIT: Once = Once::new();
    // SAFETY: registers a function of no arguments that only records.
    AT_EXIT.call_once(|| unsafe {
        libc::atexit(say_unavailable);
    });
}

extern "C" fn say_unavailable() {
    crate::record::guarded(|| {
        let not_walked = || {
            WALKED.get().filter(|walked| !walked()).map(|_| {
                "the walk at exit did not run: the program first allocated as it was exiting, \
                 too late to register it among its exit handlers"
                    .to_string()
            })
        };
        let Some(note) = UNAVAILABLE.lock().take().or_else(not_walked) else {
            return;
        };
        crate::record::holders(Holders {
            time_ns: 0,
            tid: 0,
            reason: HoldersReason::Exit,
            end: WalkEnd::Unavailable,
            note,
            elapsed_us: 0,
            visited: 0,
            holders: Vec::new(),
        });
    });
}
