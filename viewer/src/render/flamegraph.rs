//! An SVG flame graph of the chosen bytes, drawn by inferno (the Rust port of flamegraph.pl)
//! from the same collapsed stacks as `--format folded`: each box a frame, as wide as the bytes
//! of the stacks through it, the outermost frame at the bottom. It opens in any browser; its
//! small script (inferno's: search, zoom) is inline.

use inferno::flamegraph::{self, Options, Palette, color::BasicPalette};

use crate::error::Fail;
use crate::model::Model;

pub fn render(model: &Model) -> Result<Vec<u8>, Fail> {
    let mut lines = super::folded::lines(model);
    // inferno merges stacks as it reads them: they must come sorted.
    lines.sort();
    let title = format!("{}: {}", model.process_name(), model.measure());
    let mut options = Options::default();
    options.title = title;
    options.subtitle = Some(format!("gpuleak export of {}", model.trace_name()));
    options.count_name = "bytes".to_string();
    options.name_type = "Frame:".to_string();
    options.colors = Palette::Basic(BasicPalette::Mem);
    options.deterministic = true;
    let mut out = Vec::new();
    if lines.is_empty() {
        // inferno refuses an empty graph; an empty one still says what it is of.
        let text = format!(
            "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"1200\" \
             height=\"60\" xmlns=\"http://www.w3.org/2000/svg\"><text x=\"600\" y=\"34\" \
             text-anchor=\"middle\" font-family=\"Verdana\" font-size=\"17\">{}: none</text></svg>\n",
            crate::format::escape(&options.title)
        );
        return Ok(text.into_bytes());
    }
    flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out).map_err(
        |e| {
            Fail::new(
                1,
                format!("{}: cannot draw the flame graph: {e}", model.path.display()),
            )
        },
    )?;
    Ok(out)
}
