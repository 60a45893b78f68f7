//! The sampler's settings and outcome: which leak, the sizes (checked before anything is
//! allocated), where it ran, and its one-line error.

/// Training steps of the noise schedule.
pub(crate) const TRAIN_STEPS: usize = 1000;

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

    pub(crate) fn hidden_len(&self) -> usize {
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
