//! Large traces for the TUI's tests and frame benchmark, shared by path.
#![allow(dead_code)]

use gpuleak_trace::*;

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
    let mut buf = Vec::new();
    let mut enc = Encoder::start(&header, &mut buf);
    enc.module(
        &Module {
            path: "/nonexistent/big".into(),
            base: 0x1000,
            start: 0x1000,
            end: 0x10_0000_0000,
            build_id: vec![],
        },
        &mut buf,
    );
    for s in 1..=sites {
        let ip = 0x10_0000 + u64::from(s) * 0x40;
        enc.stack(s, &[ip, 0x2000, 0x1010], &mut buf);
    }
    let iterations = 10u64;
    let per = live.div_ceil(iterations);
    let (mut seq, mut time) = (0u64, 0u64);
    let mut event = |enc: &mut Encoder, buf: &mut Vec<u8>, api, address, size, stack| {
        time += 100;
        enc.event(
            &Event {
                seq,
                time_ns: time,
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
            buf,
        );
        seq += 1;
    };
    let mut made = 0u64;
    for it in 0..iterations {
        enc.marker(
            &Marker {
                time_ns: (it * per * 3 + 1) * 100,
                tid: 1,
                label: None,
            },
            &mut buf,
        );
        for k in 0..per {
            if made == live {
                break;
            }
            let site = (made % u64::from(sites)) as u32 + 1;
            let size = 4096 * (1 + u64::from(site % 7));
            // A scratch buffer, freed at once, then the one that stays.
            let scratch = 0x9000_0000_0000 + (it * per + k) * 0x10;
            event(&mut enc, &mut buf, Api::CudaMalloc, scratch, size, site);
            event(&mut enc, &mut buf, Api::CudaFree, scratch, 0, site);
            let address = 0x7000_0000_0000 + made * 0x10_0000;
            event(&mut enc, &mut buf, Api::CudaMalloc, address, size, site);
            made += 1;
        }
    }
    enc.trailer(&Trailer::default(), &mut buf);
    buf
}
