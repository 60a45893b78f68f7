//! The stack mode in effect (GPULEAK_STACKS, and whether this process has a Python), read once.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::config::{Config, Stacks};
use crate::python;
use crate::unwind;

/// Frames to capture per stack (GPULEAK_STACK_DEPTH).
pub static STACK_DEPTH: AtomicUsize = AtomicUsize::new(crate::config::DEFAULT_STACK_DEPTH);
/// The stack mode in effect (`Stacks as u8`), `u8::MAX` until the configuration is read.
pub static STACK_MODE: AtomicU8 = AtomicU8::new(u8::MAX);

/// The stack mode in effect and the depth. Python modes need a Python in the process: without
/// one they are native. Read once; the first call may look up the Python API, so it is made
/// before any gpuleak lock is taken (see `event`, `launch`, `marker`).
pub fn stacks() -> (Stacks, usize) {
    let m = STACK_MODE.load(Ordering::Acquire);
    let mode = match m {
        0 => Stacks::Off,
        1 => Stacks::Native,
        2 => Stacks::Python,
        3 => Stacks::All,
        _ => {
            let (cfg, _) = Config::from_env();
            let mode = effective_stacks(&cfg);
            STACK_DEPTH.store(cfg.stack_depth, Ordering::Relaxed);
            unwind::set_unwinder(cfg.unwinder);
            STACK_MODE.store(
                match mode {
                    Stacks::Off => 0,
                    Stacks::Native => 1,
                    Stacks::Python => 2,
                    Stacks::All => 3,
                },
                Ordering::Release,
            );
            mode
        }
    };
    (mode, STACK_DEPTH.load(Ordering::Relaxed))
}

pub fn effective_stacks(cfg: &Config) -> Stacks {
    if cfg.stacks.python() && !python::available() {
        Stacks::Native
    } else {
        cfg.stacks
    }
}
