//! The diagnosis' sentences about holders: a leaking site named by what keeps its memory ("`GALLERY`
//! (app.py, a module global) keeps one 1.50 MiB tensor per iteration (4 at exit)"), and what the
//! memory was at an out-of-memory failure (weights of which model, held by which frames, not
//! reachable from Python) with what that means: the input too large for the device, or a leak.
//! Every sentence is written here once; the text report, the HTML page and the live view show
//! the diagnosis as it is.

use gpuleak_trace::{HoldersReason, Role, RootKind};

use crate::holders::{container, partial_end_words, reason_words, role_words, root_words};
use crate::model::{HolderEntry, HolderGroup, Holding, Report, Site};
use crate::units::bytes;

/// Parts of the memory at a failure named before the rest are summed up.
const OOM_PARTS: usize = 5;

/// A rate within this share of one holder's size is "one of them per iteration".
const ONE_PER_ITERATION: f64 = 0.25;

/// What the holders at an out-of-memory failure say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OomConclusion {
    /// Nothing held by user code grows: the weights and the step's own tensors exceed the
    /// device.
    InputTooLarge,
    /// Memory held by user code grew, or a leaking site's memory is held by it.
    Leaking,
}

impl OomConclusion {
    /// The one sentence for each conclusion.
    pub fn sentence(self) -> &'static str {
        match self {
            OomConclusion::InputTooLarge => {
                "Nothing held by user code grows: the input is too large for the device (the \
                 weights and the step's own tensors exceed it), not a leak."
            }
            OomConclusion::Leaking => "Memory held by user code grew: something is leaking.",
        }
    }
}

/// The walk whose holders a report names: the last one that found any.
pub fn last_holding(r: &Report) -> Option<&Holding> {
    r.holders.iter().rev().find(|h| !h.entries.is_empty())
}

/// Whether a group is memory the program's own code keeps beyond a step: a list, a dict, an
/// attribute, a closure, an autograd graph kept alive; not a running frame's locals.
fn kept_by_user(role: Role, root: RootKind) -> bool {
    matches!(role, Role::UserHeld | Role::Autograd) && root != RootKind::Frame
}

/// The largest group of a site's holders that the program's own code keeps.
fn user_group(s: &Site) -> Option<&HolderGroup> {
    s.holders.iter().find(|g| kept_by_user(g.role, g.root))
}

/// "tensor" for `Tensor float16[...]`, else "object".
fn thing(owner: &str) -> &'static str {
    if owner.starts_with("Tensor") {
        "tensor"
    } else if owner.contains("__cuda_array_interface__") {
        "array"
    } else {
        "object"
    }
}

/// A leaking site named by what keeps its memory, when the last walk found user code keeping
/// it: "`GALLERY` (app.py, a module global) keeps one 1.50 MiB tensor per iteration (4 at
/// exit); 6.00 MiB held at the last iteration, freed at exit; made at main (app.py:122)"
/// (`held` is what the site holds, in [`super::held`]'s words). `None` without such a holder.
pub fn held_leak_phrase(r: &Report, s: &Site, per: &str, held: &str) -> Option<String> {
    let g = user_group(s)?;
    let when = last_holding(r).map_or("", |h| reason_words(h.reason));
    let each = g.bytes / g.count.max(1);
    let rate = s.bytes_per_iteration().unwrap_or(0).unsigned_abs();
    let what = thing(&g.owner);
    let one_each =
        g.count >= 2 && (rate as f64 - each as f64).abs() <= each as f64 * ONE_PER_ITERATION;
    let keeps = if one_each {
        format!(
            "keeps one {} {what} per {per} ({} {when})",
            bytes(each),
            g.count
        )
    } else {
        format!(
            "keeps +{}/{per} ({} {what}{}, {} in all, {when})",
            bytes(rate),
            g.count,
            if g.count == 1 { "" } else { "s" },
            bytes(g.bytes)
        )
    };
    Some(format!(
        "`{}` ({}) {keeps}; {held}; made at {}",
        container(&g.path),
        root_words(g.root, &g.root_where),
        s.label
    ))
}

/// The out-of-memory walk that speaks for failure `oom` (an index into `ooms`): the latest one
/// tagged with it or a failure before it. The hook walks once per burst of failures (PyTorch's
/// caching allocator fails, empties its cache, fails again and raises), right after the first,
/// while the failing frames still hold their tensors: that walk speaks for the whole burst.
pub fn oom_holding(r: &Report, oom: usize) -> Option<&Holding> {
    r.holders
        .iter()
        .filter(|h| h.reason == HoldersReason::OutOfMemory)
        .filter(|h| h.oom.is_some_and(|k| k <= oom))
        .max_by_key(|h| h.oom)
}

/// The part that the running frames hold: the failing step's own tensors and the autograd
/// graph it is building, whichever frame of the step holds them.
const RUNNING_FRAMES: &str = "held by the running frames";

/// One part of the memory at a failure, as the sentence names it.
fn part_name(e: &HolderEntry) -> String {
    if matches!(e.role, Role::UserHeld | Role::Autograd) && e.root == RootKind::Frame {
        return RUNNING_FRAMES.to_string();
    }
    let of = |what: &str| {
        if e.model.is_empty() {
            what.to_string()
        } else {
            format!("{what} of `{}`", e.model)
        }
    };
    match e.role {
        Role::Parameter | Role::Buffer => of("weights"),
        Role::Gradient => of("gradients"),
        Role::OptimizerState => of("optimizer state"),
        Role::FromC => role_words(Role::FromC).to_string(),
        Role::UserHeld | Role::Autograd => {
            let how = if e.role == Role::Autograd {
                "kept by an autograd graph from"
            } else {
                "held by"
            };
            match e.root {
                RootKind::ModuleGlobal => format!("{how} module globals of {}", e.root_where),
                _ => format!("{how} {}", root_words(e.root, &e.root_where)),
            }
        }
    }
}

/// "weights of `pipe.unet (UNet2DConditionModel)` 1.60 GiB, held by the running frames 1.10
/// GiB (most in thread MainThread in decode (app.py:40)), not reachable from Python 141 MiB".
fn breakdown(h: &Holding) -> String {
    let mut parts: Vec<(String, u64)> = Vec::new();
    // Which frame holds the most of the running frames' part.
    let mut frames: Vec<(&str, u64)> = Vec::new();
    for e in &h.entries {
        let name = part_name(e);
        if name == RUNNING_FRAMES {
            match frames.iter_mut().find(|(w, _)| *w == e.root_where) {
                Some((_, b)) => *b = b.saturating_add(e.bytes),
                None => frames.push((&e.root_where, e.bytes)),
            }
        }
        match parts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, b)) => *b = b.saturating_add(e.bytes),
            None => parts.push((name, e.bytes)),
        }
    }
    parts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let most = frames
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .filter(|(w, _)| !w.is_empty())
        .map_or(String::new(), |(w, _)| format!(" (most in {w})"));
    let mut named: Vec<String> = parts
        .iter()
        .take(OOM_PARTS)
        .map(|(n, b)| {
            let most = if n == RUNNING_FRAMES {
                most.as_str()
            } else {
                ""
            };
            format!("{n} {}{most}", bytes(*b))
        })
        .collect();
    if parts.len() > OOM_PARTS {
        let rest = parts[OOM_PARTS..]
            .iter()
            .fold(0u64, |a, (_, b)| a.saturating_add(*b));
        named.push(format!(
            "{} more holders {}",
            parts.len() - OOM_PARTS,
            bytes(rest)
        ));
    }
    named.push(format!(
        "not reachable from Python {}",
        bytes(h.unheld_bytes)
    ));
    named.join(", ")
}

/// Bytes the program's own code keeps beyond a step, in one walk.
fn user_kept(h: &Holding) -> u64 {
    h.entries
        .iter()
        .filter(|e| kept_by_user(e.role, e.root))
        .fold(0, |a, e| a.saturating_add(e.bytes))
}

/// What the holders at failure `oom` say: leaking when memory kept by user code grew since an
/// earlier walk, or a leaking site's memory is kept by user code at the failure; else the input
/// is too large.
pub fn oom_conclusion(r: &Report, h: &Holding) -> OomConclusion {
    let now = user_kept(h);
    let grew = r
        .holders
        .iter()
        .take_while(|x| !std::ptr::eq(*x, h))
        .filter(|x| !x.entries.is_empty())
        .any(|x| user_kept(x) < now);
    let leaking_site_kept = h.entries.iter().any(|e| {
        kept_by_user(e.role, e.root)
            && r.sites
                .iter()
                .any(|s| s.leaks() && e.site.as_deref() == Some(s.label.as_str()))
    });
    if grew || leaking_site_kept {
        OomConclusion::Leaking
    } else {
        OomConclusion::InputTooLarge
    }
}

/// What the program's own code keeps at a walk, its largest group named: "`GALLERY` (app.py, a
/// module global) keeps 6.00 MiB in 4 tensors."; `None` when it keeps nothing.
pub fn largest_kept(h: &Holding) -> Option<String> {
    let g = h.groups.iter().find(|g| kept_by_user(g.role, g.root))?;
    let what = thing(&g.owner);
    Some(format!(
        "`{}` ({}) keeps {} in {} {what}{}.",
        container(&g.path),
        root_words(g.root, &g.root_where),
        bytes(g.bytes),
        g.count,
        if g.count == 1 { "" } else { "s" }
    ))
}

/// "At the failure the memory was: weights of ... 1.60 GiB, ...; not reachable from Python
/// 141 MiB." with the walk's limits said when it was partial.
pub fn oom_breakdown(h: &Holding) -> String {
    let partial = partial_end_words(h.end).map_or(String::new(), |w| format!(" ({w})"));
    format!("At the failure the memory was: {}{partial}.", breakdown(h))
}
