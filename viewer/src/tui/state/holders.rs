//! What the Holders pane shows for the process on screen: a request to the running process
//! (the file beside its trace, as `gpuleak holders` makes it) and the walk that answers it, or,
//! for a process that is not running, the walk its trace recorded at exit or at an
//! out-of-memory failure; with the holders of the selected site's memory and the process's
//! totals by role and by model. Nothing here draws.

use std::time::{Duration, Instant};

use gpuleak_analysis::{Site, units::bytes};
use gpuleak_trace::{Holder, Holders, HoldersReason};

use super::rows::{AllocRow, site_key};
use super::run::{Asked, Proc};
use crate::holders::{
    Totals, holding, no_answer_why, process_running, recorded, request_path, snapshot_line, totals,
};
use crate::tui::follow::Source;

/// How long the pane waits for an answer before it says why none came.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(15);

/// Asks the process for a walk, when it is running; its trace's own walks serve otherwise.
/// A request already waiting is not sent again.
pub fn ask(proc: &mut Proc, now: Instant) -> Result<(), String> {
    if proc.asked.as_ref().is_some_and(|a| {
        answer(proc, a).is_none() && now.saturating_duration_since(a.at) < ANSWER_WITHIN
    }) {
        return Ok(());
    }
    let Source::File(path) = &proc.follower.source else {
        return Ok(());
    };
    if !running(proc) {
        return Ok(());
    }
    let request = request_path(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&request)
        .map_err(|e| format!("cannot ask for holders: {}: {e}", request.display()))?;
    proc.asked = Some(Asked {
        at: now,
        after: proc.follower.replay.holders().len(),
        request,
    });
    Ok(())
}

/// The process of this trace is running: its trace has no clean end and its pid is alive.
fn running(proc: &Proc) -> bool {
    !proc.follower.complete()
        && proc
            .follower
            .replay
            .header()
            .is_some_and(|h| process_running(h.pid))
}

fn answer<'a>(proc: &'a Proc, asked: &Asked) -> Option<&'a Holders> {
    proc.follower.replay.holders().get(asked.after)
}

/// The Holders pane, as figures and lines of text.
#[derive(Debug, Default)]
pub struct Pane<'a> {
    /// "asking for holders… 2 s", or why there is nothing to show.
    pub status: Option<String>,
    /// The walk shown: when it ran, how it ended.
    pub walk: Option<String>,
    /// The selected site's holders, largest first; `None` without a walk or a site.
    pub site: Option<Vec<&'a Holder>>,
    /// Live allocations of the selected site (what its holders were looked for in).
    pub site_allocations: usize,
    pub totals: Totals,
    /// What the memory was at the last out-of-memory failure, when that walk is not the one
    /// shown: weights of which model, held by user code, from C.
    pub oom: Option<Totals>,
}

impl Pane<'_> {
    /// Lines the pane draws, at most (a line that wraps may take two): how far J scrolls.
    pub fn line_count(&self) -> usize {
        let site = self.site.as_ref().map_or(0, |s| 1 + 2 * s.len());
        let oom = self.oom.as_ref().map_or(0, |t| 1 + t.by_role.len());
        let role = self.totals.by_role.len();
        let model = self.totals.by_model.len();
        3 + site + oom + role + usize::from(role > 0) + model + usize::from(model > 0)
    }
}

/// The walk the pane shows for `proc`, and what to say above it: the answer to the request
/// (meanwhile the last walk there is, with "asking…" or why no answer came); without a request,
/// the walk at exit, else the last one recorded.
pub fn chosen(proc: &Proc, now: Instant) -> (Option<&Holders>, Option<String>) {
    let all = proc.follower.replay.holders();
    match &proc.asked {
        Some(asked) => match answer(proc, asked) {
            Some(s) => (Some(s), None),
            None => {
                let waited = now.saturating_duration_since(asked.at);
                let status = if waited < ANSWER_WITHIN && running(proc) {
                    format!("asking for holders… {} s", waited.as_secs())
                } else if !running(proc) {
                    "the process ended before answering".to_string()
                } else {
                    let picked_up = !asked.request.exists();
                    format!(
                        "no answer: {}",
                        no_answer_why(&proc.follower.replay, picked_up, waited.as_secs() as f64)
                    )
                };
                (all.last(), Some(status))
            }
        },
        None => {
            let kept = recorded(all);
            let exit = kept.iter().find(|s| s.reason == HoldersReason::Exit);
            let last = exit.or(kept.last()).copied();
            let status = last.is_none().then(|| {
                if running(proc) {
                    "no holders yet (H asks the process)".to_string()
                } else {
                    "no holders recorded: the walk runs in Python programs, at exit, at an \
                     out-of-memory failure, and when asked while the program runs"
                        .to_string()
                }
            });
            (last, status)
        }
    }
}

/// The pane for the process `proc`, the selected `site` among `allocs`: the live set when the
/// walk was made, or now as the nearest there is (a walk just answered).
pub fn pane<'a>(
    proc: &'a Proc,
    site: Option<&Site>,
    allocs: &[AllocRow],
    now: Instant,
) -> Pane<'a> {
    let (shown, status) = chosen(proc, now);
    let mut p = Pane {
        status,
        ..Pane::default()
    };
    let Some(walk) = shown else {
        return p;
    };
    p.walk = Some(snapshot_line(walk));
    p.totals = totals(walk);
    p.oom = last_oom(proc)
        .filter(|o| !std::ptr::eq(*o, walk))
        .map(totals);
    if let Some(site) = site {
        let key = site_key(site);
        let ranges: Vec<(i32, u64, u64)> = allocs
            .iter()
            .filter(|r| r.stack == key.stack && r.kind == key.kind && r.device == key.device)
            .map(|r| (r.device, r.address, r.size))
            .collect();
        p.site_allocations = ranges.len();
        p.site = Some(holding(walk, &ranges));
    }
    p
}

/// "512 MiB in 3": bytes and how many owners hold them.
pub fn held(total: u64, owners: u64) -> String {
    format!("{} in {owners}", bytes(total))
}

fn last_oom(proc: &Proc) -> Option<&Holders> {
    proc.follower
        .replay
        .holders()
        .iter()
        .rev()
        .find(|s| s.reason == HoldersReason::OutOfMemory)
}

/// One sentence for the overview, under the diagnosis of an out-of-memory failure: what the
/// memory was when it failed, by role (and the largest model), from the walk made then.
pub fn oom_sentence(proc: &Proc) -> Option<String> {
    let t = totals(last_oom(proc)?);
    let mut parts: Vec<String> = t
        .by_role
        .iter()
        .map(|(role, b, _)| format!("{} {}", crate::holders::role_name(*role).0, bytes(*b)))
        .collect();
    if let Some((model, b, _)) = t.by_model.first() {
        parts.push(format!("largest model {model} {}", bytes(*b)));
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "At the out-of-memory failure: {} (H: holders)",
        parts.join(", ")
    ))
}
