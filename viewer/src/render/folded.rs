//! Collapsed stacks (Brendan Gregg's `stackcollapse` output, which flamegraph.pl, inferno and
//! speedscope read): one line per site, `frame;frame;frame bytes`, the outermost frame first,
//! weighted by the bytes `--what` chooses. Frames are `function (file:line)`, the file without
//! its directory; a `;` inside a name (none in C, Rust or Python names, but possible in a C++
//! template argument) is written `:`, since it separates frames.

use crate::model::{Model, WeightedStack, short_name};

/// A stack's frames as the folded and flame graph formats write them, outermost first.
pub fn frames(stack: &WeightedStack) -> Vec<String> {
    if stack.frames.is_empty() {
        return vec!["(no stack recorded)".to_string()];
    }
    stack
        .frames
        .iter()
        .rev()
        .map(|f| short_name(&f.name).replace(';', ":").replace('\n', " "))
        .collect()
}

/// The lines, one per stack with a weight, largest first.
pub fn lines(model: &Model) -> Vec<String> {
    let mut weighted: Vec<(u64, String)> = model
        .selected()
        .map(|s| (model.weight(s), frames(s).join(";")))
        .filter(|(w, _)| *w > 0)
        .collect();
    weighted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    weighted
        .into_iter()
        .map(|(w, stack)| format!("{stack} {w}"))
        .collect()
}

pub fn render(model: &Model) -> String {
    let mut out = lines(model).join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}
