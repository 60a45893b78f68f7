//! pprof: a gzipped `profile.proto` (github.com/google/pprof, proto/profile.proto), with the
//! sample types of Go's heap profiles so that `go tool pprof -sample_index=inuse_space` reads it
//! as people expect.
//!
//! One sample per site, its locations innermost first, its values `alloc_objects/count`,
//! `alloc_space/bytes`, `inuse_objects/count`, `inuse_space/bytes`, and labels naming the site,
//! its kind of memory, device and verdict (`-tagfocus verdict=leak`). A native frame is a
//! location at its recorded address in the mapping of its module (path, range, GNU build id);
//! the functions inlined there are its lines, innermost first, as pprof orders them. A Python
//! frame is a location of its own, without a mapping, whose function is named in its `.py`
//! file. The profile opens on `inuse_space`, or `alloc_space` with `--what allocated`.

use std::collections::HashMap;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;

use crate::filter::What;
use crate::model::{Model, frame_parts};

#[derive(Clone, PartialEq, Message)]
pub struct Profile {
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    pub period: i64,
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct ValueType {
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(int64, tag = "1")]
    pub key: i64,
    #[prost(int64, tag = "2")]
    pub str: i64,
    #[prost(int64, tag = "3")]
    pub num: i64,
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Mapping {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    #[prost(int64, tag = "5")]
    pub filename: i64,
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Location {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    #[prost(uint64, tag = "3")]
    pub address: u64,
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Line {
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    #[prost(int64, tag = "2")]
    pub line: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Function {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int64, tag = "2")]
    pub name: i64,
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    #[prost(int64, tag = "4")]
    pub filename: i64,
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}

/// The profile's string table: index 0 is the empty string, as the format requires.
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Strings {
        Strings {
            table: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }

    fn id(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// Where a location comes from: a recorded address in a module, or a frame with none (Python,
/// or an address no module covered), known by its text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Place {
    Native { module: Option<u32>, ip: u64 },
    Named(String),
}

/// The profile, built (not yet encoded).
pub fn profile(model: &Model) -> Profile {
    let mut strings = Strings::new();
    let sample_type = [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ]
    .iter()
    .map(|(t, u)| ValueType {
        r#type: strings.id(t),
        unit: strings.id(u),
    })
    .collect();
    let modules = model.replay.modules();
    let mut mappings: Vec<Mapping> = Vec::new();
    let mut mapping_of: HashMap<u32, u64> = HashMap::new();
    let mut functions: Vec<Function> = Vec::new();
    let mut function_of: HashMap<(String, String), u64> = HashMap::new();
    let mut locations: Vec<Location> = Vec::new();
    let mut location_of: HashMap<Place, u64> = HashMap::new();
    let mut samples = Vec::new();

    let keep = |s: &&crate::model::WeightedStack| match model.what {
        What::Leaked => s.leaked_bytes > 0,
        // Every site: the four measures are all there, whichever the profile opens on.
        What::Live | What::Allocated => s.alloc_objects > 0,
    };
    for stack in model.stacks.iter().filter(keep) {
        let site = &model.report.sites[stack.site];
        let mut ids: Vec<u64> = Vec::new();
        // Names read from one recorded frame (inlined functions) are one location.
        let mut i = 0;
        while i < stack.frames.len() {
            let first = &stack.frames[i];
            let mut j = i + 1;
            if first.frame.is_some() {
                while j < stack.frames.len() && stack.frames[j].frame == first.frame {
                    j += 1;
                }
            }
            let group = &stack.frames[i..j];
            i = j;
            let place = match first.frame {
                Some(f) if f.module.is_some() => Place::Native {
                    module: f.module,
                    ip: f.ip,
                },
                Some(f) => Place::Native {
                    module: None,
                    ip: f.ip,
                },
                None => Place::Named(first.name.clone()),
            };
            if let Some(&id) = location_of.get(&place) {
                ids.push(id);
                continue;
            }
            let mapping_id = match &place {
                Place::Native {
                    module: Some(m), ..
                } => match mapping_of.get(m) {
                    Some(&id) => id,
                    None => {
                        let module = &modules[*m as usize];
                        let id = mappings.len() as u64 + 1;
                        let build_id: String =
                            module.build_id.iter().map(|b| format!("{b:02x}")).collect();
                        mappings.push(Mapping {
                            id,
                            memory_start: module.start,
                            memory_limit: module.end,
                            file_offset: module.start.saturating_sub(module.base),
                            filename: strings.id(&module.path),
                            build_id: strings.id(&build_id),
                            // Symbolized here: pprof must not look the binaries up again.
                            has_functions: true,
                            has_filenames: true,
                            has_line_numbers: true,
                            has_inline_frames: true,
                        });
                        mapping_of.insert(*m, id);
                        id
                    }
                },
                _ => 0,
            };
            let lines = group
                .iter()
                .map(|r| {
                    let parts = frame_parts(&r.name);
                    let file = parts.file.unwrap_or("");
                    let key = (parts.function.to_string(), file.to_string());
                    let function_id = match function_of.get(&key) {
                        Some(&id) => id,
                        None => {
                            let id = functions.len() as u64 + 1;
                            functions.push(Function {
                                id,
                                name: strings.id(parts.function),
                                system_name: strings.id(parts.function),
                                filename: strings.id(file),
                                start_line: 0,
                            });
                            function_of.insert(key, id);
                            id
                        }
                    };
                    Line {
                        function_id,
                        line: i64::from(parts.line.unwrap_or(0)),
                    }
                })
                .collect();
            let id = locations.len() as u64 + 1;
            locations.push(Location {
                id,
                mapping_id,
                address: match place {
                    Place::Native { ip, .. } => ip,
                    Place::Named(_) => 0,
                },
                line: lines,
                is_folded: false,
            });
            location_of.insert(place, id);
            ids.push(id);
        }
        let text = |strings: &mut Strings, k: &str, v: &str| Label {
            key: strings.id(k),
            str: strings.id(v),
            num: 0,
            num_unit: 0,
        };
        let mut label = vec![
            text(&mut strings, "site", &site.label),
            text(
                &mut strings,
                "memory",
                gpuleak_analysis::kind_name(site.memory),
            ),
        ];
        if let Some(v) = crate::findings::verdict(site) {
            label.push(text(&mut strings, "verdict", v));
        }
        if let Some(d) = site.device {
            label.push(Label {
                key: strings.id("device"),
                str: 0,
                num: i64::from(d),
                num_unit: 0,
            });
        }
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        samples.push(Sample {
            location_id: ids,
            value: vec![
                clamp(stack.alloc_objects),
                clamp(stack.alloc_bytes),
                clamp(stack.inuse_objects),
                clamp(model.held(stack)),
            ],
            label,
        });
    }
    let header = model.replay.header();
    let comment = vec![strings.id(&format!(
        "gpuleak export of {} ({}): {}",
        model.trace_name(),
        model.process_name(),
        model.measure()
    ))];
    let period_type = Some(ValueType {
        r#type: strings.id("space"),
        unit: strings.id("bytes"),
    });
    let default_sample_type = strings.id(match model.what {
        What::Allocated => "alloc_space",
        What::Live | What::Leaked => "inuse_space",
    });
    Profile {
        sample_type,
        sample: samples,
        mapping: mappings,
        location: locations,
        function: functions,
        string_table: strings.table,
        time_nanos: header.map_or(0, |h| i64::try_from(h.start_unix_ns).unwrap_or(0)),
        duration_nanos: header.map_or(0, |h| {
            i64::try_from(model.replay.last_time_ns().saturating_sub(h.start_mono_ns)).unwrap_or(0)
        }),
        period_type,
        period: 1,
        comment,
        default_sample_type,
    }
}

/// The gzipped, encoded profile.
pub fn render(model: &Model) -> Vec<u8> {
    let raw = profile(model).encode_to_vec();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(&raw);
    gz.finish().unwrap_or_default()
}
