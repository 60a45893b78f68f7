//! A capped trace (written under GPULEAK_MAX_SIZE) is read from its oldest kept segment, in both
//! of its forms: with the dropped segments as zeros (a run still going, or killed) and with
//! them cut out (a clean exit moves the kept segments up to the Resume record).

mod common;

use common::*;
use gpuleak_trace::*;

/// The two forms of one trace: header, Resume, segment 0 with an event, dropped; segment 1
/// with what was live and an event. Returns the bytes with segment 0 as zeros, the bytes with
/// it cut out, and the records both read as.
fn capped_trace() -> (Vec<u8>, Vec<u8>, Vec<Record>) {
    let t0 = header().start_mono_ns;
    let mut bytes = Vec::new();
    let mut enc = Encoder::start(&header(), &mut bytes);
    let resume_at = bytes.len();
    enc.resume(0, &mut bytes);
    let data_start = bytes.len();
    enc.segment(
        &Segment {
            index: 0,
            time_ns: t0 + 1,
            next_seq: 0,
            live: vec![],
            totals: vec![],
        },
        &mut bytes,
    );
    let first = event(t0 + 5, Api::CudaMalloc);
    enc.event(&first, &mut bytes);
    let seg1_at = bytes.len();
    let seg1 = Segment {
        index: 1,
        time_ns: t0 + 100,
        next_seq: 7,
        live: vec![LiveEntry {
            seq: 0,
            time_ns: first.time_ns,
            api: Api::CudaMalloc,
            device: 0,
            stream: 0,
            address: first.address,
            size: first.size,
            aux: 0,
            stack: 1,
        }],
        totals: vec![(0, 8 << 30)],
    };
    enc.segment(&seg1, &mut bytes);
    let mut later = event(t0 + 150, Api::CudaFree);
    enc.event(&later, &mut bytes);
    later.seq = 7;

    let field = resume_at + encode::RESUME_OFFSET_AT..resume_at + encode::RESUME_LEN;
    let mut compact = bytes[..data_start].to_vec();
    compact[field.clone()].copy_from_slice(&encode::varint10(data_start as u64));
    compact.extend_from_slice(&bytes[seg1_at..]);

    let mut holey = bytes[..seg1_at].to_vec();
    holey[data_start..].fill(0);
    holey.resize(seg1_at + 10_000, 0);
    let seg1_holey = holey.len();
    holey.extend_from_slice(&bytes[seg1_at..]);
    holey[field].copy_from_slice(&encode::varint10(seg1_holey as u64));

    let records = |resume: usize| {
        vec![
            Record::Header(header()),
            Record::Resume(resume as u64),
            Record::Segment(seg1.clone()),
            Record::Event(later.clone()),
        ]
    };
    let want_holey = records(seg1_holey);
    let want_compact = records(data_start);
    assert_eq!(want_holey[2..], want_compact[2..]);
    (holey, compact, [want_holey, want_compact].concat())
}

/// Read from memory and from a file (which the reader seeks in).
fn both_ways(bytes: &[u8], want: &[Record], name: &str) {
    let (got, err) = read_all(&mut Reader::new(bytes).unwrap());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, want, "{name}, read through");

    let path = std::env::temp_dir().join(format!("gpuleak-{name}-{}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let (got, err) = read_all(&mut gpuleak_trace::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, want, "{name}, seeking");
}

#[test]
fn a_capped_trace_is_read_from_its_oldest_kept_segment_over_the_dropped_ones() {
    let (holey, _, want) = capped_trace();
    both_ways(&holey, &want[..4], "holey");
}

#[test]
fn a_capped_trace_with_the_dropped_segments_cut_out_reads_the_same() {
    let (holey, compact, want) = capped_trace();
    assert!(compact.len() + 10_000 < holey.len());
    both_ways(&compact, &want[4..], "compact");
}
