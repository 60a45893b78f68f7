//! What keeps device memory alive, matched to what the trace holds: each Holders snapshot the
//! walk inside a Python program wrote ([`gpuleak_trace::Holders`]), with every holder placed in
//! the live allocation, caching-allocator segment or VMM mapping that contains it
//! ([`HeldSnapshot`]); holders that differ only in indices grouped as one (`GALLERY[*]`: that is
//! what a leak looks like, [`HeldGroup`]); totals by role and by top-level model; and what no
//! owner covers (allocator caches, library workspaces, native memory).
//!
//! The matching runs when the replay applies the record (`replay/holders.rs`), against what is
//! live at that moment; everything here reads a finished snapshot.

use std::collections::HashMap;

use gpuleak_trace::{Holder, HoldersReason, Role, RootKind, WalkEnd};
use serde::{Serialize, Serializer};

use crate::memory::SiteKey;
use crate::units::{bytes, count};

/// The live block that contains a holder's memory: a plain allocation (a tensor under
/// `--torch-tensors`, a ctypes or CuPy allocation), a caching allocator's segment, or a run of
/// contiguous VMM mappings (expandable segments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldBlock {
    /// The site that made it: the allocation's; for mappings, the physical memory's
    /// (`cuMemCreate`), which is where the report counts that memory.
    pub site: SiteKey,
    pub address: u64,
    pub size: u64,
}

impl HeldBlock {
    pub fn end(&self) -> u64 {
        self.address.saturating_add(self.size)
    }
}

/// One holder of a snapshot and the block it was found in; `block` is `None` when no live
/// memory the trace saw contains it (allocated before tracing, or by a call gpuleak does not
/// intercept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldEntry {
    pub holder: Holder,
    pub block: Option<HeldBlock>,
}

/// A block that holders keep, and which ones: "a 20 MiB segment kept by `GALLERY[3]`, 1.50 MiB
/// of it". A caching allocator cannot give a segment back while one block in it is in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptBlock {
    pub block: HeldBlock,
    /// Indices into [`HeldSnapshot::entries`], largest holder first.
    pub holders: Vec<usize>,
    /// The part of the block the holders cover (views of one storage counted once).
    pub held_bytes: u64,
}

/// One walk, matched: the snapshot as the hook wrote it and where each holder lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldSnapshot {
    /// On the trace's monotonic clock.
    pub time_ns: u64,
    pub reason: HoldersReason,
    pub end: WalkEnd,
    /// Why the walk was unavailable, failed or capped; "" when complete.
    pub note: String,
    pub elapsed_us: u64,
    /// Python objects the walk visited.
    pub visited: u64,
    /// In the walk's order (shortest paths first).
    pub entries: Vec<HeldEntry>,
    /// Device and physical memory live when the record was applied.
    pub live_bytes: u64,
    /// Of it, what no holder covers: allocator caches, cuBLAS/cuDNN workspaces, native memory,
    /// and owners the walk did not reach.
    pub unheld_bytes: u64,
    /// Blocks with holders in them, largest first.
    pub blocks: Vec<KeptBlock>,
    /// Out-of-memory failures the trace had recorded before this walk: an out-of-memory walk
    /// belongs to the last of them.
    pub ooms_before: usize,
}

/// Holders whose paths differ only in indices, with the same root, role and model: `GALLERY[*]`
/// for `GALLERY[0]`, `GALLERY[1]`, ... In the JSON, `sites[].holders` and `holders[].groups`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldGroup {
    /// The path with every integer index written `[*]`; a group of one keeps its own path.
    pub path: String,
    /// "module_global", "frame", "generator" or "none".
    #[serde(serialize_with = "serialize_root")]
    pub root: RootKind,
    pub root_where: String,
    /// "parameter", "buffer", "gradient", "optimizer_state", "autograd", "user_held" or
    /// "from_c".
    #[serde(serialize_with = "serialize_role")]
    pub role: Role,
    pub model: String,
    /// What the first of them is (`Tensor float16[1, 3, 512, 512]`).
    pub owner: String,
    pub count: u64,
    pub bytes: u64,
}

impl HeldGroup {
    /// The container a person would name ([`container`]).
    pub fn container(&self) -> &str {
        container(&self.path)
    }

    /// The group in one line, as every report and view says it: "`GALLERY[*]` ×4, 6.00 MiB:
    /// held by user code; app.py, a module global (Tensor float16[1, 3, 512, 512])".
    pub fn line(&self) -> String {
        let times = if self.count > 1 {
            format!(" ×{}", self.count)
        } else {
            String::new()
        };
        let model = if self.model.is_empty() {
            String::new()
        } else {
            format!(" of {}", self.model)
        };
        format!(
            "`{}`{times}, {}: {}{model}; {} ({})",
            self.path,
            bytes(self.bytes),
            role_words(self.role),
            root_words(self.root, &self.root_where),
            self.owner
        )
    }
}

/// Bytes and owners of one role in a snapshot (also the report's `by_role` entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RoleTotal {
    #[serde(serialize_with = "serialize_role")]
    pub role: Role,
    pub bytes: u64,
    pub count: u64,
}

impl HeldSnapshot {
    /// Whether the walk saw everything: not capped, not failed, not unavailable.
    pub fn complete(&self) -> bool {
        self.end == WalkEnd::Complete
    }

    /// Every holder, grouped ([`group_path`]), largest first.
    pub fn groups(&self) -> Vec<HeldGroup> {
        group(self.entries.iter())
    }

    /// The holders of one site's memory, grouped, largest first.
    pub fn groups_of(&self, site: &SiteKey) -> Vec<HeldGroup> {
        group(
            self.entries
                .iter()
                .filter(|e| e.block.is_some_and(|b| b.site == *site)),
        )
    }

    /// Bytes and owners per role, largest first.
    pub fn by_role(&self) -> Vec<RoleTotal> {
        let mut totals: Vec<RoleTotal> = Vec::new();
        for e in &self.entries {
            let h = &e.holder;
            match totals.iter_mut().find(|t| t.role == h.role) {
                Some(t) => {
                    t.bytes = t.bytes.saturating_add(h.size);
                    t.count += 1;
                }
                None => totals.push(RoleTotal {
                    role: h.role,
                    bytes: h.size,
                    count: 1,
                }),
            }
        }
        totals.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.role.cmp(&b.role)));
        totals
    }

    /// Bytes per top-level model (holders that name one), largest first.
    pub fn by_model(&self) -> Vec<(String, u64)> {
        let mut totals: Vec<(String, u64)> = Vec::new();
        for h in self.entries.iter().map(|e| &e.holder) {
            if h.model.is_empty() {
                continue;
            }
            match totals.iter_mut().find(|(m, _)| *m == h.model) {
                Some((_, b)) => *b = b.saturating_add(h.size),
                None => totals.push((h.model.clone(), h.size)),
            }
        }
        totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        totals
    }

    /// Bytes of the holders with `role`.
    pub fn role_bytes(&self, role: Role) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.holder.role == role)
            .fold(0, |a, e| a.saturating_add(e.holder.size))
    }

    /// The block kept at `address`, if holders keep one there.
    pub fn kept_block(&self, address: u64) -> Option<&KeptBlock> {
        self.blocks.iter().find(|b| b.block.address == address)
    }
}

/// Groups holders by their grouped path, root, role and model; largest first, then by path.
fn group<'a>(entries: impl Iterator<Item = &'a HeldEntry>) -> Vec<HeldGroup> {
    let mut index: HashMap<(String, RootKind, &str, Role, &str), usize> = HashMap::new();
    let mut groups: Vec<HeldGroup> = Vec::new();
    // A group of one keeps its own path: `GALLERY[3]` alone is no pattern.
    let mut first: Vec<&str> = Vec::new();
    for h in entries.map(|e| &e.holder) {
        let path = group_path(&h.path);
        let key = (
            path.clone(),
            h.root,
            h.root_where.as_str(),
            h.role,
            h.model.as_str(),
        );
        match index.get(&key) {
            Some(&i) => {
                let g = &mut groups[i];
                g.count += 1;
                g.bytes = g.bytes.saturating_add(h.size);
            }
            None => {
                index.insert(key, groups.len());
                first.push(&h.path);
                groups.push(HeldGroup {
                    path,
                    root: h.root,
                    root_where: h.root_where.clone(),
                    role: h.role,
                    model: h.model.clone(),
                    owner: h.owner.clone(),
                    count: 1,
                    bytes: h.size,
                });
            }
        }
    }
    for (g, path) in groups.iter_mut().zip(first) {
        if g.count == 1 {
            g.path = path.to_string();
        }
    }
    groups.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    groups
}

/// The container a person would name for a grouped path: `GALLERY` for `GALLERY[*]`, the
/// path itself when it ends otherwise.
pub fn container(path: &str) -> &str {
    let mut p = path;
    while let Some(rest) = p.strip_suffix("[*]") {
        p = rest;
    }
    if p.is_empty() { path } else { p }
}

/// A path with every integer index written `[*]`: `GALLERY[3]` → `GALLERY[*]`,
/// `losses[5].grad_fn` → `losses[*].grad_fn`, `x[-1]` → `x[*]`. Dict keys in quotes stay: a
/// cache's keys tell its entries apart.
pub fn group_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else {
            break;
        };
        let inside = &rest[..close];
        let digits = inside.strip_prefix('-').unwrap_or(inside);
        if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
            out.push('*');
            rest = &rest[close..];
        }
    }
    out.push_str(rest);
    out
}

/// The JSON and report name of a walk's reason: "exit", "out_of_memory", "on_demand".
pub fn reason_name(r: HoldersReason) -> &'static str {
    match r {
        HoldersReason::Exit => "exit",
        HoldersReason::OutOfMemory => "out_of_memory",
        HoldersReason::OnDemand => "on_demand",
    }
}

/// The JSON name of how a walk ended: "complete", "time_cap", "object_cap", "unavailable",
/// "failed".
pub fn end_name(e: WalkEnd) -> &'static str {
    match e {
        WalkEnd::Complete => "complete",
        WalkEnd::TimeCap => "time_cap",
        WalkEnd::ObjectCap => "object_cap",
        WalkEnd::Unavailable => "unavailable",
        WalkEnd::Failed => "failed",
    }
}

/// The JSON name of a role: "parameter", "buffer", "gradient", "optimizer_state", "autograd",
/// "user_held", "from_c".
pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Parameter => "parameter",
        Role::Buffer => "buffer",
        Role::Gradient => "gradient",
        Role::OptimizerState => "optimizer_state",
        Role::Autograd => "autograd",
        Role::UserHeld => "user_held",
        Role::FromC => "from_c",
    }
}

/// The JSON name of a root: "module_global", "frame", "generator", "none".
pub fn root_name(r: RootKind) -> &'static str {
    match r {
        RootKind::ModuleGlobal => "module_global",
        RootKind::Frame => "frame",
        RootKind::Generator => "generator",
        RootKind::None => "none",
    }
}

/// A role by its JSON name ([`role_name`]).
pub fn serialize_role<S: Serializer>(r: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role_name(*r))
}

/// A root by its JSON name ([`root_name`]).
pub fn serialize_root<S: Serializer>(r: &RootKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(root_name(*r))
}

/// What a role is, for people: "weights", "held by user code", ...
pub fn role_words(r: Role) -> &'static str {
    match r {
        Role::Parameter => "weights",
        Role::Buffer => "module buffers",
        Role::Gradient => "gradients",
        Role::OptimizerState => "optimizer state",
        Role::Autograd => "kept by an autograd graph",
        Role::UserHeld => "held by user code",
        Role::FromC => "reachable only from C",
    }
}

/// Where a holder's path starts, for people: "app.py, a module global", "a local of thread
/// MainThread in decode (app.py:40)", "a suspended generator's local in ...", "no Python
/// root: kept from C".
pub fn root_words(root: RootKind, root_where: &str) -> String {
    let place = if root_where.is_empty() {
        "?"
    } else {
        root_where
    };
    match root {
        RootKind::ModuleGlobal => format!("{place}, a module global"),
        RootKind::Frame => format!("a local of {place}"),
        RootKind::Generator => format!("a local of the suspended generator {place}"),
        RootKind::None => "no Python root: kept from C".to_string(),
    }
}

/// When a walk ran, for headings and sentences: "at exit", "at the out-of-memory failure",
/// "when asked".
pub fn reason_words(r: HoldersReason) -> &'static str {
    match r {
        HoldersReason::Exit => "at exit",
        HoldersReason::OutOfMemory => "at the out-of-memory failure",
        HoldersReason::OnDemand => "when asked",
    }
}

/// A walk's heading, as the reports and the views say it: "Holders at exit (1234567 Python
/// objects visited in 420 ms)".
pub fn walk_heading(reason: HoldersReason, visited: u64, elapsed_ms: f64) -> String {
    format!(
        "Holders {} ({} visited in {elapsed_ms:.0} ms)",
        reason_words(reason),
        count(visited, "Python object", "Python objects"),
    )
}

/// What a walk that did not see everything leaves out, in a few words; `None` for a complete
/// walk.
pub fn partial_end_words(end: WalkEnd) -> Option<&'static str> {
    Some(match end {
        WalkEnd::Complete => return None,
        WalkEnd::TimeCap => {
            "the walk stopped at its time cap, so holders not reached yet are missing"
        }
        WalkEnd::ObjectCap => {
            "the walk stopped at its cap on objects visited, so holders not reached yet are \
             missing"
        }
        WalkEnd::Unavailable => "holders are not available for this process",
        WalkEnd::Failed => "the walk failed, so no holders were found",
    })
}

/// A walk that did not see everything, in one line: "Holders at exit: the walk stopped at its
/// time cap, so holders not reached yet are missing (stopped after 2.0 s)."; `None` for a
/// complete walk.
pub fn partial_words(reason: HoldersReason, end: WalkEnd, note: &str) -> Option<String> {
    let what = partial_end_words(end)?;
    Some(if note.is_empty() {
        format!("Holders {}: {what}.", reason_words(reason))
    } else {
        format!("Holders {}: {what} ({note}).", reason_words(reason))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_group_and_dict_keys_do_not() {
        assert_eq!(group_path("GALLERY[3]"), "GALLERY[*]");
        assert_eq!(
            group_path("losses[5].grad_fn -> next[0]"),
            "losses[*].grad_fn -> next[*]"
        );
        assert_eq!(group_path("Cache.entries['k']"), "Cache.entries['k']");
        assert_eq!(group_path("x[-1][2]"), "x[*][*]");
        assert_eq!(group_path("broken[12"), "broken[12");
        assert_eq!(group_path("plain"), "plain");
    }
}
