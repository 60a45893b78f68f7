//! The hook's version as bytes in the library file, so that `gpuleak run` can check that the
//! hook it preloads was built with it without loading it into its own process (the hook's
//! constructors would start recording gpuleak itself).

const MARKER: &str = concat!("GPULEAK_HOOK_VERSION=", env!("CARGO_PKG_VERSION"), "\0");

/// `GPULEAK_HOOK_VERSION=<version>\0`: exported so that the linker keeps it; gpuleak finds this
/// prefix in the file's bytes.
#[unsafe(no_mangle)]
#[used]
pub static GPULEAK_HOOK_VERSION: [u8; MARKER.len()] = marker();

const fn marker() -> [u8; MARKER.len()] {
    let bytes = MARKER.as_bytes();
    let mut out = [0u8; MARKER.len()];
    let mut i = 0;
    while i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
}
