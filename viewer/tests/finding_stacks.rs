//! A finding's stack in the text report reads as names: C++ frames without their return types,
//! template arguments and parameter lists, as labels and exports already shorten them.

mod common;

use common::*;
use gpuleak::render::text::render_text;
use gpuleak_analysis::{Replay, Report, Symbolizer};

#[test]
fn a_pytorch_leak_found_under_templates_shows_its_cpp_frames_by_name() {
    // Before: "at::TensorBase at::detail::_empty_generic<long>(c10::ArrayRef<long>,
    // c10::Allocator*, ...)" under the finding, as the symbolizer wrote it.
    let trace = freed_at_exit_trace(20, 2 * MIB);
    let replay = Replay::from_reader(&mut gpuleak_trace::Reader::new(&trace[..]).unwrap()).unwrap();
    let mut report = Report::build(&replay, &mut Symbolizer::new());
    let leak = report
        .sites
        .iter_mut()
        .find(|s| s.leaks())
        .expect("the leak is a finding");
    leak.frames = vec![
        "at::TensorBase at::detail::_empty_generic<long>(c10::ArrayRef<long>, c10::Allocator*, \
         c10::DispatchKeySet, c10::ScalarType, std::optional<c10::MemoryFormat>) \
         (/src/aten/src/ATen/EmptyTensor.cpp:57)"
            .into(),
        "at::Tensor at::_ops::empty_memory_format::call(c10::ArrayRef<c10::SymInt>, \
         std::optional<c10::ScalarType>)"
            .into(),
        "keep_latents (/w/sampler.py:65)".into(),
        "main (/w/sampler.py:120)".into(),
    ];
    leak.user_frame = 2;
    let text = render_text(&report, 10);
    let findings = text.split("Findings:").nth(1).expect("a findings section");
    let stack: Vec<&str> = findings
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("      "))
        .map(str::trim)
        .collect();
    assert_eq!(
        stack,
        [
            "keep_latents (/w/sampler.py:65)",
            "main (/w/sampler.py:120)",
            "at::detail::_empty_generic (/src/aten/src/ATen/EmptyTensor.cpp:57)",
            "at::_ops::empty_memory_format",
        ],
        "{findings}"
    );
}
