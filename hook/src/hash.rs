//! The hash for gpuleak's own tables (stacks, Python code objects, live allocations): keys are
//! addresses and small integers hashed on every event, and need no DoS resistance. A
//! multiply-rotate hash in a few lines rather than a crate: the hook is a preloaded library,
//! where every dependency is loaded into the program.

use std::hash::{BuildHasher, Hasher};

pub fn hash_frames(frames: &[u64]) -> u64 {
    let mut h = std::hash::BuildHasherDefault::<FxHasher>::default().build_hasher();
    for &f in frames {
        h.write_u64(f);
    }
    h.finish()
}

/// A multiply-xor hash: stacks are hashed on every event, and need no DoS resistance.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v.into());
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}
