//! Names that tell sites apart in one line.
//!
//! A site is named by its frame of the program's own code ([`crate::frames::user_frame`]). Sites
//! reached through one helper (`must_alloc()`, `alloc_latents()`, `Buffer::new`) share that frame,
//! so a list naming them by it alone names one helper five times. A site's label is its naming
//! frame plus as few other frames as tell it from every other site of the same list: its callers
//! first, by function name (`must_alloc (common.h:35) <- leak_site_a`), with their lines when the
//! names are not enough; then the kind of memory (`[physical]`), for the physical memory, mapping
//! and address range one VMM call site makes; then the library frames inside it (`via
//! at::native::empty_cuda`), for a Python line that allocates through two paths; and, for stacks
//! that symbolize alike (no symbols), the stack's number.

use std::collections::HashMap;

use gpuleak_trace::MemoryKind;

use crate::frames::{function_name, meaning, short_frame, short_function, with_short_source};
use crate::memory::kind_name;

/// One site to label: its frames (innermost first), the index of the frame naming it, its kind
/// of memory and its stack id.
#[derive(Clone, Copy, Debug)]
pub struct Named<'a> {
    pub frames: &'a [String],
    pub user_frame: usize,
    pub memory: MemoryKind,
    /// The device ordinal, when known.
    pub device: Option<i32>,
    pub stack_id: u32,
}

/// What a label adds: a frame, relative to the naming frame (callers are positive, library
/// frames inside it negative), or the kind of memory (offset 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Extra {
    offset: isize,
    /// With the frame's file and line, not only its function's name.
    full: bool,
}

/// The kind of memory, as an [`Extra`].
const KIND: Extra = Extra {
    offset: 0,
    full: false,
};

/// The device, as an [`Extra`]: one line allocating on two GPUs is two sites.
const DEVICE: Extra = Extra {
    offset: 0,
    full: true,
};

/// Give up refining after this many rounds (each round adds one frame to every label of a group
/// of equal ones); the fallbacks still make them distinct.
const MAX_ROUNDS: usize = 64;

/// One label per site, in order, no two equal.
pub fn labels(sites: &[Named]) -> Vec<String> {
    let mut extras: Vec<Vec<Extra>> = vec![Vec::new(); sites.len()];
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for group in equal_groups(sites, &extras) {
            if let Some(extra) = telling_frame(sites, &extras, &group) {
                for &i in &group {
                    extras[i].push(extra);
                }
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut out: Vec<String> = (0..sites.len())
        .map(|i| render(&sites[i], &extras[i]))
        .collect();
    // What nothing recorded tells apart: the stack's number.
    for group in groups_of(&out) {
        for &i in &group {
            out[i] = format!("{} #{}", out[i], sites[i].stack_id);
        }
    }
    out
}

/// Indices of sites whose labels, as they stand, are equal: groups of two or more.
fn equal_groups(sites: &[Named], extras: &[Vec<Extra>]) -> Vec<Vec<usize>> {
    let rendered: Vec<String> = (0..sites.len())
        .map(|i| render(&sites[i], &extras[i]))
        .collect();
    groups_of(&rendered)
}

fn groups_of(labels: &[String]) -> Vec<Vec<usize>> {
    let mut by: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, l) in labels.iter().enumerate() {
        by.entry(l.as_str()).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = by.into_values().filter(|g| g.len() > 1).collect();
    groups.sort();
    groups
}

/// What to add to a group's labels: the nearest caller whose name differs within the group, else
/// the nearest whose file and line do, else the kind of memory if it differs, else the nearest
/// frame inside the naming frame that differs; `None` when the group's sites are alike
/// everywhere.
fn telling_frame(sites: &[Named], extras: &[Vec<Extra>], group: &[usize]) -> Option<Extra> {
    let reach = group
        .iter()
        .map(|&i| {
            let s = &sites[i];
            (
                s.frames.len().saturating_sub(s.user_frame + 1),
                s.user_frame,
            )
        })
        .fold((0, 0), |(c, n), (sc, sn)| (c.max(sc), n.max(sn)));
    let callers = (1..=reach.0 as isize).collect::<Vec<_>>();
    let inner = (1..=reach.1 as isize).map(|k| -k).collect::<Vec<_>>();
    // How many different texts the group's sites have at a frame (1: it tells nothing).
    let spread = |extra: Extra| {
        let mut texts: Vec<Option<String>> = group
            .iter()
            .map(|&i| frame_text(&sites[i], extra))
            .collect();
        texts.sort();
        texts.dedup();
        texts.len()
    };
    let unused = |extra: &Extra| !group.iter().any(|&i| extras[i].contains(extra));
    for full in [false, true] {
        // Callers: the nearest that tells, so that the label reads as a call chain.
        if let Some(extra) = callers
            .iter()
            .map(|&offset| Extra { offset, full })
            .find(|e| unused(e) && spread(*e) > 1)
        {
            return Some(extra);
        }
    }
    if unused(&KIND)
        && group
            .iter()
            .any(|&i| sites[i].memory != sites[group[0]].memory)
    {
        return Some(KIND);
    }
    if unused(&DEVICE)
        && group
            .iter()
            .any(|&i| sites[i].device != sites[group[0]].device)
    {
        return Some(DEVICE);
    }
    for full in [false, true] {
        // Inside the naming frame: of the frames that tell the group apart, the most telling
        // kind (a Python line, then a PyTorch operator, then other C++: not a template
        // wrapper's name), then the one that splits the group the most, nearest first among
        // equals, so that a few frames name many paths.
        let best = inner
            .iter()
            .map(|&offset| Extra { offset, full })
            .filter(unused)
            .map(|e| (spread(e), e))
            .filter(|&(n, _)| n > 1)
            .max_by_key(|&(n, e)| (meaning_at(sites, group, e), n, std::cmp::Reverse(-e.offset)));
        if let Some((_, extra)) = best {
            return Some(extra);
        }
    }
    None
}

/// How telling the group's frames at `extra` are ([`meaning`]): the least of them, so that a
/// frame is chosen for what it says in every label it lands in.
fn meaning_at(sites: &[Named], group: &[usize], extra: Extra) -> u8 {
    group
        .iter()
        .filter_map(|&i| {
            let s = &sites[i];
            let at = usize::try_from(s.user_frame as isize + extra.offset).ok()?;
            s.frames.get(at).map(|f| meaning(f))
        })
        .min()
        .unwrap_or(0)
}

fn frame_text(site: &Named, extra: Extra) -> Option<String> {
    let at = site.user_frame as isize + extra.offset;
    let frame = site.frames.get(usize::try_from(at).ok()?)?;
    Some(if extra.full {
        // The whole function, parameters and all, where no file and line tell overloads apart.
        with_short_source(frame, function_name(frame))
    } else {
        short_function(function_name(frame))
    })
}

/// The naming frame, the callers the label needs (all of them up to the outermost needed, so it
/// reads as a call chain), and the library frames inside it that it needs.
fn render(site: &Named, extras: &[Extra]) -> String {
    let Some(naming) = site.frames.get(site.user_frame).or(site.frames.first()) else {
        return "(no stack recorded)".to_string();
    };
    let mut label = short_frame(naming);
    let outermost = extras
        .iter()
        .filter(|e| e.offset > 0)
        .map(|e| e.offset)
        .max()
        .unwrap_or(0);
    for offset in 1..=outermost {
        let full = extras.iter().any(|e| e.offset == offset && e.full);
        if let Some(text) = frame_text(site, Extra { offset, full }) {
            label.push_str(" <- ");
            label.push_str(&text);
        }
    }
    if extras.contains(&KIND) {
        label.push_str(&format!(" [{}]", kind_name(site.memory)));
    }
    if extras.contains(&DEVICE) {
        match site.device {
            Some(d) => label.push_str(&format!(" [GPU {d}]")),
            None => label.push_str(" [no device]"),
        }
    }
    let mut inner: Vec<&Extra> = extras.iter().filter(|e| e.offset < 0).collect();
    inner.sort_by_key(|e| std::cmp::Reverse(e.offset));
    inner.dedup_by_key(|e| e.offset);
    for e in inner {
        let full = extras.iter().any(|x| x.offset == e.offset && x.full);
        if let Some(text) = frame_text(
            site,
            Extra {
                offset: e.offset,
                full,
            },
        ) {
            label.push_str(" via ");
            label.push_str(&text);
        }
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn named(frames: &[String], memory: MemoryKind, stack_id: u32) -> Named<'_> {
        Named {
            frames,
            user_frame: 0,
            memory,
            device: Some(0),
            stack_id,
        }
    }

    #[test]
    fn sites_reached_through_one_helper_are_named_by_their_callers() {
        let a = frames(&[
            "must_alloc (/src/common.h:35)",
            "leak_site_a (/src/a.c:10)",
            "main (/src/main.c:5)",
        ]);
        let b = frames(&[
            "must_alloc (/src/common.h:35)",
            "scratch (/src/b.c:20)",
            "main (/src/main.c:6)",
        ]);
        let c = frames(&["denoise (/src/d.c:3)", "main (/src/main.c:7)"]);
        let got = labels(&[
            named(&a, MemoryKind::Device, 1),
            named(&b, MemoryKind::Device, 2),
            named(&c, MemoryKind::Device, 3),
        ]);
        assert_eq!(
            got,
            [
                "must_alloc (common.h:35) <- leak_site_a",
                "must_alloc (common.h:35) <- scratch",
                "denoise (d.c:3)",
            ]
        );
    }

    #[test]
    fn one_caller_calling_twice_is_told_apart_by_its_lines() {
        let a = frames(&["alloc (/h.h:1)", "step (/s.c:10)", "main (/m.c:1)"]);
        let b = frames(&["alloc (/h.h:1)", "step (/s.c:12)", "main (/m.c:1)"]);
        let got = labels(&[
            named(&a, MemoryKind::Device, 1),
            named(&b, MemoryKind::Device, 2),
        ]);
        assert_eq!(
            got,
            [
                "alloc (h.h:1) <- step (s.c:10)",
                "alloc (h.h:1) <- step (s.c:12)"
            ]
        );
    }

    #[test]
    fn a_python_line_allocating_through_two_paths_names_the_library_frame() {
        let a = frames(&["empty_cuda (/lib/e.cpp:1)", "denoise (/s.py:221)"]);
        let b = frames(&["conv_cuda (/lib/c.cpp:1)", "denoise (/s.py:221)"]);
        let got = labels(&[
            Named {
                frames: &a,
                user_frame: 1,
                memory: MemoryKind::Device,
                device: Some(0),
                stack_id: 1,
            },
            Named {
                frames: &b,
                user_frame: 1,
                memory: MemoryKind::Device,
                device: Some(0),
                stack_id: 2,
            },
        ]);
        assert_eq!(
            got,
            [
                "denoise (s.py:221) via empty_cuda",
                "denoise (s.py:221) via conv_cuda"
            ]
        );
    }

    #[test]
    fn one_vmm_call_site_is_told_apart_by_kind_then_alike_stacks_by_number() {
        let f = frames(&["grow (/v.c:9)"]);
        let got = labels(&[
            named(&f, MemoryKind::Physical, 4),
            named(&f, MemoryKind::Mapping, 4),
            named(&f, MemoryKind::Device, 5),
            named(&f, MemoryKind::Device, 6),
        ]);
        assert_eq!(
            got,
            [
                "grow (v.c:9) [physical]",
                "grow (v.c:9) [mapping]",
                "grow (v.c:9) [device] #5",
                "grow (v.c:9) [device] #6"
            ]
        );
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), got.len());
    }

    #[test]
    fn one_line_allocating_on_two_gpus_is_named_by_device() {
        let f = frames(&["load (/m.py:3)"]);
        let mut a = named(&f, MemoryKind::Device, 7);
        let mut b = named(&f, MemoryKind::Device, 7);
        a.device = Some(0);
        b.device = Some(1);
        assert_eq!(
            labels(&[a, b]),
            ["load (m.py:3) [GPU 0]", "load (m.py:3) [GPU 1]"]
        );
    }

    #[test]
    fn a_python_line_allocating_through_two_operators_is_named_by_the_operator_not_cpp_noise() {
        // As PyTorch's stacks come: the allocator, its template helpers, the operator, the
        // kernel's wrapper and the binding (which differ too, nearer the Python line), then the
        // Python line.
        let path = |op: &str, binding: &str| {
            frames(&[
                "c10::cuda::CUDACachingAllocator::Native::NativeCachingAllocator::malloc(void**, signed char, unsigned long, CUstream_st*)",
                "at::TensorBase at::detail::_empty_generic<long>(c10::ArrayRef<long>, c10::Allocator*, c10::DispatchKeySet, c10::ScalarType, std::optional<c10::MemoryFormat>)",
                &format!(
                    "at::Tensor at::_ops::{op}::call(c10::ArrayRef<c10::SymInt>, std::optional<c10::ScalarType>)"
                ),
                &format!(
                    "at::(anonymous namespace)::wrapper_CUDA_{binding}_Tensor(at::Tensor const&, at::Tensor const&)"
                ),
                &format!(
                    "_object* torch::autograd::TypeError_to_NotImplemented_<&(torch::autograd::THPVariable_{binding}(_object*, _object*, _object*))>(_object*, _object*, _object*)"
                ),
                "Sampler.denoise (/w/app.py:221)",
                "main (/w/app.py:300)",
            ])
        };
        let a = path("empty_memory_format", "mul");
        let b = path("empty_strided", "add");
        let site = |frames, stack_id| Named {
            frames,
            user_frame: 5,
            memory: MemoryKind::Device,
            device: Some(0),
            stack_id,
        };
        assert_eq!(
            labels(&[site(&a, 1), site(&b, 2)]),
            [
                "Sampler.denoise (app.py:221) via at::_ops::empty_memory_format",
                "Sampler.denoise (app.py:221) via at::_ops::empty_strided"
            ]
        );
    }

    #[test]
    fn a_cpp_naming_frame_is_named_without_its_template_and_return_type() {
        let a = frames(&[
            "at::TensorBase at::detail::_empty_generic<long>(c10::ArrayRef<long>) (/src/EmptyTensor.cpp:30)",
        ]);
        let got = labels(&[named(&a, MemoryKind::Device, 1)]);
        assert_eq!(got, ["at::detail::_empty_generic (EmptyTensor.cpp:30)"]);
    }

    #[test]
    fn distinct_sites_keep_their_short_names() {
        let a = frames(&["a (/x.c:1)", "main (/m.c:1)"]);
        let b = frames(&["b (/x.c:2)", "main (/m.c:1)"]);
        let none: Vec<String> = Vec::new();
        let got = labels(&[
            named(&a, MemoryKind::Device, 1),
            named(&b, MemoryKind::Device, 2),
            named(&none, MemoryKind::Device, 3),
        ]);
        assert_eq!(got, ["a (x.c:1)", "b (x.c:2)", "(no stack recorded)"]);
    }
}
