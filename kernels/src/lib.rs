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

pub mod leaks;

use std::ffi::{CStr, c_char, c_void};
use std::io::Write;
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;

/// The kernels' CUDA C source, compiled with NVRTC on a real GPU.
pub const KERNELS_CU: &str = include_str!("denoiser.cu");
/// The entry points of [`KERNELS_CU`], in the order a step launches them.
pub const KERNEL_NAMES: [&str; 4] = ["conv_in", "time_silu", "conv_out", "ddim_update"];
/// What the fake driver's `cuDeviceGetName` answers (tests/fake-cuda/fake_cuda.c).
pub const FAKE_DEVICE_NAME: &str = "gpuleak fake GPU";
/// A symbol only the fake driver exports (tests/fake-cuda/fake_cuda.c): the launch counter.
const FAKE_MARKER: &CStr = c"fakeCudaLaunchCount";
/// Training steps of the noise schedule.
const TRAIN_STEPS: usize = 1000;

/// Which leak to put in the sampler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Leak {
    /// No leak: every step's temporaries are freed, models and latents too.
    None,
    /// A scratch buffer allocated every step and never freed (`leaks::per_step_scratch`).
    PerStep,
    /// A copy of every step's latents kept for the whole run, across images
    /// (`leaks::keep_latents`).
    KeepLatents,
    /// A copy of every step's latents kept until the end of its image, then freed: a sawtooth,
    /// like an autograd graph kept alive through an image (`leaks::keep_for_image`).
    Sawtooth,
    /// Half-way through every image the sampler switches to a refiner model (as base + refiner
    /// pipelines do), loading a fresh copy of it each time, and keeps every model it switched
    /// from or to (`leaks::switch_model`): a model-sized step per image.
    ModelSwitch,
}

impl Leak {
    pub fn name(self) -> &'static str {
        match self {
            Leak::None => "none",
            Leak::PerStep => "per-step",
            Leak::KeepLatents => "keep-latents",
            Leak::Sawtooth => "sawtooth",
            Leak::ModelSwitch => "model-switch",
        }
    }
}

/// The sampler's settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Channels of the denoiser's hidden activation.
    pub hidden: usize,
    pub steps: usize,
    pub images: usize,
    /// Bytes of weights beyond the convolutions, in MiB: a stand-in for the parameters of a real
    /// model (text encoder, attention) that this small denoiser does not run, so that loading a
    /// model costs what it costs in real samplers.
    pub model_mib: usize,
    pub leak: Leak,
    /// Call `gpuleak_mark_iteration("step")` at the start of every step, when it is present.
    pub mark: bool,
    pub seed: u64,
    /// Milliseconds to sleep after every step: on the fake driver a step takes no time, and a
    /// run to watch live needs some.
    pub step_ms: u64,
}

impl Config {
    pub(crate) fn latent_len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }

    fn hidden_len(&self) -> usize {
        self.batch * self.hidden * self.height * self.width
    }

    /// Checks the sizes: every count at least 1, and every buffer within what the kernels index
    /// (i32).
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("--batch", self.batch),
            ("--channels", self.channels),
            ("--height", self.height),
            ("--width", self.width),
            ("--hidden", self.hidden),
            ("--steps", self.steps),
            ("--images", self.images),
        ] {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.steps > TRAIN_STEPS {
            return Err(format!("--steps must be at most {TRAIN_STEPS}"));
        }
        let big = [self.latent_len(), self.hidden_len()]
            .into_iter()
            .any(|n| n == 0 || n > i32::MAX as usize);
        let dims = [
            self.batch,
            self.channels,
            self.height,
            self.width,
            self.hidden,
        ];
        if big || dims.iter().any(|&d| d > i32::MAX as usize) {
            return Err(
                "latents too large: batch x channels x height x width and batch x hidden \
                        x height x width must each stay below 2^31 elements"
                    .into(),
            );
        }
        if self.model_mib > 1 << 20 {
            return Err("--model-mib must be at most 1048576".into());
        }
        Ok(())
    }
}

/// Where the sampler runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A real GPU, by name; kernels compiled with NVRTC and executed.
    Gpu(String),
    /// gpuleak's fake CUDA driver: kernels are launched (counted) but never run.
    Fake,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub backend: Backend,
    pub images: usize,
    pub steps: usize,
    pub launches: u64,
    /// cuMemGetInfo at the end, before anything is freed: (free, total).
    pub mem_free: usize,
    pub mem_total: usize,
}

/// A one-line failure: what, and where.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn fail(what: &str, e: impl std::fmt::Display) -> Error {
    Error(format!("{what}: {e}"))
}

/// dlopen of the first library name that loads, kept loaded; `None` when none does.
fn dlopen_any(names: &[String], flags: i32) -> Option<*mut c_void> {
    names.iter().find_map(|name| {
        let c = std::ffi::CString::new(name.as_str()).ok()?;
        // SAFETY: dlopen with a NUL-terminated name; the handle is only used for dlsym.
        let h = unsafe { libc::dlopen(c.as_ptr(), flags) };
        (!h.is_null()).then_some(h)
    })
}

/// Whether a CUDA driver library can be loaded at all. cudarc panics when it cannot, so this is
/// asked first, to fail in one line instead.
pub fn driver_loadable() -> bool {
    dlopen_any(
        &cudarc::get_lib_name_candidates("cuda"),
        libc::RTLD_LAZY | libc::RTLD_LOCAL,
    )
    .is_some()
}

/// Whether NVRTC can be loaded (asked before cudarc tries, for the same reason).
fn nvrtc_loadable() -> bool {
    dlopen_any(
        &cudarc::get_lib_name_candidates("nvrtc"),
        libc::RTLD_LAZY | libc::RTLD_LOCAL,
    )
    .is_some()
}

/// The fake driver's launch counter, when the loaded libcuda is gpuleak's fake driver. The
/// device name alone could be faked by accident; the marker symbol cannot.
fn fake_launch_counter() -> Option<extern "C" fn() -> u64> {
    let names = cudarc::get_lib_name_candidates("cuda");
    // RTLD_NOLOAD: only the library cudarc already loaded, never a second one.
    let h = dlopen_any(&names, libc::RTLD_LAZY | libc::RTLD_NOLOAD)?;
    // SAFETY: dlsym on a live handle with a NUL-terminated name.
    let p = unsafe { libc::dlsym(h, FAKE_MARKER.as_ptr()) };
    // SAFETY: the fake exports `unsigned long long fakeCudaLaunchCount(void)`.
    (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, extern "C" fn() -> u64>(p) })
}

type MarkFn = extern "C" fn(*const c_char);

/// `gpuleak_mark_iteration`, when the process has it (the hook is preloaded).
fn find_mark() -> Option<MarkFn> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"gpuleak_mark_iteration".as_ptr()) };
    // SAFETY: the hook exports `void gpuleak_mark_iteration(const char *)`.
    (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, MarkFn>(p) })
}

/// A small deterministic generator (SplitMix64): weights and initial noise are made on the host,
/// so that no kernel is launched once per image (which would blur the per-step launch sequence
/// gpuleak uses to find iterations when the program marks none).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// Offsets of the denoiser's tensors in a model's one weight buffer.
#[derive(Clone, Copy, Debug)]
struct Layout {
    w_in: (usize, usize),
    b_in: (usize, usize),
    temb: (usize, usize),
    w_out: (usize, usize),
    b_out: (usize, usize),
    total: usize,
}

impl Layout {
    fn new(cfg: &Config) -> Layout {
        let mut at = 0;
        let mut take = |n: usize| {
            let r = (at, at + n);
            at += n;
            r
        };
        let w_in = take(cfg.hidden * cfg.channels * 9);
        let b_in = take(cfg.hidden);
        let temb = take(cfg.hidden);
        let w_out = take(cfg.channels * cfg.hidden * 9);
        let b_out = take(cfg.channels);
        let table = cfg.model_mib * (1 << 20) / std::mem::size_of::<f32>();
        Layout {
            w_in,
            b_in,
            temb,
            w_out,
            b_out,
            total: at + table,
        }
    }
}

/// A model's weights on the device: one buffer, as a checkpoint loads them.
pub struct Model {
    weights: CudaSlice<f32>,
    layout: Layout,
}

impl Model {
    /// Random weights (scaled by fan-in so activations stay bounded), copied to the device.
    #[inline(never)]
    pub fn load(stream: &Arc<CudaStream>, cfg: &Config, seed: u64) -> Result<Model, Error> {
        let layout = Layout::new(cfg);
        let mut host = vec![0f32; layout.total];
        let mut rng = Rng(seed);
        let fill = |host: &mut [f32], (a, b): (usize, usize), scale: f32, rng: &mut Rng| {
            for v in &mut host[a..b] {
                *v = rng.normal() * scale;
            }
        };
        fill(
            &mut host,
            layout.w_in,
            1.0 / ((cfg.channels * 9) as f32).sqrt(),
            &mut rng,
        );
        fill(&mut host, layout.temb, 1.0, &mut rng);
        fill(
            &mut host,
            layout.w_out,
            0.5 / ((cfg.hidden * 9) as f32).sqrt(),
            &mut rng,
        );
        let weights = stream
            .clone_htod(&host)
            .map_err(|e| fail("loading the model's weights", e))?;
        Ok(Model { weights, layout })
    }

    fn part(&self, (a, b): (usize, usize)) -> CudaView<'_, f32> {
        self.weights.slice(a..b)
    }

    pub fn bytes(&self) -> usize {
        self.layout.total * std::mem::size_of::<f32>()
    }
}

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
