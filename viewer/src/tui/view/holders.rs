//! The Holders pane (H on Sites): what keeps the selected site's memory, in the program's words,
//! and what the whole process's memory is, by role and by model.

use std::time::Instant;

use gpuleak_analysis::units::{bytes, count};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::super::app::App;
use super::{bold, dim};
use crate::holders::{role_name, root_words};
use crate::tui::state::holders::{held, pane};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &app.ui.holders_error {
        lines.push(Line::from(e.clone()));
    }
    if let Some(proc) = app.state.procs.get(app.state.current) {
        // Elapsed time reads the app's clock, so that tests see fixed figures.
        let now: Instant = app.state.now;
        let p = pane(proc, app.selected_site(), app.holders_allocs(), now);
        if let Some(status) = &p.status {
            lines.push(Line::from(status.clone()));
        }
        if let Some(walk) = &p.walk {
            lines.push(Line::styled(format!("walk {walk}"), dim(app)));
        }
        if let Some(site) = &p.site {
            let total: u64 = site.iter().map(|h| h.size).sum();
            lines.push(Line::styled(
                if site.is_empty() {
                    format!(
                        "this site: no holder in its {}",
                        count(
                            p.site_allocations as u64,
                            "live allocation",
                            "live allocations"
                        )
                    )
                } else {
                    format!("this site: {}", held(total, site.len() as u64))
                },
                bold(app),
            ));
            for h in site {
                lines.push(Line::from(vec![
                    Span::raw(format!("{:>10}  ", bytes(h.size))),
                    Span::styled(h.path.clone(), bold(app)),
                    Span::raw(format!("  {}", role_name(h.role).0)),
                ]));
                lines.push(Line::styled(
                    format!("    {}; {}", h.owner, root_words(h)),
                    dim(app),
                ));
            }
        }
        if let Some(oom) = &p.oom {
            lines.push(Line::styled("at the out-of-memory failure:", bold(app)));
            for (role, b, n) in &oom.by_role {
                lines.push(Line::from(format!(
                    "{:>10}  {} ({n})",
                    bytes(*b),
                    role_name(*role).0
                )));
            }
        }
        if !p.totals.by_role.is_empty() {
            lines.push(Line::styled("the process, by role:", bold(app)));
            for (role, b, n) in &p.totals.by_role {
                lines.push(Line::from(format!(
                    "{:>10}  {} ({n})",
                    bytes(*b),
                    role_name(*role).0
                )));
            }
        }
        if !p.totals.by_model.is_empty() {
            lines.push(Line::styled("by model:", bold(app)));
            for (model, b, n) in &p.totals.by_model {
                lines.push(Line::from(format!("{:>10}  {model} ({n})", bytes(*b))));
            }
        }
    }
    let scroll = app.ui.stack_scroll.min(lines.len().saturating_sub(1));
    frame.render_widget(
        Paragraph::new(lines)
            .style(Style::default())
            .wrap(Wrap { trim: false })
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Holders (H: back to the stack) "),
            ),
        area,
    );
}
