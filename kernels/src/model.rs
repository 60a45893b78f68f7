//! A model's weights on the device (one buffer, as a checkpoint loads them) and the host-side
//! generator that fills them and the initial noise.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, CudaView};

use crate::config::{Config, Error, fail};

/// A small deterministic generator (SplitMix64): weights and initial noise are made on the host,
/// so that no kernel is launched once per image (which would blur the per-step launch sequence
/// gpuleak uses to find iterations when the program marks none).
pub(crate) struct Rng(pub(crate) u64);

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

    pub(crate) fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// Offsets of the denoiser's tensors in a model's one weight buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) w_in: (usize, usize),
    pub(crate) b_in: (usize, usize),
    pub(crate) temb: (usize, usize),
    pub(crate) w_out: (usize, usize),
    pub(crate) b_out: (usize, usize),
    pub(crate) total: usize,
}

impl Layout {
    pub(crate) fn new(cfg: &Config) -> Layout {
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
    pub(crate) layout: Layout,
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

    pub(crate) fn part(&self, (a, b): (usize, usize)) -> CudaView<'_, f32> {
        self.weights.slice(a..b)
    }

    pub fn bytes(&self) -> usize {
        self.layout.total * std::mem::size_of::<f32>()
    }
}
