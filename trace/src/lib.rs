//! The gpuleak trace: one definition of every record, shared by the hook that writes it and the
//! tools that read it. The byte format is specified in docs/trace-format.md.

pub mod decode;
pub mod encode;
pub mod event;
pub mod wire;

pub use decode::{DecodeError, Reader};
pub use encode::{Encoder, FORMAT_VERSION, MAGIC};
pub use event::*;

/// Opens a trace file for reading.
pub fn open(path: &std::path::Path) -> Result<Reader<std::fs::File>, DecodeError> {
    Reader::new(std::fs::File::open(path).map_err(DecodeError::Io)?)
}
