//! The failure the program died of, explained, on the Overview beside the chart that marks it
//! (`•`), or under it where the chart would lose its width: a pane that leads with the short
//! answer (the cause and the first thing to try), then the request, every part of the device
//! largest first with its share against the total, and all the advice with its evidence. The
//! words are the reports' (`crate::oom`); nothing shows when the report explains no failure.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};

use gpuleak_analysis::units::wrap;

use super::super::app::App;
use crate::oom::{advice_action, cause_line, part_rows, request_line, sum_line};

/// The chart keeps at least this width beside the pane: room for its title whole (the device's
/// size, the iteration ticks, what was loaded, the OOM mark's legend).
const CHART_MIN_WIDTH: u16 = 100;
/// The narrowest pane beside the chart; on a narrower screen it goes under the chart.
const PANE_MIN_WIDTH: u16 = 44;

const TITLE: &str = " Out of memory: what filled the device ";

/// The cause in red, with colour.
fn red(app: &App) -> Style {
    if app.ui.color {
        Style::default().fg(Color::Red)
    } else {
        Style::default()
    }
}

/// With a failure explained, draws its pane beside the chart (under it on a narrow screen) and
/// gives back the area left for the chart; else the whole `area`.
pub fn beside_chart(frame: &mut Frame, app: &App, area: Rect) -> Rect {
    if app.data.oom.is_none() {
        return area;
    }
    let (chart, pane) = if area.width >= CHART_MIN_WIDTH + PANE_MIN_WIDTH {
        let chart = (area.width / 2).max(CHART_MIN_WIDTH);
        let [chart, pane] =
            Layout::horizontal([Constraint::Length(chart), Constraint::Min(0)]).areas(area);
        (chart, pane)
    } else {
        let [chart, pane] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
        (chart, pane)
    };
    frame.render_widget(
        Paragraph::new(pane_lines(
            app,
            usize::from(pane.width.saturating_sub(2)).max(1),
        ))
        .block(Block::default().borders(Borders::ALL).title(TITLE)),
        pane,
    );
    chart
}

/// The pane's lines, wrapped to `width` here so that a figure keeps its unit and a part's words
/// stay right of its figures. The short answer first: a pane cut by a small terminal still says
/// why and what to do; the parts (largest first) and the advice in full follow.
fn pane_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let Some(o) = &app.data.oom else {
        return Vec::new();
    };
    let plain = Style::default();
    let mut lines = hang("Cause: ", "  ", &cause_line(o), width, red(app));
    if let Some(a) = o.advice.first() {
        lines.extend(hang("Fix: ", "  ", &advice_action(a), width, plain));
    }
    lines.extend(hang("", "  ", &request_line(o), width, plain));
    let rows = part_rows(o, &app.data.unit);
    let bytes = rows.iter().map(|r| r.bytes.len()).max().unwrap_or(0);
    let share = rows.iter().map(|r| r.share.len()).max().unwrap_or(0);
    for r in &rows {
        let lead = format!("{:>bytes$}  {:>share$}  ", r.bytes, r.share);
        let rest = " ".repeat(lead.len());
        lines.extend(hang(&lead, &rest, &r.what, width, plain));
    }
    lines.extend(hang("", "  ", &sum_line(o), width, plain));
    for (i, a) in o.advice.iter().enumerate() {
        let lead = format!("{}. ", i + 1);
        lines.extend(hang(&lead, "   ", &advice_action(a), width, plain));
        if !a.evidence.is_empty() {
            lines.extend(hang("   evidence: ", "     ", &a.evidence, width, plain));
        }
    }
    lines
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
