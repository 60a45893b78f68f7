//! The out-of-memory report with other processes on the device, as NVML names them: a part of
//! their own, and the advice to free them with their pids.

use gpuleak_trace::{Api, Encoder, Event, Header, Marker, MemInfo, Reader};

use crate::model::{AdviceKind, OomCause, PartKind, Report};
use crate::replay::Replay;
use crate::symbols::Symbolizer;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// 1 GiB of weights, ten steps, and a 512 MiB request failing with 100 MiB free of 4 GiB;
/// pids 4242 and 77 held `others` between them.
fn crowded(others: Option<Vec<(u32, u64)>>) -> Report {
    let mut buf = Vec::new();
    let mut enc = Encoder::start(&Header::default(), &mut buf);
    let mut seq = 0;
    let mut event = |enc: &mut Encoder, buf: &mut Vec<u8>, api, address, size, result, mem| {
        seq += 1;
        let e = Event {
            seq,
            time_ns: seq * 1_000,
            tid: 7,
            api,
            device: 0,
            stream: 0,
            address,
            size,
            result,
            stack: 1,
            mem_info: mem,
            aux: 0,
            pool_reserved: None,
        };
        enc.event(&e, buf);
    };
    event(&mut enc, &mut buf, Api::CudaMalloc, 0x1000, GIB, 0, None);
    for step in 0..10u64 {
        let m = Marker {
            time_ns: 100_000 + step,
            tid: 7,
            label: None,
        };
        enc.marker(&m, &mut buf);
    }
    let info = MemInfo {
        free: 100 * MIB,
        total: 4 * GIB,
    };
    event(
        &mut enc,
        &mut buf,
        Api::CudaMalloc,
        0,
        512 * MIB,
        2,
        Some(info),
    );
    let mut replay =
        Replay::from_reader(&mut Reader::new(&buf[..]).expect("a trace")).expect("a valid trace");
    replay.ooms_mut()[0].other_processes = others;
    Report::build(&replay, &mut Symbolizer::new())
}

#[test]
fn other_processes_named_by_the_driver_get_their_part_and_the_advice_names_their_pids() {
    let r = crowded(Some(vec![(4242, 2 * GIB), (77, 512 * MIB)]));
    let o = r.oom.as_ref().expect("an out-of-memory report");
    assert_eq!(o.cause, OomCause::OtherProcess, "{o:#?}");
    let others = o.parts.iter().find(|p| p.part == PartKind::OtherProcesses);
    let others = others.expect("a part for the other processes");
    assert_eq!(others.bytes, 2560 * MIB);
    assert_eq!(others.by[0].label, "pid 4242");
    // What is left outside is the CUDA context and what gpuleak does not see.
    let outside = o.parts.iter().find(|p| p.part == PartKind::Outside);
    assert_eq!(
        outside.map(|p| p.bytes),
        Some(4 * GIB - GIB - 2560 * MIB - 100 * MIB)
    );
    assert_eq!(o.unexplained_bytes, Some(0));
    let free = &o.advice[0];
    assert_eq!(free.advice, AdviceKind::FreeOtherProcesses);
    assert_eq!(free.saves_bytes, Some(2560 * MIB));
    assert!(free.evidence.contains("pid 4242 held 2.00 GiB"), "{free:?}");
    assert!(free.evidence.contains("pid 77 held 512 MiB"), "{free:?}");
}

#[test]
fn without_the_drivers_list_no_pid_is_named_and_nothing_is_proposed_to_free() {
    let r = crowded(None);
    let o = r.oom.as_ref().expect("an out-of-memory report");
    assert_eq!(o.cause, OomCause::OtherProcess, "{o:#?}");
    assert!(o.parts.iter().all(|p| p.part != PartKind::OtherProcesses));
    assert!(o.advice.is_empty(), "{:?}", o.advice);
}
