//! A trace under a size cap (GPULEAK_MAX_SIZE): segments that each read on their own, the oldest
//! dropped to stay under the cap, and the file made as small as the cap at a clean exit.

use std::sync::atomic::Ordering;

use crate::mapped::Mapped;
use crate::record::intern::emit_stack;
use crate::record::output::commit;
use crate::record::state::{Core, Phase, State, now_ns};

/// Under a cap: once the current segment is full, starts the next with what is live (and the
/// modules and stacks that needs), then drops the oldest segments the cap has no room for.
pub fn next_segment_if_full(st: &mut State) {
    let (Some(cap), Some(m)) = (st.cap.as_ref(), st.map.as_ref()) else {
        return;
    };
    let current = cap.starts.back().copied().unwrap_or(cap.data_start);
    if m.written().saturating_sub(current) < cap.segment_size {
        return;
    }
    let at = m.written();
    st.segment += 1;
    let segment = st.segment;
    st.py_defined.clear();
    let seg = gpuleak_trace::Segment {
        index: segment,
        time_ns: now_ns(),
        next_seq: st.events + st.dropped,
        live: cap.live.entries(),
        totals: cap.totals.clone(),
    };
    let ids: hashbrown::HashSet<u32> = seg
        .live
        .iter()
        .map(|l| l.stack)
        .filter(|&s| s != gpuleak_trace::NO_STACK)
        .collect();
    {
        let State {
            enc, buf, modules, ..
        } = &mut *st;
        enc.segment(&seg, buf);
        for module in modules.iter() {
            enc.module(module, buf);
        }
    }
    let keys: Vec<(u32, Box<[u64]>)> = st
        .stacks
        .iter_mut()
        .filter(|e| ids.contains(&e.1))
        .map(|e| {
            e.3 = segment;
            (e.1, e.2.clone())
        })
        .collect();
    for (id, key) in keys {
        emit_stack(st, id, &key);
    }
    commit(st);
    let (Some(cap), Some(m)) = (st.cap.as_mut(), st.map.as_ref()) else {
        return;
    };
    cap.starts.push_back(at);
    let written = m.written();
    let room = cap
        .limit
        .saturating_sub(cap.segment_size + m.window() + cap.data_start);
    let mut dropped = false;
    while cap.starts.len() > 1 && written - cap.starts[0] > room {
        cap.starts.pop_front();
        dropped = true;
    }
    if !dropped || cap.cannot_drop {
        return;
    }
    let oldest = cap.starts[0];
    // The pointer first: a reader must never be sent into the space given back.
    let r = m
        .write_at(cap.resume_at, &gpuleak_trace::encode::varint10(oldest))
        .and_then(|_| m.punch(cap.data_start, oldest));
    if let Err(e) = r {
        cap.cannot_drop = true;
        let text = format!(
            "the oldest segments could not be dropped ({e}): this trace grows past its cap"
        );
        let State { enc, buf, .. } = &mut *st;
        enc.note(&text, buf);
        commit(st);
    }
}

/// At a clean exit, a capped trace that dropped segments is rewritten with only the kept ones
/// (see `compact`); later records (a free from a later exit handler) go to the new file.
pub fn compact_if_capped(core: &Core, st: &mut State) {
    let (Some(cap), Some(m)) = (st.cap.as_ref(), st.map.as_mut()) else {
        return;
    };
    let oldest = cap.starts.front().copied().unwrap_or(cap.data_start);
    if st.phase == Phase::Disabled || cap.cannot_drop || oldest <= cap.data_start {
        return;
    }
    let kept = crate::compact::Kept {
        resume_at: cap.resume_at,
        oldest,
        written: m.written(),
    };
    let window = m.window();
    let old = core.fd.load(Ordering::Acquire);
    let fd = match crate::compact::compact(old, &st.path, &kept) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!(
                "gpuleak: could not shrink trace {} to its cap ({e}); the dropped segments stay \
                 as holes in it",
                st.path
            );
            return;
        }
    };
    m.release();
    core.fd.store(fd, Ordering::Release);
    // SAFETY: the old file's descriptor, unused from here on (its mapping is released).
    unsafe { libc::close(old) };
    st.cap = None;
    st.map = match Mapped::new(fd, window) {
        Ok(Some(new)) => Some(new),
        _ => {
            // The trace is complete in the new file; only records after this one are lost.
            st.phase = Phase::Disabled;
            None
        }
    };
}
