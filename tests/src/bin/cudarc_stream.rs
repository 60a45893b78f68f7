//! A real cudarc program (dynamic loading, the crate's default): allocations on a CudaStream,
//! which cudarc makes with cuMemAllocAsync and gives back with cuMemFreeAsync. Prints one line
//! per allocation and free in the test programs' convention: `<api> <code> 0x<ptr> <size>`.

use cudarc::driver::{CudaContext, DevicePtr};

fn main() {
    let ctx = match CudaContext::new(0) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cudarc_stream: no CUDA device: {e}");
            std::process::exit(1);
        }
    };
    let stream = ctx.new_stream().expect("a stream");
    let kept = stream.alloc_zeros::<f32>(1 << 18).expect("alloc 1 MiB");
    let ptr = {
        let (p, _s) = kept.device_ptr(&stream);
        p
    };
    println!("cuMemAllocAsync 0 0x{ptr:x} {}", 1 << 20);
    for _ in 0..3 {
        let scratch = stream.alloc_zeros::<u8>(4096).expect("alloc scratch");
        let p = {
            let (p, _s) = scratch.device_ptr(&stream);
            p
        };
        println!("cuMemAllocAsync 0 0x{p:x} 4096");
        drop(scratch);
        println!("cuMemFreeAsync 0 0x{p:x} 0");
    }
    stream.synchronize().expect("synchronize");
    // `kept` is still live here: a leak at exit, on purpose.
    std::mem::forget(kept);
}
