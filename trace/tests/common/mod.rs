//! Helpers shared by the trace crate's integration tests.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

use gpuleak_trace::*;

pub mod raw;

pub fn header() -> Header {
    Header {
        pid: 4242,
        ppid: 1,
        exe: "/usr/bin/train".into(),
        argv: vec![
            "train".into(),
            "--epochs".into(),
            "3".into(),
            "ünïcödé".into(),
            String::new(),
        ],
        hostname: "gpu-node-7".into(),
        start_unix_ns: 1_700_000_000_123_456_789,
        start_mono_ns: 5_000_000_000,
        hook_version: "0.1.0".into(),
        stacks: "native".into(),
        devices: vec![
            "NVIDIA H100 80GB HBM3".into(),
            "NVIDIA H100 80GB HBM3".into(),
        ],
        launch_env: vec![
            ("RANK".into(), "3".into()),
            ("LOCAL_RANK".into(), "1".into()),
        ],
    }
}

pub fn event(time_ns: u64, api: Api) -> Event {
    Event {
        seq: 0,
        time_ns,
        tid: 1001,
        api,
        device: 0,
        stream: 0,
        address: 0x7f00_0000_0000,
        size: 1 << 20,
        result: 0,
        stack: 1,
        mem_info: None,
        aux: 0,
        pool_reserved: None,
    }
}

/// Gives events the sequence numbers a reader reconstructs: position among events, with each
/// Dropped record using up `count` numbers.
pub fn number(records: &mut [Record]) {
    let mut seq = 0u64;
    for r in records {
        match r {
            Record::Event(e) => {
                e.seq = seq;
                seq = seq.saturating_add(1);
            }
            Record::Dropped { count, .. } => seq = seq.saturating_add(*count),
            Record::Segment(s) => s.next_seq = seq,
            _ => {}
        }
    }
}

/// Every record kind, with edge values: empty and long strings, lengths past one varint byte,
/// extreme integers, negative and absent devices, every API. Times never go backwards.
pub fn records() -> Vec<Record> {
    let t0 = header().start_mono_ns;
    let mut v = vec![
        Record::Note("stacks: native".into()),
        Record::Module(Module {
            path: "/usr/lib/x86_64-linux-gnu/libcudart.so.12".into(),
            base: 0x7f12_3400_0000,
            start: 0x7f12_3400_0000,
            end: 0x7f12_3480_0000,
            build_id: vec![
                0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
            ],
        }),
        Record::Module(Module {
            path: String::new(),
            base: 0,
            start: 0,
            end: u64::MAX,
            build_id: vec![],
        }),
        Record::Stack(Stack {
            id: 1,
            frames: vec![0x5555_5555_1234, 0x5555_5555_0042, 0x7f12_3400_1000],
        }),
        Record::Stack(Stack {
            id: u32::MAX,
            frames: vec![],
        }),
        Record::Stack(Stack {
            id: 2,
            frames: (0..100).map(|i| u64::MAX - i).collect(),
        }),
        // Python stacks: native and Python frames, code objects defined on first use.
        Record::PyStack(PyStack {
            id: 3,
            frames: vec![0x7f12_3400_2000, 0x5555_5555_0042],
            codes: vec![
                PyCode {
                    id: 1,
                    first_line: 12,
                    file: "/home/u/pipeline.py".into(),
                    name: "Pipeline.denoise_step".into(),
                },
                PyCode {
                    id: u32::MAX,
                    first_line: u32::MAX,
                    file: String::new(),
                    name: "<module>".into(),
                },
            ],
            python: vec![
                PyFrame { code: 1, line: 212 },
                PyFrame {
                    code: u32::MAX,
                    line: 0,
                },
            ],
        }),
        // Python frames only, reusing a code object defined before.
        Record::PyStack(PyStack {
            id: 4,
            frames: vec![],
            codes: vec![],
            python: vec![PyFrame { code: 1, line: 213 }],
        }),
        // A Python part that is there but empty.
        Record::PyStack(PyStack {
            id: 5,
            frames: vec![0x1000],
            codes: vec![],
            python: vec![],
        }),
        Record::Event(event(t0, Api::CudaMalloc)),
        Record::Event(Event {
            device: NO_DEVICE,
            stream: u64::MAX,
            address: 0,
            size: u64::MAX,
            result: 2,
            stack: NO_STACK,
            tid: u32::MAX,
            mem_info: Some(MemInfo {
                free: 12345,
                total: 80 << 30,
            }),
            ..event(t0 + 1, Api::CuMemAllocAsync)
        }),
        Record::Event(Event {
            device: i32::MIN,
            mem_info: Some(MemInfo { free: 0, total: 0 }),
            aux: u64::MAX,
            pool_reserved: Some(u64::MAX),
            ..event(t0 + 1, Api::CudaMallocManaged)
        }),
        Record::Event(Event {
            device: i32::MAX,
            ..event(t0 + 2, Api::CuMemFree)
        }),
        Record::Marker(Marker {
            time_ns: t0 + 1_000,
            tid: 7,
            label: Some("epoch 1".into()),
        }),
        Record::Marker(Marker {
            time_ns: t0 + 1_000,
            tid: 7,
            label: None,
        }),
        Record::Marker(Marker {
            time_ns: t0 + 1_001,
            tid: 0,
            label: Some(String::new()),
        }),
        Record::Launch(Launch {
            time_ns: t0 + 1_002,
            tid: 7,
            api: LaunchApi::CudaLaunchKernel,
            function: 0x55_0000_1234,
            stream: 0,
        }),
        Record::Range(Range {
            time_ns: t0 + 1_002,
            tid: 7,
            op: RangeOp::Push,
            depth: 0,
            id: 0,
            name: Some("step".into()),
            domain: None,
        }),
        Record::Range(Range {
            time_ns: t0 + 1_002,
            tid: 7,
            op: RangeOp::End,
            depth: u32::MAX,
            id: u64::MAX,
            name: None,
            domain: Some("diffusers".into()),
        }),
        Record::Launch(Launch {
            time_ns: t0 + 1_003,
            tid: u32::MAX,
            api: LaunchApi::CuLaunchKernelEx,
            function: u64::MAX,
            stream: u64::MAX,
        }),
        Record::Launch(Launch {
            time_ns: t0 + 1_003,
            tid: 7,
            api: LaunchApi::CudaGraphLaunch,
            function: 0x5555_0000_8000,
            stream: 0,
        }),
        Record::Launch(Launch {
            time_ns: t0 + 1_004,
            tid: 7,
            api: LaunchApi::CuGraphLaunch,
            function: 0x5555_0000_8000,
            stream: 0x7f00_0000_0040,
        }),
        Record::Dropped {
            time_ns: t0 + 5_000,
            count: 17,
        },
        Record::Event(event(t0 + 5_001, Api::CudaFree)),
        Record::Dropped {
            time_ns: t0 + 5_001,
            count: 0,
        },
        Record::Note("x".repeat(300)),
        Record::Note(String::new()),
        Record::Trailer(Trailer {
            events: 5,
            dropped: 17,
            stacks: 3,
            modules: 2,
            end_mono_ns: t0 + 6_000,
        }),
    ];
    // Every entry point, with a large time jump to make multi-byte deltas.
    let mut t = t0 + 10_000;
    for (i, api) in Api::ALL.iter().enumerate() {
        t += (i as u64) << 30;
        v.push(Record::Event(Event {
            device: i as i32 - 3,
            address: 0x1000 * i as u64,
            ..event(t, *api)
        }));
    }
    v.push(Record::Trailer(Trailer {
        events: 5 + Api::ALL.len() as u64,
        dropped: 17,
        stacks: 3,
        modules: 2,
        end_mono_ns: t,
    }));
    v.push(Record::Trailer(Trailer::default()));
    number(&mut v);
    v
}

/// Encodes a trace; returns its bytes and the start offset of every record after the header
/// (plus the end of the stream as the last entry).
pub fn encode(header: &Header, records: &[Record]) -> (Vec<u8>, Vec<usize>) {
    encode_with(header, records, false)
}

/// As [`encode`], events as compact Event records (section 5.13) when `compact`, as the hook
/// writes them.
pub fn encode_with(header: &Header, records: &[Record], compact: bool) -> (Vec<u8>, Vec<usize>) {
    let mut buf = Vec::new();
    let mut enc = Encoder::start(header, &mut buf);
    let mut starts = vec![gpuleak_trace::encode::PRELUDE_LEN];
    starts.push(buf.len());
    for r in records {
        match r {
            Record::Event(e) if compact => enc.compact_event(e, &mut buf),
            _ => enc.any(r, &mut buf),
        }
        starts.push(buf.len());
    }
    (buf, starts)
}

/// Reads records until the end of the stream or the first error.
pub fn read_all<R: Read>(r: &mut Reader<R>) -> (Vec<Record>, Option<DecodeError>) {
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some(rec)) => out.push(rec),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// A file that is still being written: the test appends to `data`, the reader reads from `pos`.
#[derive(Clone, Default)]
pub struct Growing {
    pub data: Rc<RefCell<Vec<u8>>>,
    pos: usize,
    /// Most bytes handed out per `read`, 0 for no limit (short reads must not matter).
    pub chunk: usize,
}

impl Growing {
    pub fn new(initial: &[u8]) -> Growing {
        Growing {
            data: Rc::new(RefCell::new(initial.to_vec())),
            pos: 0,
            chunk: 0,
        }
    }

    pub fn append(&self, bytes: &[u8]) {
        self.data.borrow_mut().extend_from_slice(bytes);
    }
}

impl Read for Growing {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let data = self.data.borrow();
        let mut n = out.len().min(data.len() - self.pos);
        if self.chunk > 0 {
            n = n.min(self.chunk);
        }
        out[..n].copy_from_slice(&data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

// ---- proptest strategies ----

use proptest::prelude::*;

pub fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,12}",
        1 => "[a-z]{120,300}",
    ]
}

/// A time delta: mostly small, sometimes huge (sums saturate, on both sides alike).
fn arb_dt() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..1000,
        2 => any::<u32>().prop_map(u64::from),
        1 => any::<u64>(),
    ]
}

fn arb_u64() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..300, any::<u64>()]
}

pub fn arb_header() -> impl Strategy<Value = Header> {
    (
        (any::<u32>(), any::<u32>(), arb_string()),
        prop::collection::vec(arb_string(), 0..4),
        (arb_string(), arb_u64(), arb_u64()),
        (
            arb_string(),
            arb_string(),
            prop::collection::vec(arb_string(), 0..3),
            prop::collection::vec((arb_string(), arb_string()), 0..3),
        ),
    )
        .prop_map(
            |(
                (pid, ppid, exe),
                argv,
                (hostname, start_unix_ns, start_mono_ns),
                (hook_version, stacks, devices, launch_env),
            )| {
                Header {
                    pid,
                    ppid,
                    exe,
                    argv,
                    hostname,
                    start_unix_ns,
                    start_mono_ns,
                    hook_version,
                    stacks,
                    devices,
                    launch_env,
                }
            },
        )
}

fn arb_event() -> impl Strategy<Value = Event> {
    (
        (
            arb_dt(),
            any::<u32>(),
            prop::sample::select(Api::ALL.to_vec()),
        ),
        (any::<i32>(), arb_u64(), arb_u64(), arb_u64()),
        (any::<u32>(), any::<u32>()),
        prop::option::of((arb_u64(), arb_u64())),
        (arb_u64(), prop::option::of(arb_u64())),
    )
        .prop_map(
            |(
                (dt, tid, api),
                (device, stream, address, size),
                (result, stack),
                mem,
                (aux, pool_reserved),
            )| Event {
                seq: 0,
                time_ns: dt,
                tid,
                api,
                device,
                stream,
                address,
                size,
                result,
                stack,
                mem_info: mem.map(|(free, total)| MemInfo { free, total }),
                aux,
                pool_reserved,
            },
        )
}

/// Any record but the header. Times are deltas here; [`arb_trace`] makes them absolute.
pub fn arb_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        8 => arb_event().prop_map(Record::Event),
        2 => (arb_string(), arb_u64(), arb_u64(), arb_u64(), prop::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(path, base, start, end, build_id)| Record::Module(Module {
                path,
                base,
                start,
                end,
                build_id,
            })),
        3 => (any::<u32>(), prop::collection::vec(arb_u64(), 0..40))
            .prop_map(|(id, frames)| Record::Stack(Stack { id, frames })),
        2 => (
            any::<u32>(),
            prop::collection::vec(arb_u64(), 0..20),
            prop::collection::vec((any::<u32>(), any::<u32>(), arb_string(), arb_string()), 0..4),
            prop::collection::vec((any::<u32>(), prop_oneof![0u32..2000, any::<u32>()]), 0..20),
        )
            .prop_map(|(id, frames, codes, python)| Record::PyStack(PyStack {
                id,
                frames,
                codes: codes
                    .into_iter()
                    .map(|(id, first_line, file, name)| PyCode { id, first_line, file, name })
                    .collect(),
                python: python.into_iter().map(|(code, line)| PyFrame { code, line }).collect(),
            })),
        1 => (arb_dt(), any::<u32>(), prop::option::of(arb_string()))
            .prop_map(|(time_ns, tid, label)| Record::Marker(Marker { time_ns, tid, label })),
        1 => (arb_dt(), prop_oneof![0u64..100, any::<u64>()])
            .prop_map(|(time_ns, count)| Record::Dropped { time_ns, count }),
        1 => arb_string().prop_map(Record::Note),
        2 => (arb_dt(), any::<u32>(), prop::sample::select(vec![RangeOp::Push, RangeOp::Pop, RangeOp::Start, RangeOp::End]), any::<u32>(), arb_u64(), prop::option::of(arb_string()), prop::option::of(arb_string()))
            .prop_map(|(time_ns, tid, op, depth, id, name, domain)| Record::Range(Range { time_ns, tid, op, depth, id, name, domain })),
        2 => (arb_dt(), any::<u32>(), prop::sample::select(LaunchApi::ALL.to_vec()), arb_u64(), arb_u64())
            .prop_map(|(time_ns, tid, api, function, stream)| Record::Launch(Launch { time_ns, tid, api, function, stream })),
        1 => (
            arb_dt(),
            arb_u64(),
            prop::collection::vec(
                (
                    (arb_u64(), arb_u64(), prop::sample::select(Api::ALL.to_vec())),
                    (any::<i32>(), arb_u64(), arb_u64(), arb_u64()),
                    (arb_u64(), any::<u32>()),
                ),
                0..6,
            ),
            prop::collection::vec((any::<i32>(), arb_u64()), 0..3),
        )
            .prop_map(|(time_ns, index, live, totals)| Record::Segment(Segment {
                index,
                time_ns,
                next_seq: 0,
                totals,
                // Times are ages here; arb_trace makes them absolute, no later than the segment.
                live: live
                    .into_iter()
                    .map(|((seq, age, api), (device, stream, address, size), (aux, stack))| LiveEntry {
                        seq,
                        time_ns: age,
                        api,
                        device,
                        stream,
                        address,
                        size,
                        aux,
                        stack,
                    })
                    .collect(),
            })),
        1 => (
            (arb_dt(), any::<u32>(), 1u8..=3, 1u8..=5, arb_string(), arb_u64(), arb_u64()),
            prop::collection::vec(
                (
                    (any::<i32>(), arb_u64(), arb_u64(), 1u8..=7, 1u8..=4),
                    (arb_string(), arb_string(), arb_string(), arb_string()),
                ),
                0..5,
            ),
        )
            .prop_map(|((time_ns, tid, reason, end, note, elapsed_us, visited), holders)| {
                Record::Holders(Holders {
                    time_ns,
                    tid,
                    reason: HoldersReason::from_u8(reason).unwrap(),
                    end: WalkEnd::from_u8(end).unwrap(),
                    note,
                    elapsed_us,
                    visited,
                    holders: holders
                        .into_iter()
                        .map(|((device, address, size, role, root), (root_where, path, owner, model))| Holder {
                            device,
                            address,
                            size,
                            role: Role::from_u8(role).unwrap(),
                            root: RootKind::from_u8(root).unwrap(),
                            root_where,
                            path,
                            owner,
                            model,
                        })
                        .collect(),
                })
            }),
        1 => (
            (arb_dt(), any::<i32>(), arb_u64()),
            prop::collection::vec((any::<u32>(), prop::option::of(arb_u64()), any::<bool>()), 0..4),
        )
            .prop_map(|((time_ns, device, failure_seq), processes)| {
                Record::Processes(DeviceProcesses {
                    time_ns,
                    device,
                    failure_seq,
                    processes: processes
                        .into_iter()
                        .map(|(pid, used_bytes, traced)| DeviceProcess {
                            pid,
                            used_bytes,
                            traced,
                        })
                        .collect(),
                })
            }),
        1 => (arb_u64(), arb_u64(), arb_u64(), arb_u64(), arb_u64()).prop_map(
            |(events, dropped, stacks, modules, end_mono_ns)| Record::Trailer(Trailer {
                events,
                dropped,
                stacks,
                modules,
                end_mono_ns,
            })
        ),
    ]
}

/// A header and records exactly as a reader will give them back: absolute, non-decreasing
/// times starting from the header's clock, and reconstructed sequence numbers.
pub fn arb_trace(max_records: usize) -> impl Strategy<Value = (Header, Vec<Record>)> {
    (
        arb_header(),
        prop::collection::vec(arb_record(), 0..max_records),
    )
        .prop_map(|(h, mut recs)| {
            let mut t = h.start_mono_ns;
            for r in &mut recs {
                let time = match r {
                    Record::Segment(seg) => {
                        t = t.saturating_add(seg.time_ns);
                        seg.time_ns = t;
                        for l in &mut seg.live {
                            l.time_ns = t.saturating_sub(l.time_ns);
                        }
                        continue;
                    }
                    Record::Event(e) => &mut e.time_ns,
                    Record::Marker(m) => &mut m.time_ns,
                    Record::Launch(l) => &mut l.time_ns,
                    Record::Range(r) => &mut r.time_ns,
                    Record::Dropped { time_ns, .. } => time_ns,
                    Record::Holders(h) => &mut h.time_ns,
                    Record::Processes(p) => &mut p.time_ns,
                    _ => continue,
                };
                t = t.saturating_add(*time);
                *time = t;
            }
            number(&mut recs);
            (h, recs)
        })
}
