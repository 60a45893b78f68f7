//! The overview: live device memory over iterations, and the findings.

use gpuleak_analysis::units::bytes;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph};

use super::super::state::App;
use super::verdict_style;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let findings = app.findings();
    let rows = (findings.len().max(1) as u16 + 2).min(area.height / 2);
    let [chart, list] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(rows)]).areas(area);
    draw_chart(frame, app, chart);

    let lines: Vec<Line> = if findings.is_empty() {
        vec![Line::from("no leak, sawtooth or plateau found")]
    } else {
        findings
            .iter()
            .map(|s| {
                Line::styled(
                    app.finding_text(s),
                    verdict_style(app, s.verdict.as_deref()),
                )
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Findings ")),
        list,
    );
}

fn draw_chart(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" live device memory per {} ", app.summary.per));
    if app.series.is_empty() {
        frame.render_widget(
            Paragraph::new("no iterations: nothing to chart").block(block),
            area,
        );
        return;
    }
    let points: Vec<(f64, f64)> = app
        .series
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64, v as f64))
        .collect();
    let top = app.series.iter().copied().max().unwrap_or(0).max(1);
    let last = app.series.len().saturating_sub(1).max(1);
    let style = if app.color {
        Style::default().fg(Color::Cyan)
    } else {
        Style::default()
    };
    let dataset = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(style)
        .data(&points);
    let chart = Chart::new(vec![dataset])
        .block(block)
        .x_axis(
            Axis::default()
                .bounds([0.0, last as f64])
                .labels(["0".to_string(), last.to_string()]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top as f64])
                .labels(["0 B".to_string(), bytes(top)]),
        );
    frame.render_widget(chart, area);
}
