//! The sites table, the selected site's whole stack (or what holds its memory: H), and its live
//! bytes per iteration.

use gpuleak_analysis::units::bytes;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Cell, Row, Sparkline, Table};

use super::super::app::App;
use super::super::ui::SortKey;
use super::{draw_stack, selected_style, verdict_style, window};
use crate::findings::{Finding, quiet, verdict};
use crate::format::signed_bytes;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    // Holders read as sentences (paths, owners, roots): they get the wider half.
    let right_share = if app.ui.holders { 50 } else { 40 };
    let [table, right] = Layout::horizontal([
        Constraint::Percentage(100 - right_share),
        Constraint::Percentage(right_share),
    ])
    .areas(area);
    let [stack, spark] = Layout::vertical([Constraint::Min(3), Constraint::Length(6)]).areas(right);

    let per = format!("bytes/{}", app.data.summary.per);
    let header = Row::new(["verdict", "live", per.as_str(), "allocs", "site"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    // Only the rows that fit are built: 10,000 sites cost what 40 do.
    let height = usize::from(table.height.saturating_sub(3));
    let first = window(
        &app.ui.offsets[0],
        app.ui.selected,
        app.ui.order.len(),
        height,
    );
    let rows = app
        .ui
        .order
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(row, &i)| {
            let s = &app.data.sites[i];
            // A quiet site says why it is no finding where its verdict would be.
            let verdict = quiet(s).or(verdict(s));
            let style = if row == app.ui.selected {
                selected_style()
            } else {
                verdict_style(app, Finding::of(s))
            };
            let marker = if row == app.ui.selected { "> " } else { "  " };
            Row::new([
                Cell::from(format!("{marker}{}", verdict.unwrap_or("-"))),
                Cell::from(bytes(s.live_bytes_at_end)),
                Cell::from(
                    s.bytes_per_iteration()
                        .map_or("-".to_string(), signed_bytes),
                ),
                Cell::from(s.allocations.to_string()),
                Cell::from(s.label.as_str()),
            ])
            .style(style)
        });
    let widths = [
        // "> negligible", whole.
        Constraint::Length(12),
        Constraint::Length(10),
        // "bytes/iter", or the unit's own word when markers name it, whole.
        Constraint::Length((per.chars().count() as u16).max(11)),
        Constraint::Length(7),
        Constraint::Min(10),
    ];
    let filter = if app.ui.filter.is_empty() {
        String::new()
    } else {
        format!(", filter \"{}\"", app.ui.filter)
    };
    let t = Table::new(rows, widths).header(header).block(
        Block::default().borders(Borders::ALL).title(format!(
            " Sites {}/{} (sorted by {}{filter}) ",
            if app.ui.order.is_empty() {
                0
            } else {
                app.ui.selected + 1
            },
            app.ui.order.len(),
            // The column's own name: bytes per the run's unit.
            if app.ui.sort == SortKey::BytesPerIteration {
                per.as_str()
            } else {
                app.ui.sort.name()
            }
        )),
    );
    frame.render_widget(t, table);

    if app.ui.holders {
        super::holders::draw(frame, app, stack);
    } else {
        draw_stack(frame, app, app.selected_site(), "no sites", stack);
    }

    let series = &app.ui.selected_series;
    let width = usize::from(spark.width.saturating_sub(2)).max(1);
    // The latest iterations, one per column.
    let shown = &series[series.len().saturating_sub(width)..];
    let top = shown.iter().copied().max().unwrap_or(0);
    let title = match (shown.first(), shown.last()) {
        (Some(a), Some(b)) => format!(
            " live per {}: {} → {} (max {}) ",
            app.data.summary.per,
            bytes(*a),
            bytes(*b),
            bytes(top)
        ),
        _ => format!(" live per {}: no iterations ", app.data.summary.per),
    };
    frame.render_widget(
        Sparkline::default()
            .data(shown)
            .max(top.max(1))
            .block(Block::default().borders(Borders::ALL).title(title)),
        spark,
    );
}
