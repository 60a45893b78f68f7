//! What a holders snapshot (the walk inside a Python program, trace format section 5.14) says
//! in words, for `gpuleak holders` and the live view alike: the names of roles, roots, walk ends
//! and reasons, holders largest first, totals by role and by model, and which holders keep a
//! site's memory. The request a running process answers is named here too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gpuleak_analysis::Replay;
use gpuleak_trace::{Holder, Holders, HoldersReason, Role, RootKind, WalkEnd};

/// The file that asks a running process for a walk: the hook looks for it beside the process's
/// own trace, removes it, and writes a Holders record (reason on demand) shortly after.
pub fn request_path(trace: &Path) -> PathBuf {
    let mut name = trace.as_os_str().to_owned();
    name.push(".want-holders");
    PathBuf::from(name)
}

/// Whether a process is running (not a zombie waiting to be reaped): one that is not will
/// never answer a request.
pub fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Why a process asked did not answer in `waited` seconds, as far as can be told from outside:
/// whether it took the request (the hook removes the file) and whether it runs Python at all.
pub fn no_answer_why(replay: &Replay, picked_up: bool, waited: f64) -> String {
    let python = replay
        .sites()
        .keys()
        .any(|k| replay.python_stack(k.stack).is_some_and(|s| !s.is_empty()));
    if picked_up {
        format!(
            "took the request but gave no answer in {waited} s: the walk waits until the \
             program lets the interpreter run Python"
        )
    } else if !python {
        format!(
            "did not answer in {waited} s: not a Python program (no Python frames in its \
             trace); holders are found in Python programs only"
        )
    } else {
        format!(
            "did not take the request in {waited} s (a hook without on-demand holders, or one \
             that cannot run Python in this process)"
        )
    }
}

/// The walks worth showing of a process that is not asked: those at exit and at out-of-memory
/// failures, in trace order; else the last one asked for (the others are older news).
pub fn recorded(all: &[Holders]) -> Vec<&Holders> {
    let kept: Vec<&Holders> = all
        .iter()
        .filter(|s| s.reason != HoldersReason::OnDemand)
        .collect();
    if kept.is_empty() {
        all.last().into_iter().collect()
    } else {
        kept
    }
}

/// A role in words, and as JSON names it.
pub fn role_name(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Parameter => ("parameter", "parameter"),
        Role::Buffer => ("buffer", "buffer"),
        Role::Gradient => ("gradient", "gradient"),
        Role::OptimizerState => ("optimizer state", "optimizer_state"),
        Role::Autograd => ("autograd graph", "autograd"),
        Role::UserHeld => ("held by user code", "user_held"),
        Role::FromC => ("reachable from C only", "from_c"),
    }
}

/// A root kind as JSON names it.
pub fn root_key(root: RootKind) -> &'static str {
    match root {
        RootKind::ModuleGlobal => "module_global",
        RootKind::Frame => "frame",
        RootKind::Generator => "generator",
        RootKind::None => "none",
    }
}

/// When a walk ran, in words and as JSON names it.
pub fn reason_name(reason: HoldersReason) -> (&'static str, &'static str) {
    match reason {
        HoldersReason::Exit => ("at exit", "exit"),
        HoldersReason::OutOfMemory => ("at the out-of-memory failure", "out_of_memory"),
        HoldersReason::OnDemand => ("on demand", "on_demand"),
    }
}

/// How a walk ended, in words and as JSON names it.
pub fn end_name(end: WalkEnd) -> (&'static str, &'static str) {
    match end {
        WalkEnd::Complete => ("complete", "complete"),
        WalkEnd::TimeCap => ("stopped at the time cap", "time_cap"),
        WalkEnd::ObjectCap => ("stopped at the object cap", "object_cap"),
        WalkEnd::Unavailable => ("not available", "unavailable"),
        WalkEnd::Failed => ("failed", "failed"),
    }
}

/// Where a holder's path starts, in words: "global of app.py", "local of thread main in serve
/// (app.py:40)", "local of suspended stream (app.py:12)", "no path from Python".
pub fn root_words(h: &Holder) -> String {
    match h.root {
        RootKind::ModuleGlobal => format!("global of {}", h.root_where),
        RootKind::Frame => format!("local of {}", h.root_where),
        RootKind::Generator => format!("local of suspended {}", h.root_where),
        RootKind::None => "no path from Python".to_string(),
    }
}

/// The first line of a snapshot: when it ran, how the walk ended and what it covered.
pub fn snapshot_line(s: &Holders) -> String {
    let mut line = format!(
        "{}, {}: {} in {:.1} s, {} objects visited",
        reason_name(s.reason).0,
        end_name(s.end).0,
        gpuleak_analysis::units::count(s.holders.len() as u64, "holder", "holders"),
        s.elapsed_us as f64 / 1e6,
        s.visited
    );
    if !s.note.is_empty() {
        line.push_str(&format!(" ({})", s.note));
    }
    line
}

/// The holders of a snapshot, largest first (then by path, so the order is stable).
pub fn largest_first(s: &Holders) -> Vec<&Holder> {
    let mut v: Vec<&Holder> = s.holders.iter().collect();
    v.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    v
}

/// Bytes and owners per role, and per top-level model, largest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub by_role: Vec<(Role, u64, u64)>,
    /// Models by name; holders of no model are not counted here.
    pub by_model: Vec<(String, u64, u64)>,
}

/// Views of one storage are one owner: the walk reports the storage, so addresses repeat only
/// when two roles name it (a parameter also held by a list), counted once, under its first role.
pub fn totals(s: &Holders) -> Totals {
    let mut seen = std::collections::HashSet::new();
    let mut roles: BTreeMap<Role, (u64, u64)> = BTreeMap::new();
    let mut models: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for h in &s.holders {
        if !seen.insert((h.device, h.address)) {
            continue;
        }
        let r = roles.entry(h.role).or_default();
        r.0 += h.size;
        r.1 += 1;
        if !h.model.is_empty() {
            let m = models.entry(&h.model).or_default();
            m.0 += h.size;
            m.1 += 1;
        }
    }
    let mut by_role: Vec<_> = roles.into_iter().map(|(r, (b, n))| (r, b, n)).collect();
    by_role.sort_by_key(|&(r, b, _)| (std::cmp::Reverse(b), r));
    let mut by_model: Vec<_> = models
        .into_iter()
        .map(|(m, (b, n))| (m.to_string(), b, n))
        .collect();
    by_model.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Totals { by_role, by_model }
}

/// The holders whose memory lies in one of `ranges` (a site's live allocations, as
/// `(device, address, size)`): under `--torch-tensors` a tensor is its own allocation, under
/// PyTorch's caching allocator the segment holding it contains its address. Largest first.
///
/// The one place the live view matches holders to sites: the analysis is to give this match
/// (with the live set at the walk's time); until then the live set of now stands in for it.
pub fn holding<'a>(s: &'a Holders, ranges: &[(i32, u64, u64)]) -> Vec<&'a Holder> {
    let mut sorted: Vec<(i32, u64, u64)> = ranges.to_vec();
    sorted.sort_unstable();
    let inside = |h: &Holder| {
        // The last range starting at or below the address, on the holder's device (a holder
        // that does not know its device matches any).
        let devices: Vec<i32> = if h.device < 0 {
            let mut d: Vec<i32> = sorted.iter().map(|r| r.0).collect();
            d.dedup();
            d
        } else {
            vec![h.device]
        };
        devices.iter().any(|&dev| {
            let at = sorted.partition_point(|r| (r.0, r.1) <= (dev, h.address));
            at > 0 && {
                let (d, start, size) = sorted[at - 1];
                d == dev && h.address < start.saturating_add(size)
            }
        })
    };
    let mut v: Vec<&Holder> = s.holders.iter().filter(|h| inside(h)).collect();
    v.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(address: u64, size: u64, role: Role, path: &str, model: &str) -> Holder {
        Holder {
            device: 0,
            address,
            size,
            role,
            root: RootKind::ModuleGlobal,
            root_where: "app.py".into(),
            path: path.into(),
            owner: "Tensor".into(),
            model: model.into(),
        }
    }

    fn snapshot(holders: Vec<Holder>) -> Holders {
        Holders {
            time_ns: 0,
            tid: 1,
            reason: HoldersReason::OnDemand,
            end: WalkEnd::Complete,
            note: String::new(),
            elapsed_us: 10,
            visited: 100,
            holders,
        }
    }

    #[test]
    fn the_request_sits_beside_the_process_trace() {
        assert_eq!(
            request_path(Path::new("/srv/run.trace.12345")),
            Path::new("/srv/run.trace.12345.want-holders")
        );
    }

    #[test]
    fn a_gallery_image_is_matched_to_the_segment_that_holds_it() {
        let s = snapshot(vec![
            holder(0x1000, 0x800, Role::UserHeld, "GALLERY[0]", ""),
            holder(0x1800, 0x800, Role::UserHeld, "GALLERY[1]", ""),
            holder(0x9000, 0x100, Role::Parameter, "pipe.unet.w", "pipe.unet"),
        ]);
        // One 8 KiB segment holds both images; the weight is elsewhere.
        let got: Vec<&str> = holding(&s, &[(0, 0x1000, 0x2000)])
            .iter()
            .map(|h| h.path.as_str())
            .collect();
        assert_eq!(got, ["GALLERY[0]", "GALLERY[1]"]);
        assert!(
            holding(&s, &[(1, 0x1000, 0x2000)]).is_empty(),
            "another device"
        );
        assert!(holding(&s, &[(0, 0x2000, 0x10)]).is_empty());
    }

    #[test]
    fn totals_count_a_storage_once_and_rank_models_by_bytes() {
        let s = snapshot(vec![
            holder(0x1000, 100, Role::Parameter, "pipe.unet.a", "pipe.unet"),
            holder(0x1000, 100, Role::UserHeld, "KEEP[0]", ""),
            holder(0x2000, 300, Role::Parameter, "pipe.vae.b", "pipe.vae"),
            holder(0x3000, 50, Role::UserHeld, "GALLERY[0]", ""),
        ]);
        let t = totals(&s);
        assert_eq!(
            t.by_role,
            [(Role::Parameter, 400, 2), (Role::UserHeld, 50, 1)]
        );
        assert_eq!(
            t.by_model,
            [
                ("pipe.vae".to_string(), 300, 1),
                ("pipe.unet".into(), 100, 1)
            ]
        );
    }
}
