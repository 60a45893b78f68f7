//! `gpuleak view` told to stop while its terminal takes no more output (flow control, a
//! stalled SSH session): SIGTERM still ends it. The test holds the terminal itself: a
//! pseudo-terminal whose other end it reads, then stops.

mod common;

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{MIB, ends_within, scratch, stepped_trace};

/// A pseudo-terminal of `cols` x `rows`: (the test's end, the program's end).
fn pty(cols: u16, rows: u16) -> (File, File) {
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on the descriptor just opened, with a
    // buffer of the length given; the descriptor is owned by the File made from it.
    let (master, path) = unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let path = CStr::from_ptr(name.as_ptr()).to_str().unwrap().to_owned();
        (File::from_raw_fd(m), path)
    };
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
        .unwrap();
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize through a valid pointer.
    assert_eq!(
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &size) },
        0
    );
    (master, slave)
}

/// Reads what the program writes to its terminal until it contains `needle` (or `limit`),
/// answering its questions for the cursor's position as a terminal would.
fn read_until(master: &mut File, needle: &str, limit: Duration) -> String {
    let fd = master.as_raw_fd();
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 65536];
    while start.elapsed() < limit {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 100) } > 0 {
            match master.read(&mut buf) {
                Ok(n) if n > 0 => {
                    if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                        master.write_all(b"\x1b[1;1R").unwrap();
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                _ => break,
            }
            if String::from_utf8_lossy(&seen).contains(needle) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Kills the view if the test fails before it ends.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) of the process this test started.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

#[test]
fn sigterm_ends_a_view_whose_terminal_takes_no_more_output() {
    let dir = scratch("view-stalled");
    let bytes = stepped_trace(40, 3 * MIB);
    let path = dir.join("growing.trace");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let (mut master, slave) = pty(120, 40);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpuleak"));
    cmd.arg("view")
        .arg(&path)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(Stdio::null());
    // SAFETY: setsid(2) and ioctl(2) only, between fork and exec: the view gets the
    // pseudo-terminal as its controlling terminal, as a login shell's program would.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let _kill = KillOnDrop(pid);
    let shown = read_until(&mut master, "recording", Duration::from_secs(20));
    assert!(
        shown.contains("recording"),
        "the view never came up: {shown}"
    );

    // The terminal stops taking output (XON/XOFF flow control, which the view's raw mode had
    // turned off, turned on again and XOFF sent), and the trace grows: the view's next frame
    // waits on a write that does not end.
    // SAFETY: tcgetattr/tcsetattr on the pseudo-terminal this test opened, through a valid
    // termios.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(slave.as_raw_fd(), &mut t), 0);
        t.c_iflag |= libc::IXON;
        assert_eq!(libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t), 0);
    }
    master.write_all(&[0x13]).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&bytes[bytes.len() / 3..]).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the view ended on its own"
    );

    // SAFETY: kill(2) of the process this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(
        ends_within(pid, Duration::from_secs(8)),
        "gpuleak view (pid {pid}) still runs 8 s after SIGTERM, its terminal stalled"
    );
    let _ = child.wait();
}
