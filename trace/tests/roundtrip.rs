//! Encoder -> Reader: values survive, truncated streams end cleanly at every byte, and a growing
//! stream is followed. Malformed bytes are in malformed.rs.

mod common;

use common::raw::*;
use common::*;
use gpuleak_trace::encode::{PRELUDE_LEN, tag};
use gpuleak_trace::wire::{put_str, put_varint};
use gpuleak_trace::*;

#[test]
fn every_record_kind_round_trips() {
    let recs = records();
    let (bytes, _) = encode(&header(), &recs);
    let mut r = reader(&bytes);
    assert_eq!(r.header(), None);
    let (got, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got[0], Record::Header(header()));
    assert_eq!(r.header(), Some(&header()));
    assert_eq!(got[1..], recs[..]);
    assert_eq!(r.truncated(), None);
    assert_eq!(r.offset(), bytes.len() as u64);
    // The end of the stream stays the end.
    assert!(r.next_record().unwrap().is_none());
}

#[test]
fn sequence_numbers_count_dropped_events_and_times_are_absolute() {
    let recs = records();
    let events: Vec<&Event> = recs
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    // Four events, then 17 dropped, then the rest.
    assert_eq!(
        events.iter().map(|e| e.seq).take(6).collect::<Vec<_>>(),
        [0, 1, 2, 3, 21, 22]
    );
    let (bytes, _) = encode(&header(), &recs);
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    let got_events: Vec<&Event> = got
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(got_events, events);
    assert_eq!(got_events[0].time_ns, header().start_mono_ns);
}

#[test]
fn an_empty_trace_is_a_prelude_and_a_header() {
    let h = Header::default();
    let (bytes, _) = encode(&h, &[]);
    assert_eq!(&bytes[..8], b"GPULEAK\0");
    assert_eq!(&bytes[8..12], &[3, 0, 0, 0]);
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    assert_eq!(got, [Record::Header(h)]);
}

#[test]
fn api_numbers_are_the_documented_ones() {
    let table: [(Api, u16, &str); 40] = [
        (Api::CudaMalloc, 1, "cudaMalloc"),
        (Api::CudaFree, 2, "cudaFree"),
        (Api::CudaMallocAsync, 3, "cudaMallocAsync"),
        (Api::CudaFreeAsync, 4, "cudaFreeAsync"),
        (Api::CudaMallocManaged, 5, "cudaMallocManaged"),
        (Api::CudaMallocPitch, 6, "cudaMallocPitch"),
        (Api::CudaMallocHost, 7, "cudaMallocHost"),
        (Api::CudaHostAlloc, 8, "cudaHostAlloc"),
        (Api::CudaFreeHost, 9, "cudaFreeHost"),
        (Api::CuMemAlloc, 32, "cuMemAlloc"),
        (Api::CuMemFree, 33, "cuMemFree"),
        (Api::CuMemAllocAsync, 34, "cuMemAllocAsync"),
        (Api::CuMemFreeAsync, 35, "cuMemFreeAsync"),
        (Api::CuMemAllocManaged, 36, "cuMemAllocManaged"),
        (Api::CuMemAllocPitch, 37, "cuMemAllocPitch"),
        (Api::CuMemAllocHost, 38, "cuMemAllocHost"),
        (Api::CuMemHostAlloc, 39, "cuMemHostAlloc"),
        (Api::CuMemFreeHost, 40, "cuMemFreeHost"),
        (Api::CuMemAllocFromPoolAsync, 41, "cuMemAllocFromPoolAsync"),
        (Api::CuMemPoolTrimTo, 42, "cuMemPoolTrimTo"),
        (Api::CuMemPoolSetAttribute, 43, "cuMemPoolSetAttribute"),
        (Api::CuMemCreate, 44, "cuMemCreate"),
        (Api::CuMemRelease, 45, "cuMemRelease"),
        (Api::CuMemMap, 46, "cuMemMap"),
        (Api::CuMemUnmap, 47, "cuMemUnmap"),
        (Api::CuMemAddressReserve, 48, "cuMemAddressReserve"),
        (Api::CuMemAddressFree, 49, "cuMemAddressFree"),
        (Api::CuMemHostRegister, 50, "cuMemHostRegister"),
        (Api::CuMemHostUnregister, 51, "cuMemHostUnregister"),
        (Api::CuArrayCreate, 52, "cuArrayCreate"),
        (Api::CuArray3DCreate, 53, "cuArray3DCreate"),
        (Api::CuArrayDestroy, 54, "cuArrayDestroy"),
        (Api::CuMipmappedArrayCreate, 55, "cuMipmappedArrayCreate"),
        (Api::CuMipmappedArrayDestroy, 56, "cuMipmappedArrayDestroy"),
        (Api::CuGraphAddMemAllocNode, 57, "cuGraphAddMemAllocNode"),
        (Api::CuGraphAddMemFreeNode, 58, "cuGraphAddMemFreeNode"),
        (Api::CuDeviceGraphMemTrim, 59, "cuDeviceGraphMemTrim"),
        (Api::CuIpcOpenMemHandle, 60, "cuIpcOpenMemHandle"),
        (Api::CuIpcCloseMemHandle, 61, "cuIpcCloseMemHandle"),
        (
            Api::CuMemImportFromShareableHandle,
            62,
            "cuMemImportFromShareableHandle",
        ),
    ];
    for (api, n, name) in table {
        assert_eq!(api as u16, n);
        assert_eq!(Api::from_u16(n), Some(api));
        assert_eq!(api.name(), name);
    }
    for n in 0..=u16::MAX {
        if !table.iter().any(|&(_, m, _)| m == n) {
            assert_eq!(Api::from_u16(n), None, "{n}");
        }
    }
}

#[test]
fn launch_api_numbers_are_the_documented_ones() {
    let table = [
        (LaunchApi::CudaLaunchKernel, 1, "cudaLaunchKernel"),
        (LaunchApi::CuLaunchKernel, 2, "cuLaunchKernel"),
        (LaunchApi::CuLaunchKernelEx, 3, "cuLaunchKernelEx"),
        (LaunchApi::CudaGraphLaunch, 4, "cudaGraphLaunch"),
        (LaunchApi::CuGraphLaunch, 5, "cuGraphLaunch"),
    ];
    assert_eq!(LaunchApi::ALL.len(), table.len());
    for (api, n, name) in table {
        assert_eq!(api as u8, n);
        assert_eq!(LaunchApi::from_u8(n), Some(api));
        assert_eq!(api.name(), name);
    }
    for n in 0..=u8::MAX {
        if !table.iter().any(|&(_, m, _)| m == n) {
            assert_eq!(LaunchApi::from_u8(n), None, "{n}");
        }
    }
}

#[test]
fn an_unknown_launch_api_is_an_error_at_its_field() {
    let launch = |api: u8| {
        let mut p = Vec::new();
        put_varint(&mut p, 300); // time delta
        put_varint(&mut p, 70_000); // tid
        let api_at = p.len();
        p.push(api);
        put_varint(&mut p, 0x5555_0000_8000); // the graph exec
        put_varint(&mut p, 0); // stream
        (p, api_at)
    };
    for api in [0u8, 6, 255] {
        let mut bytes = start();
        let rec_at = bytes.len();
        let (p, api_at) = launch(api);
        bytes.extend(raw(tag::LAUNCH, &p));
        let (offset, msg) = first_error(&bytes);
        assert_eq!(offset, (rec_at + 2 + api_at) as u64, "{msg}");
        assert!(msg.contains(&format!("unknown launch api {api}")), "{msg}");
    }
    let mut bytes = start();
    bytes.extend(raw(tag::LAUNCH, &launch(LaunchApi::CuGraphLaunch as u8).0));
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    let Record::Launch(l) = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(
        (l.tid, l.api, l.function, l.stream),
        (70_000, LaunchApi::CuGraphLaunch, 0x5555_0000_8000, 0)
    );
}

#[test]
fn trailing_payload_bytes_are_ignored() {
    let mut bytes = start();
    let mut p = Vec::new();
    put_str(&mut p, "hello");
    p.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // a field from the future, not a valid varint
    bytes.extend(raw(tag::NOTE, &p));
    let mut enc_bytes = Vec::new();
    let mut enc = Encoder::default();
    enc.note("after", &mut enc_bytes);
    bytes.extend(enc_bytes);
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    assert_eq!(
        got[1..],
        [Record::Note("hello".into()), Record::Note("after".into())]
    );
}

/// A Python stack is a Stack record with the Python part appended: a reader that stops after
/// the native frames (every version 1 reader before Python stacks) sees an ordinary stack.
#[test]
fn a_python_stack_is_a_stack_record_whose_python_part_old_readers_skip() {
    let py = PyStack {
        id: 7,
        frames: vec![0x1234, 0x5678],
        codes: vec![PyCode {
            id: 1,
            first_line: 10,
            file: "sampler.py".into(),
            name: "step".into(),
        }],
        python: vec![PyFrame { code: 1, line: 12 }],
    };
    let mut bytes = Vec::new();
    Encoder::default().any(&Record::PyStack(py.clone()), &mut bytes);
    assert_eq!(bytes[0], tag::STACK);
    let mut native = Vec::new();
    Encoder::default().stack(7, &[0x1234, 0x5678], &mut native);
    // Same native fields; the Python part follows them.
    assert_eq!(bytes[2..native.len()], native[2..]);
    assert_eq!(
        bytes[native.len()..],
        [
            1, 1, 10, 10, b's', b'a', b'm', b'p', b'l', b'e', b'r', b'.', b'p', b'y', 4, b's',
            b't', b'e', b'p', 1, 1, 12
        ]
    );
    let mut trace = start();
    trace.extend(&bytes);
    let got: Vec<Record> = reader(&trace).map(Result::unwrap).collect();
    assert_eq!(got[1..], [Record::PyStack(py)]);
}

#[test]
fn a_bad_python_part_is_an_error_at_its_field() {
    // A code count larger than what is left.
    let mut bytes = start();
    let at = bytes.len() + 2 + 3;
    bytes.extend(raw(tag::STACK, &[1, 1, 5, 9, 0]));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, at as u64);
    assert!(msg.contains("python code count"), "{msg}");

    // The frames' count missing after the code definitions.
    let mut bytes = start();
    let at = bytes.len() + 2 + 4;
    bytes.extend(raw(tag::STACK, &[1, 0, 1, 2, 3, 0, 0]));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, at as u64 + 3);
    assert!(msg.contains("python frame count"), "{msg}");

    // A line past 32 bits.
    let mut bytes = start();
    let mut p = vec![1, 0, 0, 1, 1];
    let at = bytes.len() + 2 + p.len();
    put_varint(&mut p, 1 << 32);
    bytes.extend(raw(tag::STACK, &p));
    let (offset, msg) = first_error(&bytes);
    assert_eq!(offset, at as u64);
    assert!(msg.contains("python frame line"), "{msg}");
}

#[test]
fn non_minimal_varints_and_any_nonzero_label_flag_are_accepted() {
    let mut bytes = start();
    // Marker: dt = 5 written in three bytes, tid 9, label flag 2 then label "a".
    let mut p = vec![0x85, 0x80, 0x00, 9, 2];
    put_str(&mut p, "a");
    bytes.extend(raw(tag::MARKER, &p));
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    assert_eq!(
        got[1],
        Record::Marker(Marker {
            time_ns: header().start_mono_ns + 5,
            tid: 9,
            label: Some("a".into())
        })
    );
}

#[test]
fn times_going_backwards_are_clamped_by_the_encoder() {
    let h = header();
    let t0 = h.start_mono_ns;
    let recs = [
        Record::Event(Event {
            seq: 0,
            ..event(t0 + 100, Api::CudaMalloc)
        }),
        Record::Event(Event {
            seq: 1,
            ..event(t0 + 50, Api::CudaFree)
        }),
        // Before the header's start, too.
        Record::Marker(Marker {
            time_ns: 0,
            tid: 1,
            label: None,
        }),
    ];
    let (bytes, _) = encode(&h, &recs);
    let times: Vec<u64> = reader(&bytes)
        .map(Result::unwrap)
        .filter_map(|r| match r {
            Record::Event(e) => Some(e.time_ns),
            Record::Marker(m) => Some(m.time_ns),
            _ => None,
        })
        .collect();
    assert_eq!(times, [t0 + 100, t0 + 100, t0 + 100]);
}

#[test]
fn large_records_round_trip_through_short_reads() {
    let h = Header {
        argv: (0..20_000).map(|i| format!("--arg{i}")).collect(),
        ..header()
    };
    let mut recs = vec![
        Record::Note("n".repeat(300_000)),
        Record::Stack(Stack {
            id: 3,
            frames: (0..50_000).map(|i| i * 0x1_0001).collect(),
        }),
    ];
    recs.extend(records());
    number(&mut recs);
    let (bytes, _) = encode(&h, &recs);
    for chunk in [0, 4093] {
        let mut src = Growing::new(&bytes);
        src.chunk = chunk;
        let mut r = Reader::new(src).unwrap();
        let (got, err) = read_all(&mut r);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got[0], Record::Header(h.clone()));
        assert_eq!(got[1..], recs[..]);
        assert_eq!(r.truncated(), None);
    }
}

/// The records complete before `cut`, and where the incomplete one starts.
fn expected_at_cut(
    recs: &[Record],
    starts: &[usize],
    cut: usize,
) -> (Vec<Record>, Option<(u64, usize)>) {
    let mut all = vec![Record::Header(header())];
    all.extend_from_slice(recs);
    // starts[i] is where all[i] begins; starts[i + 1] where it ends.
    let complete = starts[1..].iter().filter(|&&end| end <= cut).count();
    let truncated =
        (starts[complete] < cut).then(|| (starts[complete] as u64, cut - starts[complete]));
    (all[..complete].to_vec(), truncated)
}

#[test]
fn a_stream_cut_at_every_byte_ends_cleanly_after_the_complete_records() {
    let recs = records();
    let (bytes, starts) = encode(&header(), &recs);
    for cut in 0..=bytes.len() {
        let src = &bytes[..cut];
        if cut < PRELUDE_LEN {
            // Not even the prelude: the one case where a short file is an error.
            let (offset, msg) = malformed(Reader::new(src).err().unwrap());
            assert_eq!(offset, cut as u64, "{msg}");
            continue;
        }
        let (want, want_trunc) = expected_at_cut(&recs, &starts, cut);
        let mut r = reader(src);
        let (got, err) = read_all(&mut r);
        assert!(err.is_none(), "cut at {cut}: {err:?}");
        assert_eq!(got, want, "cut at {cut}");
        assert_eq!(r.truncated(), want_trunc, "cut at {cut}");
        let resume_at = want_trunc.map_or(cut as u64, |(at, _)| at);
        assert_eq!(r.offset(), resume_at, "cut at {cut}");
        // Asking again changes nothing.
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(r.truncated(), want_trunc, "cut at {cut}");
    }
}

#[test]
fn a_growing_stream_is_followed_from_every_cut() {
    let recs = records();
    let (bytes, starts) = encode(&header(), &recs);
    let mut all = vec![Record::Header(header())];
    all.extend_from_slice(&recs);
    for cut in PRELUDE_LEN..=bytes.len() {
        let src = Growing::new(&bytes[..cut]);
        let mut r = Reader::new(src.clone()).unwrap();
        let (mut got, err) = read_all(&mut r);
        assert!(err.is_none(), "cut at {cut}: {err:?}");
        assert_eq!(got, expected_at_cut(&recs, &starts, cut).0);
        src.append(&bytes[cut..]);
        let (rest, err) = read_all(&mut r);
        assert!(err.is_none(), "cut at {cut}: {err:?}");
        got.extend(rest);
        assert_eq!(got, all, "cut at {cut}");
        assert_eq!(r.truncated(), None);
    }
}

#[test]
fn a_stream_written_one_byte_at_a_time_is_followed() {
    let recs = records();
    let (bytes, starts) = encode(&header(), &recs);
    let src = Growing::new(&bytes[..PRELUDE_LEN]);
    let mut r = Reader::new(src.clone()).unwrap();
    let mut got = Vec::new();
    for cut in PRELUDE_LEN..=bytes.len() {
        if cut > PRELUDE_LEN {
            src.append(&bytes[cut - 1..cut]);
        }
        // The iterator, too, picks up bytes appended after it returned None.
        got.extend(r.by_ref().map(Result::unwrap));
        let (want, want_trunc) = expected_at_cut(&recs, &starts, cut);
        assert_eq!(got, want, "cut at {cut}");
        assert_eq!(r.truncated(), want_trunc, "cut at {cut}");
    }
}

#[test]
fn a_huge_dropped_count_does_not_overflow_sequence_numbers() {
    let h = header();
    let mut recs = vec![
        Record::Event(event(h.start_mono_ns, Api::CudaMalloc)),
        Record::Dropped {
            time_ns: h.start_mono_ns,
            count: u64::MAX,
        },
        Record::Event(event(h.start_mono_ns, Api::CudaMalloc)),
        Record::Event(event(h.start_mono_ns, Api::CudaFree)),
    ];
    number(&mut recs);
    let (bytes, _) = encode(&h, &recs);
    let got: Vec<Record> = reader(&bytes).map(Result::unwrap).collect();
    assert_eq!(got[1..], recs[..]);
    let Record::Event(e) = &got[4] else { panic!() };
    assert_eq!(e.seq, u64::MAX);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn random_traces_round_trip(
        (h, recs) in arb_trace(40),
        chunk in 0usize..9,
        compact in proptest::bool::ANY,
    ) {
        let (bytes, _) = encode_with(&h, &recs, compact);
        let mut src = Growing::new(&bytes);
        src.chunk = chunk;
        let mut r = Reader::new(src).unwrap();
        let (got, err) = read_all(&mut r);
        proptest::prop_assert!(err.is_none(), "{:?}", err);
        proptest::prop_assert_eq!(&got[0], &Record::Header(h));
        proptest::prop_assert_eq!(&got[1..], &recs[..]);
        proptest::prop_assert_eq!(r.truncated(), None);
    }
}

#[test]
fn compact_events_of_threads_taking_turns_are_16_bytes_or_less() {
    // Eight threads allocating and freeing 256 bytes in turn, as the many-threads program does:
    // each thread's free is coded against its own allocation, each allocation against its last.
    let t0 = header().start_mono_ns;
    let mut recs = Vec::new();
    let mut t = t0;
    for round in 0..100u64 {
        for thread in 0..8u32 {
            for api in [Api::CudaMalloc, Api::CudaFree] {
                t += 700;
                let mut e = event(t, api);
                e.tid = 421_337 + thread;
                e.address = 0x5555_5555_0000 + u64::from(thread) * 0x10_0000 + round * 256;
                e.size = if api == Api::CudaMalloc { 256 } else { 0 };
                e.stack = 3 + thread;
                recs.push(Record::Event(e));
            }
        }
    }
    number(&mut recs);
    let (full, _) = encode(&header(), &recs);
    let (compact, starts) = encode_with(&header(), &recs, true);
    let events = recs.len();
    let body = (compact.len() - starts[1]) as f64 / events as f64;
    let before = (full.len() - starts[1]) as f64 / events as f64;
    assert!(
        body <= 16.0,
        "{body:.1} bytes per compact event ({before:.1} in full)"
    );
    let (got, err) = read_all(&mut reader(&compact));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got[1..], recs[..]);
}
