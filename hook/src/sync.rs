//! The recorder's locks, safe across `fork`.
//!
//! parking_lot parks a waiting thread in one table for the whole process, each bucket behind a
//! small lock that a thread holds while it goes to sleep or wakes another. A `fork` taken while
//! some thread of the parent held one copies it held into the child, where no thread will ever
//! release it: the child's first wait that hashes to that bucket hangs (the `forker` test caught
//! the writer thread of a child stuck so at exit, one run in two). std's mutex and condition
//! variable keep their whole state in the object (a futex word), and the child gets new objects
//! (`after_fork_in_child` makes a fresh recorder), so nothing of the parent's can be held there.
//! The API is parking_lot's: poisoning does not apply (a panic in the hook is caught at its
//! boundary, and the data stays consistent), so a poisoned lock is taken as it is.

use std::sync::{PoisonError, TryLockError};
use std::time::{Duration, Instant};

pub use std::sync::MutexGuard;

pub struct Mutex<T>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Tries for at most `limit`: a holder stuck in `write` must not hang the caller.
    pub fn try_lock_for(&self, limit: Duration) -> Option<MutexGuard<'_, T>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(g) = self.try_lock() {
                return Some(g);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

pub struct Condvar(std::sync::Condvar);

impl Condvar {
    pub const fn new() -> Condvar {
        Condvar(std::sync::Condvar::new())
    }

    pub fn notify_one(&self) {
        self.0.notify_one();
    }

    pub fn notify_all(&self) {
        self.0.notify_all();
    }

    /// Waits for a notification or `limit`, whichever comes first; the guard is held again on
    /// return. Returns whether the time ran out.
    pub fn wait_for<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        limit: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let (g, r) = self
            .0
            .wait_timeout(guard, limit)
            .unwrap_or_else(PoisonError::into_inner);
        (g, r.timed_out())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_held_elsewhere_is_given_up_on_after_its_limit() {
        let m = Mutex::new(1);
        let held = m.lock();
        let started = Instant::now();
        assert!(m.try_lock_for(Duration::from_millis(20)).is_none());
        assert!(started.elapsed() >= Duration::from_millis(20));
        drop(held);
        assert_eq!(*m.try_lock_for(Duration::from_millis(20)).unwrap(), 1);
    }

    #[test]
    fn a_wait_ends_at_its_limit_with_the_lock_held() {
        let m = Mutex::new(0);
        let c = Condvar::new();
        let (mut g, timed_out) = c.wait_for(m.lock(), Duration::from_millis(5));
        assert!(timed_out);
        *g += 1;
        drop(g);
        assert_eq!(*m.lock(), 1);
    }
}
