//! Giving a Processes record (NVML's processes on the device of an out-of-memory failure) to
//! the failure it names.

use gpuleak_trace::DeviceProcesses;

use crate::figures::OomEvent;
use crate::thresholds::PROCESSES_STAND_NS;

/// The failure it answers was recorded before it: the latest with that sequence number. A
/// process whose figure NVML could not give is left out of `other_processes`: there is no
/// figure to add up.
pub(crate) fn answer(ooms: &mut [OomEvent], p: &DeviceProcesses) {
    let Some(oom) = ooms.iter_mut().rev().find(|o| o.seq == p.failure_seq) else {
        return;
    };
    oom.other_processes = Some(
        p.processes
            .iter()
            .filter(|x| !x.traced)
            .filter_map(|x| Some((x.pid, x.used_bytes?)))
            .collect(),
    );
    oom.own_process_bytes = p
        .processes
        .iter()
        .find(|x| x.traced)
        .and_then(|x| x.used_bytes);
}

/// The failure just recorded takes NVML's figures of the latest earlier failure on its device,
/// made at most [`PROCESSES_STAND_NS`] before it: the hook asks once per burst, so the retry
/// that fails again has none of its own (its own answer, if one comes, replaces them).
pub(crate) fn inherit(ooms: &mut [OomEvent]) {
    let Some((last, earlier)) = ooms.split_last_mut() else {
        return;
    };
    let Some(source) = earlier.iter().rev().find(|o| {
        o.device == last.device
            && o.other_processes.is_some()
            && last.time_ns.saturating_sub(o.time_ns) <= PROCESSES_STAND_NS
    }) else {
        return;
    };
    last.other_processes = source.other_processes.clone();
    last.own_process_bytes = source.own_process_bytes;
}
