//! How fast a trace is analysed: replay (live set, sites, per-iteration series) and the report
//! (verdicts, symbols), on a synthetic 10-million-event sampler trace.
//! `cargo bench -p gpuleak-analysis --bench replay`

mod synth;

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gpuleak_analysis::replay::Replay;
use gpuleak_analysis::report::Report;
use gpuleak_analysis::symbols::Symbolizer;

const EVENTS: u64 = 10_000_000;

fn replay(c: &mut Criterion) {
    let bytes = synth::trace(EVENTS);
    let mut g = c.benchmark_group("analysis");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(EVENTS));
    g.bench_function("replay_10M_events", |b| {
        b.iter(|| {
            let mut r = gpuleak_trace::Reader::new(bytes.as_slice()).unwrap();
            Replay::from_reader(&mut r).unwrap()
        })
    });
    g.bench_function("replay_and_report_10M_events", |b| {
        b.iter(|| {
            let mut r = gpuleak_trace::Reader::new(bytes.as_slice()).unwrap();
            let replay = Replay::from_reader(&mut r).unwrap();
            Report::build(&replay, &mut Symbolizer::new())
        })
    });
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
