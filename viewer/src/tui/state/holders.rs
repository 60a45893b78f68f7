//! What the Holders pane shows for the process on screen: a request to the running process
//! (the file beside its trace, as `gpuleak holders` makes it) and the walk that answers it, or,
//! for a process that is not running, the walk its trace recorded at exit, else the last one;
//! with the selected site's holders, grouped, and the process's totals by role and by model.
//! The walk is the analysis' ([`HeldSnapshot`]: matched to the memory live when it ran), and so
//! are its words. Nothing here draws.

use std::time::{Duration, Instant};

use gpuleak_analysis::holders::{partial_words, reason_words, role_words, walk_heading};
use gpuleak_analysis::{HeldGroup, HeldSnapshot, RoleTotal, Site, units::bytes};
use gpuleak_trace::HoldersReason;

use super::rows::site_key;
use super::run::{Asked, Proc};
use crate::holders::{ask as request, no_answer_why, process_running};
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
    let request = request(path).map_err(|e| format!("cannot ask for holders: {e}"))?;
    proc.asked = Some(Asked {
        at: now,
        after: proc.follower.replay.held_snapshots().len(),
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

fn answer<'a>(proc: &'a Proc, asked: &Asked) -> Option<&'a HeldSnapshot> {
    proc.follower.replay.held_snapshots().get(asked.after)
}

/// The Holders pane, as figures and lines of text.
#[derive(Debug, Default)]
pub struct Pane {
    /// "asking for holders… 2 s", or why there is nothing to show.
    pub status: Option<String>,
    /// The walk shown: when it ran, what it visited ([`walk_heading`]).
    pub walk: Option<String>,
    /// What the walk left out, when it did not see everything ([`partial_words`]).
    pub partial: Option<String>,
    /// The selected site's holders, grouped, largest first; `None` without a walk or a site.
    pub site: Option<Vec<HeldGroup>>,
    pub by_role: Vec<RoleTotal>,
    pub by_model: Vec<(String, u64)>,
    /// What the memory was at the last out-of-memory failure, by role, when that walk is not
    /// the one shown.
    pub oom: Option<Vec<RoleTotal>>,
}

impl Pane {
    /// Lines the pane draws, at most (a line that wraps may take two): how far J scrolls.
    pub fn line_count(&self) -> usize {
        let site = self.site.as_ref().map_or(0, |s| 1 + 2 * s.len());
        let oom = self.oom.as_ref().map_or(0, |t| 1 + t.len());
        let role = self.by_role.len();
        let model = self.by_model.len();
        3 + 2 * usize::from(self.partial.is_some())
            + site
            + oom
            + role
            + usize::from(role > 0)
            + model
            + usize::from(model > 0)
    }
}

/// The walk the pane shows for `proc`, and what to say above it: the answer to the request
/// (meanwhile the last walk there is, with "asking…" or why no answer came); without a request,
/// the walk at exit, else the last one recorded.
fn chosen(proc: &Proc, now: Instant) -> (Option<&HeldSnapshot>, Option<String>) {
    let all = proc.follower.replay.held_snapshots();
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
            let exit = all.iter().find(|s| s.reason == HoldersReason::Exit);
            let last = exit.or(all.last());
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

/// The pane for the process `proc` and the selected `site`.
pub fn pane(proc: &Proc, site: Option<&Site>, now: Instant) -> Pane {
    let (shown, status) = chosen(proc, now);
    let mut p = Pane {
        status,
        ..Pane::default()
    };
    let Some(walk) = shown else {
        return p;
    };
    p.walk = Some(walk_heading(
        walk.reason,
        walk.visited,
        walk.elapsed_us as f64 / 1e3,
    ));
    p.partial = partial_words(walk.reason, walk.end, &walk.note);
    p.by_role = walk.by_role();
    p.by_model = walk.by_model();
    p.oom = last_oom(proc)
        .filter(|o| !std::ptr::eq(*o, walk))
        .map(HeldSnapshot::by_role);
    p.site = site.map(|s| walk.groups_of(&site_key(s)));
    p
}

/// "4.50 MiB in 3": what a site's holders keep, and how many they are.
pub fn held(groups: &[HeldGroup]) -> String {
    let total = groups.iter().fold(0u64, |a, g| a.saturating_add(g.bytes));
    let owners: u64 = groups.iter().map(|g| g.count).sum();
    format!("{} in {owners}", bytes(total))
}

/// "  512 MiB  weights (1)": one role's line in the pane.
pub fn role_line(t: &RoleTotal) -> String {
    format!(
        "{:>10}  {} ({})",
        bytes(t.bytes),
        role_words(t.role),
        t.count
    )
}

fn last_oom(proc: &Proc) -> Option<&HeldSnapshot> {
    proc.follower
        .replay
        .held_snapshots()
        .iter()
        .rev()
        .find(|s| s.reason == HoldersReason::OutOfMemory)
}

/// One sentence for the overview, under the diagnosis of an out-of-memory failure: what the
/// memory was when it failed, by role (and the largest model), from the walk made then.
pub fn oom_sentence(proc: &Proc) -> Option<String> {
    let walk = last_oom(proc)?;
    let mut parts: Vec<String> = walk
        .by_role()
        .iter()
        .map(|t| format!("{} {}", role_words(t.role), bytes(t.bytes)))
        .collect();
    if let Some((model, b)) = walk.by_model().first() {
        parts.push(format!("largest model {model} {}", bytes(*b)));
    }
    if parts.is_empty() {
        return None;
    }
    let when = reason_words(walk.reason);
    Some(format!(
        "{}{}: {} (H: holders)",
        when[..1].to_uppercase(),
        &when[1..],
        parts.join(", ")
    ))
}
