//! gpuleak's LD_PRELOAD shim: records every CUDA allocation and free of an unmodified program,
//! with its stack, into a trace (see docs/trace-format.md).
//!
//! - `api`: the wrapped entry points (symbol interposition, dlsym, cuGetProcAddress)
//! - `real`: finding real functions; the `dlsym` trampoline
//! - `record`: events into the shared buffer, the writer thread, fork and exit
//! - `unwind`, `modules`: stacks and the module maps that make them readable offline

mod api;
mod compact;
mod config;
mod guard;
mod layout;
mod leaked;
mod live;
mod mapped;
mod modules;
mod nvtx;
mod order;
mod pyread;
mod python;
mod real;
mod record;
mod say;
mod sync;
mod unwind;

/// `_exit` and `_Exit` end the process without its exit path (no atexit handlers, no library
/// destructors): a forked worker that ends with `os._exit` would lose every event still
/// buffered, up to the last 50 ms. The buffer is written first (boundedly: `_exit` may be
/// called from a signal handler), then the real `_exit` runs with the same status.
#[unsafe(no_mangle)]
pub extern "C" fn _exit(status: std::ffi::c_int) -> ! {
    record::flush_on_the_way_out();
    real_exit(c"_exit", status)
}

#[unsafe(no_mangle)]
pub extern "C" fn _Exit(status: std::ffi::c_int) -> ! {
    record::flush_on_the_way_out();
    real_exit(c"_Exit", status)
}

fn real_exit(name: &std::ffi::CStr, status: std::ffi::c_int) -> ! {
    type Exit = unsafe extern "C" fn(std::ffi::c_int) -> !;
    // SAFETY: RTLD_NEXT lookup of libc's own definition.
    let p = unsafe { real::real_dlsym()(libc::RTLD_NEXT, name.as_ptr()) };
    if !p.is_null() && !unwind::is_own(p as u64) {
        let f: Exit = unsafe { std::mem::transmute(p) };
        unsafe { f(status) }
    }
    // No libc definition found: the system call itself, as _exit makes it.
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
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = at_load;
