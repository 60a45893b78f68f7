//! Messages from the paths a fatal signal runs (`on_fatal_signal`, `_exit`): `write(2)` of
//! fixed pieces, numbers formatted on the stack. `eprintln!` takes std's stderr lock (which the
//! interrupted thread may hold) and formats an OS error into a fresh `String` (the interrupted
//! thread may be inside `malloc`, holding its arena lock): either would hang the crash.

use std::ffi::c_int;

/// Writes `parts` to standard error, one after the other; errors are ignored (there is no one
/// left to tell).
pub fn say(parts: &[&[u8]]) {
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            // SAFETY: `rest` is a valid buffer of its length; write(2) is async-signal-safe.
            let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
            if n > 0 {
                rest = &rest[n as usize..];
            } else if n < 0 && errno() == libc::EINTR {
                continue;
            } else {
                return;
            }
        }
    }
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `n` in decimal, written into `buf`.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn numbers_are_written_in_decimal() {
        let mut b = [0; 20];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(28, &mut b), b"28");
        assert_eq!(decimal(u64::MAX, &mut b), b"18446744073709551615");
    }
}
