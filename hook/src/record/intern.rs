//! Stacks to ids: each distinct stack is written once per segment, with the modules and Python
//! code objects it needs.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

use gpuleak_trace::Module;

use crate::config::MAX_STACK_DEPTH;
use crate::modules;
use crate::python::{self, PyFrames};
use crate::record::state::{Core, Phase, State};
use crate::sync::MutexGuard;

/// The loader's load count at the last module scan; `u64::MAX` forces a scan.
pub static LAST_LOADS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Separates the native frames of a stack key from its Python frames; never a native address.
pub const PY_SEPARATOR: u64 = u64::MAX;

/// The id of a stack, writing it (and any module it lives in, and any Python code object it is
/// the first to use) the first time it is seen. May release the lock to list loaded modules,
/// hence the guard going in and out.
pub fn intern(
    core: &'static Core,
    mut st: MutexGuard<'static, State>,
    frames: &[u64],
    py: Option<&PyFrames>,
) -> (MutexGuard<'static, State>, u32) {
    // Uninitialised past what is written: zeroing 4 KiB would cost more than the rest of
    // interning.
    let mut key_buf = [MaybeUninit::<u64>::uninit(); 2 * MAX_STACK_DEPTH + 1];
    let key: &[u64] = match py {
        None => frames,
        Some(p) => {
            let n = frames.len();
            let python = p.as_slice();
            let m = python.len();
            let dst = &mut key_buf[..n + 1 + m];
            dst[n].write(PY_SEPARATOR);
            let after = dst[n + 1..].as_mut_ptr().cast::<u64>();
            // SAFETY: `dst` holds n + 1 + m entries (both parts are at most MAX_STACK_DEPTH
            // long, the buffer 2 * MAX_STACK_DEPTH + 1): all of them are written here.
            unsafe {
                std::ptr::copy_nonoverlapping(frames.as_ptr(), dst.as_mut_ptr().cast(), n);
                std::ptr::copy_nonoverlapping(python.as_ptr(), after, m);
                std::slice::from_raw_parts(dst.as_ptr().cast::<u64>(), n + 1 + m)
            }
        }
    };
    let hash = crate::hash::hash_frames(key);
    let mut rescanned = false;
    loop {
        let segment = st.segment;
        let found = st
            .stacks
            .find_mut(hash, |e| e.0 == hash && *e.2 == *key)
            .map(|e| (e.1, std::mem::replace(&mut e.3, segment)));
        if let Some((id, defined_in)) = found {
            if defined_in != segment {
                // Defined in a segment that may be dropped: defined again, same id.
                emit_stack(&mut st, id, key);
            }
            return (st, id);
        }
        let unknown = frames.iter().any(|&ip| !modules::known(ip, &st.modules));
        if unknown && !rescanned {
            rescanned = true;
            drop(st);
            let fresh = scan_if_changed();
            st = core.state.lock();
            if !matches!(st.phase, Phase::Active | Phase::Finished) {
                return (st, gpuleak_trace::NO_STACK);
            }
            if let Some(mods) = fresh {
                add_modules(&mut st, mods);
            }
            continue;
        }
        let id = st.next_stack;
        st.next_stack += 1;
        st.stack_count += 1;
        emit_stack(&mut st, id, key);
        st.stacks
            .insert_unique(hash, (hash, id, key.into(), segment), |e| e.0);
        return (st, id);
    }
}

/// Writes the Stack record of `id` from its key, with the definitions of the Python code
/// objects it is the first in this segment to use.
pub fn emit_stack(st: &mut State, id: u32, key: &[u64]) {
    let Some(sep) = key.iter().position(|&f| f == PY_SEPARATOR) else {
        let State { enc, buf, .. } = st;
        enc.stack(id, key, buf);
        return;
    };
    let (frames, python) = (&key[..sep], &key[sep + 1..]);
    let mut new_codes: Vec<u32> = Vec::new();
    for code in python.iter().map(|&f| (f >> 32) as u32) {
        if !st.py_defined.contains(&code) && !new_codes.contains(&code) {
            new_codes.push(code);
        }
    }
    let codes = if new_codes.is_empty() {
        Vec::new()
    } else {
        python::definitions(&new_codes)
    };
    st.py_defined.extend(codes.iter().map(|c| c.id));
    let python: Vec<gpuleak_trace::PyFrame> = python
        .iter()
        .map(|&f| gpuleak_trace::PyFrame {
            code: (f >> 32) as u32,
            line: f as u32,
        })
        .collect();
    let State { enc, buf, .. } = st;
    enc.py_stack(id, frames, &codes, &python, buf);
}

pub fn scan_if_changed() -> Option<Vec<Module>> {
    let loads = modules::load_count();
    if loads == LAST_LOADS.swap(loads, Ordering::AcqRel) {
        return None;
    }
    Some(modules::scan())
}

pub fn add_modules(st: &mut State, scanned: Vec<Module>) {
    for m in scanned {
        if st.modules.contains(&m) {
            continue;
        }
        let before = st.modules.len();
        st.modules.retain(|o| o.end <= m.start || o.start >= m.end);
        if st.modules.len() != before {
            // An object was unloaded and another now lives at its addresses: stacks seen from
            // here on must be defined after the new module so that readers resolve them to it.
            st.stacks.clear();
        }
        let State { enc, buf, .. } = &mut *st;
        enc.module(&m, buf);
        st.modules.push(m);
    }
}
