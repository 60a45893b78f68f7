//! The sites table, and the selected site's whole stack beside it.

use gpuleak_analysis::units::bytes;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::super::state::{App, signed_bytes};
use super::verdict_style;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let [table, stack] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);

    let header = Row::new(["verdict", "live", "bytes/iter", "allocs", "innermost frame"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = app.rows().map(|s| {
        let verdict = s.verdict.as_deref();
        Row::new([
            Cell::from(verdict.unwrap_or("-").to_string()),
            Cell::from(bytes(s.live_bytes_at_end)),
            Cell::from(s.bytes_per_iteration.map_or("-".to_string(), signed_bytes)),
            Cell::from(s.allocations.to_string()),
            Cell::from(s.frames.first().cloned().unwrap_or_default()),
        ])
        .style(verdict_style(app, verdict))
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(11),
        Constraint::Length(7),
        Constraint::Min(10),
    ];
    let t = Table::new(rows, widths)
        .header(header)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Sites (sorted by {}) ", app.sort.name())),
        )
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(t, table, &mut state);

    let lines: Vec<Line> = match app.selected_site() {
        None => vec![Line::from("no sites")],
        Some(s) => s
            .frames
            .iter()
            .enumerate()
            .map(|(i, f)| Line::from(format!("#{i:<2} {f}")))
            .collect(),
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Stack ")),
        stack,
    );
}
