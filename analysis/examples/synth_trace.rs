//! Writes a synthetic sampler trace: `cargo run --release -p gpuleak-analysis --example
//! synth_trace -- FILE EVENTS`. For measuring `gpuleak report` on large traces.

#[path = "../benches/synth/mod.rs"]
mod synth;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(events)) = (args.next(), args.next().and_then(|n| n.parse().ok())) else {
        eprintln!("usage: synth_trace FILE EVENTS");
        std::process::exit(2);
    };
    if let Err(e) = std::fs::write(&path, synth::trace(events)) {
        eprintln!("synth_trace: {path}: {e}");
        std::process::exit(1);
    }
}
