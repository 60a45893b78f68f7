//! Raw bytes for the reader's tests: framed records, a valid start, and the error a stream ends with.

use gpuleak_trace::wire::put_varint;
use gpuleak_trace::*;

use super::{header, read_all};

pub fn reader(bytes: &[u8]) -> Reader<&[u8]> {
    Reader::new(bytes).expect("valid prelude")
}

/// Offset and message of a Malformed error; panics on anything else.
pub fn malformed(e: DecodeError) -> (u64, String) {
    match e {
        DecodeError::Malformed { offset, message } => (offset, message),
        DecodeError::Io(e) => panic!("expected Malformed, got Io({e})"),
    }
}

/// The error the stream ends with, after the records before it decoded fine.
pub fn first_error(bytes: &[u8]) -> (u64, String) {
    let mut r = match Reader::new(bytes) {
        Ok(r) => r,
        Err(e) => return malformed(e),
    };
    let (_, err) = read_all(&mut r);
    malformed(err.expect("stream should be malformed"))
}

/// One framed record with a one-byte length.
pub fn raw(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![tag];
    put_varint(&mut b, payload.len() as u64);
    b.extend_from_slice(payload);
    b
}

/// A valid prelude and header, nothing else.
pub fn start() -> Vec<u8> {
    let mut b = Vec::new();
    Encoder::start(&header(), &mut b);
    b
}
