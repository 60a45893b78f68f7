//! gpuleak's LD_PRELOAD shim: records every CUDA allocation and free of an unmodified program,
//! with its stack, into a trace (see docs/trace-format.md). Imports run one way, top to bottom:
//!
//! - `api` (the wrapped entry points and their table), `dlsym`, `nvtx`: the interception
//! - `holders`: in a Python program, the walk that finds what keeps device memory alive, run
//!   from the interception's allocations; `others`: at an out-of-memory failure, the other
//!   processes on the device, from NVML
//! - `record`: the recording API they call, the trace file, exit, fork and fatal signals
//! - `unwind`, `python`, `pyread` (with `pylayout`, `pylines`), `modules`: stacks, native and
//!   Python, and the module maps that make them readable offline; `live`: what is live, for a
//!   capped trace's segments
//! - `resolve` (real functions), `query` (the driver's answers), `nvml` (NVML's), `entry`, `hash`, `sync`,
//!   `guard`, `order`, `leaked`, `mapped`, `fd`, `compact`, `say`, `config`, `layout`: the
//!   ground floor; `version`: the version marker `gpuleak run` reads from the file

use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, Ordering};

mod api;
mod compact;
mod config;
mod dlsym;
mod entry;
mod fd;
mod guard;
mod hash;
mod holders;
mod layout;
mod leaked;
mod live;
mod mapped;
mod modules;
mod nvml;
mod nvtx;
mod order;
mod others;
mod pylayout;
mod pylines;
mod pyread;
mod python;
mod query;
mod record;
mod resolve;
mod say;
mod sync;
mod unwind;
mod version;

/// `_exit` and `_Exit` end the process without its exit path (no atexit handlers, no library
/// destructors): a forked worker that ends with `os._exit` would lose every event still
/// buffered, up to the last 50 ms. The buffer is written first (boundedly: `_exit` may be
/// called from a signal handler), then the real `_exit` runs with the same status.
#[unsafe(no_mangle)]
pub extern "C" fn _exit(status: std::ffi::c_int) -> ! {
    record::flush_on_the_way_out();
    real_exit(&REAL_EXITS[0], status)
}

#[unsafe(no_mangle)]
pub extern "C" fn _Exit(status: std::ffi::c_int) -> ! {
    record::flush_on_the_way_out();
    real_exit(&REAL_EXITS[1], status)
}

/// The next definitions of `_exit` and `_Exit`, looked up when the library loads: `dlsym` takes
/// the loader's lock, which a signal handler calling `_exit` may have interrupted.
static REAL_EXITS: [AtomicPtr<c_void>; 2] = [
    AtomicPtr::new(std::ptr::null_mut()),
    AtomicPtr::new(std::ptr::null_mut()),
];

fn find_real_exits() {
    for (slot, name) in REAL_EXITS.iter().zip([c"_exit", c"_Exit"]) {
        // SAFETY: RTLD_NEXT lookup of libc's own definition, a NUL-terminated name.
        let p = unsafe { resolve::real_dlsym()(libc::RTLD_NEXT, name.as_ptr()) };
        if !p.is_null() && !unwind::is_own(p as u64) {
            slot.store(p, Ordering::Release);
        }
    }
}

fn real_exit(slot: &AtomicPtr<c_void>, status: std::ffi::c_int) -> ! {
    type Exit = unsafe extern "C" fn(std::ffi::c_int) -> !;
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: `p` is libc's `_exit`/`_Exit`, of this signature.
        let f: Exit = unsafe { std::mem::transmute(p) };
        // SAFETY: the real `_exit`, with the program's status.
        unsafe { f(status) }
    }
    // Not found (or called before this library's constructor ran): the system call itself, as
    // _exit makes it.
    // SAFETY: exit_group takes the status and does not return.
    unsafe { libc::syscall(libc::SYS_exit_group, status) };
    unreachable!("exit_group returned")
}

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
    find_real_exits();
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = at_load;
