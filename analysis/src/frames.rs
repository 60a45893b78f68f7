//! What a symbolized frame's text says: its function, its source, whether it is library code
//! (allocator wrappers, frameworks, the language runtime) or the program's own, and the frame
//! that names a site.

/// Drops what is outside the program's `main`: the language runtime's start-up (Rust's
/// `lang_start` and its closures, `catch_unwind`), which every stack of the main thread shares
/// and which says nothing about where memory goes. Stacks without a `main` (other threads) keep
/// every frame.
pub(crate) fn below_main_cut<T>(frames: &mut Vec<T>, text: impl Fn(&T) -> &str) {
    if let Some(i) = frames.iter().position(|f| {
        let name = function_name(text(f));
        name == "main" || name.ends_with("::main")
    }) {
        frames.truncate(i + 1);
    }
}

/// The function of a symbolized frame: "f (file:line)" gives "f".
pub fn function_name(frame: &str) -> &str {
    match frame.rfind(" (") {
        Some(open) if frame.ends_with(')') => &frame[..open],
        _ => frame,
    }
}

/// "f (/long/path/file.c:12)" as "f (file.c:12)": short enough to name a site in a sentence or a
/// table cell; the stack shows the whole path.
pub fn short_frame(frame: &str) -> String {
    match source_of(frame) {
        "" => frame.to_string(),
        source => {
            let file = source.rsplit('/').next().unwrap_or(source);
            format!("{} ({file})", function_name(frame))
        }
    }
}

/// The file of a symbolized frame: "f (file:line)" gives "file:line"; empty without one.
fn source_of(frame: &str) -> &str {
    match frame.rfind(" (") {
        Some(open) if frame.ends_with(')') => &frame[open + 2..frame.len() - 1],
        _ => "",
    }
}

/// Where third-party and standard-library sources live: Rust crates from a registry or git,
/// Rust's standard library, Python packages and the Python standard library, C++ headers.
const LIBRARY_SOURCES: [&str; 8] = [
    "/.cargo/registry/",
    "/.cargo/git/",
    "/rustc/",
    "/site-packages/",
    "/dist-packages/",
    "/lib/python3",
    "/usr/include/",
    "<frozen ",
];

/// Namespaces of the runtimes and frameworks that sit between a program and the driver (for
/// frames without a source file: stripped libraries).
const LIBRARY_NAMESPACES: [&str; 15] = [
    "std::",
    "core::",
    "alloc::",
    "<std::",
    "<core::",
    "<alloc::",
    "cudarc::",
    "<cudarc::",
    "c10::",
    "at::",
    "torch::",
    "pybind11::",
    "_Py",
    "PyObject_",
    "PyEval_",
];

/// Whether a symbolized frame (as [`crate::Symbolizer::stack`] writes it) is library code rather than
/// the program's own: an allocator wrapper, a framework, the language runtime. Such frames are
/// kept in the stack, but they do not name the site.
pub fn is_library_frame(frame: &str) -> bool {
    let source = source_of(frame);
    if source.is_empty() {
        // No line information: a shared object's offset ("libtorch_cuda.so+0x12"), a bare
        // address, or a symbol of a stripped library.
        let name = function_name(frame);
        return name.starts_with("0x")
            || name.contains(".so")
            || LIBRARY_NAMESPACES.iter().any(|p| name.starts_with(p));
    }
    LIBRARY_SOURCES.iter().any(|p| source.contains(p))
}

/// The frame that names a site: the innermost one of the program's own code, past allocator
/// wrappers and frameworks ("per_step_scratch", not cudarc's "malloc_async"). In a stack with
/// Python frames, a Python frame: the native frames inside them are how Python reached CUDA
/// (ctypes and libffi, PyTorch's C++), and the Python line is what a Python programmer can
/// change. 0 when every frame is library code, or there are none.
pub fn user_frame(frames: &[String]) -> usize {
    if let Some(first) = frames.iter().position(|f| is_python_frame(f)) {
        return frames[first..]
            .iter()
            .position(|f| is_python_frame(f) && !is_library_frame(f))
            .map_or(first, |i| first + i);
    }
    frames
        .iter()
        .position(|f| !is_library_frame(f))
        .unwrap_or(0)
}

/// A Python frame as [`crate::Symbolizer::stack`] writes it: its file is a `.py` one.
fn is_python_frame(frame: &str) -> bool {
    let source = source_of(frame);
    let file = source.rsplit_once(':').map_or(source, |(file, _)| file);
    file.ends_with(".py")
}

/// A frame as shown to a person: third-party sources without the cache directories they were
/// unpacked into, so that "cudarc-0.19.10/src/driver/result.rs:831" fits a line.
pub fn tidy_frame(frame: &str) -> String {
    let source = source_of(frame);
    let short = ["/.cargo/registry/src/", "/.cargo/git/checkouts/"]
        .iter()
        .find_map(|dir| {
            let rest = &source[source.find(dir)? + dir.len()..];
            // Past the registry index's or checkout's own directory.
            Some(rest.split_once('/').map_or(rest, |(_, r)| r))
        })
        .or_else(|| {
            let rest = source.strip_prefix("/rustc/")?;
            Some(rest.split_once("/library/").map_or(rest, |(_, r)| r))
        });
    match short {
        Some(short) => format!("{} ({short})", function_name(frame)),
        None => frame.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_site_is_named_by_the_programs_own_frame_not_its_allocator_wrappers() {
        let reg = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        let frames: Vec<String> = vec![
            format!("cuMemAllocAsync ({reg}/cudarc-0.19.10/src/driver/sys/mod.rs:13214)"),
            format!("malloc_async ({reg}/cudarc-0.19.10/src/driver/result.rs:831)"),
            "c10::cuda::CUDACachingAllocator::malloc(void**, int, unsigned long)".into(),
            "libtorch_cuda.so+0x1234".into(),
            "alloc (/rustc/5980761/library/alloc/src/alloc.rs:94)".into(),
            "per_step_scratch (/work/app/src/leaks.rs:19)".into(),
            "main (/work/app/src/main.rs:87)".into(),
        ];
        assert_eq!(super::user_frame(&frames), 5);
        // With Python frames: the Python line that called into ctypes or PyTorch, past the
        // native frames that got it there and PyTorch's own Python.
        let py: Vec<String> = [
            "ffi_call",
            "_ctypes_callproc (/build/Python-3.11.7/Modules/_ctypes/callproc.c:1262)",
            "empty (/venv/lib/python3.11/site-packages/torch/nn/init.py:40)",
            "Sampler.denoise_step (/work/app/pipeline.py:212)",
            "main (/work/app/pipeline.py:300)",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(super::user_frame(&py), 3);
        assert!(!super::is_library_frame("denoise_step (pipeline.py:212)"));
        assert!(!super::is_library_frame("myprog+0x1f0"));
        // Nothing of the program's own: the innermost frame names the site.
        assert_eq!(super::user_frame(&frames[..5]), 0);
        assert_eq!(super::user_frame(&[]), 0);
    }

    #[test]
    fn library_sources_are_shown_without_their_cache_directories() {
        let reg = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        assert_eq!(
            super::tidy_frame(&format!(
                "malloc_async ({reg}/cudarc-0.19.10/src/result.rs:831)"
            )),
            "malloc_async (cudarc-0.19.10/src/result.rs:831)"
        );
        assert_eq!(
            super::tidy_frame("call_once (/rustc/5980761/library/core/src/ops/function.rs:250)"),
            "call_once (core/src/ops/function.rs:250)"
        );
        assert_eq!(super::tidy_frame("f (/work/a.c:3)"), "f (/work/a.c:3)");
        assert_eq!(super::tidy_frame("libc.so.6+0x10"), "libc.so.6+0x10");
    }

    #[test]
    fn the_language_runtime_outside_main_is_cut() {
        let mut frames: Vec<String> = [
            "per_step (/w/src/lib.rs:3)",
            "main (/w/src/main.rs:9)",
            "call_once<fn(), ()> (/rustc/x/library/core/src/ops/function.rs:250)",
            "std::rt::lang_start::{{closure}} (/rustc/x/library/std/src/rt.rs:206)",
            "main",
        ]
        .map(String::from)
        .to_vec();
        super::below_main_cut(&mut frames, |s| s);
        assert_eq!(frames.len(), 2);
        let mut thread: Vec<String> = vec!["worker (/w/a.c:1)".into(), "start_thread".into()];
        super::below_main_cut(&mut thread, |s| s);
        assert_eq!(thread.len(), 2);
    }
}
