//! A wrapped symbol's row: its name, gpuleak's wrapper, and the real functions behind both.

use std::ffi::{CStr, c_void};
use std::sync::atomic::AtomicPtr;

pub struct Entry {
    /// Exact exported symbol name.
    pub name: &'static str,
    pub cname: &'static CStr,
    /// gpuleak's hidden wrapper that forwards to `resolved`.
    pub wrapper: *const c_void,
    /// The real function behind `wrapper`, set by the first dlsym/cuGetProcAddress that found it.
    pub resolved: &'static AtomicPtr<c_void>,
    /// The real function behind gpuleak's export of `name`: the next definition in the global
    /// scope.
    pub next: &'static AtomicPtr<c_void>,
}

// SAFETY: the raw pointers are addresses of functions, immutable for the life of the process.
unsafe impl Sync for Entry {}
