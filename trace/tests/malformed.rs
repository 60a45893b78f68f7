//! Malformed bytes are errors at the right offsets (never a panic), and what the reader accepts
//! on purpose: reserved bytes, trailing payload, space not written yet.

mod common;

use common::raw::*;
use common::*;
use gpuleak_trace::encode::{MAX_RECORD_LEN, PRELUDE_LEN, tag};
use gpuleak_trace::wire::{put_varint, put_zigzag};
use gpuleak_trace::*;

#[test]
fn bad_magic_is_an_error_at_offset_0() {
    let mut bytes = start();
    bytes[3] = b'X';
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, 0);
    assert!(msg.contains("magic"), "{msg}");
}

#[test]
fn an_unknown_version_is_an_error_at_offset_8() {
    for v in [0u16, 4, 0x0100, u16::MAX] {
        let mut bytes = start();
        bytes[8..10].copy_from_slice(&v.to_le_bytes());
        let (offset, msg) = first_error(&bytes);
        assert_eq!(offset, 8);
        assert!(msg.contains(&format!("version {v}")), "{msg}");
    }
}

#[test]
fn a_version_1_trace_is_still_read() {
    let mut bytes = start();
    bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    assert_eq!(got, [Record::Header(header())]);
}

#[test]
fn a_version_2_trace_is_still_read() {
    let mut bytes = start();
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    assert_eq!(got, [Record::Header(header())]);
}

#[test]
fn the_reserved_prelude_bytes_are_ignored() {
    let mut bytes = start();
    bytes[10..12].copy_from_slice(&[0xab, 0xcd]);
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    assert_eq!(got, [Record::Header(header())]);
}

#[test]
fn the_first_record_must_be_the_header_and_the_only_one() {
    let mut bytes = start()[..PRELUDE_LEN].to_vec();
    bytes.extend(raw(tag::NOTE, &[0]));
    assert_eq!(first_error(&bytes).0, PRELUDE_LEN as u64);

    let mut bytes = start();
    let second = bytes.len();
    bytes.extend_from_slice(&start()[PRELUDE_LEN..]);
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, second as u64);
    assert!(msg.contains("second header"), "{msg}");
}

#[test]
fn an_unknown_tag_is_an_error_at_its_record() {
    let (valid, _) = encode(&header(), &records());
    // (0 is not a tag: it is space reserved and not written yet, see the test below.)
    for t in [16u8, 0x7f, 0xff] {
        let mut bytes = valid.clone();
        bytes.extend(raw(t, &[1, 2, 3]));
        let (offset, msg) = first_error(&bytes);
        assert_eq!(offset, valid.len() as u64);
        assert!(msg.contains(&format!("tag {t}")), "{msg}");
        // Even when nothing follows the tag: garbage is not a truncated record.
        let mut bytes = valid.clone();
        bytes.push(t);
        assert_eq!(first_error(&bytes).0, valid.len() as u64);
    }
}

#[test]
fn an_oversize_or_overlong_length_is_an_error_at_the_length() {
    let valid = start();
    let mut bytes = valid.clone();
    bytes.push(tag::NOTE);
    put_varint(&mut bytes, MAX_RECORD_LEN + 1);
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, valid.len() as u64 + 1);
    assert!(msg.contains("exceeds"), "{msg}");

    let mut bytes = valid.clone();
    bytes.push(tag::NOTE);
    bytes.extend_from_slice(&[0xff; 11]);
    assert_eq!(first_error(&bytes).0, valid.len() as u64 + 1);

    // The limit itself is allowed: a record that long is only truncated.
    let mut bytes = valid.clone();
    bytes.push(tag::NOTE);
    put_varint(&mut bytes, MAX_RECORD_LEN);
    let mut r = reader(&bytes);
    let (_, err) = read_all(&mut r);
    assert!(err.is_none());
    assert_eq!(
        r.truncated(),
        Some((valid.len() as u64, bytes.len() - valid.len()))
    );
}

/// An event payload up to and including the api field.
fn event_head(api: u64) -> (Vec<u8>, usize) {
    let mut p = vec![0u8]; // flags
    put_varint(&mut p, 300); // time delta, two bytes
    put_varint(&mut p, 70_000); // tid, three bytes
    let api_at = p.len();
    put_varint(&mut p, api);
    (p, api_at)
}

fn event_tail(p: &mut Vec<u8>) {
    put_zigzag(p, -1);
    for _ in 0..6 {
        put_varint(p, 0);
    }
}

#[test]
fn an_unknown_api_is_an_error_at_the_api_field() {
    for api in [0u64, 10, 31, 63, 0x1_0001, u64::MAX] {
        let mut bytes = start();
        let rec_at = bytes.len();
        let (mut p, api_at) = event_head(api);
        event_tail(&mut p);
        bytes.extend(raw(tag::EVENT, &p));
        let (offset, msg) = first_error(&bytes);
        assert_eq!(offset, (rec_at + 2 + api_at) as u64, "{msg}");
        assert!(msg.contains(&format!("unknown api {api}")), "{msg}");
    }
    // The same record with a known api decodes.
    let mut bytes = start();
    let (mut p, _) = event_head(Api::CuMemAlloc as u64);
    event_tail(&mut p);
    bytes.extend(raw(tag::EVENT, &p));
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    let Record::Event(e) = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(
        (e.tid, e.api, e.device),
        (70_000, Api::CuMemAlloc, NO_DEVICE)
    );
}

#[test]
fn bad_fields_are_errors_at_the_field() {
    // A stack id past 32 bits.
    let mut bytes = start();
    let at = bytes.len() + 2;
    let mut p = Vec::new();
    put_varint(&mut p, 1 << 32);
    p.push(0);
    bytes.extend(raw(tag::STACK, &p));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, at as u64);
    assert!(msg.contains("stack id"), "{msg}");

    // A frame count larger than the record.
    let mut bytes = start();
    let at = bytes.len() + 2 + 1;
    bytes.extend(raw(tag::STACK, &[1, 50, 1, 2, 3]));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, at as u64);
    assert!(msg.contains("frame count"), "{msg}");

    // A device outside i32.
    let mut bytes = start();
    let (mut p, api_at) = event_head(1);
    let device_at = bytes.len() + 2 + api_at + 1;
    put_zigzag(&mut p, i64::from(i32::MIN) - 1);
    bytes.extend(raw(tag::EVENT, &p));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, device_at as u64);
    assert!(msg.contains("device"), "{msg}");

    // A record that ends before its fields do: error where the missing field would start.
    let mut bytes = start();
    let at = bytes.len() + 2;
    bytes.extend(raw(tag::TRAILER, &[1, 2, 3]));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, at as u64 + 3);
    assert!(msg.contains("module count"), "{msg}");

    // Ends inside a varint.
    let mut bytes = start();
    let at = bytes.len() + 2;
    bytes.extend(raw(tag::DROPPED, &[0, 0x80]));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, at as u64 + 1);
    assert!(msg.contains("dropped count"), "{msg}");

    // A string longer than its record.
    let mut bytes = start();
    let at = bytes.len() + 2;
    bytes.extend(raw(tag::NOTE, &[5, b'a']));
    assert_eq!(first_error(&bytes).0, at as u64);

    // A header with an argc larger than the record.
    let mut bytes = start()[..PRELUDE_LEN].to_vec();
    let mut p = vec![1, 1, 0];
    let argc_at = bytes.len() + 2 + p.len();
    put_varint(&mut p, 1_000_000);
    bytes.extend(raw(tag::HEADER, &p));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, argc_at as u64);
    assert!(msg.contains("argc"), "{msg}");
}

#[test]
fn an_error_repeats_from_next_record_and_ends_the_iterator() {
    let (mut bytes, _) = encode(&header(), &records());
    let bad_at = bytes.len() as u64;
    bytes.extend(raw(42, &[]));
    let mut r = reader(&bytes);
    let (got, err) = read_all(&mut r);
    assert_eq!(got.len(), records().len() + 1);
    assert_eq!(malformed(err.unwrap()).0, bad_at);
    assert_eq!(malformed(r.next_record().unwrap_err()).0, bad_at);

    let mut it = reader(&bytes);
    let items: Vec<_> = it.by_ref().collect();
    assert_eq!(items.len(), records().len() + 2);
    assert!(items.last().unwrap().is_err());
    assert!(it.next().is_none());
    // So consumers that skip errors end, too (bounded, so a regression fails instead of hanging).
    let n = records().len() + 1;
    assert_eq!(reader(&bytes).flatten().take(n + 10).count(), n);
}

#[test]
fn a_compact_event_naming_an_unknown_thread_slot_is_an_error_at_the_slot() {
    let mut bytes = start();
    let at = bytes.len();
    // flags, dt, slot 5 while no thread is known.
    bytes.extend(raw(tag::COMPACT_EVENT, &[0, 1, 5, 1, 0, 0, 0]));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, at as u64 + 4);
    assert!(msg.contains("thread slot 5"), "{msg}");
}

#[test]
fn reserved_space_ends_the_stream_and_is_read_again_once_written() {
    use std::io::{Seek, SeekFrom, Write};
    // A writer that maps its file reserves space ahead: what is not written yet reads as zeros.
    let mut enc_bytes = Vec::new();
    let mut enc = Encoder::start(&header(), &mut enc_bytes);
    let first = event(header().start_mono_ns + 10, Api::CudaMalloc);
    enc.event(&first, &mut enc_bytes);
    let written = enc_bytes.len();
    let dir = std::env::temp_dir().join(format!("gpuleak-reserved-{}", std::process::id()));
    let mut file = std::fs::File::create(&dir).unwrap();
    file.write_all(&enc_bytes).unwrap();
    file.write_all(&[0u8; 4096]).unwrap();

    let mut r = Reader::new(std::fs::File::open(&dir).unwrap()).unwrap();
    let (got, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 2, "the header and one event");
    assert_eq!(r.unwritten(), Some(written as u64));
    assert_eq!(r.truncated(), None, "zeros are not a cut record");

    // The writer fills the space in place, first byte last.
    let mut more = Vec::new();
    let mut second = event(first.time_ns + 10, Api::CudaFree);
    second.seq = 1;
    enc.event(&second, &mut more);
    file.seek(SeekFrom::Start(written as u64 + 1)).unwrap();
    file.write_all(&more[1..]).unwrap();
    assert_eq!(
        r.reread_unwritten().ok().and_then(|_| r.next_record().ok()),
        Some(None),
        "the record does not start before its first byte is there"
    );
    file.seek(SeekFrom::Start(written as u64)).unwrap();
    file.write_all(&more[..1]).unwrap();
    r.reread_unwritten().unwrap();
    assert_eq!(r.next_record().unwrap(), Some(Record::Event(second)));
    assert_eq!(r.next_record().unwrap(), None);
    assert_eq!(r.unwritten(), Some((written + more.len()) as u64));
    std::fs::remove_file(&dir).unwrap();
}

#[test]
fn a_file_of_zeros_is_reported_as_not_written_yet() {
    let e = Reader::new(&[0u8; 4096][..]).err().expect("an error");
    let (offset, message) = malformed(e);
    assert_eq!(offset, 0);
    assert!(message.contains("nothing written yet"), "{message}");
}
