//! What keeps device memory alive in a Python program: a walker written in Python
//! (`walker*.py`), run inside the process, finds the owners of device memory and the shortest
//! reference path from a root to each, and the result becomes one `Holders` record per walk
//! (docs/python.md, "Holders").
//!
//! - `walker_kinds.py`, `walker_names.py`, `walker.py`: the walker, run in the program
//! - `capi`: the CPython API, looked up at run time; `inside`: the setup, the walks under the
//!   GIL and the functions the walker is given; `parse`: its result read into the record
//! - `schedule`: when walks run (at exit, after an out-of-memory failure, on request) and the
//!   thread that runs the last two; `caps`: the walk's limits; `unavailable`: saying why there
//!   is no walk
//!
//! The interception calls [`after_allocation`]; this calls down into `record` only.

mod capi;
mod caps;
mod inside;
mod parse;
mod schedule;
mod unavailable;

/// After every outermost allocation call, outside any gpuleak lock: one relaxed load once the
/// process is settled, unless the call ran out of memory.
#[inline(always)]
pub fn after_allocation(out_of_memory: bool) {
    if schedule::settled() && !out_of_memory {
        return;
    }
    schedule::try_setup();
    if out_of_memory && schedule::ready() {
        schedule::out_of_memory();
    }
}
