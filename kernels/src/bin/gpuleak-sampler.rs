//! `gpuleak-sampler`: a DDIM diffusion sampler on cudarc with switchable leaks (see the
//! gpuleak-kernels crate). On a real GPU, or on gpuleak's fake CUDA driver; the first line says
//! which.

use clap::Parser;
use gpuleak_kernels::{Config, Leak};

/// A small DDIM diffusion sampler on CUDA (cudarc), with leaks to switch on: gpuleak's demo
/// workload.
///
/// Every step runs a small convolutional denoiser (CUDA kernels compiled with NVRTC on a real
/// GPU) and allocates and frees its temporaries on the stream. On gpuleak's fake CUDA driver (a
/// test double) the kernels are not executed, only their launches counted; the first line of
/// output says which.
#[derive(Debug, Parser)]
#[command(name = "gpuleak-sampler", version)]
struct Args {
    /// The leak to put in the sampler.
    #[arg(long, value_enum, default_value_t = Leak::None)]
    leak: Leak,

    /// Call gpuleak_mark_iteration("step") at the start of every step, when the process has it
    /// (run under gpuleak); without gpuleak this does nothing.
    #[arg(long)]
    mark: bool,

    /// Denoising steps per image.
    #[arg(long, default_value_t = 20)]
    steps: usize,

    /// Images sampled, one after the other.
    #[arg(long, default_value_t = 4)]
    images: usize,

    /// Latent batch size.
    #[arg(long, default_value_t = 2)]
    batch: usize,

    /// Latent channels.
    #[arg(long, default_value_t = 4)]
    channels: usize,

    /// Latent height.
    #[arg(long, default_value_t = 32)]
    height: usize,

    /// Latent width.
    #[arg(long, default_value_t = 32)]
    width: usize,

    /// Channels of the denoiser's hidden layer.
    #[arg(long, default_value_t = 32)]
    hidden: usize,

    /// Weights beyond the convolutions, in MiB: a stand-in for the rest of a real model's
    /// parameters (not run), so that loading a model costs memory as it does in real samplers.
    #[arg(long, default_value_t = 16)]
    model_mib: usize,

    /// Seed of the weights and the initial noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Sleep this many milliseconds after every step (on the fake driver a step takes no time;
    /// this makes a run slow enough to watch live).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    step_ms: u64,
}

fn main() {
    let a = Args::parse();
    let cfg = Config {
        batch: a.batch,
        channels: a.channels,
        height: a.height,
        width: a.width,
        hidden: a.hidden,
        steps: a.steps,
        images: a.images,
        model_mib: a.model_mib,
        leak: a.leak,
        mark: a.mark,
        seed: a.seed,
        step_ms: a.step_ms,
    };
    let mut out = std::io::stdout();
    if let Err(e) = gpuleak_kernels::run(&cfg, &mut out) {
        eprintln!("gpuleak-sampler: {e}");
        std::process::exit(1);
    }
}
