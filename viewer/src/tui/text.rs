//! The text the screens show that says more than a figure: findings, the status line, the
//! cursor's and the bounds' notes.

use gpuleak_analysis::units::bytes;
use gpuleak_analysis::{Site, short_frame};

use super::app::App;
use super::follow::{MAX_LAUNCHES, MAX_OPENINGS};
use super::state::rows::Boundary;
use crate::findings::Finding;
use crate::format::{signed_bytes, thousands};

impl App {
    /// "GPU 1 of 2 (g switches)" when the process used several devices.
    pub fn device_label(&self) -> Option<String> {
        (self.data.devices.len() > 1).then(|| match self.ui.device_filter {
            None => format!("all {} GPUs (g switches)", self.data.devices.len()),
            Some(d) => format!("GPU {d} of {} (g switches)", self.data.devices.len()),
        })
    }

    /// What the cursor stands on: "end of iter 12" or "t 1.25 s".
    pub fn cursor_label(&self) -> Option<String> {
        let c = self.ui.cursor.as_ref()?;
        Some(if c.by_iteration() {
            format!("end of iter {}", c.index)
        } else {
            format!(
                "t {:.2} s",
                c.time_ns().saturating_sub(self.data.start_ns) as f64 / 1e9
            )
        })
    }

    /// The cursor's time in seconds since the trace started.
    pub fn cursor_secs(&self) -> Option<f64> {
        let c = self.ui.cursor.as_ref()?;
        Some(c.time_ns().saturating_sub(self.data.start_ns) as f64 / 1e9)
    }

    /// Why allocated / freed and ages stop before the last iteration, when they do.
    pub fn bounds_note(&self) -> Option<String> {
        if !self.data.bounds_partial {
            return None;
        }
        let kept = match self.data.boundary {
            Some(Boundary::Launch(_)) => format!("{} launches", thousands(MAX_LAUNCHES)),
            _ => format!("{} range openings", thousands(MAX_OPENINGS)),
        };
        Some(format!(
            "allocated/freed known for the first {} only: figures are kept for {kept}",
            self.data.bounds.len().saturating_sub(1)
        ))
    }

    /// One finding as a line of text: verdict, site, growth, live memory, when full.
    pub fn finding_text(&self, site: &Site) -> String {
        let per = &self.data.summary.per;
        // The label names the site (distinct from every other); its caller comes last, where a
        // narrow terminal cuts, so that growth and when the device is full stay in view.
        let label = &site.label;
        let growth = signed_bytes(site.bytes_per_iteration().unwrap_or(0));
        let mut line = match Finding::of(site) {
            Some(Finding::Leak) => format!("▲ LEAK      {label} leaks {growth}/{per}"),
            Some(Finding::Sawtooth) => {
                format!("▲ SAWTOOTH  {label} grows {growth}/{per}, then gives it back")
            }
            _ => format!("• PLATEAU   {label} grew, then stopped ({growth}/{per})"),
        };
        if let Some(n) = site.full_at_iteration {
            line.push_str(&format!(" — device full at {per} ~{n}"));
        }
        // Memory freed only at exit would read "live 0 B": say what the iterations held.
        match site.live_bytes_at_last_iteration {
            Some(last) if self.data.sites_complete && last > site.live_bytes_at_end => {
                line.push_str(&format!("  (held {} at the last {per}, ", bytes(last)));
                line.push_str(&if site.live_bytes_at_end == 0 {
                    "freed at exit".to_string()
                } else {
                    format!("{} freed at exit", bytes(last - site.live_bytes_at_end))
                });
            }
            _ => line.push_str(&format!("  (live {}", bytes(site.live_bytes_at_end))),
        }
        if let Some(caller) = site.frames.get(site.user_frame + 1)
            && !label.contains(" <- ")
        {
            line.push_str(&format!(", called from {}", short_frame(caller)));
        }
        line.push(')');
        line
    }

    /// "proc 2/3" when the run has several processes.
    pub fn process_label(&self) -> Option<String> {
        (self.state.procs.len() > 1)
            .then(|| format!("proc {}/{}", self.state.current + 1, self.state.procs.len()))
    }

    /// The status line: what is going on and what q will do, the most pressing first.
    pub fn status_line(&self) -> String {
        let mut parts = Vec::new();
        if self.ui.paused {
            parts.push("PAUSED: display frozen, trace still read (p resumes)".to_string());
        }
        if let Some(label) = self.cursor_label() {
            let at = self.ui.moment.as_ref().map_or(String::new(), |m| {
                format!(
                    ": live {} in {} allocations",
                    bytes(m.live_bytes),
                    m.live_allocations
                )
            });
            parts.push(format!("cursor at {label}{at} (Esc: back to the end)"));
        }
        let proc = self.state.procs.get(self.state.current);
        if let Some(e) = proc.and_then(|p| p.follower.error.as_ref()) {
            parts.push(format!("trace unreadable past this point: {e}"));
        }
        if let Some(run) = &self.state.run {
            parts.push(if run.exit().is_none() {
                "q detaches (the program keeps running and recording)".to_string()
            } else {
                "the program has ended; q quits".to_string()
            });
            if let Some(log) = &run.log {
                parts.push(format!("program output: {}", log.display()));
            }
        }
        if let Some(p) = proc {
            parts.push(format!("trace {}", p.follower.source.name()));
        }
        parts.join("  ·  ")
    }
}
