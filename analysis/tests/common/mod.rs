//! The in-memory trace builder the analysis tests share: records written in order, the way the
//! hook writes them, then replayed and reported.

#![allow(dead_code)]

pub use gpuleak_analysis::{Replay, Report, ReportOptions, Site, Symbolizer};
pub use gpuleak_trace::*;
use regex::Regex;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// Builds a trace record by record. Sites 1 to 4 are recorded stacks.
pub struct Trace {
    pub buf: Vec<u8>,
    pub enc: Encoder,
    pub seq: u64,
    pub time: u64,
    /// Nanoseconds between two records.
    tick: u64,
    /// The address [`Trace::alloc_next`] hands out after the last one.
    next: u64,
    /// The stack a free is recorded with.
    free_stack: u32,
    /// The label each marker carries.
    marker_label: Option<String>,
    /// Whether every event carries the device's memory info, not only failures.
    mem_info_always: bool,
    /// The device ordinal events are made on.
    device: i32,
    /// What cuMemGetInfo reports as the total of the current device.
    total: u64,
}

impl Trace {
    /// A small trace: one frame per site, no modules, a record every microsecond.
    pub fn new() -> Trace {
        let header = Header {
            pid: 1,
            exe: "/usr/bin/sample".into(),
            start_mono_ns: 1_000,
            stacks: "native".into(),
            ..Header::default()
        };
        let mut t = Trace::start(&header, 1_000, 0, None);
        for site in 1..=4u32 {
            t.enc
                .stack(site, &[0x10_0000 + u64::from(site) * 0x1000], &mut t.buf);
        }
        t
    }

    /// A trace with a full header and a module, whose site n has its innermost frame at
    /// 0x10_n000, called from main at 0x10_0100; a record every 10 ns, frees at site 3,
    /// unlabelled markers.
    pub fn hooked() -> Trace {
        let header = Header {
            pid: 4242,
            ppid: 1,
            exe: "/usr/bin/sample".into(),
            argv: vec!["sample".into(), "--steps".into(), "50".into()],
            hostname: "gpu-node".into(),
            start_unix_ns: 1_700_000_000_000_000_000,
            start_mono_ns: 1_000,
            hook_version: "0.1.0".into(),
            stacks: "native".into(),
            devices: vec![
                "NVIDIA H100 80GB HBM3".into(),
                "NVIDIA A100-SXM4-40GB".into(),
            ],
            launch_env: Vec::new(),
        };
        let mut t = Trace::start(&header, 10, 3, None);
        t.enc.module(
            &Module {
                path: "/nonexistent/sample".into(),
                base: 0x10_0000,
                start: 0x10_0000,
                end: 0x20_0000,
                build_id: vec![1, 2, 3],
            },
            &mut t.buf,
        );
        for site in 1..=4u32 {
            t.enc.stack(
                site,
                &[0x10_0000 + u64::from(site) * 0x1000, 0x10_0100],
                &mut t.buf,
            );
        }
        t
    }

    fn start(header: &Header, tick: u64, free_stack: u32, marker_label: Option<&str>) -> Trace {
        let mut buf = Vec::new();
        let enc = Encoder::start(header, &mut buf);
        Trace {
            buf,
            enc,
            seq: 0,
            time: 1_000,
            tick,
            next: 0x1000_0000,
            free_stack,
            marker_label: marker_label.map(String::from),
            mem_info_always: false,
            device: 0,
            total: 16 * GIB,
        }
    }

    /// A shared object loaded in the process (no stack points into it).
    pub fn module(&mut self, path: &str) -> &mut Self {
        self.enc.module(
            &Module {
                path: path.into(),
                base: 0x7f00_0000_0000,
                start: 0x7f00_0000_0000,
                end: 0x7f00_0010_0000,
                build_id: vec![],
            },
            &mut self.buf,
        );
        self
    }

    /// Every event from here on carries the device's memory info, as the hook's sampling does.
    pub fn mem_info_always(mut self) -> Trace {
        self.mem_info_always = true;
        self
    }

    /// Events from here on are made on device `ordinal`.
    pub fn on_device(&mut self, ordinal: i32) -> &mut Self {
        self.device = ordinal;
        self
    }

    /// Events from here on report `total` bytes as the device's memory.
    pub fn device_total(&mut self, total: u64) -> &mut Self {
        self.total = total;
        self
    }

    pub fn event(
        &mut self,
        api: Api,
        address: u64,
        size: u64,
        result: u32,
        stack: u32,
    ) -> &mut Self {
        self.event_aux(api, address, size, 0, result, stack)
    }

    /// A successful call carrying a second handle (`aux`).
    pub fn call(&mut self, api: Api, address: u64, size: u64, aux: u64, stack: u32) -> &mut Self {
        self.event_aux(api, address, size, aux, 0, stack)
    }

    pub fn event_aux(
        &mut self,
        api: Api,
        address: u64,
        size: u64,
        aux: u64,
        result: u32,
        stack: u32,
    ) -> &mut Self {
        self.time += self.tick;
        let e = Event {
            seq: self.seq,
            time_ns: self.time,
            tid: 7,
            api,
            device: self.device,
            stream: 0,
            address,
            size,
            result,
            stack,
            mem_info: (self.mem_info_always || result != 0).then_some(MemInfo {
                free: 100 * MIB,
                total: self.total,
            }),
            // A trim's `aux`-like figure, the pool's reserved bytes, travels in `pool_reserved`.
            aux: if api == Api::CuMemPoolTrimTo { 0 } else { aux },
            pool_reserved: (api == Api::CuMemPoolTrimTo).then_some(aux),
        };
        self.seq += 1;
        self.enc.event(&e, &mut self.buf);
        self
    }

    /// A failed cudaMalloc of `size` bytes at `stack` (out of memory), with cuMemGetInfo's
    /// figures as given.
    pub fn out_of_memory(&mut self, size: u64, free: u64, total: u64, stack: u32) -> &mut Self {
        self.time += self.tick;
        let e = Event {
            seq: self.seq,
            time_ns: self.time,
            tid: 7,
            api: Api::CudaMalloc,
            device: self.device,
            stream: 0,
            address: 0,
            size,
            result: 2,
            stack,
            mem_info: Some(MemInfo { free, total }),
            aux: 0,
            pool_reserved: None,
        };
        self.seq += 1;
        self.enc.event(&e, &mut self.buf);
        self
    }

    /// A stream-ordered allocation from `pool`, which then held `reserved` bytes.
    pub fn async_alloc(&mut self, address: u64, size: u64, pool: u64, reserved: u64) -> &mut Self {
        self.time += self.tick;
        let e = Event {
            seq: self.seq,
            time_ns: self.time,
            tid: 7,
            api: Api::CuMemAllocAsync,
            device: 0,
            stream: 0x5,
            address,
            size,
            result: 0,
            stack: 1,
            mem_info: None,
            aux: pool,
            pool_reserved: Some(reserved),
        };
        self.seq += 1;
        self.enc.event(&e, &mut self.buf);
        self
    }

    pub fn alloc(&mut self, address: u64, size: u64, stack: u32) -> &mut Self {
        self.event(Api::CudaMalloc, address, size, 0, stack)
    }

    /// Allocates `size` bytes at a fresh address, and returns it.
    pub fn alloc_next(&mut self, size: u64, stack: u32) -> u64 {
        self.next += 0x100_0000;
        let a = self.next;
        self.alloc(a, size, stack);
        a
    }

    pub fn free(&mut self, address: u64) -> &mut Self {
        self.event(Api::CudaFree, address, 0, 0, self.free_stack)
    }

    /// The label the markers from here on carry.
    pub fn label_markers(&mut self, label: Option<String>) -> &mut Self {
        self.marker_label = label;
        self
    }

    pub fn marker(&mut self) -> &mut Self {
        self.time += self.tick;
        self.enc.marker(
            &Marker {
                time_ns: self.time,
                tid: 7,
                label: self.marker_label.clone(),
            },
            &mut self.buf,
        );
        self
    }

    pub fn launch(&mut self, function: u64) -> &mut Self {
        self.time += self.tick;
        self.enc.launch(
            &Launch {
                time_ns: self.time,
                tid: 7,
                api: LaunchApi::CudaLaunchKernel,
                function,
                stream: 0,
            },
            &mut self.buf,
        );
        self
    }

    pub fn range(
        &mut self,
        op: RangeOp,
        depth: u32,
        name: Option<&str>,
        domain: Option<&str>,
    ) -> &mut Self {
        self.time += self.tick;
        let r = Range {
            time_ns: self.time,
            tid: 7,
            op,
            depth,
            id: 0,
            name: name.map(String::from),
            domain: domain.map(String::from),
        };
        self.enc.range(&r, &mut self.buf);
        self
    }

    pub fn push(&mut self, depth: u32, name: &str) -> &mut Self {
        self.range(RangeOp::Push, depth, Some(name), None)
    }

    pub fn pop(&mut self, depth: u32) -> &mut Self {
        self.range(RangeOp::Pop, depth, None, None)
    }

    pub fn trailer(&mut self) -> &mut Self {
        self.enc.trailer(
            &Trailer {
                events: self.seq,
                end_mono_ns: self.time + self.tick,
                ..Trailer::default()
            },
            &mut self.buf,
        );
        self
    }

    /// The bytes written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn replay(&self) -> Replay {
        replay_bytes(&self.buf).expect("a valid trace")
    }

    pub fn report(&self) -> Report {
        Report::build(&self.replay(), &mut Symbolizer::new())
    }

    /// The report with `--iteration-range` set to `pattern`, if given.
    pub fn report_with(&self, pattern: Option<&str>) -> Report {
        let options = ReportOptions {
            iteration_range: pattern.map(|p| Regex::new(p).unwrap()),
        };
        Report::build_with(&self.replay(), &mut Symbolizer::new(), &options)
    }
}

/// `images` images of `steps` steps, each step keeping `size` bytes at site 2 until its image
/// ends (an autograd graph kept through an image): a sawtooth.
pub fn kept_through_each_image(images: u64, steps: u64, size: u64) -> Trace {
    let mut t = Trace::new();
    let mut addr = 0x1000;
    for _image in 0..images {
        let mut held = Vec::new();
        for _step in 0..steps {
            t.marker();
            t.alloc(addr, size, 2);
            held.push(addr);
            addr += 1;
        }
        for a in held {
            t.free(a);
        }
    }
    t
}

pub fn replay_bytes(bytes: &[u8]) -> Result<Replay, DecodeError> {
    Replay::from_reader(&mut Reader::new(bytes)?)
}

pub fn site(r: &Report, stack: u32) -> &Site {
    r.sites.iter().find(|s| s.stack_id == stack).unwrap()
}

pub fn verdict(r: &Report, stack: u32) -> Option<&str> {
    site(r, stack).verdict().map(|v| v.as_str())
}

/// A holder as the walk inside a Python program names one: a float16 tensor of `size` bytes at
/// `address`, on device 0.
pub fn holder(path: &str, address: u64, size: u64, role: Role, root: RootKind, at: &str) -> Holder {
    Holder {
        device: 0,
        address,
        size,
        role,
        root,
        root_where: at.into(),
        path: path.into(),
        owner: format!("Tensor float16[{}]", size / 2),
        model: String::new(),
    }
}

/// A parameter of `model` (`pipe.unet (UNet2DConditionModel)`).
pub fn weight(path: &str, address: u64, size: u64, model: &str) -> Holder {
    Holder {
        model: model.into(),
        ..holder(
            path,
            address,
            size,
            Role::Parameter,
            RootKind::ModuleGlobal,
            "app.py",
        )
    }
}

impl Trace {
    /// A Holders record: the walk ran now and ended as `end` says.
    pub fn holders(
        &mut self,
        reason: HoldersReason,
        end: WalkEnd,
        note: &str,
        holders: Vec<Holder>,
    ) -> &mut Self {
        self.time += self.tick;
        self.enc.holders(
            &Holders {
                time_ns: self.time,
                tid: 7,
                reason,
                end,
                note: note.into(),
                elapsed_us: 1_500,
                visited: 40_000,
                holders,
            },
            &mut self.buf,
        );
        self
    }
}
