//! The report's holders: each walk inside a Python program (`holders[]`), and for a site the
//! grouped holders of its memory (`sites[].holders`). Roles, roots and reasons are the trace's
//! enums, written by their one JSON name ([`crate::holders`]).

use gpuleak_trace::{HoldersReason, Role, RootKind, WalkEnd};
use serde::{Serialize, Serializer};

pub use crate::holders::HeldGroup as HolderGroup;
pub use crate::holders::RoleTotal as RoleBytes;
use crate::holders::{end_name, reason_name, serialize_role, serialize_root};

/// One walk (`holders[]`), in trace order.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Holding {
    /// "exit", "out_of_memory" or "on_demand".
    #[serde(serialize_with = "reason")]
    pub reason: HoldersReason,
    /// "complete", "time_cap", "object_cap", "unavailable" or "failed": anything but
    /// "complete" leaves `entries` partial or empty, and `note` says why.
    #[serde(serialize_with = "end")]
    pub end: WalkEnd,
    pub note: String,
    /// Seconds since the trace started.
    pub time_s: f64,
    /// How long the walk took, in milliseconds.
    pub elapsed_ms: f64,
    /// Python objects the walk visited.
    pub visited: u64,
    /// Every owner of device memory the walk found, in its order (shortest paths first).
    pub entries: Vec<HolderEntry>,
    /// Bytes and owners per role, largest first.
    pub by_role: Vec<RoleBytes>,
    /// Bytes per top-level model, largest first.
    pub by_model: Vec<ModelBytes>,
    /// Device and physical memory live then that no owner covers: allocator caches,
    /// cuBLAS/cuDNN workspaces, native memory, owners the walk did not reach.
    pub unheld_bytes: u64,
    /// Device and physical memory live when the walk ran.
    pub live_bytes: u64,
    /// `entries` grouped by path with indices as `[*]`, root, role and model, largest first.
    pub groups: Vec<HolderGroup>,
    /// Blocks (allocations, caching-allocator segments, VMM mappings) with holders in them,
    /// largest first: why a segment cannot be given back.
    pub blocks: Vec<KeptSegment>,
    /// For an out-of-memory walk, the index into `ooms` of the failure it followed.
    pub oom: Option<usize>,
}

/// One owner of device memory and what keeps it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct HolderEntry {
    /// The reference path in the program's words: `GALLERY[3]`, `pipe.unet.conv_in.weight`.
    pub path: String,
    /// "module_global", "frame", "generator" or "none".
    #[serde(serialize_with = "serialize_root")]
    pub root: RootKind,
    /// The module's file, or the thread, function and line of a frame; "" for no root.
    pub root_where: String,
    /// "parameter", "buffer", "gradient", "optimizer_state", "autograd", "user_held" or
    /// "from_c".
    #[serde(serialize_with = "serialize_role")]
    pub role: Role,
    /// The top-level model of a parameter, buffer, gradient or optimizer state; "" otherwise.
    pub model: String,
    /// What the owner is: `Tensor float16[1, 3, 512, 512]`.
    pub owner: String,
    pub address: u64,
    pub bytes: u64,
    /// The CUDA device; -1 when the owner does not say.
    pub device: i32,
    /// The label of the site whose live memory contains it; null when no live memory the
    /// trace saw does.
    pub site: Option<String>,
    /// The size of that live allocation, caching-allocator segment or run of mappings.
    pub block_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ModelBytes {
    pub model: String,
    pub bytes: u64,
}

/// A block holders keep: "a 20 MiB segment kept by `GALLERY[3]`, 1.50 MiB of it".
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KeptSegment {
    pub address: u64,
    pub bytes: u64,
    /// The label of the site that made it.
    pub site: Option<String>,
    /// The part of it the holders cover.
    pub held_bytes: u64,
    /// The holders' paths, largest first.
    pub holders: Vec<String>,
}

fn reason<S: Serializer>(r: &HoldersReason, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(reason_name(*r))
}

fn end<S: Serializer>(e: &WalkEnd, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(end_name(*e))
}
