//! The leaks `--leak` switches on, one function each, so that each is its own allocation site
//! and the report's frames name it. Never inlined: the function must be a frame of its own.
//!
//! What leaks is held in statics, like the process-wide caches that leak in real samplers: Rust
//! never drops a static, so the memory is still allocated when the process exits, as it would
//! be when such a sampler runs out of memory.

use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaSlice, CudaStream};

use crate::config::{Config, Error, fail};
use crate::model::Model;

/// `--leak per-step`: a scratch buffer the size of the latents, allocated every step and never
/// freed (a forgotten workspace: live bytes rise by the same amount every step).
#[inline(never)]
pub fn per_step_scratch(stream: &Arc<CudaStream>, cfg: &Config) -> Result<(), Error> {
    let scratch = stream
        .alloc_zeros::<f32>(cfg.latent_len())
        .map_err(|e| fail("allocating the per-step scratch", e))?;
    // The leak: the device memory is given up without a free.
    scratch.leak();
    Ok(())
}

/// `--leak keep-latents`: a copy of every step's latents, kept for the whole run (previews kept
/// across images).
#[inline(never)]
pub fn keep_latents(stream: &Arc<CudaStream>, x: &CudaSlice<f32>) -> Result<(), Error> {
    let copy = stream
        .clone_dtod(x)
        .map_err(|e| fail("copying the step's latents", e))?;
    lock(&KEPT_LATENTS).push(copy);
    Ok(())
}

/// `--leak keep-latents`: every step's latents, for a preview nobody ever shows.
static KEPT_LATENTS: Mutex<Vec<CudaSlice<f32>>> = Mutex::new(Vec::new());
/// `--leak model-switch`: every model switched from or to, in a cache nobody evicts.
static MODEL_CACHE: Mutex<Vec<Arc<Model>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these vectors half-updated: push is all they see.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `--leak sawtooth`: a copy of every step's latents, kept until the end of the image (the
/// caller drops `kept` there), like an autograd graph kept alive through an image.
#[inline(never)]
pub fn keep_for_image(
    stream: &Arc<CudaStream>,
    x: &CudaSlice<f32>,
    kept: &mut Vec<CudaSlice<f32>>,
) -> Result<(), Error> {
    let copy = stream
        .clone_dtod(x)
        .map_err(|e| fail("copying the step's latents", e))?;
    kept.push(copy);
    Ok(())
}

/// `--leak model-switch`: loads another model (the refiner, half-way through each image) and
/// registers both it and the model it replaces in [`MODEL_CACHE`], which is never evicted, so
/// every switch leaves a model-sized block behind (a pipeline that keeps every checkpoint or
/// LoRA it ever loaded).
#[inline(never)]
pub fn switch_model(
    stream: &Arc<CudaStream>,
    cfg: &Config,
    seed: u64,
    model: &mut Arc<Model>,
) -> Result<(), Error> {
    let new = Arc::new(Model::load(stream, cfg, seed)?);
    let mut cache = lock(&MODEL_CACHE);
    if !cache.iter().any(|m| Arc::ptr_eq(m, model)) {
        cache.push(model.clone());
    }
    cache.push(new.clone());
    *model = new;
    Ok(())
}
