//! The trace file written through a shared mapping of it.
//!
//! Pages of a `MAP_SHARED` file mapping belong to the kernel's page cache, not to the process:
//! a record copied in is in the file the moment the copy ends, whatever happens to the process
//! next (SIGKILL, a crash, `_exit`). So an event is in the trace as soon as its call returned,
//! with no writer thread and no flush interval in between.
//!
//! The file is reserved ahead of the writes with `fallocate`, one window at a time, and mapped
//! a window at a time (so the process's resident memory stays at a window however long the
//! trace). Reserving is what makes the mapping safe: a store into a page the file system has no
//! block for (a sparse file on a full disk) raises SIGBUS in the program, so where `fallocate`
//! is not supported the trace is written with `write` instead (see `record`).
//!
//! Unwritten space reads as zeros, and no record starts with a zero byte: a reader stops at the
//! first zero tag. Each append copies its bytes after the first and then stores the first, so a
//! reader never sees a record start before the rest of it, and a process killed in the middle
//! of a copy leaves zeros where that record would start. At a clean exit the file is cut to
//! what was written.

use std::ffi::c_int;
use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

/// The mapped (and reserved) stretch of the file: 4 MiB, a multiple of any page size; less
/// under a size cap, since the reserved space counts against it.
pub const WINDOW: u64 = 4 << 20;
/// The smallest window, and what windows are multiples of (any page size divides it).
pub const MIN_WINDOW: u64 = 64 << 10;

pub struct Mapped {
    fd: c_int,
    window: u64,
    /// File offset of the window's first byte (a multiple of WINDOW) and its address.
    win_start: u64,
    win: *mut u8,
    /// The file's size: reserved, written or not.
    file_len: u64,
    /// File offset of the next byte to write.
    written: u64,
}

// SAFETY: the mapping is only touched by whoever holds the recorder's lock.
unsafe impl Send for Mapped {}

fn os_err() -> io::Error {
    io::Error::last_os_error()
}

impl Mapped {
    /// Maps the start of a new, empty regular file. `Ok(None)` when this file cannot be written
    /// safely this way (not a regular file, no `fallocate` on its file system, no shared
    /// writable mapping): the caller writes it with `write`.
    pub fn new(fd: c_int, window: u64) -> io::Result<Option<Mapped>> {
        let window = (window / MIN_WINDOW * MIN_WINDOW).clamp(MIN_WINDOW, WINDOW);
        // SAFETY: `stat` is plain data, valid all zeros.
        let mut sb: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd and out-pointer.
        if unsafe { libc::fstat(fd, &mut sb) } != 0 || sb.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Ok(None);
        }
        let mut m = Mapped {
            fd,
            window,
            win_start: 0,
            win: std::ptr::null_mut(),
            file_len: sb.st_size as u64,
            written: sb.st_size as u64,
        };
        if let Err(e) = m.reserve(window) {
            return match e.raw_os_error() {
                Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => Err(e),
                _ => Ok(None),
            };
        }
        if m.map(0).is_err() {
            // SAFETY: valid fd; gives the reserved space back.
            unsafe { libc::ftruncate(fd, m.written as libc::off_t) };
            return Ok(None);
        }
        Ok(Some(m))
    }

    /// Appends `data` to the file. On an error (the disk is full) nothing more can be written,
    /// and what was written before stays readable.
    #[inline]
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let Some((&first, rest)) = data.split_first() else {
            return Ok(());
        };
        let at = self.written;
        let end = at + data.len() as u64;
        let win_end = self.win_start + self.window;
        if end > win_end || self.win.is_null() {
            return self.append_across(data);
        }
        if self.file_len < win_end {
            // Cut at exit and written again (a free from a later exit handler).
            self.reserve(win_end)?;
        }
        let off = (at - self.win_start) as usize;
        // SAFETY: [off, off + len) lies inside the mapped window (end <= win_end), whose file
        // blocks are reserved.
        unsafe {
            std::ptr::copy_nonoverlapping(rest.as_ptr(), self.win.add(off + 1), rest.len());
            AtomicU8::from_ptr(self.win.add(off)).store(first, Ordering::Release);
        }
        self.written = end;
        Ok(())
    }

    /// An append that does not fit in the window: written with `pwrite` (the same page cache
    /// as the mapping), the first byte last, then the window moves to where the file now ends.
    #[cold]
    fn append_across(&mut self, data: &[u8]) -> io::Result<()> {
        let at = self.written;
        let end = at + data.len() as u64;
        let next_win = end / self.window * self.window;
        self.reserve(next_win + self.window)?;
        pwrite_all(self.fd, &data[1..], at + 1)?;
        pwrite_all(self.fd, &data[..1], at)?;
        self.written = end;
        if next_win != self.win_start || self.win.is_null() {
            self.unmap();
            self.map(next_win)?;
        }
        Ok(())
    }

    /// Cuts the file to what was written (a clean end: no zeros left after the last record).
    /// Later appends reserve the space again.
    pub fn end(&mut self) {
        // SAFETY: valid fd.
        if unsafe { libc::ftruncate(self.fd, self.written as libc::off_t) } == 0 {
            self.file_len = self.written;
        }
    }

    /// Unmaps the file, which is written no more through this value (it was replaced).
    pub fn release(&mut self) {
        self.unmap();
    }

    /// File offset of the next byte to write.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The space reserved ahead of the writes, at most.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Overwrites bytes already written (a capped trace's pointer to its oldest segment).
    pub fn write_at(&self, at: u64, data: &[u8]) -> io::Result<()> {
        pwrite_all(self.fd, data, at)
    }

    /// Gives the file system back the blocks of [`from`, `to`) (whole pages within it), which
    /// read as zeros from then on; the file keeps its size.
    pub fn punch(&self, from: u64, to: u64) -> io::Result<()> {
        const PAGE: u64 = 4096;
        let (from, to) = (from.div_ceil(PAGE) * PAGE, to / PAGE * PAGE);
        if from >= to {
            return Ok(());
        }
        // SAFETY: valid fd; the range lies in what was written.
        let r = unsafe {
            libc::fallocate(
                self.fd,
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                from as libc::off_t,
                (to - from) as libc::off_t,
            )
        };
        if r == 0 { Ok(()) } else { Err(os_err()) }
    }

    /// Extends the file's reserved space to `upto` bytes.
    fn reserve(&mut self, upto: u64) -> io::Result<()> {
        while self.file_len < upto {
            let len = upto - self.file_len;
            // SAFETY: valid fd; mode 0 allocates blocks and extends the size.
            let r = unsafe {
                libc::fallocate(self.fd, 0, self.file_len as libc::off_t, len as libc::off_t)
            };
            if r == 0 {
                self.file_len = upto;
            } else {
                let e = os_err();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn map(&mut self, start: u64) -> io::Result<()> {
        // SAFETY: a fresh shared mapping of the file's reserved window.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                self.window as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd,
                start as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            self.win = std::ptr::null_mut();
            return Err(os_err());
        }
        // A forked child records into a file of its own: it must not inherit the parent's
        // window (nor could it know whether the parent was moving it when it forked).
        // SAFETY: the mapping just made.
        unsafe { libc::madvise(p, self.window as usize, libc::MADV_DONTFORK) };
        self.win = p.cast();
        self.win_start = start;
        Ok(())
    }

    fn unmap(&mut self) {
        if !self.win.is_null() {
            // SAFETY: the window mapped by `map`, unused from here on.
            unsafe { libc::munmap(self.win.cast(), self.window as usize) };
            self.win = std::ptr::null_mut();
        }
    }
}

fn pwrite_all(fd: c_int, mut data: &[u8], mut at: u64) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: valid buffer.
        let n = unsafe { libc::pwrite(fd, data.as_ptr().cast(), data.len(), at as libc::off_t) };
        if n < 0 {
            let e = os_err();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        data = &data[n as usize..];
        at += n as u64;
    }
    Ok(())
}
