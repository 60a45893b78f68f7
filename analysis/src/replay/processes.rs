//! Giving a Processes record (NVML's processes on the device of an out-of-memory failure) to
//! the failure it names.

use gpuleak_trace::DeviceProcesses;

use crate::figures::OomEvent;

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
