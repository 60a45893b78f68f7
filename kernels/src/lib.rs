//! A small diffusion sampler on cudarc, with leaks that can be switched on: gpuleak's demo and
//! end-to-end test workload.
//!
//! DDIM (eta = 0) over `steps` steps of a linear-beta schedule (1000 training steps), on latents
//! of batch x channels x height x width, for several images. The denoiser is three CUDA kernels
//! (`denoiser.cu`: a 3x3 convolution in, a time embedding with SiLU, a 3x3 convolution out) and
//! the update a fourth; every step allocates its activations and predicted noise on the stream
//! and frees them before the next (stream-ordered: cuMemAllocAsync / cuMemFreeAsync).
//!
//! The leaks ([`Leak`]) are the patterns of diffusion workloads that gpuleak must tell apart,
//! each allocating from its own function in [`leaks`] so that each is its own call site.
//!
//! On a real GPU the kernels are compiled at run time with NVRTC. On gpuleak's fake CUDA driver (a
//! test double, `tests/fake-cuda`) nothing is compiled (there is no NVRTC there, and cudarc
//! panics when it cannot load a library): a placeholder module naming the kernels is loaded, and
//! the launches are only counted.

mod config;
mod driver;
pub mod leaks;
mod model;

pub use config::{Backend, Config, Error, Leak, Summary};
use config::{TRAIN_STEPS, fail};
pub use driver::driver_loadable;
use driver::{fake_launch_counter, find_mark, nvrtc_loadable};
pub use model::Model;
use model::Rng;

use std::io::Write;
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;

/// The kernels' CUDA C source, compiled with NVRTC on a real GPU.
pub const KERNELS_CU: &str = include_str!("denoiser.cu");
/// The entry points of [`KERNELS_CU`], in the order a step launches them.
pub const KERNEL_NAMES: [&str; 4] = ["conv_in", "time_silu", "conv_out", "ddim_update"];
/// What the fake driver's `cuDeviceGetName` answers (tests/fake-cuda/fake_cuda.c).
pub const FAKE_DEVICE_NAME: &str = "gpuleak fake GPU";

/// The four kernels, loaded into the context.
struct Kernels {
    conv_in: CudaFunction,
    time_silu: CudaFunction,
    conv_out: CudaFunction,
    ddim_update: CudaFunction,
}

impl Kernels {
    fn load(ctx: &Arc<CudaContext>, backend: &Backend) -> Result<Kernels, Error> {
        let ptx = match backend {
            Backend::Fake => {
                // The fake driver keeps a module as text and finds a function by its name in it.
                Ptx::from_src(format!(
                    "// gpuleak fake-driver placeholder module: nothing here runs\n// {}\n",
                    KERNEL_NAMES.join(" ")
                ))
            }
            Backend::Gpu(_) => {
                if !nvrtc_loadable() {
                    return Err(Error(
                        "compiling the kernels: NVRTC (libnvrtc.so) not found; install the CUDA \
                         toolkit's NVRTC or add its lib directory to LD_LIBRARY_PATH"
                            .into(),
                    ));
                }
                // PTX for the device's own compute capability rather than NVRTC's oldest default,
                // which newer toolkits drop; an NVRTC older than the device does not know the
                // device's, and then its default is used.
                let arch = ctx
                    .compute_capability()
                    .map(|(major, minor)| format!("--gpu-architecture=compute_{major}{minor}"))
                    .ok();
                // cudarc panics on an NVRTC it cannot use (missing symbols); keep that to one
                // line too.
                let compile = |options: Vec<String>| {
                    let opts = cudarc::nvrtc::CompileOptions {
                        options,
                        ..Default::default()
                    };
                    std::panic::catch_unwind(|| {
                        cudarc::nvrtc::compile_ptx_with_opts(KERNELS_CU, opts)
                    })
                    .map_err(|_| Error("compiling the kernels: NVRTC could not be used".into()))
                };
                match compile(arch.into_iter().collect())? {
                    Ok(ptx) => ptx,
                    Err(first) => compile(Vec::new())?
                        .map_err(|_| fail("compiling kernels/src/denoiser.cu with NVRTC", first))?,
                }
            }
        };
        let module = ctx
            .load_module(ptx)
            .map_err(|e| fail("loading the kernels' module", e))?;
        let f = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| fail(&format!("kernel {name}"), e))
        };
        Ok(Kernels {
            conv_in: f("conv_in")?,
            time_silu: f("time_silu")?,
            conv_out: f("conv_out")?,
            ddim_update: f("ddim_update")?,
        })
    }
}

/// alpha-bar of the linear beta schedule (1e-4 to 0.02 over 1000 steps), and the DDIM
/// timesteps: `steps` evenly spaced, highest first.
fn schedule(steps: usize) -> (Vec<f32>, Vec<usize>) {
    let mut alpha_bar = Vec::with_capacity(TRAIN_STEPS);
    let mut prod = 1.0f64;
    for t in 0..TRAIN_STEPS {
        let beta = 1e-4 + (0.02 - 1e-4) * t as f64 / (TRAIN_STEPS - 1) as f64;
        prod *= 1.0 - beta;
        alpha_bar.push(prod as f32);
    }
    let stride = TRAIN_STEPS / steps;
    let ts = (0..steps).rev().map(|i| i * stride).collect();
    (alpha_bar, ts)
}

fn as_i32(n: usize) -> i32 {
    // Config::check bounds every size the kernels get.
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn launch_cfg(n: usize) -> LaunchConfig {
    LaunchConfig::for_num_elems(n as u32)
}

/// Where a step is in the schedule: its time in [0, 1) for the embedding, and the alpha-bar it
/// goes from and to.
#[derive(Clone, Copy, Debug)]
struct Timestep {
    t: f32,
    a_t: f32,
    a_prev: f32,
}

/// One denoising step: the predicted noise for `x` at timestep `t`, then the DDIM update of `x`
/// in place. The hidden activation and the predicted noise are this step's temporaries,
/// allocated here and freed when it returns.
#[inline(never)]
fn denoise_step(
    stream: &Arc<CudaStream>,
    k: &Kernels,
    model: &Model,
    cfg: &Config,
    x: &mut CudaSlice<f32>,
    at: Timestep,
) -> Result<(), Error> {
    let Timestep { t, a_t, a_prev } = at;
    let (n, c, hid) = (as_i32(cfg.batch), as_i32(cfg.channels), as_i32(cfg.hidden));
    let (h, w) = (as_i32(cfg.height), as_i32(cfg.width));
    let hw = as_i32(cfg.height * cfg.width);
    let mut hidden = stream
        .alloc_zeros::<f32>(cfg.hidden_len())
        .map_err(|e| fail("allocating the step's activations", e))?;
    let mut eps = stream
        .alloc_zeros::<f32>(cfg.latent_len())
        .map_err(|e| fail("allocating the step's predicted noise", e))?;
    let (w_in, b_in, temb) = (
        model.part(model.layout.w_in),
        model.part(model.layout.b_in),
        model.part(model.layout.temb),
    );
    let (w_out, b_out) = (
        model.part(model.layout.w_out),
        model.part(model.layout.b_out),
    );
    let total = as_i32(cfg.latent_len());
    // SAFETY (all four launches): the arguments match the kernels' signatures in denoiser.cu,
    // and every buffer holds the elements the kernels index (sizes from the same Config).
    unsafe {
        stream
            .launch_builder(&k.conv_in)
            .arg(&*x)
            .arg(&w_in)
            .arg(&b_in)
            .arg(&mut hidden)
            .arg(&n)
            .arg(&c)
            .arg(&hid)
            .arg(&h)
            .arg(&w)
            .launch(launch_cfg(cfg.hidden_len()))
            .map_err(|e| fail("launching conv_in", e))?;
        stream
            .launch_builder(&k.time_silu)
            .arg(&mut hidden)
            .arg(&temb)
            .arg(&t)
            .arg(&n)
            .arg(&hid)
            .arg(&hw)
            .launch(launch_cfg(cfg.hidden_len()))
            .map_err(|e| fail("launching time_silu", e))?;
        stream
            .launch_builder(&k.conv_out)
            .arg(&hidden)
            .arg(&w_out)
            .arg(&b_out)
            .arg(&mut eps)
            .arg(&n)
            .arg(&hid)
            .arg(&c)
            .arg(&h)
            .arg(&w)
            .launch(launch_cfg(cfg.latent_len()))
            .map_err(|e| fail("launching conv_out", e))?;
        stream
            .launch_builder(&k.ddim_update)
            .arg(&mut *x)
            .arg(&eps)
            .arg(&a_t)
            .arg(&a_prev)
            .arg(&total)
            .launch(launch_cfg(cfg.latent_len()))
            .map_err(|e| fail("launching ddim_update", e))?;
    }
    Ok(())
}

/// Initial noise for one image, made on the host and copied up.
#[inline(never)]
fn initial_latents(
    stream: &Arc<CudaStream>,
    cfg: &Config,
    seed: u64,
) -> Result<CudaSlice<f32>, Error> {
    let mut rng = Rng(seed);
    let host: Vec<f32> = (0..cfg.latent_len()).map(|_| rng.normal()).collect();
    stream
        .clone_htod(&host)
        .map_err(|e| fail("copying the initial noise", e))
}

/// Runs the sampler: prints where it runs (first line), then one line per image and a summary.
pub fn run(cfg: &Config, out: &mut dyn Write) -> Result<Summary, Error> {
    cfg.check().map_err(Error)?;
    if !driver_loadable() {
        return Err(Error(
            "no CUDA driver (libcuda.so.1) found: on a machine without a GPU, run `gpuleak demo`, \
             or put gpuleak's fake driver (target/<profile>/build/gpuleak-tests-*/out/fake-cuda) \
             in LD_LIBRARY_PATH"
                .into(),
        ));
    }
    let ctx = CudaContext::new(0).map_err(|e| fail("opening CUDA device 0", e))?;
    let fake_launches = fake_launch_counter();
    let name = ctx.name().map_err(|e| fail("reading the device name", e))?;
    let backend = if fake_launches.is_some() || name == FAKE_DEVICE_NAME {
        Backend::Fake
    } else {
        Backend::Gpu(name)
    };
    let say = |out: &mut dyn Write, line: String| {
        // Output is a report for the user; a closed pipe must not stop the sampling.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    say(
        out,
        match &backend {
            Backend::Gpu(name) => format!(
                "gpuleak-sampler: running on a real GPU: {name} (kernels compiled with NVRTC)"
            ),
            Backend::Fake => "gpuleak-sampler: running on gpuleak's fake CUDA driver (a test \
                              double: kernels are not executed, only their launches counted)"
                .to_string(),
        },
    );
    let stream = ctx.new_stream().map_err(|e| fail("creating a stream", e))?;
    let kernels = Kernels::load(&ctx, &backend)?;
    let mark = if cfg.mark { find_mark() } else { None };
    let base = Arc::new(Model::load(&stream, cfg, cfg.seed)?);
    say(
        out,
        format!(
            "ddim: {} images x {} steps, latents {}x{}x{}x{}, hidden {}, model {:.1} MiB, leak {}, \
             marks {}",
            cfg.images,
            cfg.steps,
            cfg.batch,
            cfg.channels,
            cfg.height,
            cfg.width,
            cfg.hidden,
            base.bytes() as f64 / (1 << 20) as f64,
            cfg.leak.name(),
            match (cfg.mark, mark.is_some()) {
                (false, _) => "off",
                (true, true) => "on",
                (true, false) => "requested, but gpuleak_mark_iteration is absent",
            }
        ),
    );

    let (alpha_bar, timesteps) = schedule(cfg.steps);
    let mut steps_done = 0;
    for image in 0..cfg.images {
        let mut model = base.clone();
        let mut x = initial_latents(&stream, cfg, cfg.seed.wrapping_add(image as u64))?;
        let mut image_kept = Vec::new();
        for (i, &t) in timesteps.iter().enumerate() {
            if let Some(mark) = mark {
                mark(c"step".as_ptr());
            }
            match cfg.leak {
                Leak::PerStep => leaks::per_step_scratch(&stream, cfg)?,
                Leak::ModelSwitch if i == cfg.steps / 2 => {
                    let seed = cfg.seed.wrapping_add(1000 + image as u64);
                    leaks::switch_model(&stream, cfg, seed, &mut model)?;
                }
                _ => {}
            }
            let at = Timestep {
                t: t as f32 / TRAIN_STEPS as f32,
                a_t: alpha_bar[t],
                a_prev: timesteps.get(i + 1).map_or(1.0, |&p| alpha_bar[p]),
            };
            denoise_step(&stream, &kernels, &model, cfg, &mut x, at)?;
            match cfg.leak {
                Leak::KeepLatents => leaks::keep_latents(&stream, &x)?,
                Leak::Sawtooth => leaks::keep_for_image(&stream, &x, &mut image_kept)?,
                _ => {}
            }
            steps_done += 1;
            if cfg.step_ms > 0 {
                std::thread::sleep(std::time::Duration::from_millis(cfg.step_ms));
            }
        }
        let host = stream
            .clone_dtoh(&x)
            .map_err(|e| fail("copying the image back", e))?;
        let mean = host.iter().map(|&v| v as f64).sum::<f64>() / host.len() as f64;
        let var = host.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / host.len() as f64;
        let shown = match backend {
            Backend::Fake => " (not computed: the fake driver runs no kernels)",
            Backend::Gpu(_) => "",
        };
        say(
            out,
            format!(
                "image {}/{}: mean {mean:.4} std {:.4}{shown}",
                image + 1,
                cfg.images,
                var.sqrt()
            ),
        );
        // The sawtooth's copies go here, at the end of their image.
        drop(image_kept);
    }
    stream
        .synchronize()
        .map_err(|e| fail("synchronizing the stream", e))?;
    let (mem_free, mem_total) = ctx.mem_get_info().map_err(|e| fail("cuMemGetInfo", e))?;
    let launches = fake_launches
        .map_or((cfg.images * cfg.steps * KERNEL_NAMES.len()) as u64, |f| {
            f()
        });
    say(
        out,
        format!(
            "done: {} images, {steps_done} steps, {launches} kernel launches; device memory: {} \
             MiB used of {} MiB (cuMemGetInfo, before freeing)",
            cfg.images,
            (mem_total - mem_free) >> 20,
            mem_total >> 20
        ),
    );
    Ok(Summary {
        backend,
        images: cfg.images,
        steps: steps_done,
        launches,
        mem_free,
        mem_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Layout;

    fn config() -> Config {
        Config {
            batch: 2,
            channels: 4,
            height: 32,
            width: 32,
            hidden: 32,
            steps: 20,
            images: 4,
            model_mib: 16,
            leak: Leak::None,
            mark: false,
            seed: 0,
            step_ms: 0,
        }
    }

    #[test]
    fn the_schedule_goes_from_noise_to_data() {
        let (alpha_bar, ts) = schedule(20);
        assert_eq!(ts.len(), 20);
        assert_eq!(ts.first(), Some(&950));
        assert_eq!(ts.last(), Some(&0));
        assert!(ts.windows(2).all(|w| w[0] > w[1]));
        assert!(alpha_bar.windows(2).all(|w| w[0] > w[1]));
        assert!(alpha_bar[0] < 1.0 && alpha_bar[999] > 0.0 && alpha_bar[999] < 1e-3);
    }

    #[test]
    fn sizes_are_checked_before_anything_is_allocated() {
        assert!(config().check().is_ok());
        for bad in [
            Config {
                steps: 0,
                ..config()
            },
            Config {
                width: 0,
                ..config()
            },
            Config {
                steps: 1001,
                ..config()
            },
            Config {
                height: 1 << 20,
                width: 1 << 20,
                ..config()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_model_holds_the_convolutions_and_the_stand_in_parameters() {
        let l = Layout::new(&config());
        assert_eq!(l.w_in, (0, 32 * 4 * 9));
        assert_eq!(l.b_out.1, 32 * 4 * 9 + 32 + 32 + 4 * 32 * 9 + 4);
        assert_eq!(l.total, l.b_out.1 + (16 << 20) / 4);
    }

    #[test]
    fn the_noise_is_roughly_standard_normal() {
        let mut rng = Rng(7);
        let v: Vec<f64> = (0..20_000).map(|_| rng.normal() as f64).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
