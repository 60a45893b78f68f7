//! Who else uses the device: the processes NVML listed on the device of an out-of-memory
//! failure, each with the device memory NVML counts for it (section 5.15 of the format). The
//! traced process is among them when it has a context there, marked, with its own figure
//! (its context and everything it allocated; the trace's allocations do not include the
//! context).
//! The payload's encoding lives here with the types, so writer and readers share one definition.

use crate::wire::{Cursor, FieldError, put_varint, put_zigzag};

/// One process NVML lists on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceProcess {
    pub pid: u32,
    /// NVML's `usedGpuMemory`; `None` where NVML cannot say (it reports "not available").
    pub used_bytes: Option<u64>,
    /// The process this trace records.
    pub traced: bool,
}

/// The answer to one out-of-memory failure (one per failure burst).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceProcesses {
    pub time_ns: u64,
    /// The CUDA device ordinal of the failure.
    pub device: i32,
    /// The sequence number of the failed allocation's event.
    pub failure_seq: u64,
    pub processes: Vec<DeviceProcess>,
}

const TRACED: u8 = 1;
/// The figure follows.
const KNOWN: u8 = 2;

/// The payload after the record's time delta.
pub fn put_payload(b: &mut Vec<u8>, p: &DeviceProcesses) {
    put_zigzag(b, p.device.into());
    put_varint(b, p.failure_seq);
    put_varint(b, p.processes.len() as u64);
    for x in &p.processes {
        put_varint(b, x.pid.into());
        let traced = if x.traced { TRACED } else { 0 };
        match x.used_bytes {
            Some(v) => {
                b.push(traced | KNOWN);
                put_varint(b, v);
            }
            None => b.push(traced),
        }
    }
}

/// Reads what [`put_payload`] wrote; `time_ns` is the record's, already decoded.
pub fn read_payload(c: &mut Cursor<'_>, time_ns: u64) -> Result<DeviceProcesses, FieldError> {
    let device = c.i32("processes device")?;
    let failure_seq = c.varint("failure seq")?;
    let n = c.count("process count")?;
    // An entry takes at least 2 bytes: a corrupt count cannot make a large allocation.
    let mut processes = Vec::with_capacity(n.min(c.remaining() / 2));
    for _ in 0..n {
        let pid = c.u32("process id")?;
        let flags_at = c.offset();
        let flags = c.u8("process flags")?;
        if flags & !(TRACED | KNOWN) != 0 {
            return Err(FieldError {
                offset: flags_at,
                message: format!("unknown process flags {flags}"),
            });
        }
        let used_bytes = if flags & KNOWN != 0 {
            Some(c.varint("process memory")?)
        } else {
            None
        };
        processes.push(DeviceProcess {
            pid,
            used_bytes,
            traced: flags & TRACED != 0,
        });
    }
    Ok(DeviceProcesses {
        time_ns,
        device,
        failure_seq,
        processes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoder, Header, Reader, Record};

    fn answer() -> DeviceProcesses {
        DeviceProcesses {
            time_ns: 9_000,
            device: 0,
            failure_seq: 41,
            processes: vec![
                DeviceProcess {
                    pid: 999_999,
                    used_bytes: Some(48 << 20),
                    traced: false,
                },
                DeviceProcess {
                    pid: 1234,
                    used_bytes: Some(u64::MAX),
                    traced: true,
                },
                DeviceProcess {
                    pid: 77,
                    used_bytes: None,
                    traced: false,
                },
            ],
        }
    }

    #[test]
    fn another_process_holding_48_mib_survives_the_trip_through_a_trace() {
        let header = Header {
            start_mono_ns: 1_000,
            ..Header::default()
        };
        let mut buf = Vec::new();
        let mut enc = Encoder::start(&header, &mut buf);
        enc.processes(&answer(), &mut buf);
        let records: Vec<Record> = Reader::new(&buf[..]).unwrap().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[1], Record::Processes(answer()));
    }

    #[test]
    fn unknown_process_flags_are_an_error_at_their_byte() {
        let mut b = Vec::new();
        put_payload(&mut b, &answer());
        // device, seq, count, first pid (3 bytes: 999999): the flags are byte 6.
        b[6] = 4;
        let err = read_payload(&mut Cursor::new(&b, 100), 0).unwrap_err();
        assert_eq!(err.offset, 106);
        assert!(
            err.message.contains("unknown process flags 4"),
            "{}",
            err.message
        );
    }
}
