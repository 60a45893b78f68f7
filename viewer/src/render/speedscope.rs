//! speedscope's file format (https://www.speedscope.app/file-format-schema.json): the frames
//! once, in `shared.frames` (name, file, line), and one "sampled" profile per memory measure —
//! bytes live at the end, allocations live at the end, bytes allocated, allocations made — each
//! sample a site's stack (outermost frame first, as speedscope reads them) weighted by the
//! measure. The profile `--what` chooses opens first; `--what leaked` keeps leaking sites only.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::filter::What;
use crate::model::{Model, WeightedStack, frame_parts};

/// A profile's name, its unit, and what it weighs each stack by.
type Measure = (&'static str, &'static str, fn(&WeightedStack) -> u64);

pub const SCHEMA_URL: &str = "https://www.speedscope.app/file-format-schema.json";

pub fn document(model: &Model) -> Value {
    let mut frames: Vec<Value> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let stacks: Vec<&WeightedStack> = model
        .stacks
        .iter()
        .filter(|s| match model.what {
            What::Leaked => s.leaked_bytes > 0,
            What::Live | What::Allocated => true,
        })
        .collect();
    // Root first: speedscope's samples list a stack from its outermost frame.
    let samples: Vec<Vec<usize>> = stacks
        .iter()
        .map(|s| {
            let names: Vec<&str> = if s.frames.is_empty() {
                vec!["(no stack recorded)"]
            } else {
                s.frames.iter().rev().map(|f| f.name.as_str()).collect()
            };
            names
                .into_iter()
                .map(|name| {
                    *index.entry(name.to_string()).or_insert_with(|| {
                        let parts = frame_parts(name);
                        let mut frame = json!({ "name": parts.function });
                        if let Some(file) = parts.file {
                            frame["file"] = json!(file);
                        }
                        if let Some(line) = parts.line {
                            frame["line"] = json!(line);
                        }
                        frames.push(frame);
                        frames.len() - 1
                    })
                })
                .collect()
        })
        .collect();
    let held: Measure = match model.what {
        What::Leaked => ("bytes the leak held at the last iteration", "bytes", |s| {
            s.leaked_bytes
        }),
        What::Live | What::Allocated => ("bytes live at the end", "bytes", |s| s.inuse_bytes),
    };
    let measures: [Measure; 4] = [
        held,
        ("allocations live at the end", "none", |s| s.inuse_objects),
        ("bytes allocated", "bytes", |s| s.alloc_bytes),
        ("allocations", "none", |s| s.alloc_objects),
    ];
    let profiles: Vec<Value> = measures
        .iter()
        .map(|(name, unit, measure)| {
            let (mut kept, mut weights) = (Vec::new(), Vec::new());
            for (stack, sample) in stacks.iter().zip(&samples) {
                let w = measure(stack);
                if w > 0 {
                    kept.push(sample.clone());
                    weights.push(w);
                }
            }
            let total: u64 = weights.iter().sum();
            json!({
                "type": "sampled",
                "name": format!("{} — {name}", model.process_name()),
                "unit": unit,
                "startValue": 0,
                "endValue": total,
                "samples": kept,
                "weights": weights,
            })
        })
        .collect();
    let active = match model.what {
        What::Allocated => 2,
        What::Live | What::Leaked => 0,
    };
    json!({
        "$schema": SCHEMA_URL,
        "name": format!("{}: {}", model.trace_name(), model.measure()),
        "exporter": format!("gpuleak {}", env!("CARGO_PKG_VERSION")),
        "activeProfileIndex": active,
        "shared": { "frames": frames },
        "profiles": profiles,
    })
}

pub fn render(model: &Model) -> String {
    // Only strings and integers: cannot fail.
    serde_json::to_string(&document(model)).unwrap_or_default() + "\n"
}
