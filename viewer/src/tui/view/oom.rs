//! The failure the program died of, explained, on the Overview: three lines at the head of the
//! Findings (the cause, the largest parts, the first advice) and, beside the chart, the pane of
//! every part against the device's total with the cause and all the advice. The words are the
//! reports' (`crate::oom`); nothing shows when the report explains no failure.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};

use gpuleak_analysis::units::wrap;

use super::super::app::App;
use crate::oom::{advice_action, cause_line, largest_parts, part_rows, request_line, sum_line};

/// Parts named in the Findings' line; the pane lists them all.
const LARGEST: usize = 3;

/// Narrowest chart left beside the pane; a narrower screen puts the pane under the chart.
const CHART_MIN_WIDTH: u16 = 50;

fn red(app: &App) -> Style {
    if app.ui.color {
        Style::default().fg(Color::Red)
    } else {
        Style::default()
    }
}

/// The failure's mark in the Findings, wrapped to `width`: "Out of memory: <cause>", what
/// filled the device most, the first thing to try.
pub fn mark_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let Some(o) = &app.data.oom else {
        return Vec::new();
    };
    let mut text = vec![(format!("Out of memory: {}", cause_line(o)), red(app))];
    let largest = largest_parts(o, &app.data.unit, LARGEST);
    if !largest.is_empty() {
        text.push((format!("filled by {largest}"), Style::default()));
    }
    if let Some(a) = o.advice.first() {
        text.push((format!("fix: {}", advice_action(a)), Style::default()));
    }
    text.into_iter()
        .flat_map(|(t, style)| {
            wrap(&t, width)
                .into_iter()
                .map(move |l| Line::styled(l, style))
        })
        .collect()
}

/// With a failure explained, draws its pane beside the chart (under it on a narrow screen) and
/// gives back the area left for the chart; else the whole `area`.
pub fn beside_chart(frame: &mut Frame, app: &App, area: Rect) -> Rect {
    if app.data.oom.is_none() {
        return area;
    }
    let (chart, pane) = if area.width >= 2 * CHART_MIN_WIDTH {
        let [chart, pane] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(area);
        (chart, pane)
    } else {
        let [chart, pane] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
        (chart, pane)
    };
    draw_pane(frame, app, pane);
    chart
}

/// The pane: the request, every part (bytes, share of the device, what it is), their sum
/// against the total, the cause and each piece of advice with its evidence; wrapped here, so
/// that a figure keeps its unit and a part's words stay right of its figures.
fn draw_pane(frame: &mut Frame, app: &App, area: Rect) {
    let Some(o) = &app.data.oom else {
        return;
    };
    let width = usize::from(area.width.saturating_sub(2)).max(1);
    let plain = Style::default();
    let mut lines = hang("", "  ", &request_line(o), width, plain);
    let rows = part_rows(o, &app.data.unit);
    let bytes = rows.iter().map(|r| r.bytes.len()).max().unwrap_or(0);
    let share = rows.iter().map(|r| r.share.len()).max().unwrap_or(0);
    for r in &rows {
        let lead = format!("{:>bytes$}  {:>share$}  ", r.bytes, r.share);
        let rest = " ".repeat(lead.len());
        lines.extend(hang(&lead, &rest, &r.what, width, plain));
    }
    lines.extend(hang("", "  ", &sum_line(o), width, plain));
    let cause = format!("Cause: {}", cause_line(o));
    lines.extend(hang("", "  ", &cause, width, red(app)));
    for (i, a) in o.advice.iter().enumerate() {
        let lead = format!("{}. ", i + 1);
        lines.extend(hang(&lead, "   ", &advice_action(a), width, plain));
        if !a.evidence.is_empty() {
            lines.extend(hang("   evidence: ", "     ", &a.evidence, width, plain));
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Out of memory: what filled the device "),
        ),
        area,
    );
}

/// `text` wrapped to `width`, its first line after `lead`, the others after `rest`.
fn hang(lead: &str, rest: &str, text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    let room = width.saturating_sub(lead.chars().count()).max(10);
    let mut out = Vec::new();
    for (i, l) in wrap(text, room).into_iter().enumerate() {
        let at = if i == 0 { lead } else { rest };
        out.push(Line::styled(format!("{at}{l}"), style));
    }
    out
}
