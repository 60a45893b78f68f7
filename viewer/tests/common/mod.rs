//! Traces built in memory, scratch directories, and the gpuleak binary run as a user would.
//! The frame benchmark takes its large trace from here too, by path.
#![allow(dead_code)]

pub mod exports;
pub mod holders;
pub mod oom;
pub mod python;
pub mod screen;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gpuleak_trace::*;

#[allow(unused_imports)]
pub use holders::{gallery_trace, segment_kept_trace};

pub const MIB: u64 = 1 << 20;

pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gpuleak-viewer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn gpuleak(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpuleak"))
        .args(args)
        .current_dir(dir)
        .env_remove("GPULEAK_HOOK")
        .output()
        .expect("gpuleak runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes a program's calls on thread 1, `tick` ns apart; a failed call carries `oom` as what
/// the device had then.
struct Calls {
    enc: Encoder,
    buf: Vec<u8>,
    seq: u64,
    time: u64,
    tick: u64,
    oom: MemInfo,
    /// The device of the calls from here on.
    device: i32,
}

impl Calls {
    fn call(&mut self, api: Api, address: u64, size: u64, result: u32, stack: u32) {
        self.time += self.tick;
        self.enc.event(
            &Event {
                seq: self.seq,
                time_ns: self.time,
                tid: 1,
                api,
                device: self.device,
                stream: 0,
                address,
                size,
                result,
                stack,
                mem_info: (result != 0).then_some(self.oom),
                aux: 0,
                pool_reserved: None,
            },
            &mut self.buf,
        );
        self.seq += 1;
    }

    fn marker(&mut self, time_ns: u64) {
        self.labelled_marker(time_ns, None);
    }

    fn labelled_marker(&mut self, time_ns: u64, label: Option<&str>) {
        self.enc.marker(
            &Marker {
                time_ns,
                tid: 1,
                label: label.map(String::from),
            },
            &mut self.buf,
        );
    }

    fn launch(&mut self, function: u64) {
        self.time += self.tick;
        self.enc.launch(
            &Launch {
                time_ns: self.time,
                tid: 1,
                api: LaunchApi::CuLaunchKernel,
                function,
                stream: 0,
            },
            &mut self.buf,
        );
    }

    /// The trace, ended as a program that exits cleanly ends it.
    fn end(mut self) -> Vec<u8> {
        self.enc.trailer(&Trailer::default(), &mut self.buf);
        self.buf
    }
}

/// The start of a trace: `header`, one module (`path`, mapped from 0x1000 to `end`), and
/// `stacks` with ids from 1.
fn start(header: &Header, path: &str, end: u64, stacks: &[Vec<u64>]) -> (Encoder, Vec<u8>) {
    let mut buf = Vec::new();
    let mut enc = Encoder::start(header, &mut buf);
    enc.module(
        &Module {
            path: path.into(),
            base: 0x1000,
            start: 0x1000,
            end,
            build_id: vec![],
        },
        &mut buf,
    );
    for (id, frames) in (1..).zip(stacks) {
        enc.stack(id, frames, &mut buf);
    }
    (enc, buf)
}

/// A trace of a sampler that leaks one 2 MiB buffer per step for `steps` steps, frees its
/// scratch, and fails once for lack of memory; `trailer` says whether it exited cleanly.
pub fn leaky_trace(steps: u64, trailer: bool) -> Vec<u8> {
    let header = Header {
        pid: 4242,
        ppid: 1,
        exe: "/usr/bin/sampler".into(),
        argv: vec!["sampler".into(), "--steps".into(), steps.to_string()],
        hostname: "gpu-node".into(),
        start_mono_ns: 100,
        hook_version: "0.1.0".into(),
        stacks: "native".into(),
        ..Header::default()
    };
    let stacks = [vec![0x1100, 0x1010], vec![0x2200, 0x1010]];
    let (enc, buf) = start(&header, "/nonexistent/sampler", 0x9000, &stacks);
    let mut c = Calls {
        enc,
        buf,
        seq: 0,
        time: 100,
        tick: 5,
        oom: MemInfo {
            free: 10 * MIB,
            total: 1 << 30,
        },
        device: 0,
    };
    for step in 0..steps {
        c.call(Api::CudaMalloc, 0xa000 + step, MIB, 0, 1);
        c.call(Api::CudaFree, 0xa000 + step, 0, 0, 1);
        c.call(Api::CudaMalloc, 0xb000 + step, 2 * MIB, 0, 2);
    }
    c.call(Api::CuMemAlloc, 0, 512 * MIB, 2, 2);
    if trailer { c.end() } else { c.buf }
}

/// A trace of a program on the VMM API and pools: 64 GiB of address space reserved, 2 MiB of
/// physical memory mapped into it, 1 MiB from a pool freed asynchronously, a trim.
pub fn vmm_trace() -> Vec<u8> {
    let header = Header {
        pid: 4343,
        exe: "/usr/bin/trainer".into(),
        hostname: "gpu-node".into(),
        stacks: "off".into(),
        ..Header::default()
    };
    let mut buf = Vec::new();
    let mut enc = Encoder::start(&header, &mut buf);
    let va = 0x7f00_0000_0000;
    let calls = [
        (Api::CuMemAddressReserve, va, 64 << 30, 0),
        (Api::CuMemCreate, 0x5, 2 * MIB, 0),
        (Api::CuMemMap, va, 2 * MIB, 0x5),
        (Api::CuMemAllocFromPoolAsync, 0xa000, MIB, 0x77),
        (Api::CuMemFreeAsync, 0xa000, 0, 0),
        (Api::CuMemPoolTrimTo, 0x77, 0, 3 * MIB),
        (Api::CudaMalloc, 0xb000, 3 * MIB, 0),
    ];
    for (seq, (api, address, size, aux)) in calls.into_iter().enumerate() {
        enc.event(
            &Event {
                seq: seq as u64,
                time_ns: seq as u64,
                tid: 1,
                api,
                device: 0,
                stream: 0,
                address,
                size,
                result: 0,
                stack: 0,
                mem_info: None,
                // A trim carries what the pool kept in `pool_reserved`.
                aux: if api == Api::CuMemPoolTrimTo { 0 } else { aux },
                pool_reserved: (api == Api::CuMemPoolTrimTo).then_some(aux),
            },
            &mut buf,
        );
    }
    enc.trailer(&Trailer::default(), &mut buf);
    buf
}

/// The start of [`stepped_trace`] and [`unmarked_trace`], which differ only in how the steps are
/// told apart: process `pid`, sites 1 to 3, 1 GiB of weights and a failed allocation.
/// A trace of `/nonexistent/sampler` with these stacks, on a 16 GiB device, ready for calls.
fn calls(header: &Header, stacks: &[Vec<u64>]) -> Calls {
    let (enc, buf) = start(header, "/nonexistent/sampler", 0x9000, stacks);
    Calls {
        enc,
        buf,
        seq: 0,
        time: 0,
        tick: 1000,
        oom: MemInfo {
            free: 0,
            total: 16 << 30,
        },
        device: 0,
    }
}

fn sampler(pid: u32) -> Calls {
    let header = Header {
        pid,
        exe: "/usr/bin/sampler".into(),
        hostname: "gpu-node".into(),
        stacks: "native".into(),
        devices: vec!["NVIDIA H100 80GB HBM3".into()],
        ..Header::default()
    };
    let stacks = [vec![0x1100], vec![0x2200], vec![0x3300]];
    let mut c = calls(&header, &stacks);
    c.call(Api::CudaMalloc, 0x100, 1 << 30, 0, 1);
    c.call(Api::CudaMalloc, 0, 64 << 30, 2, 1);
    c
}

/// A sampler that marks each of `steps` steps, frees a 64 MiB scratch every step, and, when
/// `leak` says so, keeps `leak_bytes` more at a second site each step. Weights (1 GiB) are
/// loaded before the first marker. One failed allocation tells the device's total: 16 GiB.
pub fn stepped_trace(steps: u64, leak_bytes: u64) -> Vec<u8> {
    let mut c = sampler(77);
    for step in 0..steps {
        c.marker(step * 1_000_000);
        c.call(Api::CudaMalloc, 0xa000 + step, 64 * MIB, 0, 3);
        c.call(Api::CudaFree, 0xa000 + step, 0, 0, 3);
        if leak_bytes > 0 {
            c.call(Api::CudaMalloc, 0xb000 + step, leak_bytes, 0, 2);
        }
    }
    c.end()
}

/// A sampler whose every allocation goes through one helper (frame 0x4400), called from three
/// places: stack 1 keeps 2 MiB a step (0x5500), stack 2 is scratch freed every step (0x6600),
/// stack 3 weights loaded once (0x7700). Only the callers tell the sites apart.
pub fn helper_trace(steps: u64) -> Vec<u8> {
    helper_program(79, steps, 0, vec![])
}

/// [`helper_trace`]'s program on two devices: the weights (stack 3) and scratch (stack 2) on
/// GPU 0, the 2 MiB kept a step (stack 1) on GPU 1.
pub fn two_device_trace(steps: u64) -> Vec<u8> {
    helper_program(80, steps, 1, vec!["GPU zero".into(), "GPU one".into()])
}

/// The helper-shaped program, keeping its 2 MiB a step on device `leak_on`.
fn helper_program(pid: u32, steps: u64, leak_on: i32, devices: Vec<String>) -> Vec<u8> {
    let header = Header {
        pid,
        exe: "/usr/bin/sampler".into(),
        hostname: "gpu-node".into(),
        stacks: "native".into(),
        devices,
        ..Header::default()
    };
    let stacks = [
        vec![0x4400, 0x5500],
        vec![0x4400, 0x6600],
        vec![0x4400, 0x7700],
    ];
    let mut c = calls(&header, &stacks);
    c.call(Api::CudaMalloc, 0x100, 512 * MIB, 0, 3);
    for step in 0..steps {
        c.marker(step * 1_000_000);
        c.call(Api::CudaMalloc, 0xa000 + step, 64 * MIB, 0, 2);
        c.call(Api::CudaFree, 0xa000 + step, 0, 0, 2);
        c.device = leak_on;
        c.call(Api::CudaMalloc, 0xb000 + step, 2 * MIB, 0, 1);
        c.device = 0;
    }
    c.end()
}

/// What marks the steps of [`unmarked_trace`] instead of gpuleak_mark_iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steps {
    /// Only the kernels each step launches: three functions, in the same order every step.
    Launches,
    /// An NVTX range "step" pushed around each step, with a more frequent range "attention"
    /// nested inside it that must not be taken for the steps.
    Nvtx,
}

/// [`stepped_trace`] without markers: the same weights, scratch and leak per step, with the
/// steps told apart by `steps_by` (and the same kernel launches either way, as a real program
/// has). The device figures per step are those of `stepped_trace(steps, leak_bytes)`.
pub fn unmarked_trace(steps: u64, leak_bytes: u64, steps_by: Steps) -> Vec<u8> {
    let mut c = sampler(78);
    let launch = |c: &mut Calls, function: u64| {
        c.time += c.tick;
        c.enc.launch(
            &Launch {
                time_ns: c.time,
                tid: 1,
                api: LaunchApi::CuLaunchKernel,
                function,
                stream: 0,
            },
            &mut c.buf,
        );
    };
    let range = |c: &mut Calls, op: RangeOp, depth: u32, name: Option<&str>| {
        c.time += c.tick;
        c.enc.range(
            &Range {
                time_ns: c.time,
                tid: 1,
                op,
                depth,
                id: 0,
                name: name.map(str::to_string),
                domain: None,
            },
            &mut c.buf,
        );
    };
    for step in 0..steps {
        let nvtx = steps_by == Steps::Nvtx;
        if nvtx {
            range(&mut c, RangeOp::Push, 0, Some("step"));
        }
        launch(&mut c, 0xf100);
        c.call(Api::CudaMalloc, 0xa000 + step, 64 * MIB, 0, 3);
        // Early in the step, so that a step's end taken a launch or range too early or too late
        // shows in what is live there.
        if leak_bytes > 0 {
            c.call(Api::CudaMalloc, 0xb000 + step, leak_bytes, 0, 2);
        }
        for _ in 0..2 {
            if nvtx {
                range(&mut c, RangeOp::Push, 1, Some("attention"));
            }
            launch(&mut c, 0xf200);
            if nvtx {
                range(&mut c, RangeOp::Pop, 1, None);
            }
        }
        c.call(Api::CudaFree, 0xa000 + step, 0, 0, 3);
        launch(&mut c, 0xf300);
        if nvtx {
            range(&mut c, RangeOp::Pop, 0, None);
        }
    }
    c.end()
}

/// A program whose steps launch `period` kernels each, all different, ended after `launches`
/// launches: each step takes 5 activations of 64 MiB (site 3) over its first half and gives
/// them back halfway. Fewer than three steps, and the steps are not found: time windows stand
/// in.
pub fn long_steps_trace(period: u64, launches: u64) -> Vec<u8> {
    let mut c = sampler(79);
    let every = period / 10;
    for i in 0..launches {
        let (step, k) = (i / period, i % period);
        c.launch(0xf000 + k);
        let activation = |n: u64| 0xa000 + step * 16 + n;
        if k < period / 2 && k % every == 0 {
            c.call(Api::CudaMalloc, activation(k / every), 64 * MIB, 0, 3);
        }
        if k == period / 2 {
            for n in 0..5 {
                c.call(Api::CudaFree, activation(n), 0, 0, 3);
            }
        }
    }
    c.end()
}

/// A trace with `sites` call sites (distinct stacks, three frames each) and `live` allocations
/// still live at the end, made over 10 marked iterations, plus as many freed along the way.
pub fn many_sites_trace(sites: u32, live: u64) -> Vec<u8> {
    let header = Header {
        pid: 99,
        exe: "/usr/bin/big".into(),
        argv: vec!["big".into()],
        hostname: "gpu-node".into(),
        stacks: "native".into(),
        ..Header::default()
    };
    let stacks: Vec<Vec<u64>> = (1..=sites)
        .map(|s| vec![0x10_0000 + u64::from(s) * 0x40, 0x2000, 0x1010])
        .collect();
    let (enc, buf) = start(&header, "/nonexistent/big", 0x10_0000_0000, &stacks);
    let mut c = Calls {
        enc,
        buf,
        seq: 0,
        time: 0,
        tick: 100,
        // Nothing fails.
        oom: MemInfo { free: 0, total: 0 },
        device: 0,
    };
    let iterations = 10u64;
    let per = live.div_ceil(iterations);
    let mut made = 0u64;
    for it in 0..iterations {
        c.marker((it * per * 3 + 1) * 100);
        for k in 0..per {
            if made == live {
                break;
            }
            let site = (made % u64::from(sites)) as u32 + 1;
            let size = 4096 * (1 + u64::from(site % 7));
            // A scratch buffer, freed at once, then the one that stays.
            let scratch = 0x9000_0000_0000 + (it * per + k) * 0x10;
            c.call(Api::CudaMalloc, scratch, size, 0, site);
            c.call(Api::CudaFree, scratch, 0, 0, site);
            let address = 0x7000_0000_0000 + made * 0x10_0000;
            c.call(Api::CudaMalloc, address, size, 0, site);
            made += 1;
        }
    }
    c.end()
}

/// Whether process `pid` is gone (or a zombie nobody reaped: it ran its course all the same).
pub fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Waits up to `limit` for `pid` to end; whether it did.
pub fn ends_within(pid: i32, limit: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    gone(pid)
}

/// [`stepped_trace`]'s leak made `depth` frames deep: frame `#i` reads `sampler+0x{100+i:x}0`
/// hex-wise, `sampler+0x1000` the innermost.
pub fn deep_stack_trace(steps: u64, depth: u64) -> Vec<u8> {
    let header = Header {
        pid: 78,
        exe: "/usr/bin/sampler".into(),
        hostname: "gpu-node".into(),
        stacks: "native".into(),
        ..Header::default()
    };
    let deep: Vec<u64> = (0..depth).map(|i| 0x2000 + i * 0x10).collect();
    let mut c = calls(&header, &[deep]);
    for step in 0..steps {
        c.marker(step * 1_000_000);
        c.call(Api::CudaMalloc, 0xb000 + step, 3 * MIB, 0, 1);
    }
    c.end()
}

/// [`stepped_trace`] of a program that frees everything at exit, as every Python program
/// does: the leak is held at the last iteration and gone at the end.
pub fn freed_at_exit_trace(steps: u64, leak_bytes: u64) -> Vec<u8> {
    let mut c = sampler(77);
    for step in 0..steps {
        c.marker(step * 1_000_000);
        c.call(Api::CudaMalloc, 0xa000 + step, 64 * MIB, 0, 3);
        c.call(Api::CudaFree, 0xa000 + step, 0, 0, 3);
        c.call(Api::CudaMalloc, 0xb000 + step, leak_bytes, 0, 2);
    }
    for step in 0..steps {
        c.call(Api::CudaFree, 0xb000 + step, 0, 0, 2);
    }
    c.call(Api::CudaFree, 0x100, 0, 0, 1);
    c.end()
}

/// A server whose program marks each of `requests` requests with
/// `gpuleak_mark_iteration(label)` and keeps `leak_bytes` of each; it is still running.
pub fn labelled_marker_trace(requests: u64, leak_bytes: u64, label: &str) -> Vec<u8> {
    let mut c = sampler(78);
    for n in 0..requests {
        c.labelled_marker(n * 1_000_000, Some(label));
        c.call(Api::CudaMalloc, 0xa000 + n, 64 * MIB, 0, 3);
        c.call(Api::CudaFree, 0xa000 + n, 0, 0, 3);
        c.call(Api::CudaMalloc, 0xb000 + n, leak_bytes, 0, 2);
    }
    c.buf
}

/// A PyTorch-like run under `--torch-tensors`: `tensors` tensor allocations (cudaMallocAsync)
/// from 64 call sites `depth` frames deep, each freed a little later except one in 100, with
/// an iteration marked every 500.
pub fn tensor_trace(tensors: u64, depth: u64) -> Vec<u8> {
    let header = Header {
        pid: 81,
        exe: "/usr/bin/python3".into(),
        hostname: "gpu-node".into(),
        stacks: "native".into(),
        ..Header::default()
    };
    let stacks: Vec<Vec<u64>> = (0..64u64)
        .map(|s| {
            (0..depth)
                .map(|i| 0x2000 + if i == 0 { s * 0x10 } else { 0x800 + i * 0x10 })
                .collect()
        })
        .collect();
    let (enc, buf) = start(&header, "/nonexistent/python3", 0x10_0000, &stacks);
    let mut c = Calls {
        enc,
        buf,
        seq: 0,
        time: 0,
        tick: 1000,
        oom: MemInfo { free: 0, total: 0 },
        device: 0,
    };
    let address = |i: u64| 0x7f00_0000_0000 + i * 0x1000;
    for i in 0..tensors {
        if i % 500 == 0 {
            c.marker(c.time + 1);
        }
        c.call(
            Api::CudaMallocAsync,
            address(i),
            4096,
            0,
            (i % 64) as u32 + 1,
        );
        if i >= 8 && (i - 8) % 100 != 0 {
            c.call(
                Api::CudaFreeAsync,
                address(i - 8),
                0,
                0,
                ((i - 8) % 64) as u32 + 1,
            );
        }
    }
    c.end()
}
