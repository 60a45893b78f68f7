//! The C structs gpuleak reads arguments from, with every enum field as a plain integer: cudarc
//! declares them as Rust enums, and reading a value the enum does not know would be undefined
//! behaviour. Layouts are those of CUDA 11.2 to 13 (unchanged over that range).

use std::ffi::c_void;

#[repr(C)]
pub struct ArrayDescriptor {
    pub width: usize,
    pub height: usize,
    pub format: u32,
    pub num_channels: u32,
}

#[repr(C)]
pub struct Array3DDescriptor {
    pub width: usize,
    pub height: usize,
    pub depth: usize,
    pub format: u32,
    pub num_channels: u32,
    pub flags: u32,
}

/// dim3, passed by value to cudaLaunchKernel.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Dim3 {
    pub x: u32,
    pub y: u32,
    pub z: u32,
}

/// CUlaunchConfig: only the stream is read.
#[repr(C)]
pub struct LaunchConfig {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared_mem_bytes: u32,
    pub stream: *mut c_void,
    pub attrs: *mut c_void,
    pub num_attrs: u32,
}

const _: () = assert!(
    std::mem::size_of::<LaunchConfig>()
        == std::mem::size_of::<cudarc::driver::sys::CUlaunchConfig>()
);

/// CUDA_MEM_ALLOC_NODE_PARAMS; `pool_props` is CUmemPoolProps, 88 bytes in every CUDA 12/13.
#[repr(C)]
pub struct MemAllocNodeParams {
    pub pool_props: [u64; 11],
    pub access_descs: *const c_void,
    pub access_desc_count: usize,
    pub bytesize: usize,
    pub dptr: u64,
}

const _: () = assert!(
    std::mem::size_of::<MemAllocNodeParams>()
        == std::mem::size_of::<cudarc::driver::sys::CUDA_MEM_ALLOC_NODE_PARAMS>()
);
const _: () = assert!(
    std::mem::size_of::<Array3DDescriptor>()
        == std::mem::size_of::<cudarc::driver::sys::CUDA_ARRAY3D_DESCRIPTOR>()
);

/// Bytes per channel of a CUarray_format; 0 for formats whose size gpuleak does not know.
fn format_bytes(format: u32) -> u64 {
    match format {
        0x01 | 0x08 => 1,        // (un)signed int8
        0x02 | 0x09 | 0x10 => 2, // (un)signed int16, half
        0x03 | 0x0a | 0x20 => 4, // (un)signed int32, float
        _ => 0,
    }
}

pub fn array_bytes(width: usize, height: usize, depth: usize, format: u32, channels: u32) -> u64 {
    (width as u64)
        .saturating_mul(height.max(1) as u64)
        .saturating_mul(depth.max(1) as u64)
        .saturating_mul(channels as u64)
        .saturating_mul(format_bytes(format))
}

/// A mipmapped array: every level halves each dimension down to 1.
pub fn mipmapped_bytes(d: &Array3DDescriptor, levels: u32) -> u64 {
    let (mut w, mut h, mut z) = (d.width, d.height, d.depth);
    let mut total = 0u64;
    for _ in 0..levels.max(1) {
        total = total.saturating_add(array_bytes(w, h, z, d.format, d.num_channels));
        w = (w / 2).max(1);
        h = if h == 0 { 0 } else { (h / 2).max(1) };
        z = if z == 0 { 0 } else { (z / 2).max(1) };
    }
    total
}
