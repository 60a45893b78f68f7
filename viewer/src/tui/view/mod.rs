//! Drawing: functions of `&App` into a ratatui `Frame`. Nothing here changes state.

mod overview;
mod sites;

use gpuleak_analysis::units::bytes;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};

use super::input::KEYS;
use super::state::{App, Screen};

/// The smallest terminal the screens fit in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = vec![
            Line::from("Terminal too small"),
            Line::from(format!(
                "need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}",
                area.width, area.height
            )),
            Line::from("q quits"),
        ];
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, app, header);
    draw_tabs(frame, app, tabs);
    match app.screen {
        Screen::Overview => overview::draw(frame, app, body),
        Screen::Sites => sites::draw(frame, app, body),
    }
    draw_footer(frame, app, footer);
    if app.help {
        draw_help(frame, app, area);
    }
}

/// Red for a leak, yellow for growth that comes and goes or stops; nothing without colour.
pub fn verdict_style(app: &App, verdict: Option<&str>) -> Style {
    if !app.color {
        return Style::default();
    }
    match verdict {
        Some("leak") => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Some("sawtooth" | "plateau") => Style::default().fg(Color::Yellow),
        _ => Style::default(),
    }
}

fn bold(app: &App) -> Style {
    if app.color {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    }
}

fn draw_header(frame: &mut Frame, app: &App, area: Rect) {
    let s = &app.summary;
    let pid = s.pid.map_or(String::new(), |p| format!("pid {p}"));
    let status_style = match (app.color, s.status) {
        (false, _) => Style::default(),
        (true, "complete") => Style::default().fg(Color::Green),
        (true, _) => Style::default().fg(Color::Red),
    };
    let first = Line::from(vec![
        Span::styled(" gpuleak ", bold(app)),
        Span::raw(format!(" {}   {pid}   ", s.command)),
        Span::styled(format!("● {}", s.status), status_style),
    ]);
    let iter = if s.iteration_source.is_empty() {
        "no iterations".to_string()
    } else {
        format!("{} {} ({})", s.per, s.iterations, s.iteration_source)
    };
    let second = Line::from(format!(
        " live {}   peak {}   reserved {}   pinned {}   {iter}",
        bytes(s.live),
        bytes(s.peak),
        bytes(s.reserved),
        bytes(s.pinned),
    ));
    frame.render_widget(Paragraph::new(vec![first, second]), area);
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let selected = Screen::ALL.iter().position(|s| *s == app.screen);
    let highlight = if app.color {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    } else {
        Style::default()
    };
    let tabs = Tabs::new(Screen::ALL.iter().map(|s| s.title()))
        .select(selected)
        .highlight_style(highlight);
    frame.render_widget(tabs, area);
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let text = format!(
        " Tab screens  j/k move  s sort ({})  ? help  q quit",
        app.sort.name()
    );
    let style = if app.color {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    };
    frame.render_widget(Paragraph::new(text).style(style), area);
}

fn draw_help(frame: &mut Frame, app: &App, area: Rect) {
    let width = KEYS
        .iter()
        .map(|(k, what)| k.len().max(16) + what.len() + 2)
        .max()
        .unwrap_or(20) as u16
        + 2;
    let height = KEYS.len() as u16 + 2;
    let rect = Rect {
        x: area.x + area.width.saturating_sub(width) / 2,
        y: area.y + area.height.saturating_sub(height) / 2,
        width: width.min(area.width),
        height: height.min(area.height),
    };
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), bold(app)),
                Span::raw(format!("{what} ")),
            ])
        })
        .collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Keys ")),
        rect,
    );
}
