//! The overview: device memory over time with iteration ticks and OOM marks (and, with it, the
//! failure explained: [`super::oom`]), and the findings.

use gpuleak_analysis::units::bytes;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph};

use gpuleak_analysis::Cause;

use super::super::app::App;
use super::{dim, verdict_style};
use crate::findings::Finding;
use crate::tui::state::holders::oom_sentence;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let findings = app.findings();
    // The diagnosis first, wrapped: it says why memory ran out (or would); the findings below
    // are the sites it rests on.
    let width = usize::from(area.width.saturating_sub(2)).max(1);
    let diagnosis: Vec<Line> = app
        .data
        .diagnosis
        .iter()
        .flat_map(|d| {
            let style = cause_style(app, d.cause);
            gpuleak_analysis::units::wrap(&d.text, width)
                .into_iter()
                .map(move |l| Line::styled(l, style))
        })
        .collect();
    // What the memory was when it ran out, from the walk made then (Python programs).
    let oom = app
        .state
        .procs
        .get(app.state.current)
        .and_then(oom_sentence)
        .map(|t| gpuleak_analysis::units::wrap(&t, width))
        .unwrap_or_default();
    let mut diagnosis = diagnosis;
    diagnosis.extend(oom.into_iter().map(Line::from));
    let wanted = diagnosis.len() + findings.len().max(1);
    let rows = (wanted as u16 + 2).min(area.height / 2);
    let [chart, list] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(rows)]).areas(area);
    let (chart, kept) = kept_area(app, chart);
    draw_chart(frame, app, chart);
    if let Some(kept) = kept {
        draw_kept(frame, app, kept);
    }

    let mut lines = diagnosis;
    if findings.is_empty() && app.data.windows_cut_steps {
        lines.push(Line::from(
            "iterations not found yet: time windows cut the steps apart, so no sawtooth or \
             plateau is judged until they are",
        ));
    } else if findings.is_empty() {
        lines.push(Line::from("no leak, sawtooth or plateau found"));
    } else {
        lines.extend(
            findings
                .iter()
                .map(|s| Line::styled(app.finding_text(s), verdict_style(app, Finding::of(s)))),
        );
    }
    lines.truncate(usize::from(rows.saturating_sub(2)));
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Findings ")),
        list,
    );
}

/// Red for what makes a program run out of memory, yellow for memory held for nothing.
fn cause_style(app: &App, cause: Cause) -> Style {
    match cause {
        Cause::Healthy => Style::default(),
        Cause::PoolRetention => style(app, Color::Yellow),
        _ => style(app, Color::Red),
    }
}

fn style(app: &App, color: Color) -> Style {
    if app.ui.color {
        Style::default().fg(color)
    } else {
        Style::default()
    }
}

fn draw_chart(frame: &mut Frame, app: &App, area: Rect) {
    // A failure explained takes its pane beside the chart, or under it, next to its OOM mark.
    let area = super::oom::beside_chart(frame, app, area);
    let s = &app.data.summary;
    let device = s
        .device_total
        .map_or(String::new(), |t| format!(" (device {})", bytes(t)));
    let ticks = if app.data.ticks.is_empty() {
        String::new()
    } else {
        format!(", █ = {} start", s.per)
    };
    let loaded = if app.data.loaded > 0 {
        format!(", dotted = loaded {}", bytes(app.data.loaded))
    } else {
        String::new()
    };
    let block = Block::default().borders(Borders::ALL).title(format!(
        " live device memory over time{device}{ticks}{loaded}{} ",
        if app.data.ooms.is_empty() {
            ""
        } else {
            ", • = OOM"
        }
    ));
    if app.data.timeline.is_empty() {
        frame.render_widget(
            Paragraph::new("no device memory recorded yet").block(block),
            area,
        );
        return;
    }
    let end = app
        .data
        .timeline
        .last()
        .map_or(1.0, |p| p.0)
        .max(app.data.ticks.last().copied().unwrap_or(0.0))
        .max(1e-3);
    let top = app
        .data
        .timeline
        .iter()
        .map(|p| p.1)
        .chain(app.data.ooms.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    // Ticks sit on the floor of the chart; too many to tell apart become a solid rule, which
    // says "iterations are short" just as well, so they are thinned to one per column or so.
    let every = (app.data.ticks.len() / usize::from(area.width.max(1))).max(1);
    let ticks: Vec<(f64, f64)> = app
        .data
        .ticks
        .iter()
        .step_by(every)
        .map(|&t| (t, 0.0))
        .collect();
    let cursor: Vec<(f64, f64)> = app
        .cursor_secs()
        .map(|t| (0..=20).map(|i| (t, top * f64::from(i) / 20.0)).collect())
        .unwrap_or_default();
    let mut datasets = vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(style(app, Color::Cyan))
            .data(&app.data.timeline),
    ];
    // What was loaded before the work began, as a dotted floor (a dot every other cell, apart
    // from the solid line of live memory): above it, what the steps use.
    let cells = usize::from(area.width.max(2));
    let floor: Vec<(f64, f64)> = if app.data.loaded > 0 {
        (0..cells)
            .step_by(2)
            .map(|c| (end * c as f64 / cells as f64, app.data.loaded as f64))
            .collect()
    } else {
        Vec::new()
    };
    if !floor.is_empty() {
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Scatter)
                .style(dim(app))
                .data(&floor),
        );
    }
    if !ticks.is_empty() {
        datasets.push(
            Dataset::default()
                .marker(Marker::Block)
                .graph_type(GraphType::Scatter)
                .style(dim(app))
                .data(&ticks),
        );
    }
    let ooms: Vec<(f64, f64)> = app.data.ooms.clone();
    if !ooms.is_empty() {
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(style(app, Color::Red))
                .data(&ooms),
        );
    }
    if !cursor.is_empty() {
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style(app, Color::Yellow))
                .data(&cursor),
        );
    }
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .bounds([0.0, end])
                .labels(["0 s".to_string(), seconds(end)]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top * 1.05])
                .labels(["0 B".to_string(), bytes(top as u64)]),
        );
    frame.render_widget(chart, area);
}

/// The chart's area, and below it the kept chart's when there is one to draw: something was
/// loaded before the work began, and two iterations or more ended above it.
fn kept_area(app: &App, area: Rect) -> (Rect, Option<Rect>) {
    let kept = app.data.loaded > 0 && app.data.bands.len() >= 2 && area.height >= 12;
    if !kept {
        return (area, None);
    }
    // Three rows of plot at least: a climb must read as one.
    let height = (area.height * 2 / 5).max(7);
    let [top, bottom] =
        Layout::vertical([Constraint::Min(6), Constraint::Length(height)]).areas(area);
    (top, Some(bottom))
}

/// What each iteration kept above what was loaded before the work began, at its end, on its
/// own scale: a leak of kilobytes per iteration above gigabytes of weights, which the chart of
/// all memory draws as a flat line, climbs here.
fn draw_kept(frame: &mut Frame, app: &App, area: Rect) {
    let per = &app.data.summary.per;
    let kept: Vec<(f64, f64)> = app
        .data
        .bands
        .iter()
        .enumerate()
        .map(|(i, b)| (i as f64, b.kept as f64))
        .collect();
    let top = kept.iter().map(|p| p.1).fold(1.0f64, f64::max);
    let last = kept.len().saturating_sub(1).max(1) as f64;
    let block = Block::default().borders(Borders::ALL).title(format!(
        " kept above what was loaded ({}), at each {per}'s end: its own scale ",
        bytes(app.data.loaded)
    ));
    let chart = Chart::new(vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(style(app, Color::Red))
            .data(&kept),
    ])
    .block(block)
    .x_axis(
        Axis::default()
            .bounds([0.0, last])
            .labels([format!("{per} 0"), format!("{per} {last}")]),
    )
    .y_axis(
        Axis::default()
            .bounds([0.0, top * 1.05])
            .labels(["0 B".to_string(), bytes(top as u64)]),
    );
    frame.render_widget(chart, area);
}

/// "12.5 s", or "19.0 ms" for a short trace, which would otherwise read "0.0 s".
fn seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}
