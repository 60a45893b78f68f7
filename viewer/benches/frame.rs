//! Frame time of the live view with 100,000 live allocations and 10,000 call sites: one turn of
//! the loop (state update with nothing new, then a draw of each screen on ratatui's
//! TestBackend), and apart from it the analysis that runs at most every 300 ms while the trace
//! grows. `cargo bench -p gpuleak --bench frame`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gpuleak::tui::App;
use gpuleak::tui::input::Action;
use gpuleak_analysis::ReportOptions;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SITES: u32 = 10_000;
const LIVE: u64 = 100_000;

fn frame(c: &mut Criterion) {
    let bytes = common::many_sites_trace(SITES, LIVE);
    let mut app = App::from_bytes(bytes, ReportOptions::default());
    assert_eq!(app.data.allocs.len() as u64, LIVE);
    assert_eq!(app.data.sites.len() as u32, SITES);
    let mut terminal = Terminal::new(TestBackend::new(160, 45)).unwrap();

    let mut g = c.benchmark_group("frame_100k_allocations_10k_sites");
    g.measurement_time(Duration::from_secs(5));
    for (i, name) in ["overview", "sites", "allocations", "iterations"]
        .iter()
        .enumerate()
    {
        app.apply(Action::Screen(i));
        // Somewhere in the middle of the tables, as a user scrolling would be.
        for _ in 0..50 {
            app.apply(Action::PageDown);
        }
        g.bench_function(format!("tick_and_draw_{name}"), |b| {
            b.iter(|| {
                app.tick(Instant::now());
                terminal
                    .draw(|f| gpuleak::tui::view::draw(f, black_box(&app)))
                    .unwrap();
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("analysis_100k_allocations_10k_sites");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("analyse", |b| b.iter(|| app.analyse()));
    g.finish();
}

criterion_group!(benches, frame);
criterion_main!(benches);
