//! The worked example in docs/trace-format.md, byte for byte. If this test fails the format has
//! changed: update the document (and think about FORMAT_VERSION) before updating the bytes here.
//! `cargo test -p gpuleak-trace --test format_example -- --nocapture` prints the dump.

use gpuleak_trace::*;

fn example() -> (Header, Vec<Record>) {
    let t0 = 1_000_000;
    let header = Header {
        pid: 1234,
        ppid: 1,
        exe: "/bin/app".into(),
        argv: vec!["app".into(), "-v".into()],
        hostname: "gpu1".into(),
        start_unix_ns: 1_700_000_000_000_000_000,
        start_mono_ns: t0,
        hook_version: "0.1.0".into(),
        stacks: "native".into(),
        devices: Vec::new(),
        launch_env: Vec::new(),
    };
    let alloc = Event {
        seq: 0,
        time_ns: t0 + 1_500,
        tid: 1234,
        api: Api::CudaMalloc,
        device: 0,
        stream: 0,
        address: 0x7f00_0000_0000,
        size: 1 << 20,
        result: 0,
        stack: 1,
        mem_info: None,
        aux: 0,
        pool_reserved: None,
    };
    let failed = Event {
        seq: 1,
        time_ns: t0 + 1_600,
        api: Api::CuMemAlloc,
        address: 0,
        size: 1 << 40,
        result: 2,
        stack: NO_STACK,
        mem_info: Some(MemInfo {
            free: 1 << 30,
            total: 80 << 30,
        }),
        ..alloc.clone()
    };
    let free = Event {
        seq: 4,
        time_ns: t0 + 3_000,
        api: Api::CudaFree,
        device: NO_DEVICE,
        size: 0,
        stack: 1,
        ..alloc.clone()
    };
    let records = vec![
        Record::Module(Module {
            path: "/lib/libcudart.so".into(),
            base: 0x10000,
            start: 0x10000,
            end: 0x20000,
            build_id: vec![0xab, 0xcd],
        }),
        Record::Stack(Stack {
            id: 1,
            frames: vec![0x401234, 0x400abc],
        }),
        Record::Event(alloc),
        Record::Event(failed),
        Record::Dropped {
            time_ns: t0 + 2_000,
            count: 2,
        },
        Record::Marker(Marker {
            time_ns: t0 + 2_500,
            tid: 1234,
            label: Some("epoch".into()),
        }),
        Record::Event(free),
        Record::Note("hi".into()),
        Record::Trailer(Trailer {
            events: 3,
            dropped: 2,
            stacks: 1,
            modules: 1,
            end_mono_ns: t0 + 4_000,
        }),
    ];
    (header, records)
}

/// One line per record (the prelude and the header first).
const EXPECTED: [&str; 11] = [
    "47 50 55 4c 45 41 4b 00 03 00 00 00",
    "01 32 d2 09 01 08 2f 62 69 6e 2f 61 70 70 02 03 61 70 70 02 2d 76 04 67 70 75 31 80 80 a8 b1 \
     e3 9f e7 cb 17 c0 84 3d 05 30 2e 31 2e 30 06 6e 61 74 69 76 65",
    "02 1e 11 2f 6c 69 62 2f 6c 69 62 63 75 64 61 72 74 2e 73 6f 80 80 04 80 80 04 80 80 08 02 ab \
     cd",
    "03 0a 01 02 b4 a4 80 02 bc 95 80 02",
    "04 14 00 dc 0b d2 09 01 00 00 80 80 80 80 80 e0 1f 80 80 40 00 01",
    "04 1b 01 64 d2 09 20 00 00 00 80 80 80 80 80 20 02 00 80 80 80 80 04 80 80 80 80 c0 02",
    "06 03 90 03 02",
    "05 0b f4 03 d2 09 01 05 65 70 6f 63 68",
    "04 12 00 f4 03 d2 09 02 01 00 80 80 80 80 80 e0 1f 00 00 01",
    "07 03 02 68 69",
    "08 07 03 02 01 01 e0 a3 3d",
];

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_documented_example_is_what_the_encoder_writes() {
    let (header, records) = example();
    let mut buf = Vec::new();
    let mut enc = Encoder::start(&header, &mut buf);
    let mut lines = vec![
        hex(&buf[..encode::PRELUDE_LEN]),
        hex(&buf[encode::PRELUDE_LEN..]),
    ];
    for r in &records {
        let at = buf.len();
        enc.any(r, &mut buf);
        lines.push(hex(&buf[at..]));
    }
    for l in &lines {
        println!("{l}");
    }
    println!("{} bytes", buf.len());
    let expected: Vec<String> = EXPECTED
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, expected);

    // And it reads back as documented.
    let got: Vec<Record> = Reader::new(&buf[..]).unwrap().map(Result::unwrap).collect();
    assert_eq!(got[0], Record::Header(header));
    assert_eq!(got[1..], records[..]);
}
