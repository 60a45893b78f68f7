//! A failure told to the user in one line, the exit code that goes with it, and the wording of
//! the OS's and the trace reader's errors in such lines.

use std::io;
use std::path::Path;

use gpuleak_trace::DecodeError;

/// A failure to tell the user in one line, and the exit code that goes with it.
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub message: String,
}

impl Fail {
    pub fn new(code: i32, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }
}

/// Bad input (a trace, a path, a missing hook): distinct from the program's own exit codes only
/// by convention, as with other wrappers.
pub const EXIT_USAGE: i32 = 2;

/// The OS's reason without the "(os error N)" tail, which says nothing more to a user.
pub fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A trace that cannot be read: one line naming the file and, for a malformed one, the byte.
pub fn decode_fail(path: &Path, e: DecodeError) -> Fail {
    let what = match e {
        DecodeError::Malformed { offset, message } => format!("{message} (at byte {offset})"),
        DecodeError::Io(e) => match e.kind() {
            io::ErrorKind::NotFound => "no such file".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            io::ErrorKind::IsADirectory => "is a directory, not a trace file".to_string(),
            _ => io_reason(&e),
        },
    };
    Fail::new(EXIT_USAGE, format!("{}: {what}", path.display()))
}
