//! A synthetic trace shaped like a sampler: weights kept from the start, then steps of scratch
//! allocations freed within the step from 100 call sites (499 pairs a step), a 1 MiB leak per
//! step, a marker per step. Used by the replay benchmark and by `examples/synth_trace.rs` (peak memory of
//! `gpuleak report` on it).

use gpuleak_trace::{Api, Encoder, Event, Header, Marker, Record, Stack, Trailer};

pub const SITES: u32 = 100;

struct Gen {
    enc: Encoder,
    buf: Vec<u8>,
    seq: u64,
    time: u64,
}

impl Gen {
    fn ev(&mut self, api: Api, address: u64, size: u64, stack: u32) {
        self.time += 50;
        let e = Event {
            seq: self.seq,
            time_ns: self.time,
            tid: 7,
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
        };
        self.enc.event(&e, &mut self.buf);
        self.seq += 1;
    }
}

pub fn trace(events: u64) -> Vec<u8> {
    let header = Header {
        pid: 1,
        exe: "/synthetic/sampler".into(),
        argv: vec!["sampler".into()],
        start_mono_ns: 1_000,
        hook_version: "bench".into(),
        stacks: "native".into(),
        ..Header::default()
    };
    let mut buf = Vec::with_capacity((events * 24) as usize);
    let enc = Encoder::start(&header, &mut buf);
    let mut g = Gen {
        enc,
        buf,
        seq: 0,
        time: 1_000,
    };
    for id in 1..=SITES + 1 {
        let frames: Vec<u64> = (0..16)
            .map(|f| 0x40_0000 + u64::from(id) * 0x1000 + f * 8)
            .collect();
        g.enc.any(&Record::Stack(Stack { id, frames }), &mut g.buf);
    }
    g.ev(Api::CudaMalloc, 0x1_0000_0000, 4 << 30, SITES + 1);
    let mut step = 0u64;
    while g.seq < events {
        let m = Marker {
            time_ns: g.time,
            tid: 7,
            label: None,
        };
        g.enc.marker(&m, &mut g.buf);
        let base = 0x100_0000_0000 + step * 0x100_0000;
        for i in 0..499u64 {
            let site = (i % u64::from(SITES)) as u32 + 1;
            g.ev(Api::CudaMalloc, base + i * 0x100, 4096 + i, site);
        }
        for i in 0..499u64 {
            g.ev(Api::CudaFree, base + i * 0x100, 0, 0);
        }
        g.ev(
            Api::CudaMalloc,
            0x9_0000_0000 + step * 0x10_0000,
            1 << 20,
            1,
        );
        step += 1;
    }
    let t = Trailer {
        events: g.seq,
        ..Trailer::default()
    };
    g.enc.trailer(&t, &mut g.buf);
    g.buf
}
