//! A Python program whose holders cannot be found says so once, in the trace.

use std::sync::Once;

use gpuleak_trace::{Holders, HoldersReason, WalkEnd};

use crate::sync::Mutex;

static UNAVAILABLE: Mutex<Option<String>> = Mutex::new(None);

/// A Python program whose holders cannot be found: said once, in a record made at exit (after
/// the interpreter's own exit handlers, before the trace's trailer).
pub fn unavailable(why: &str) {
    UNAVAILABLE.lock().get_or_insert_with(|| why.to_string());
    static AT_EXIT: Once = Once::new();
    // SAFETY: registers a function of no arguments that only records.
    AT_EXIT.call_once(|| unsafe {
        libc::atexit(say_unavailable);
    });
}

extern "C" fn say_unavailable() {
    crate::record::guarded(|| {
        let Some(note) = UNAVAILABLE.lock().take() else {
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
