//! Frees recorded before the allocations that reuse their address.
//!
//! A free's event is recorded after the real free returns; from that moment another thread's
//! allocation can get the same address and record its event first. The replay then sees an
//! allocation at an address still live, and the late free takes the new allocation away: the
//! totals drift (16 threads × 100,000 cudaMalloc/cudaFree pairs of 4 KiB lost 50 frees so).
//! So a free holds its address's shard from before the real call until its event is recorded,
//! and an allocation takes the shard of the address it got before recording: a reused address
//! is recorded after the free that gave it back.
//!
//! A shard is an atomic flag, not a mutex: a forked child clears them all (a parent thread may
//! have held one at the fork), and a wait is bounded (a free can take long, synchronising the
//! device; past the bound the event is recorded unordered rather than the program held).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SHARDS: usize = 256;

static HELD: [AtomicBool; SHARDS] = [const { AtomicBool::new(false) }; SHARDS];

/// The longest an allocation waits for a free of its shard to be recorded.
const MAX_WAIT: Duration = Duration::from_millis(200);

fn shard(address: u64) -> usize {
    // Allocations are aligned: the low bits say nothing.
    ((address >> 8).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % SHARDS
}

/// Held while its value lives; `None` (nothing held) for address 0 or after a bounded wait.
pub struct Fence(Option<usize>);

impl Drop for Fence {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            HELD[i].store(false, Ordering::Release);
        }
    }
}

/// Takes `address`'s shard, waiting (boundedly) while another thread's free holds it.
pub fn fence(address: u64) -> Fence {
    if address == 0 {
        return Fence(None);
    }
    let i = shard(address);
    let mut started: Option<Instant> = None;
    loop {
        if HELD[i]
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Fence(Some(i));
        }
        let since = *started.get_or_insert_with(Instant::now);
        if since.elapsed() >= MAX_WAIT {
            return Fence(None);
        }
        std::thread::yield_now();
    }
}

/// In a forked child: no thread holds anything.
pub fn after_fork_in_child() {
    for h in &HELD {
        h.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_shard_is_waited_for_boundedly_then_free() {
        let a = 0x7f00_0000_1000;
        let held = fence(a);
        assert!(held.0.is_some());
        let started = Instant::now();
        let second = fence(a);
        assert!(second.0.is_none(), "gave up after the bound");
        assert!(started.elapsed() >= MAX_WAIT);
        drop(held);
        assert!(fence(a).0.is_some());
    }
}
