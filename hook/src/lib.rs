//! gpuleak's LD_PRELOAD shim: records every CUDA allocation and free of an unmodified program,
//! with its stack, into a trace (see docs/trace-format.md).
//!
//! - `api`: the wrapped entry points (symbol interposition, dlsym, cuGetProcAddress)
//! - `real`: finding real functions; the `dlsym` trampoline
//! - `record`: events into the shared buffer, the writer thread, fork and exit
//! - `unwind`, `modules`: stacks and the module maps that make them readable offline

mod api;
mod config;
mod guard;
mod layout;
mod leaked;
mod modules;
mod nvtx;
mod order;
mod pyread;
mod python;
mod real;
mod record;
mod sync;
mod unwind;

/// Runs when the library is unloaded at process exit, after the program's atexit handlers (and
/// so after CUDA's own teardown frees): the final flush and the trailer.
extern "C" fn at_unload() {
    record::finish();
}

#[used]
#[unsafe(link_section = ".fini_array")]
static FINI: extern "C" fn() = at_unload;

/// Records where gpuleak's own code lives so that stacks can leave its frames out, and makes
/// forked children start their own trace.
extern "C" fn at_load() {
    record::register_fork_handler();
    let here = at_load as *const () as usize as u64;
    if let Some((start, end)) = modules::loaded_range(here) {
        unwind::set_own_range(start, end);
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = at_load;
