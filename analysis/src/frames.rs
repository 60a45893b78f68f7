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

/// "f (/long/path/file.c:12)" as "f (file.c:12)", its function as [`short_function`] gives it:
/// short enough to name a site in a sentence or a table cell; the stack shows the whole text.
pub fn short_frame(frame: &str) -> String {
    with_short_source(frame, &short_function(function_name(frame)))
}

/// `function` with the frame's file name and line, without the file's directories.
pub(crate) fn with_short_source(frame: &str, function: &str) -> String {
    match source_of(frame) {
        "" => function.to_string(),
        source => {
            let file = source.rsplit('/').next().unwrap_or(source);
            format!("{function} ({file})")
        }
    }
}

/// A function's name as a person reads it in a line: a C++ name without its return type,
/// template arguments and parameter list (`at::TensorBase at::detail::_empty_generic<long>(
/// c10::ArrayRef<long>, ...)` as `at::detail::_empty_generic`), a PyTorch operator without its
/// entry point (`at::_ops::empty_memory_format::call` as `at::_ops::empty_memory_format`). What
/// is part of a name stays: `(anonymous namespace)`, `operator()`, `{lambda(...)#1}`, a Rust
/// `<T as Trait>`, Python's `<module>`. Overloads then read alike; the frame's file and line, or
/// the whole text, tell them apart where a label needs it.
pub fn short_function(function: &str) -> String {
    const ANONYMOUS: &str = "(anonymous namespace)";
    let mut out = String::with_capacity(function.len());
    // Template arguments being dropped; `<`s kept as part of a name; `{...}` kept whole.
    let (mut dropped, mut kept, mut braces) = (0usize, 0usize, 0usize);
    // Where the name proper starts: past the last space outside brackets (a return type).
    let mut start = 0;
    let mut rest = function;
    while let Some(c) = rest.chars().next() {
        if dropped == 0 && braces == 0 && rest.starts_with(ANONYMOUS) {
            out.push_str(ANONYMOUS);
            rest = &rest[ANONYMOUS.len()..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        let after_operator = out.ends_with("operator") || out.ends_with("operator<");
        match c {
            _ if dropped > 0 => match c {
                '<' => dropped += 1,
                '>' => dropped -= 1,
                _ => {}
            },
            '{' => {
                braces += 1;
                out.push(c);
            }
            '}' => {
                braces = braces.saturating_sub(1);
                out.push(c);
            }
            _ if braces > 0 => out.push(c),
            '<' if !after_operator && out.ends_with(|p: char| p.is_alphanumeric() || p == '_') => {
                dropped = 1;
            }
            '<' => {
                kept += 1;
                out.push(c);
            }
            '>' => {
                kept = kept.saturating_sub(1);
                out.push(c);
            }
            '(' if out.ends_with("operator") && rest.starts_with(')') => {
                rest = &rest[1..];
                out.push_str("()");
            }
            // The parameter list, and what follows it (` const`, `[clone .cold]`).
            '(' if !out.is_empty() => break,
            ' ' if kept == 0 => {
                out.push(c);
                start = out.len();
            }
            _ => out.push(c),
        }
    }
    let name = out[start..].trim_end();
    let name = if name.starts_with("at::_ops::") {
        name.strip_suffix("::call")
            .or_else(|| name.strip_suffix("::redispatch"))
            .unwrap_or(name)
    } else {
        name
    };
    if name.is_empty() {
        function.to_string()
    } else {
        name.to_string()
    }
}

/// How much a frame says about where memory goes, to a person reading a site's name: a Python
/// line (the program's or a library's, a module's `forward`) the most, then a PyTorch operator
/// (`at::_ops::empty_memory_format`), then any other frame. The frame that tells two sites
/// apart is chosen among the most telling ones.
pub fn meaning(frame: &str) -> u8 {
    if is_python_frame(frame) {
        3
    } else if short_function(function_name(frame)).starts_with("at::_ops::") {
        2
    } else {
        1
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
pub fn is_python_frame(frame: &str) -> bool {
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

/// A frame as a stack shows it, one to a line: its source as [`tidy_frame`] gives it, its
/// function as [`short_function`] does. A C++ frame's return type, template arguments and
/// parameter list fill a line and hide the name; its source and line tell overloads apart.
pub fn stack_frame(frame: &str) -> String {
    let tidy = tidy_frame(frame);
    let function = function_name(&tidy);
    format!("{}{}", short_function(function), &tidy[function.len()..])
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
    fn cpp_names_lose_their_return_type_templates_and_parameters() {
        let short = super::short_function;
        assert_eq!(
            short(
                "at::TensorBase at::detail::_empty_generic<long>(c10::ArrayRef<long>, c10::Allocator*, c10::DispatchKeySet, c10::ScalarType, std::optional<c10::MemoryFormat>)"
            ),
            "at::detail::_empty_generic"
        );
        assert_eq!(
            short(
                "_object* torch::autograd::TypeError_to_NotImplemented_<&(torch::autograd::THPVariable_mul(_object*, _object*, _object*))>(_object*, _object*, _object*)"
            ),
            "torch::autograd::TypeError_to_NotImplemented_"
        );
        assert_eq!(
            short(
                "at::_ops::empty_memory_format::call(c10::ArrayRef<c10::SymInt>, std::optional<c10::ScalarType>)"
            ),
            "at::_ops::empty_memory_format"
        );
        assert_eq!(
            short("at::empty(c10::ArrayRef<long>, c10::TensorOptions)"),
            "at::empty"
        );
        assert_eq!(
            short("at::(anonymous namespace)::silu::set_output(long, c10::ArrayRef<long>)"),
            "at::(anonymous namespace)::silu::set_output"
        );
        assert_eq!(
            short(
                "c10::function_ref<void (char**, long const*, long, long)>::callback_fn<at::native::(anonymous namespace)::loop>(long, char**, long const*, long, long)"
            ),
            "c10::function_ref::callback_fn"
        );
        assert_eq!(
            short("at::native::foo(at::Tensor const&)::{lambda(long)#1}::operator()(long) const"),
            "at::native::foo"
        );
        assert_eq!(
            short("std::less<int>::operator()(int, int) const"),
            "std::less::operator()"
        );
        // What is a name in Rust and Python stays.
        assert_eq!(
            short("<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop"),
            "<alloc::vec::Vec as core::ops::drop::Drop>::drop"
        );
        assert_eq!(short("call_once<fn(), ()>"), "call_once");
        assert_eq!(
            short("std::rt::lang_start::{{closure}}"),
            "std::rt::lang_start::{{closure}}"
        );
        assert_eq!(short("<module>"), "<module>");
        assert_eq!(short("Sampler.denoise_step"), "Sampler.denoise_step");
        assert_eq!(short("libtorch_cuda.so+0x1234"), "libtorch_cuda.so+0x1234");
        assert_eq!(
            super::short_frame("at::Tensor at::_ops::empty::call(long) (/src/Ops.cpp:12)"),
            "at::_ops::empty (Ops.cpp:12)"
        );
    }

    #[test]
    fn a_python_line_says_more_than_an_operator_which_says_more_than_other_cpp() {
        use super::meaning;
        assert!(
            meaning("Linear.forward (/v/site-packages/torch/nn/modules/linear.py:125)")
                > meaning("at::Tensor at::_ops::addmm::call(at::Tensor const&)")
        );
        assert!(
            meaning("at::Tensor at::_ops::addmm::call(at::Tensor const&)")
                > meaning("at::TensorBase at::detail::_empty_generic<long>(long)")
        );
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
    fn a_stack_line_names_a_cpp_function_without_its_templates_and_keeps_its_source() {
        assert_eq!(
            super::stack_frame(
                "at::TensorBase at::detail::_empty_generic<long>(c10::ArrayRef<long>, \
                 c10::Allocator*) (/src/aten/EmptyTensor.cpp:57)"
            ),
            "at::detail::_empty_generic (/src/aten/EmptyTensor.cpp:57)"
        );
        assert_eq!(
            super::stack_frame("at::Tensor at::_ops::empty::call(long)"),
            "at::_ops::empty"
        );
        let python = "Linear.forward (/v/site-packages/torch/nn/modules/linear.py:125)";
        assert_eq!(super::stack_frame(python), python);
        assert_eq!(super::stack_frame("libc.so.6+0x10"), "libc.so.6+0x10");
        let reg = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        assert_eq!(
            super::stack_frame(&format!("call_once<fn(), ()> ({reg}/x-0.1.0/src/a.rs:3)")),
            "call_once (x-0.1.0/src/a.rs:3)"
        );
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
