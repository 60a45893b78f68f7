//! How a site's stack is put before a person, in the text report and the live view alike: a
//! Python program's Python frames first (the lines its author can change), then the native
//! frames below them; what the frame naming the site called is folded but for a couple of
//! frames, since for a Python line that is how Python reached CUDA (PyTorch's C++, ctypes).

use gpuleak_analysis::units::count;
use gpuleak_analysis::{function_name, is_python_frame, short_function, tidy_frame};

/// Frames the site's naming frame called that stay shown above it: enough to tell which
/// operator it was (`torch.empty`, `at::_ops::empty_memory_format`), not the whole way down.
pub const CALLED_SHOWN: usize = 2;

/// A stack in the order it is shown, with how many of its first frames are folded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// Indices into the frames: Python frames innermost first, then the native ones, innermost
    /// first.
    pub order: Vec<usize>,
    /// How many of `order`'s first entries are folded ("… 23 frames inside").
    pub inside: usize,
}

/// The order `frames` are shown in, `user_frame` (the index of the frame naming the site, as
/// the report has it) kept with up to [`CALLED_SHOWN`] of the frames it called.
pub fn python_first(frames: &[String], user_frame: usize) -> Shown {
    let python: Vec<usize> = (0..frames.len())
        .filter(|&i| is_python_frame(&frames[i]))
        .collect();
    let order: Vec<usize> = python
        .iter()
        .copied()
        .chain((0..frames.len()).filter(|i| !python.contains(i)))
        .collect();
    let naming = order.iter().position(|&i| i == user_frame).unwrap_or(0);
    Shown {
        order,
        inside: naming.saturating_sub(CALLED_SHOWN),
    }
}

/// A frame on one line of a stack view: third-party sources without their cache directories,
/// and a C++ function without its return type, template arguments and parameters
/// (`at::detail::_empty_generic`), which otherwise fill the line.
pub fn frame_line(frame: &str) -> String {
    let tidy = tidy_frame(frame);
    let function = function_name(&tidy);
    let short = short_function(function);
    let source = &tidy[function.len()..];
    // A Python package's file from the package on: where the environment is says nothing.
    let source = match PACKAGE_DIRS
        .iter()
        .find_map(|d| source.find(d).map(|at| at + d.len()))
    {
        Some(at) => format!(" ({}", &source[at..]),
        None => source.to_string(),
    };
    format!("{short}{source}")
}

/// Library frames folded into one line of function names: "3 library frames: a <- ... <- c".
/// The text report folds the library frames inside the program's own so; the HTML findings
/// fold each run of library frames alike.
pub fn folded<'a>(frames: impl ExactSizeIterator<Item = &'a String>) -> String {
    let n = frames.len();
    let names: Vec<&str> = frames.map(|f| function_name(f)).collect();
    let shown = match names.as_slice() {
        [a, .., b] if names.len() > 4 => format!("{a} <- ... <- {b}"),
        _ => names.join(" <- "),
    };
    format!(
        "{}: {shown}",
        count(n as u64, "library frame", "library frames")
    )
}

/// Where Python packages are installed.
const PACKAGE_DIRS: [&str; 2] = ["/site-packages/", "/dist-packages/"];

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_pytorch_stack_starts_at_the_users_python_line() {
        let f = frames(&[
            "c10::cuda::CUDACachingAllocator::malloc(void**, int, unsigned long)",
            "libtorch_cuda.so+0x1234",
            "libtorch_cpu.so+0x99",
            "libtorch_python.so+0x10",
            "empty (/venv/lib/python3.11/site-packages/torch/nn/init.py:40)",
            "Linear.forward (/venv/lib/python3.11/site-packages/torch/nn/modules/linear.py:125)",
            "decode (/srv/app.py:122)",
            "main (/srv/app.py:140)",
        ]);
        let shown = python_first(&f, 6);
        assert_eq!(shown.order, [4, 5, 6, 7, 0, 1, 2, 3]);
        // The user's line comes third, after the two library lines it called.
        assert_eq!(shown.inside, 0);
        assert_eq!(shown.order[shown.inside + 2], 6);
    }

    #[test]
    fn frames_deep_inside_the_naming_frame_are_folded() {
        let mut names: Vec<String> = (0..10).map(|i| format!("lib{i}.so+0x1")).collect();
        names.push("main (/srv/app.c:9)".into());
        let shown = python_first(&names, 10);
        assert_eq!(shown.inside, 8);
        assert_eq!(shown.order[shown.inside..], [8, 9, 10]);
    }

    #[test]
    fn a_cpp_frame_loses_its_templates_and_parameters_but_not_its_source() {
        assert_eq!(
            frame_line(
                "at::TensorBase at::detail::_empty_generic<long>(c10::ArrayRef<long>, \
                 c10::Allocator*) (/src/aten/EmptyTensor.cpp:40)"
            ),
            "at::detail::_empty_generic (/src/aten/EmptyTensor.cpp:40)"
        );
        assert_eq!(
            frame_line("decode (/srv/app.py:122)"),
            "decode (/srv/app.py:122)"
        );
        assert_eq!(frame_line("libtorch_cuda.so+0x12"), "libtorch_cuda.so+0x12");
        assert_eq!(
            frame_line("Linear.forward (/venv/lib/python3.11/site-packages/torch/nn/linear.py:9)"),
            "Linear.forward (torch/nn/linear.py:9)"
        );
    }
}
