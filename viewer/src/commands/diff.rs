//! `gpuleak diff A B`: two traces, or two runs of several processes, compared site by site.

use gpuleak_analysis::{Report, Symbolizer};

use crate::cli::{DiffArgs, Format};
use crate::error::Fail;
use crate::input::{self, load, options};
use crate::output::emit;
use crate::render::diff;

pub fn diff(args: &DiffArgs) -> Result<i32, Fail> {
    let options = options(args.iteration_range.as_deref())?;
    let a = input::traces_of(std::slice::from_ref(&args.a))?;
    let b = input::traces_of(std::slice::from_ref(&args.b))?;
    if a.len() == 1 && b.len() == 1 {
        let mut symbols = Symbolizer::new();
        let a = Report::build_with(&load(&a[0])?, &mut symbols, &options);
        let b = Report::build_with(&load(&b[0])?, &mut symbols, &options);
        let out = match args.format {
            Format::Json => diff::json(&a, &b),
            Format::Text => diff::text(&a, &b, &args.a, &args.b),
        };
        emit(out.as_bytes()).map_err(|e| Fail::new(1, format!("cannot write the diff: {e}")))?;
        return Ok(0);
    }
    // Runs of several processes: each worker against its counterpart.
    let a = input::load_all(&a, &options)?;
    let b = input::load_all(&b, &options)?;
    let pairs = diff::pair(&a, &b);
    let (text, json) = diff::runs(&pairs);
    let out = match args.format {
        Format::Json => json,
        Format::Text => text,
    };
    emit(out.as_bytes()).map_err(|e| Fail::new(1, format!("cannot write the diff: {e}")))?;
    Ok(0)
}
