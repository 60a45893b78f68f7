//! The memory_viz export of a PyTorch-like run of 50,000 tensors 32 frames deep (the shape of
//! the run that once took 9-11 s and gigabytes): the pickle alone, from the model already
//! read, with the default history and with a short one. Its size and memory are checked in
//! tests/memory_viz_size.rs. `cargo bench -p gpuleak --bench memory_viz`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gpuleak::filter::{MAX_ENTRIES, What};
use gpuleak::model::Model;
use gpuleak::render::memory_viz;
use gpuleak_analysis::ReportOptions;

fn memory_viz(c: &mut Criterion) {
    let d = common::scratch("bench-memory-viz");
    let trace = d.join("run.trace");
    std::fs::write(&trace, common::tensor_trace(50_000, 32)).unwrap();
    let model = Model::load(&trace, &ReportOptions::default(), What::Live, true).unwrap();

    let mut g = c.benchmark_group("memory_viz_50k_tensors_32_frames");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for (name, max) in [("all", MAX_ENTRIES), ("latest_10k", 10_000)] {
        g.bench_function(name, |b| {
            b.iter(|| memory_viz::render(black_box(&model), max).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, memory_viz);
criterion_main!(benches);
