//! Process-lifetime values made on first use and never freed: a thread may still be using one
//! while the process exits, and a forked child replaces one (its lock may be held by a thread
//! that does not exist in the child) by storing a fresh pointer rather than dropping the old.

use std::sync::atomic::{AtomicPtr, Ordering};

/// The value in `slot`, made with `make` by the first caller; a racing caller's value is
/// dropped and the winner's returned.
#[inline]
pub fn get_or_make<T>(slot: &AtomicPtr<T>, make: impl FnOnce() -> T) -> &'static T {
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: values stored in a slot are leaked, never freed.
        return unsafe { &*p };
    }
    let fresh = Box::into_raw(Box::new(make()));
    match slot.compare_exchange(
        std::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // SAFETY: `fresh` was just leaked into the slot.
        Ok(_) => unsafe { &*fresh },
        Err(won) => {
            // SAFETY: `fresh` lost the race and was never shared.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: the winner's value was leaked into the slot, never freed.
            unsafe { &*won }
        }
    }
}

/// The value in `slot` made for this process: made with `make(pid)` when the slot is empty or
/// holds a parent's (after fork; the parent's stays leaked, its lock possibly held by a thread
/// the child does not have), and `installed` run on it once, by the caller whose value won (to
/// start the thread that serves it). `pid_of` reads the process a value was made for.
pub fn for_this_process<T>(
    slot: &AtomicPtr<T>,
    pid_of: impl Fn(&T) -> u32,
    make: impl FnOnce(u32) -> T,
    installed: impl FnOnce(&'static T),
) -> &'static T {
    let pid = std::process::id();
    let p = slot.load(Ordering::Acquire);
    // SAFETY: values stored in a slot are leaked, never freed.
    if let Some(v) = unsafe { p.as_ref() }
        && pid_of(v) == pid
    {
        return v;
    }
    let fresh: &'static T = Box::leak(Box::new(make(pid)));
    match slot.compare_exchange(
        p,
        fresh as *const T as *mut T,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => {
            installed(fresh);
            fresh
        }
        // SAFETY: another thread installed its own, leaked like this one; `fresh` stays leaked
        // (never shared, a few words).
        Err(other) => unsafe { &*other },
    }
}
