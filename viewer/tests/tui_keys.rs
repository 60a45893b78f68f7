//! Keys that change what a table or pane shows, on ratatui's TestBackend: the filter with the
//! time cursor on, a new filter, a new sort, and the stack pane scrolled.

mod common;

use common::screen::{press, screen};
use common::{MIB, deep_stack_trace, many_sites_trace, stepped_trace};
use crossterm::event::KeyCode;
use gpuleak::tui::App;
use gpuleak::tui::ui::SortKey;
use gpuleak_analysis::ReportOptions;

fn app_of(bytes: Vec<u8>) -> App {
    let mut app = App::from_bytes(bytes, ReportOptions::default());
    app.ui.color = false;
    app
}

fn type_filter(app: &mut App, text: &str) {
    press(app, KeyCode::Char('/'));
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
    press(app, KeyCode::Enter);
}

#[test]
fn with_the_time_cursor_on_the_filter_narrows_the_allocations_too() {
    let mut app = app_of(stepped_trace(20, 3 * MIB));
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('['));
    let all = app.alloc_count();
    let leak = app.findings()[0].frames[0].clone();
    type_filter(&mut app, &leak);
    // The 20 buffers the leak kept, not the weights.
    assert_eq!(app.alloc_count(), 20, "of {all}, filter {leak:?}");
    for i in 0..app.alloc_count() {
        let row = app.alloc_row(i).unwrap();
        assert_eq!(app.site_of(row).unwrap().frames[0], leak);
    }
    let text = screen(&app, 120, 30).join("\n");
    assert!(
        text.contains("Live allocations at end of iter 19: 20"),
        "{text}"
    );
    // Moving the cursor keeps the filter: 5 of the leak's buffers at the end of iteration 4.
    for _ in 0..15 {
        press(&mut app, KeyCode::Left);
    }
    assert_eq!(app.alloc_count(), 5);
    // Esc leaves the cursor; the filter stays until a second Esc.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.alloc_count(), 20);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.alloc_count(), 21);
}

#[test]
fn a_second_slash_starts_a_new_filter() {
    let mut app = app_of(stepped_trace(20, 3 * MIB));
    press(&mut app, KeyCode::Char('2'));
    type_filter(&mut app, "nothing like this");
    assert!(app.ui.order.is_empty());
    let leak = app.findings()[0].frames[0].clone();
    type_filter(&mut app, &leak);
    assert_eq!(app.ui.filter, leak);
    assert_eq!(app.ui.order.len(), 1);
}

#[test]
fn a_new_sort_shows_the_list_from_its_top_as_far_as_the_selection_allows() {
    let mut app = app_of(many_sites_trace(80, 800));
    press(&mut app, KeyCode::Char('2'));
    while app.ui.sort != SortKey::Verdict {
        press(&mut app, KeyCode::Char('s'));
    }
    let second = app.ui.order[1];
    // Sorted by allocations, that site selected with the list scrolled well down.
    press(&mut app, KeyCode::Char('s'));
    while app.ui.sort != SortKey::Allocations {
        press(&mut app, KeyCode::Char('s'));
    }
    app.ui.selected = app.ui.order.iter().position(|&i| i == second).unwrap();
    app.ui.offsets[0].set(40);
    screen(&app, 120, 30);
    // By verdict it is second: the first page is shown whole, its top row first.
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.ui.selected, 1);
    let text = screen(&app, 120, 30);
    let header = text.iter().position(|l| l.contains("│verdict")).unwrap();
    let top = &app.data.sites[app.ui.order[0]].label;
    assert!(
        text[header + 1].contains(&format!(" {top} ")),
        "{}",
        text.join("\n")
    );
    assert!(text[header + 2].contains("│> "), "{}", text.join("\n"));
}

#[test]
fn the_stack_pane_scrolls_to_the_outermost_frame() {
    let mut app = app_of(deep_stack_trace(10, 40));
    press(&mut app, KeyCode::Char('2'));
    let text = screen(&app, 120, 24).join("\n");
    assert!(text.contains("#0 "), "{text}");
    assert!(
        !text.contains("#39 "),
        "the pane is too short for 40 frames:\n{text}"
    );
    for _ in 0..40 {
        press(&mut app, KeyCode::Char('J'));
    }
    let text = screen(&app, 120, 24).join("\n");
    assert!(text.contains("#39 "), "{text}");
    assert!(!text.contains("#0 "), "{text}");
    // Back up to the innermost frame.
    for _ in 0..40 {
        press(&mut app, KeyCode::Char('K'));
    }
    let text = screen(&app, 120, 24).join("\n");
    assert!(text.contains("#0 ") && !text.contains("#39 "), "{text}");
    // A new selection shows its stack from the innermost frame.
    press(&mut app, KeyCode::Char('J'));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('k'));
    assert!(screen(&app, 120, 24).join("\n").contains("#0 "));
}
