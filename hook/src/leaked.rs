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
