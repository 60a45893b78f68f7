//! Drawing: functions of `&App` into a ratatui `Frame`. Nothing here changes state (apart from
//! the tables' scroll offsets, which only drawing knows how to keep).

mod allocations;
mod holders;
mod iterations;
mod oom;
mod overview;
mod sites;

use std::cell::Cell;

use gpuleak_analysis::Site;
use gpuleak_analysis::units::{bytes, count};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};

use super::app::App;
use super::input::{FOOTER, KEYS};
use super::state::stack::{StackLine, stack_lines};
use super::ui::Screen;
use crate::findings::Finding;
use crate::format::signed_bytes;

/// The smallest terminal the screens fit in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 14;

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
    let [header, tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, app, header);
    draw_tabs(frame, app, tabs);
    match app.ui.screen {
        Screen::Overview => overview::draw(frame, app, body),
        Screen::Sites => sites::draw(frame, app, body),
        Screen::Allocations => allocations::draw(frame, app, body),
        Screen::Iterations => iterations::draw(frame, app, body),
    }
    frame.render_widget(Paragraph::new(format!(" {}", app.status_line())), status);
    draw_footer(frame, app, footer);
    if app.ui.help {
        draw_help(frame, app, area);
    }
}

/// Red for a leak, yellow for growth that comes and goes or stops; nothing without colour.
pub fn verdict_style(app: &App, finding: Option<Finding>) -> Style {
    if !app.ui.color {
        return Style::default();
    }
    match finding {
        Some(Finding::Leak) => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Some(Finding::Sawtooth | Finding::Plateau) => Style::default().fg(Color::Yellow),
        None => Style::default(),
    }
}

pub fn bold(app: &App) -> Style {
    if app.ui.color {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    }
}

pub fn dim(app: &App) -> Style {
    if app.ui.color {
        Style::default().add_modifier(Modifier::DIM)
    } else {
        Style::default()
    }
}

/// The selected row: reversed, which reads without colour too.
pub fn selected_style() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

/// The first row to show of a table of `len` rows in `height` lines so that `selected` is
/// visible, moving the kept offset as little as possible.
pub fn window(offset: &Cell<usize>, selected: usize, len: usize, height: usize) -> usize {
    let height = height.max(1);
    let mut first = offset.get().min(len.saturating_sub(height));
    if selected < first {
        first = selected;
    } else if selected >= first + height {
        first = selected + 1 - height;
    }
    offset.set(first);
    first
}

/// The Stack pane: the site's frames, a Python program's Python lines first and the frames
/// inside the naming one folded (state/stack.rs), or `empty` when no site is selected; library
/// frames dimmed, since the program's own are what the user can change.
pub fn draw_stack(frame: &mut Frame, app: &App, site: Option<&Site>, empty: &str, area: Rect) {
    let lines = site.map(stack_lines).unwrap_or_default();
    let frames = site.map_or(0, |s| s.frames.len());
    let scroll = app.ui.stack_scroll.min(lines.len().saturating_sub(1));
    // Where the pane is and that it scrolls, once there is more than it shows.
    let title = if scroll > 0 {
        format!(
            " Stack from line {} of {} (J/K scroll) ",
            scroll + 1,
            lines.len()
        )
    } else if lines.len() > usize::from(area.height.saturating_sub(2)) {
        format!(" Stack: {frames} frames (J/K scroll) ")
    } else {
        " Stack ".to_string()
    };
    let text: Vec<Line> = if site.is_none() {
        vec![Line::from(empty.to_string())]
    } else {
        lines
            .iter()
            .map(|l| match l {
                StackLine::Frame {
                    index,
                    text,
                    library,
                } => {
                    let style = if *library { dim(app) } else { Style::default() };
                    Line::from(Span::styled(format!("#{index:<2} {text}"), style))
                }
                StackLine::Folded(n) => Line::styled(
                    format!(
                        "… {} inside (at the end)",
                        count(*n as u64, "frame", "frames")
                    ),
                    dim(app),
                ),
                StackLine::InsideHeading(n) => Line::styled(
                    format!(
                        "{} inside, innermost first:",
                        count(*n as u64, "frame", "frames")
                    ),
                    dim(app),
                ),
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
            .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

/// "1.2k" for event rates.
pub fn rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn draw_header(frame: &mut Frame, app: &App, area: Rect) {
    let s = &app.data.summary;
    let pid = s.pid.map_or(String::new(), |p| format!("pid {p}   "));
    let device = match (&s.device_name, s.device_total) {
        // Several devices and none chosen: each with what it holds of its total.
        _ if app.data.devices.len() > 1 && app.ui.device_filter.is_none() => {
            let each: Vec<String> = app
                .data
                .devices
                .iter()
                .map(|d| match d.total_bytes {
                    Some(t) => format!(
                        "GPU {} {}/{}",
                        d.ordinal,
                        bytes(d.live_bytes_at_end),
                        bytes(t)
                    ),
                    None => format!("GPU {} {}", d.ordinal, bytes(d.live_bytes_at_end)),
                })
                .collect();
            format!("{}   ", each.join(", "))
        }
        (Some(name), Some(t)) => format!("{name} {}   ", bytes(t)),
        (Some(name), None) => format!("{name}   "),
        (None, Some(t)) => format!("device {}   ", bytes(t)),
        (None, None) => String::new(),
    };
    let status_style = match (app.ui.color, s.alarming) {
        (false, _) => Style::default(),
        (true, false) => Style::default().fg(Color::Green),
        (true, true) => Style::default().fg(Color::Red),
    };
    // The status first and the command last: a long command line is what gets cut.
    let mut first = vec![
        Span::styled(" gpuleak ", bold(app)),
        Span::raw(" "),
        Span::styled(format!("● {}", s.status), status_style),
        Span::raw(format!("   {pid}{device}")),
    ];
    if let Some(p) = app.process_label() {
        first.push(Span::raw(format!("{p} (n switches)   ")));
    }
    if let Some(d) = app.device_label() {
        first.push(Span::raw(format!("{d}   ")));
    }
    first.push(Span::raw(short_command(&s.command)));
    let iter = if s.iteration_source.is_empty() {
        "no iterations".to_string()
    } else {
        format!("{} {} ({})", s.per, s.iterations, s.iteration_source)
    };
    let mut second = vec![Span::raw(format!(
        " live {}  peak {}  reserved {}  pinned {}  {iter}",
        bytes(s.live),
        bytes(s.peak),
        bytes(s.reserved),
        bytes(s.pinned),
    ))];
    // Whether memory grows, at a glance: the whole device's verdict over the iterations.
    if let Some((verdict, per)) = s.growth {
        let text = format!("  {}/{} ({verdict})", signed_bytes(per), s.per);
        second.push(Span::styled(
            text,
            verdict_style(app, Finding::of_verdict(verdict)),
        ));
    }
    second.push(Span::raw(format!(
        "  {} ev/s  dropped {}",
        rate(s.events_per_s),
        s.dropped
    )));
    frame.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}

/// The program's name without its directory, then its arguments.
fn short_command(command: &str) -> String {
    match command.split_once(' ') {
        Some((program, args)) => format!("{} {args}", basename(program)),
        None => basename(command).to_string(),
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let selected = Screen::ALL.iter().position(|s| *s == app.ui.screen);
    let highlight = if app.ui.color {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    } else {
        // Without colour the brackets say which screen this is.
        Style::default()
    };
    let titles = Screen::ALL.iter().enumerate().map(|(i, s)| {
        if !app.ui.color && Some(i) == selected {
            format!("[{}]", s.title())
        } else {
            s.title().to_string()
        }
    });
    let tabs = Tabs::new(titles)
        .select(selected)
        .highlight_style(highlight);
    frame.render_widget(tabs, area);
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let style = if app.ui.color {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    };
    let text = if app.ui.editing_filter {
        format!(
            " filter: {}_   (Enter keeps it, Esc clears it)",
            app.ui.filter
        )
    } else {
        let mut t = String::new();
        for (k, what) in FOOTER {
            let what = if *k == "s" {
                format!("sort ({})", sort_name(app))
            } else {
                what.to_string()
            };
            t.push_str(&format!(" {k} {what} "));
        }
        if !app.ui.filter.is_empty() {
            t.push_str(&format!(" [filter: {}]", app.ui.filter));
        }
        t
    };
    frame.render_widget(Paragraph::new(text).style(style), area);
}

fn sort_name(app: &App) -> &'static str {
    match app.ui.screen {
        Screen::Allocations => app.ui.alloc_sort.name(),
        _ => app.ui.sort.name(),
    }
}

fn draw_help(frame: &mut Frame, app: &App, area: Rect) {
    let width = KEYS
        .iter()
        .map(|(k, what)| k.len().max(18) + what.len() + 3)
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
                Span::styled(format!(" {k:<18}"), bold(app)),
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
