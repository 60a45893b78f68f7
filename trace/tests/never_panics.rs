//! The reader on hostile input: random bytes, and valid traces with random damage. Reading to the
//! end of the stream or to the first error must not panic, must finish in a bounded number of
//! steps, and must not allocate far beyond the size of its input (no allocation sized by a
//! corrupt count or length before the bytes backing it have arrived).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use gpuleak_trace::encode::{FORMAT_VERSION, MAGIC, PRELUDE_LEN, tag};
use gpuleak_trace::wire::put_varint;
use gpuleak_trace::*;
use proptest::prelude::*;

/// Records the largest single allocation made by this thread while armed. Tests run on several
/// threads at once, so the measurement is per thread.
struct Measure;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: every call is passed to the system allocator as it came (the same layout and
// pointer); only counters are added.
unsafe impl GlobalAlloc for Measure {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static MEASURE: Measure = Measure;

/// The most one allocation may take while decoding `len` bytes: the read buffer (64 KiB, grown by
/// doubling) plus decoded values, each at most a small multiple of the bytes they came from
/// (argv: a 24-byte `String` per byte of input; lossy UTF-8: 3 bytes per byte).
fn allocation_limit(len: usize) -> usize {
    512 * 1024 + 32 * len
}

/// Reads `bytes` (delivered `chunk` bytes per read, 0 for all at once) to the end or the first
/// error, checking that it terminates and stays within its allocation limit.
fn read_checked(bytes: &[u8], chunk: usize) -> Result<(), TestCaseError> {
    let mut src = Growing::new(bytes);
    src.chunk = chunk;
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let mut steps = 0usize;
    let outcome = match Reader::new(src) {
        Err(_) => "bad prelude",
        Ok(mut r) => loop {
            // Every record takes at least two bytes; more records than that means a loop.
            steps += 1;
            if steps > bytes.len() / 2 + 2 {
                break "no progress";
            }
            match r.next_record() {
                Ok(Some(_)) => {}
                Ok(None) => break "end",
                Err(_) => break "error",
            }
        },
    };
    ARMED.with(|a| a.set(false));
    let largest = LARGEST.with(|l| l.get());
    prop_assert_ne!(
        outcome,
        "no progress",
        "{} steps over {} bytes",
        steps,
        bytes.len()
    );
    prop_assert!(
        largest <= allocation_limit(bytes.len()),
        "allocated {} bytes at once for {} bytes of input",
        largest,
        bytes.len()
    );
    Ok(())
}

fn prelude() -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    assert_eq!(b.len(), PRELUDE_LEN);
    b
}

fn prelude_and_header() -> Vec<u8> {
    let mut b = Vec::new();
    Encoder::start(&header(), &mut b);
    b
}

/// What comes before the random bytes: nothing, a prelude, or a prelude and a header.
fn arb_prefix() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(prelude()),
        Just(prelude_and_header())
    ]
}

/// Byte strings that look like records: a known tag, a length that fits, random payload. These
/// get past the framing into every field decoder.
fn arb_framed() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        (
            prop_oneof![9 => tag::MODULE..=tag::TRAILER, 1 => any::<u8>()],
            prop::collection::vec(
                prop_oneof![3 => any::<u8>(), 1 => 0x80u8..=0xff, 1 => 0u8..=2],
                0..48,
            ),
            any::<bool>(),
        ),
        0..16,
    )
    .prop_map(|recs| {
        let mut b = prelude_and_header();
        for (t, payload, honest_length) in recs {
            b.push(t);
            // Now and then a length that claims more (or less) than follows.
            let len = if honest_length {
                payload.len()
            } else {
                payload.len() * 3 + 1
            };
            put_varint(&mut b, len as u64);
            b.extend_from_slice(&payload);
        }
        b
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Xor(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        3 => (any::<usize>(), 0u8..8).prop_map(|(i, bit)| Mutation::Xor(i, 1 << bit)),
        2 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<usize>(), 1usize..12).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Applies `m`, leaving the prelude alone when `keep_prelude` (so damage lands in the records).
fn apply(bytes: &mut Vec<u8>, m: &Mutation, keep_prelude: bool) {
    let lo = if keep_prelude { PRELUDE_LEN } else { 0 };
    if bytes.len() <= lo {
        return;
    }
    let at = |i: usize, extra: usize| lo + i % (bytes.len() - lo + extra);
    match m {
        Mutation::Set(i, b) => {
            let i = at(*i, 0);
            bytes[i] = *b;
        }
        Mutation::Xor(i, b) => {
            let i = at(*i, 0);
            bytes[i] ^= *b;
        }
        Mutation::Insert(i, b) => {
            let i = at(*i, 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = at(*i, 0);
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::Truncate(i) => {
            let i = at(*i, 1);
            bytes.truncate(i);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_bytes_never_panic(
        prefix in arb_prefix(),
        tail in prop::collection::vec(any::<u8>(), 0..600),
        chunk in 0usize..5,
    ) {
        let mut bytes = prefix;
        bytes.extend(tail);
        read_checked(&bytes, chunk)?;
    }

    #[test]
    fn random_records_never_panic(bytes in arb_framed(), chunk in 0usize..5) {
        read_checked(&bytes, chunk)?;
    }

    #[test]
    fn damaged_traces_never_panic(
        (h, recs) in arb_trace(24),
        mutations in prop::collection::vec(arb_mutation(), 1..6),
        keep_prelude in prop::bool::weighted(0.9),
        chunk in 0usize..5,
    ) {
        let (mut bytes, _) = encode(&h, &recs);
        for m in &mutations {
            apply(&mut bytes, m, keep_prelude);
        }
        read_checked(&bytes, chunk)?;
    }
}

/// The inputs that once got through: a corrupt length asking for a big buffer, a Dropped count
/// that overflowed the sequence numbers.
#[test]
fn known_bad_inputs() {
    // A Note claiming 60 MiB that never comes.
    let mut bytes = prelude_and_header();
    bytes.push(tag::NOTE);
    put_varint(&mut bytes, 60 << 20);
    bytes.extend_from_slice(b"only this");
    read_checked(&bytes, 0).unwrap();
    read_checked(&bytes, 3).unwrap();

    // A Stack whose Python part claims as many code definitions as it has bytes: each takes at
    // least four, so room for all of them up front would be many times the input.
    let mut bytes = prelude_and_header();
    let n = 100_000;
    let mut p = vec![1, 0];
    put_varint(&mut p, n);
    p.resize(p.len() + n as usize, 0);
    bytes.push(tag::STACK);
    put_varint(&mut bytes, p.len() as u64);
    bytes.extend_from_slice(&p);
    read_checked(&bytes, 0).unwrap();

    // Dropped u64::MAX, then two events.
    let mut bytes = prelude_and_header();
    let mut enc = Encoder::start(&header(), &mut Vec::new());
    enc.dropped(0, u64::MAX, &mut bytes);
    enc.event(&event(0, Api::CudaMalloc), &mut bytes);
    enc.event(&event(0, Api::CudaMalloc), &mut bytes);
    read_checked(&bytes, 0).unwrap();
}
