//! A capped trace made as small as its cap at a clean exit.
//!
//! While the program runs, the dropped segments are given back to the file system as holes:
//! the file takes the cap on disk, but its size (what `ls`, a copy or an attachment sees) keeps
//! growing. At exit the kept part is copied into a new file beside it (`<path>.compacting`):
//! the records before the Resume record, a Resume record pointing right after itself, then the
//! kept segments. The new file is then renamed over the old. A crash before the rename leaves
//! the old trace whole (and a partial `.compacting` file); a view still reading the old file
//! reads it to its end, since the rename leaves that file as it is.

use std::ffi::{CString, c_int};
use std::io;

use crate::fd::write_fully;

/// Where the kept records of a capped trace lie in its file.
pub struct Kept {
    /// File offset of the Resume record's 10-byte offset field; the records before it (the
    /// prelude, header and notes) are copied as they are, and its end starts the segments.
    pub resume_at: u64,
    /// File offset of the oldest kept segment, and of the end of what was written.
    pub oldest: u64,
    pub written: u64,
}

/// Writes the compact copy of the trace read from `fd` and renames it to `path`; returns the
/// new file's descriptor, positioned nowhere in particular (the caller maps it).
pub fn compact(fd: c_int, path: &str, kept: &Kept) -> io::Result<c_int> {
    let tmp = format!("{path}.compacting");
    let c_tmp = CString::new(tmp.as_str())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let c_path = CString::new(path)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    if !names(fd, &c_path) {
        // The program changed directory since (a relative path), or the file was moved.
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the trace is no longer at its path",
        ));
    }
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid C string.
    let out = unsafe { libc::open(c_tmp.as_ptr(), flags, 0o600) };
    if out < 0 {
        return Err(io::Error::last_os_error());
    }
    let data_start = kept.resume_at + 10;
    let r = copy(fd, 0, kept.resume_at, out)
        .and_then(|_| write_fully(out, &gpuleak_trace::encode::varint10(data_start)))
        .and_then(|_| copy(fd, kept.oldest, kept.written, out))
        .and_then(
            // SAFETY: valid C strings; the rename replaces the old name in one step.
            |_| match unsafe { libc::rename(c_tmp.as_ptr(), c_path.as_ptr()) } {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            },
        );
    if let Err(e) = r {
        // SAFETY: our own descriptor and file, unused by anyone else.
        unsafe {
            libc::close(out);
            libc::unlink(c_tmp.as_ptr());
        }
        return Err(e);
    }
    Ok(out)
}

/// Whether `path` is the file open as `fd`.
fn names(fd: c_int, path: &CString) -> bool {
    // SAFETY: zeroed `stat`s are valid out-buffers; valid descriptor and C string.
    unsafe {
        let mut a: libc::stat = std::mem::zeroed();
        let mut b: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut a) == 0
            && libc::stat(path.as_ptr(), &mut b) == 0
            && (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    }
}

/// Copies the bytes of `[from, to)` of `src` to the end of `dst`.
fn copy(src: c_int, mut from: u64, to: u64, dst: c_int) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    while from < to {
        let want = ((to - from) as usize).min(buf.len());
        // SAFETY: `buf` holds at least `want` bytes.
        let n = unsafe { libc::pread(src, buf.as_mut_ptr().cast(), want, from as libc::off_t) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        write_fully(dst, &buf[..n as usize])?;
        from += n as u64;
    }
    Ok(())
}
