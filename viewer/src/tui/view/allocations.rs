//! Live allocations: address, size, kind, age in iterations, where it was made. At the time
//! cursor, the live set at that moment.

use gpuleak_analysis::kind_name;
use gpuleak_analysis::units::bytes;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use super::super::app::App;
use super::{draw_stack, selected_style, window};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let [table, stack] = Layout::vertical([Constraint::Min(4), Constraint::Length(7)]).areas(area);
    let count = app.alloc_count();
    let height = usize::from(table.height.saturating_sub(3));
    let first = window(&app.ui.offsets[1], app.ui.alloc_selected, count, height);
    let header = Row::new(["address", "size", "kind", "age", "site"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    // Rows past the window are never looked at: 100,000 allocations cost what 40 do.
    let rows = (first..(first + height).min(count)).filter_map(|i| {
        let r = app.alloc_row(i)?;
        let age = app
            .age(r)
            .map_or("-".to_string(), |a| format!("{a} {}", app.data.summary.per));
        let site = app.site_of(r).map_or("(no stack)", |s| s.label.as_str());
        let marker = if i == app.ui.alloc_selected {
            "> "
        } else {
            "  "
        };
        let row = Row::new([
            Cell::from(format!("{marker}{:#x}", r.address)),
            Cell::from(bytes(r.size)),
            Cell::from(kind_name(r.kind)),
            Cell::from(age),
            Cell::from(site),
        ]);
        Some(if i == app.ui.alloc_selected {
            row.style(selected_style())
        } else {
            row
        })
    });
    let widths = [
        Constraint::Length(18),
        Constraint::Length(10),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Min(10),
    ];
    let when = match app.cursor_label() {
        Some(l) => format!("at {l}"),
        None => "now".to_string(),
    };
    let filter = if app.ui.filter.is_empty() {
        String::new()
    } else {
        format!(", filter \"{}\"", app.ui.filter)
    };
    let title = format!(
        " Live allocations {when}: {count} (sorted by {}{filter}) ",
        if app.ui.moment.is_some() {
            "size"
        } else {
            app.ui.alloc_sort.name()
        }
    );
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::default().borders(Borders::ALL).title(title)),
        table,
    );

    let site = app
        .alloc_row(app.ui.alloc_selected)
        .and_then(|r| app.site_of(r));
    draw_stack(frame, app, site, "no allocation selected", stack);
}
