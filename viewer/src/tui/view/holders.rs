//! The Holders pane (H on Sites): what keeps the selected site's memory, in the program's words,
//! and what the whole process's memory is, by role and by model.

use std::time::Instant;

use gpuleak_analysis::holders::reason_words;
use gpuleak_analysis::units::bytes;
use gpuleak_trace::HoldersReason;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::super::app::App;
use super::{bold, dim};
use crate::tui::state::holders::{held, pane, role_line};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &app.ui.holders_error {
        lines.push(Line::from(e.clone()));
    }
    if let Some(proc) = app.state.procs.get(app.state.current) {
        // Elapsed time reads the app's clock, so that tests see fixed figures.
        let now: Instant = app.state.now;
        let p = pane(proc, app.selected_site(), now);
        if let Some(status) = &p.status {
            lines.push(Line::from(status.clone()));
        }
        if let Some(walk) = &p.walk {
            lines.push(Line::styled(walk.clone(), dim(app)));
        }
        if let Some(partial) = &p.partial {
            lines.push(Line::from(partial.clone()));
        }
        if let Some(site) = &p.site {
            lines.push(Line::styled(
                if site.is_empty() {
                    "this site: no holder of its memory".to_string()
                } else {
                    format!("this site: {}", held(site))
                },
                bold(app),
            ));
            for g in site {
                lines.push(Line::from(format!("  {}", g.line())));
            }
        }
        if let Some(oom) = &p.oom {
            lines.push(Line::styled(
                format!("{}:", reason_words(HoldersReason::OutOfMemory)),
                bold(app),
            ));
            lines.extend(oom.iter().map(|t| Line::from(role_line(t))));
        }
        if !p.by_role.is_empty() {
            lines.push(Line::styled("the process, by role:", bold(app)));
            lines.extend(p.by_role.iter().map(|t| Line::from(role_line(t))));
        }
        if !p.by_model.is_empty() {
            lines.push(Line::styled("by model:", bold(app)));
            for (model, b) in &p.by_model {
                lines.push(Line::from(format!("{:>10}  {model}", bytes(*b))));
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
