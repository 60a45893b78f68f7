//! Writing all of a buffer to a descriptor, for the recorder's output and the compaction of a
//! capped trace alike.

use std::ffi::c_int;
use std::io;

/// Writes all of `data` to `fd`, again after a signal interrupted the call.
pub fn write_fully(fd: c_int, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is a valid buffer of its length.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}
