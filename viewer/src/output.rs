//! Where results go: one policy for standard output and for files.

use std::io::{self, Write};
use std::path::Path;

use crate::error::{EXIT_USAGE, Fail, io_reason};

/// Writes to standard output. A reader that stops early (`| head`) is not an error worth a
/// message.
pub fn emit(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Why a file that is there is not written over.
const ALREADY_EXISTS: &str = "already exists; gpuleak replaces a file only when -o names it";

/// Refuses, before any work, a path not named with -o that is there already; [`write_output`]
/// refuses it again if it appears in the meantime.
pub fn refuse_existing(path: &Path, explicit: bool) -> Result<(), Fail> {
    if !explicit && path.exists() {
        return Err(Fail::new(
            EXIT_USAGE,
            format!("{}: {ALREADY_EXISTS}", path.display()),
        ));
    }
    Ok(())
}

/// Writes `bytes` to `path` (`-`: standard output, as [`emit`]; a device or a FIFO such as
/// `/dev/null` or `/dev/stdout` as it is). A path not named with -o is never replaced, even if
/// it appeared since it was checked; one named with -o is. Any failure is one line naming the
/// path.
pub fn write_output(path: &Path, bytes: &[u8], explicit: bool) -> Result<(), Fail> {
    let fail = |e: io::Error| {
        let why = match e.kind() {
            io::ErrorKind::AlreadyExists => ALREADY_EXISTS.to_string(),
            io::ErrorKind::NotFound => "no such directory".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            io::ErrorKind::IsADirectory => "is a directory".to_string(),
            _ => io_reason(&e),
        };
        Fail::new(
            EXIT_USAGE,
            format!("{}: cannot write: {why}", path.display()),
        )
    };
    if path.as_os_str() == "-" {
        return emit(bytes).map_err(fail);
    }
    if path.is_dir() {
        return Err(fail(io::ErrorKind::IsADirectory.into()));
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if explicit {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut file = open.open(path).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    // Only a regular file is synced: a device, a FIFO or a terminal (`/dev/null`,
    // `/dev/stdout`) has nothing to sync and says so with EINVAL.
    if file.metadata().is_ok_and(|m| m.is_file()) {
        file.sync_all().map_err(fail)?;
    }
    Ok(())
}
