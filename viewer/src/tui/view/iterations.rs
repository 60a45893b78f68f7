//! Per iteration: device memory allocated, freed, the net change and what was live at its end,
//! with a bar of the net change so steady growth shows at a glance.

use gpuleak_analysis::units::bytes;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Cell, Row, Sparkline, Table};

use super::super::app::App;
use super::{selected_style, verdict_style, window};
use crate::findings::Finding;
use crate::format::signed_bytes;

/// Widest bar of the net-change column.
const BAR: usize = 20;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let [spark, table] = Layout::vertical([Constraint::Length(5), Constraint::Min(4)]).areas(area);
    let per = &app.data.summary.per;
    // The latest iterations, one per column: a frame never walks the whole run.
    let width = usize::from(spark.width.saturating_sub(2)).max(1);
    let tail = &app.data.iterations[app.data.iterations.len().saturating_sub(width)..];
    let shown: Vec<u64> = tail.iter().map(|r| r.live_end).collect();
    let shown = &shown[..];
    frame.render_widget(
        Sparkline::default()
            .data(shown)
            .max(shown.iter().copied().max().unwrap_or(0).max(1))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" device memory live at the end of each {per} ")),
            ),
        spark,
    );

    let count = app.data.iterations.len();
    let height = usize::from(table.height.saturating_sub(3));
    let first = window(&app.ui.offsets[2], app.ui.iter_selected, count, height);
    let visible = &app.data.iterations[first..(first + height).min(count)];
    // Bars are to the scale of the rows shown, so drawing costs the same however long the run.
    let biggest = visible
        .iter()
        .map(|r| r.net.unsigned_abs())
        .max()
        .unwrap_or(0)
        .max(1);
    let header = Row::new([
        per,
        "allocated",
        "freed",
        "net",
        "live at end",
        "net change",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = visible.iter().enumerate().map(|(k, r)| {
        let i = first + k;
        let len = (r.net.unsigned_abs() as u128 * BAR as u128 / biggest as u128) as usize;
        let bar = if r.net > 0 {
            "+".repeat(len.max(1))
        } else if r.net < 0 {
            "-".repeat(len.max(1))
        } else {
            String::new()
        };
        let marker = if i == app.ui.iter_selected {
            "> "
        } else {
            "  "
        };
        let row = Row::new([
            Cell::from(format!("{marker}{}", r.index)),
            Cell::from(r.allocated.map_or("-".to_string(), bytes)),
            Cell::from(r.freed.map_or("-".to_string(), bytes)),
            Cell::from(signed_bytes(r.net)),
            Cell::from(bytes(r.live_end)),
            Cell::from(bar),
        ]);
        if i == app.ui.iter_selected {
            row.style(selected_style())
        } else if r.net > 0 {
            row.style(verdict_style(app, Some(Finding::Plateau)))
        } else {
            row
        }
    });
    let widths = [
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Min(BAR as u16),
    ];
    let source = if app.data.summary.iteration_source.is_empty() {
        "none".to_string()
    } else {
        app.data.summary.iteration_source.clone()
    };
    let note = app
        .bounds_note()
        .map_or(String::new(), |n| format!("; {n}"));
    frame.render_widget(
        Table::new(rows, widths).header(header).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Iterations: {count} (from {source}{note}) ")),
        ),
        table,
    );
}
