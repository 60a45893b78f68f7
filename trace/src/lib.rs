//! The gpuleak trace: one definition of every record, shared by the hook that writes it and the
//! tools that read it. The byte format is specified in docs/trace-format.md.
//!
//! - `wire`: varints and strings, the bytes under every record;
//! - `event`: every record's type ([`Event`], [`Header`], [`Segment`], ...);
//! - `encode`, `decode`: writing records ([`Encoder`]) and reading them back ([`Reader`]),
//!   truncated and growing streams included;
//! - `holders`: the Holders record, what keeps device memory alive in a Python program;
//! - `processes`: the Processes record, who else uses the device of an out-of-memory failure;
//! - `live`: what is live after a sequence of events ([`LiveSet`]), the rules the hook's capped
//!   segments and the analysis' replay share (trace format section 5.4.2).

pub mod decode;
pub mod encode;
pub mod event;
pub mod holders;
pub mod live;
pub mod processes;
pub mod wire;

pub use decode::{DecodeError, Reader};
pub use encode::{Encoder, FORMAT_VERSION, MAGIC};
pub use event::*;
pub use holders::{Holder, Holders, HoldersReason, Role, RootKind, WalkEnd};
pub use live::{LiveKey, LiveSet};
pub use processes::{DeviceProcess, DeviceProcesses};

/// Opens a trace file for reading.
pub fn open(path: &std::path::Path) -> Result<Reader<std::fs::File>, DecodeError> {
    Reader::seekable(std::fs::File::open(path).map_err(DecodeError::Io)?)
}

/// A byte count as people write one: `4096`, `512K`, `64M`, `2G` (binary units; `KiB`, `MB`
/// and lower case are accepted too). `None` for anything else or a value past 2^64.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_are_read_as_people_write_them() {
        use super::parse_size;
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size(" 8 M "), Some(8 << 20));
        for bad in ["", "M", "12Q", "-1", "1.5G", "99999999999T"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
