//! The lines of the Stack pane for a site: its frames in the order [`crate::stack`] gives
//! (Python frames first), the frames folded inside the naming one said in one line where they
//! would have been, and listed at the end so the whole stack is still there to scroll to.

use gpuleak_analysis::{Site, is_library_frame};

use crate::stack::{frame_line, python_first};

/// One line of the Stack pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackLine {
    /// A frame: its index in the site's stack (0 innermost), its text, and whether it is
    /// library code (shown dimmed).
    Frame {
        index: usize,
        text: String,
        library: bool,
    },
    /// "… N frames inside": the frames the naming frame called, folded here.
    Folded(usize),
    /// The heading of the folded frames, listed after the rest.
    InsideHeading(usize),
}

/// The Stack pane's lines for `site`.
pub fn stack_lines(site: &Site) -> Vec<StackLine> {
    let frames = &site.frames;
    let shown = python_first(frames, site.user_frame);
    let line = |i: usize| StackLine::Frame {
        index: i,
        text: frame_line(&frames[i]),
        library: is_library_frame(&frames[i]) || frames[i].starts_with("_start"),
    };
    let (inside, rest) = shown.order.split_at(shown.inside);
    let mut lines = Vec::with_capacity(frames.len() + 2);
    if !inside.is_empty() {
        lines.push(StackLine::Folded(inside.len()));
    }
    lines.extend(rest.iter().map(|&i| line(i)));
    if !inside.is_empty() {
        lines.push(StackLine::InsideHeading(inside.len()));
        lines.extend(inside.iter().map(|&i| line(i)));
    }
    lines
}
