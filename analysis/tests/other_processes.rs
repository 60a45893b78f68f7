//! Other processes on the device at an out-of-memory failure, as the hook's Processes record
//! names them, given to the failure the record answers.

mod common;

use common::*;
use gpuleak_trace::{DeviceProcess, DeviceProcesses};

const MIB: u64 = 1 << 20;

fn answer(t: &mut Trace, failure_seq: u64, processes: Vec<DeviceProcess>) {
    t.time += 1;
    let p = DeviceProcesses {
        time_ns: t.time,
        device: 0,
        failure_seq,
        processes,
    };
    t.enc.processes(&p, &mut t.buf);
}

fn other(pid: u32, used: Option<u64>) -> DeviceProcess {
    DeviceProcess {
        pid,
        used_bytes: used,
        traced: false,
    }
}

fn me(used: u64) -> DeviceProcess {
    DeviceProcess {
        pid: 4242,
        used_bytes: Some(used),
        traced: true,
    }
}

#[test]
fn a_process_holding_48_mib_is_named_at_the_failure_it_answers_and_at_the_retry_that_fails_again() {
    let mut t = Trace::hooked();
    t.alloc(0xa, 16 * MIB, 1);
    // seq 1: the failure; its answer; seq 2: the program's retry, in the same burst.
    t.out_of_memory(32 * MIB, 0, 64 * MIB, 2);
    answer(
        &mut t,
        1,
        vec![other(999, Some(48 * MIB)), other(7, None), me(16 * MIB)],
    );
    t.out_of_memory(32 * MIB, 0, 64 * MIB, 2);
    let r = t.replay();
    let ooms = r.ooms();
    assert_eq!(ooms.len(), 2);
    assert_eq!(ooms[0].seq, 1);
    // A process whose figure NVML could not give is left out: no figure to add up.
    assert_eq!(ooms[0].other_processes, Some(vec![(999, 48 * MIB)]));
    assert_eq!(ooms[0].own_process_bytes, Some(16 * MIB));
    // The hook asks once per burst: the retry the program dies of stands on the same figures.
    assert_eq!(ooms[1].other_processes, Some(vec![(999, 48 * MIB)]));
    assert_eq!(ooms[1].own_process_bytes, Some(16 * MIB));
}

#[test]
fn a_failure_long_after_the_answer_does_not_stand_on_it() {
    let mut t = Trace::hooked();
    t.alloc(0xa, 16 * MIB, 1);
    t.out_of_memory(32 * MIB, 0, 64 * MIB, 2);
    answer(&mut t, 1, vec![other(999, Some(48 * MIB)), me(16 * MIB)]);
    t.time += 60_000_000_000;
    t.out_of_memory(32 * MIB, 0, 64 * MIB, 2);
    let r = t.replay();
    assert_eq!(r.ooms()[0].other_processes, Some(vec![(999, 48 * MIB)]));
    assert_eq!(r.ooms()[1].other_processes, None);
}

#[test]
fn an_answer_naming_no_recorded_failure_changes_nothing() {
    let mut t = Trace::hooked();
    t.alloc(0xa, 16 * MIB, 1);
    t.out_of_memory(32 * MIB, 0, 64 * MIB, 2);
    answer(&mut t, 99, vec![other(999, Some(48 * MIB))]);
    let r = t.replay();
    assert_eq!(r.ooms()[0].other_processes, None);
}

#[test]
fn a_device_alone_is_an_empty_list_not_an_unknown_one() {
    let mut t = Trace::hooked();
    t.out_of_memory(32 * MIB, 0, 64 * MIB, 2);
    answer(&mut t, 0, vec![me(0)]);
    let r = t.replay();
    assert_eq!(r.ooms()[0].other_processes, Some(vec![]));
    assert_eq!(r.ooms()[0].own_process_bytes, Some(0));
}
