//! Traces of Python programs whose hook walked their holders: a gallery server, and its
//! program under PyTorch's caching allocator.

use gpuleak_trace::*;

use super::*;

/// A Python server under PyTorch (`--torch-tensors`) that puts every request's 1.5 MiB output
/// into `GALLERY` (app.py) for `requests` requests, after 8 MiB of UNet weights; the walk at exit
/// ends as `end` says (with what it found unless it is unavailable). Its sites' stacks are
/// native frames in libc10_cuda, then the Python frames: the output's innermost Python frame is
/// diffusers' `_denormalize` (a library), called from `main (app.py:122)`.
pub fn gallery_trace(requests: u64, end: WalkEnd) -> Vec<u8> {
    let header = Header {
        pid: 90,
        exe: "/usr/bin/python3".into(),
        argv: vec!["python3".into(), "app.py".into()],
        hostname: "gpu-node".into(),
        stacks: "python".into(),
        ..Header::default()
    };
    let (mut enc, mut buf) = start(&header, "/nonexistent/libc10_cuda.so", 0x9000, &[]);
    enc.module(
        &Module {
            path: "/usr/lib/libpython3.11.so.1.0".into(),
            base: 0x10000,
            start: 0x10000,
            end: 0x20000,
            build_id: vec![],
        },
        &mut buf,
    );
    let code = |id, name: &str, file: &str| PyCode {
        id,
        first_line: 1,
        file: file.into(),
        name: name.into(),
    };
    let frame = |code, line| PyFrame { code, line };
    let vae = "/venv/lib/python3.11/site-packages/diffusers/image_processor.py";
    enc.py_stack(
        1,
        &[0x1100, 0x1200, 0x10100],
        &[code(1, "build", "app.py")],
        &[frame(1, 69)],
        &mut buf,
    );
    enc.py_stack(
        2,
        &[0x1300, 0x1400, 0x1500, 0x10100],
        &[
            code(2, "main", "app.py"),
            code(3, "VaeImageProcessor._denormalize", vae),
        ],
        &[frame(3, 700), frame(2, 122)],
        &mut buf,
    );
    enc.py_stack(
        3,
        &[0x1600, 0x10100],
        &[code(4, "decode", "app.py")],
        &[frame(4, 40)],
        &mut buf,
    );
    let mut c = Calls {
        enc,
        buf,
        seq: 0,
        time: 0,
        tick: 1000,
        oom: MemInfo { free: 0, total: 0 },
        device: 0,
    };
    let unet = "pipe.unet (UNet2DConditionModel)";
    let weights = 0x7f00_0000_0000;
    c.call(Api::CudaMallocAsync, weights, 8 * MIB, 0, 1);
    let mut held = vec![Holder {
        device: 0,
        address: weights,
        size: 8 * MIB,
        role: Role::Parameter,
        root: RootKind::ModuleGlobal,
        root_where: "app.py".into(),
        path: "pipe.unet.conv_in.weight".into(),
        owner: "Tensor float16[4194304]".into(),
        model: unet.into(),
    }];
    let image = 3 * MIB / 2;
    for i in 0..requests {
        c.marker(c.time + 1);
        let scratch = 0x7f10_0000_0000 + i * 0x100_0000;
        let out = 0x7f20_0000_0000 + i * 0x100_0000;
        c.call(Api::CudaMallocAsync, scratch, 4 * MIB, 0, 3);
        c.call(Api::CudaMallocAsync, out, image, 0, 2);
        c.call(Api::CudaFreeAsync, scratch, 0, 0, 3);
        held.push(Holder {
            device: 0,
            address: out,
            size: image,
            role: Role::UserHeld,
            root: RootKind::ModuleGlobal,
            root_where: "app.py".into(),
            path: format!("GALLERY[{i}]"),
            owner: "Tensor float16[1, 3, 512, 512]".into(),
            model: String::new(),
        });
    }
    c.time += 1000;
    let (note, held) = match end {
        WalkEnd::Complete => ("", held),
        WalkEnd::Unavailable => ("not a Python program gpuleak can run code in", Vec::new()),
        _ => ("stopped after 2.0 s", held),
    };
    c.enc.holders(
        &Holders {
            time_ns: c.time,
            tid: 1,
            reason: HoldersReason::Exit,
            end,
            note: note.into(),
            elapsed_us: 12_000,
            visited: 250_000,
            holders: held,
        },
        &mut c.buf,
    );
    c.end()
}

/// [`gallery_trace`]'s program under PyTorch's native caching allocator: two 20 MiB segments,
/// the weights (8 MiB) in the first, `GALLERY[3]` (1.5 MiB) in the second; then a 1 GiB request
/// fails and the walk at the failure finds both.
pub fn segment_kept_trace() -> Vec<u8> {
    let header = Header {
        pid: 91,
        exe: "/usr/bin/python3".into(),
        hostname: "gpu-node".into(),
        stacks: "python".into(),
        ..Header::default()
    };
    let (mut enc, mut buf) = start(&header, "/nonexistent/libc10_cuda.so", 0x9000, &[]);
    let codes = [(1, "build"), (2, "main")].map(|(id, name)| PyCode {
        id,
        first_line: 1,
        file: "app.py".into(),
        name: name.into(),
    });
    enc.py_stack(
        1,
        &[0x1100],
        &codes[..1],
        &[PyFrame { code: 1, line: 69 }],
        &mut buf,
    );
    enc.py_stack(
        2,
        &[0x1300],
        &codes[1..],
        &[PyFrame { code: 2, line: 122 }],
        &mut buf,
    );
    let mut c = Calls {
        enc,
        buf,
        seq: 0,
        time: 0,
        tick: 1000,
        oom: MemInfo {
            free: 20 * MIB,
            total: 1 << 30,
        },
        device: 0,
    };
    let (first, second) = (0x7f00_0000_0000u64, 0x7f00_0400_0000u64);
    c.call(Api::CudaMalloc, first, 20 * MIB, 0, 1);
    c.call(Api::CudaMalloc, second, 20 * MIB, 0, 2);
    c.call(Api::CudaMalloc, 0, 1 << 30, 2, 2);
    let holder = |path: &str, address, size, role, model: &str| Holder {
        device: 0,
        address,
        size,
        role,
        root: RootKind::ModuleGlobal,
        root_where: "app.py".into(),
        path: path.into(),
        owner: "Tensor float16[786432]".into(),
        model: model.into(),
    };
    c.time += 1000;
    c.enc.holders(
        &Holders {
            time_ns: c.time,
            tid: 1,
            reason: HoldersReason::OutOfMemory,
            end: WalkEnd::Complete,
            note: String::new(),
            elapsed_us: 3_000,
            visited: 1_000,
            holders: vec![
                holder(
                    "pipe.unet.conv_in.weight",
                    first,
                    8 * MIB,
                    Role::Parameter,
                    "pipe.unet (UNet2DConditionModel)",
                ),
                holder(
                    "GALLERY[3]",
                    second + 4 * MIB,
                    3 * MIB / 2,
                    Role::UserHeld,
                    "",
                ),
            ],
        },
        &mut c.buf,
    );
    c.end()
}
