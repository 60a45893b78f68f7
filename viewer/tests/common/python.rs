//! A Python image server's trace, as PyTorch under `--torch-tensors` would leave it: model
//! weights loaded once, and one output image per request kept in a module-level `GALLERY` list
//! (allocated deep inside the pipeline's VAE decode, 30 C++ frames under the Python lines), with
//! the holders snapshots the hook's walker writes.

use gpuleak_trace::*;

use super::MIB;

/// Where the weights are: one 512 MiB allocation.
pub const WEIGHTS: u64 = 0x7f00_0000_0000;
pub const WEIGHTS_SIZE: u64 = 512 * MIB;
/// Each request's image: 1.5 MiB.
pub const IMAGE_SIZE: u64 = 3 * MIB / 2;

pub fn image(i: u64) -> u64 {
    0x7f10_0000_0000 + i * 2 * MIB
}

/// A trace being written: the encoder and the bytes so far, to which a test appends.
pub struct Live {
    pub enc: Encoder,
    pub buf: Vec<u8>,
    pub time: u64,
    seq: u64,
}

impl Live {
    /// One CUDA call of the server's main thread.
    pub fn call(&mut self, api: Api, address: u64, size: u64, stack: u32) {
        self.time += 1000;
        self.enc.event(
            &Event {
                seq: self.seq,
                time_ns: self.time,
                tid: 1,
                api,
                device: 0,
                stream: 0,
                address,
                size,
                result: 0,
                stack,
                mem_info: None,
                aux: 0,
                pool_reserved: None,
            },
            &mut self.buf,
        );
        self.seq += 1;
    }

    /// The interpreter tearing its modules down: every image freed, as at a Python program's
    /// exit after the walk.
    pub fn free_images(&mut self, requests: u64) {
        for i in 0..requests {
            self.call(Api::CudaFree, image(i), 0, 2);
        }
    }

    /// The walk's answer, as the hook appends it.
    pub fn holders(&mut self, reason: HoldersReason, requests: u64) -> Vec<u8> {
        self.time += 1000;
        let snapshot = gallery_holders(reason, requests, self.time);
        let mut b = Vec::new();
        self.enc.holders(&snapshot, &mut b);
        self.buf.extend_from_slice(&b);
        b
    }

    /// The trace ended as a clean exit ends it.
    pub fn end(mut self) -> Vec<u8> {
        self.enc.trailer(&Trailer::default(), &mut self.buf);
        self.buf
    }
}

const CODES: [(&str, &str); 6] = [
    (
        "/venv/lib/python3.11/site-packages/diffusers/image_processor.py",
        "VaeImageProcessor._denormalize_conditionally",
    ),
    (
        "/venv/lib/python3.11/site-packages/diffusers/pipelines/pipeline.py",
        "StableDiffusionPipeline.__call__",
    ),
    ("/srv/app.py", "generate"),
    ("/srv/app.py", "main"),
    ("/srv/app.py", "<module>"),
    ("/srv/app.py", "build"),
];

/// The server (process `pid`) after `requests` requests, each image kept; no trailer yet.
pub fn gallery_server(pid: u32, requests: u64) -> Live {
    let header = Header {
        pid,
        exe: "/usr/bin/python3.11".into(),
        argv: vec!["python".into(), "app.py".into()],
        hostname: "gpu-node".into(),
        stacks: "python".into(),
        devices: vec!["NVIDIA H100 80GB HBM3".into()],
        ..Header::default()
    };
    let mut buf = Vec::new();
    let mut enc = Encoder::start(&header, &mut buf);
    for (path, start) in [
        ("/nonexistent/libtorch_cuda.so", 0x1000),
        ("/nonexistent/libpython3.11.so.1.0", 0x3000),
    ] {
        enc.module(
            &Module {
                path: path.into(),
                base: start,
                start,
                end: start + 0x1000,
                build_id: vec![],
            },
            &mut buf,
        );
    }
    let codes: Vec<PyCode> = (1..)
        .zip(CODES)
        .map(|(id, (file, name))| PyCode {
            id,
            first_line: 1,
            file: file.into(),
            name: name.into(),
        })
        .collect();
    let py = |frames: &[(u32, u32)]| -> Vec<PyFrame> {
        frames
            .iter()
            .map(|&(code, line)| PyFrame { code, line })
            .collect()
    };
    // The weights: a few C++ frames under `build (app.py:69)`.
    let mut native: Vec<u64> = (0..5).map(|i| 0x1010 + i * 0x10).collect();
    native.push(0x3010);
    enc.py_stack(
        1,
        &native,
        &codes,
        &py(&[(6, 69), (4, 130), (5, 0)]),
        &mut buf,
    );
    // The images: 30 C++ frames of PyTorch under the pipeline's Python and the server's.
    let mut native: Vec<u64> = (0..30).map(|i| 0x1100 + i * 0x10).collect();
    native.push(0x3010);
    let image_stack = py(&[(1, 210), (2, 1050), (3, 122), (4, 140), (5, 0)]);
    enc.py_stack(2, &native, &[], &image_stack, &mut buf);

    let mut live = Live {
        enc,
        buf,
        time: 0,
        seq: 0,
    };
    live.call(Api::CudaMalloc, WEIGHTS, WEIGHTS_SIZE, 1);
    for i in 0..requests {
        live.time += 1000;
        live.enc.marker(
            &Marker {
                time_ns: live.time,
                tid: 1,
                label: None,
            },
            &mut live.buf,
        );
        live.call(Api::CudaMalloc, image(i), IMAGE_SIZE, 2);
    }
    live
}

/// What the walker finds in the server after `requests` requests: the UNet's weight, and each
/// image in `GALLERY`.
pub fn gallery_holders(reason: HoldersReason, requests: u64, time_ns: u64) -> Holders {
    let mut holders = vec![Holder {
        device: 0,
        address: WEIGHTS,
        size: WEIGHTS_SIZE,
        role: Role::Parameter,
        root: RootKind::ModuleGlobal,
        root_where: "/srv/app.py".into(),
        path: "pipe.unet.conv_in.weight".into(),
        owner: "Tensor float16[320, 4, 3, 3]".into(),
        model: "pipe.unet (UNet2DConditionModel)".into(),
    }];
    holders.extend((0..requests).map(|i| Holder {
        device: 0,
        address: image(i),
        size: IMAGE_SIZE,
        role: Role::UserHeld,
        root: RootKind::ModuleGlobal,
        root_where: "/srv/app.py".into(),
        path: format!("GALLERY[{i}]"),
        owner: "Tensor float16[1, 3, 512, 512]".into(),
        model: String::new(),
    }));
    Holders {
        time_ns,
        tid: 1,
        reason,
        end: WalkEnd::Complete,
        note: String::new(),
        elapsed_us: 420_000,
        visited: 1_234_567,
        holders,
    }
}

/// A native program (process `pid`) that has allocated twice and is still running.
pub fn native_program(pid: u32) -> Vec<u8> {
    let header = Header {
        pid,
        exe: "/usr/bin/sampler".into(),
        stacks: "native".into(),
        ..Header::default()
    };
    let mut buf = Vec::new();
    let mut enc = Encoder::start(&header, &mut buf);
    enc.stack(1, &[0x1010], &mut buf);
    for seq in 0..2 {
        enc.event(
            &Event {
                seq,
                time_ns: 1000 * (seq + 1),
                tid: 1,
                api: Api::CudaMalloc,
                device: 0,
                stream: 0,
                address: 0x7000_0000 + seq * MIB,
                size: MIB,
                result: 0,
                stack: 1,
                mem_info: None,
                aux: 0,
                pool_reserved: None,
            },
            &mut buf,
        );
    }
    buf
}
