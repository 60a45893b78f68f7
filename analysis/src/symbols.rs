//! Instruction pointers to "function (file:line)", offline, from the files the module maps name.
//!
//! The profiled process never symbolizes (it would cost the workload time and memory); the
//! reader does, from the ELF and DWARF of each module. A module whose file is gone, or whose
//! build id no longer matches the one recorded, falls back to `module+0xoffset`: wrong names
//! are worse than none.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{CodeInfo, Input, Symbolized};
use gpuleak_trace::{Module, NO_STACK, PyFrame};

use crate::frames::below_main_cut;
pub use crate::frames::{function_name, is_library_frame, short_frame, tidy_frame, user_frame};
use crate::replay::{Frame, Replay};

/// Frames inside the hook say nothing about the program; the hook leaves them out already, and
/// any that slip through (an inlined wrapper, an older hook) are dropped here.
const HOOK_PREFIX: &str = "libgpuleak_hook";

/// Libraries between the program's code and the allocation, or below `main`: the CUDA runtime
/// and driver, the C library, the loader. Their frames say nothing about which code allocates,
/// so stacks leave them out (all of a stack's frames are kept if nothing else is left).
const FOLDED_PREFIXES: [&str; 7] = [
    "libcuda.so",
    "libcudart.so",
    "libc.so",
    "ld-linux",
    "libgcc_s.so",
    "libpthread.so",
    "libdl.so",
];

fn folded(modules: &[Module], frame: Frame) -> bool {
    frame
        .module
        .and_then(|i| modules.get(i as usize))
        .is_some_and(|m| {
            let name = basename(&m.path);
            FOLDED_PREFIXES.iter().any(|p| name.starts_with(p))
        })
}

/// One name of a symbolized stack ([`Symbolizer::resolved`]): "function (file:line)", and the
/// recorded frame it was read from; `None` for a Python frame or a placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub frame: Option<Frame>,
}

/// Shared by the report and the TUI so each address is looked up once per session.
pub struct Symbolizer {
    inner: blazesym::symbolize::Symbolizer,
    modules: HashMap<(String, Vec<u8>), ModuleSymbols>,
}

struct ModuleSymbols {
    /// False when the file is missing, unreadable, or another build than the one traced.
    usable: bool,
    names: HashMap<u64, Rc<[String]>>,
}

impl Default for Symbolizer {
    fn default() -> Self {
        Symbolizer::new()
    }
}

impl Symbolizer {
    pub fn new() -> Symbolizer {
        let inner = blazesym::symbolize::Symbolizer::builder()
            .enable_code_info(true)
            .enable_inlined_fns(true)
            .enable_demangling(true)
            .build();
        Symbolizer {
            inner,
            modules: HashMap::new(),
        }
    }

    /// The names of a recorded stack, innermost first: one per frame, more where functions were
    /// inlined. Empty for `NO_STACK`; a placeholder for an id the trace never defined.
    pub fn stack(&mut self, replay: &Replay, id: u32) -> Vec<String> {
        self.resolved(replay, id)
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    /// [`Symbolizer::stack`], each name with the recorded frame it was read from (its address
    /// and module): for exports that keep addresses and modules (pprof's locations and
    /// mappings). Names inlined into one frame share it; Python frames have none.
    pub fn resolved(&mut self, replay: &Replay, id: u32) -> Vec<Resolved> {
        if id == NO_STACK {
            return Vec::new();
        }
        let Some(frames) = replay.stack(id) else {
            return vec![Resolved {
                name: format!("<stack {id} is missing from the trace>"),
                frame: None,
            }];
        };
        if let Some(python) = replay.python_stack(id).filter(|p| !p.is_empty()) {
            return self.joined(replay, frames, python);
        }
        let modules = replay.modules();
        let kept: Vec<Frame> = frames
            .iter()
            .copied()
            .filter(|&f| !folded(modules, f))
            .collect();
        let shown = if kept.is_empty() { frames } else { &kept[..] };
        let mut out = Vec::with_capacity(shown.len());
        for f in shown {
            out.extend(self.frame(modules, *f).iter().map(|name| Resolved {
                name: name.clone(),
                frame: Some(*f),
            }));
        }
        below_main_cut(&mut out, |r| &r.name);
        out
    }

    /// A stack recorded with Python frames, joined at the interpreter boundary: the native
    /// frames up to the first one of the interpreter (in libpython or the python executable, or
    /// named `_PyEval_EvalFrame*`), then the Python frames, innermost first. The native frames
    /// outside the innermost Python frame (the interpreter's own, `main`) say nothing about the
    /// program and are left out; native frames between two Python frames (Python called back
    /// from an extension) are left out too, since the Python stack already names who called.
    /// Without any interpreter frame (stacks cut at the depth limit, or Python frames only) the
    /// Python frames follow all the native ones.
    fn joined(&mut self, replay: &Replay, frames: &[Frame], python: &[PyFrame]) -> Vec<Resolved> {
        let modules = replay.modules();
        let mut out = Vec::with_capacity(python.len() + 8);
        for &f in frames {
            if interpreter(modules, f) {
                break;
            }
            let names = self.frame(modules, f);
            if names.iter().any(|n| n.starts_with(EVAL_PREFIX)) {
                break;
            }
            if !folded(modules, f) {
                out.extend(names.iter().map(|name| Resolved {
                    name: name.clone(),
                    frame: Some(f),
                }));
            }
        }
        out.extend(python.iter().map(|p| Resolved {
            name: python_frame(replay, *p),
            frame: None,
        }));
        out
    }

    /// The names for one frame, innermost first; empty for a frame of the hook itself.
    /// `modules` is the list [`Frame::module`] indexes ([`Replay::modules`]).
    pub fn frame(&mut self, modules: &[Module], frame: Frame) -> Rc<[String]> {
        let Some(module) = frame.module.and_then(|i| modules.get(i as usize)) else {
            return Rc::from([format!("{:#x}", frame.ip)]);
        };
        let name = basename(&module.path);
        if name.starts_with(HOOK_PREFIX) {
            return Rc::from([]);
        }
        let offset = frame.ip.wrapping_sub(module.base);
        let key = (module.path.clone(), module.build_id.clone());
        let entry = self.modules.entry(key).or_insert_with(|| ModuleSymbols {
            usable: matches_build(&module.path, &module.build_id),
            names: HashMap::new(),
        });
        if let Some(names) = entry.names.get(&offset) {
            return names.clone();
        }
        let fallback = || vec![format!("{name}+{offset:#x}")];
        let names: Vec<String> = if entry.usable {
            // A return address points after the call; the call itself is one byte before.
            let src = Source::from(Elf::new(&module.path));
            match self
                .inner
                .symbolize_single(&src, Input::VirtOffset(offset.saturating_sub(1)))
            {
                Ok(Symbolized::Sym(sym)) => {
                    let mut v: Vec<String> = sym
                        .inlined
                        .iter()
                        .rev()
                        .map(|f| describe(&f.name, f.code_info.as_ref()))
                        .collect();
                    v.push(describe(&sym.name, sym.code_info.as_deref()));
                    v
                }
                Ok(Symbolized::Unknown(_)) => fallback(),
                Err(_) => {
                    // The file cannot be read as ELF: asking again per address only repeats it.
                    entry.usable = false;
                    fallback()
                }
            }
        } else {
            fallback()
        };
        let names: Rc<[String]> = Rc::from(names);
        entry.names.insert(offset, names.clone());
        names
    }
}

/// The CPython evaluation loop (`_PyEval_EvalFrameDefault`, `_PyEval_EvalFrame`): where a
/// native stack enters Python code.
const EVAL_PREFIX: &str = "_PyEval_EvalFrame";

/// A frame of the interpreter itself: in libpython, or in a python executable that has the
/// interpreter linked in (`python3.11`).
fn interpreter(modules: &[Module], frame: Frame) -> bool {
    frame
        .module
        .and_then(|i| modules.get(i as usize))
        .is_some_and(|m| {
            let name = basename(&m.path);
            name.starts_with("libpython") || (name.starts_with("python") && !name.contains(".so"))
        })
}

/// A Python frame in the native frames' format: `function (file:line)`.
fn python_frame(replay: &Replay, frame: PyFrame) -> String {
    let Some(code) = replay.python_code(frame.code) else {
        return format!("<python code {} is missing from the trace>", frame.code);
    };
    match frame.line {
        0 => format!("{} ({})", code.name, code.file),
        line => format!("{} ({}:{line})", code.name, code.file),
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn describe(name: &str, code: Option<&CodeInfo<'_>>) -> String {
    match code {
        Some(c) => {
            let path = c.to_path();
            match c.line {
                Some(line) => format!("{name} ({}:{line})", path.display()),
                None => format!("{name} ({})", path.display()),
            }
        }
        None => name.to_string(),
    }
}

/// Whether the file at `path` is the build the trace recorded. No recorded id: trust the path.
fn matches_build(path: &str, recorded: &[u8]) -> bool {
    let p = Path::new(path);
    if path.is_empty() || !p.is_file() {
        return false;
    }
    if recorded.is_empty() {
        return true;
    }
    match blazesym::helper::read_elf_build_id(&p) {
        Ok(Some(id)) => id[..] == *recorded,
        // A file without a build id cannot be the one that had one.
        Ok(None) => false,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpuleak_trace::{Encoder, Header, Reader, Stack};

    fn replay_of(modules: Vec<Module>, frames: Vec<u64>) -> Replay {
        let mut buf = Vec::new();
        let mut enc = Encoder::start(&Header::default(), &mut buf);
        for m in &modules {
            enc.module(m, &mut buf);
        }
        enc.any(
            &gpuleak_trace::Record::Stack(Stack { id: 1, frames }),
            &mut buf,
        );
        let mut r = Reader::new(&buf[..]).expect("prelude");
        Replay::from_reader(&mut r).expect("valid trace")
    }

    fn module(path: &str, base: u64, start: u64, end: u64) -> Module {
        Module {
            path: path.into(),
            base,
            start,
            end,
            build_id: vec![],
        }
    }

    #[test]
    fn a_missing_module_file_falls_back_to_module_and_offset() {
        let m = module(
            "/nonexistent/libtrain.so",
            0x7000_0000,
            0x7000_0000,
            0x7100_0000,
        );
        let replay = replay_of(vec![m], vec![0x7000_1234]);
        let mut s = Symbolizer::new();
        assert_eq!(s.stack(&replay, 1), vec!["libtrain.so+0x1234"]);
    }

    #[test]
    fn an_address_outside_every_module_is_shown_raw() {
        let m = module(
            "/nonexistent/libtrain.so",
            0x7000_0000,
            0x7000_0000,
            0x7100_0000,
        );
        let replay = replay_of(vec![m], vec![0x1234]);
        assert_eq!(Symbolizer::new().stack(&replay, 1), vec!["0x1234"]);
    }

    #[test]
    fn frames_of_the_hook_are_left_out() {
        let hook = module("/opt/gpuleak/libgpuleak_hook.so", 0x5000, 0x5000, 0x6000);
        let app = module("/nonexistent/app", 0, 0x1000, 0x2000);
        let replay = replay_of(vec![hook, app], vec![0x5010, 0x1010]);
        assert_eq!(Symbolizer::new().stack(&replay, 1), vec!["app+0x1010"]);
    }

    #[test]
    fn cuda_and_c_library_frames_are_folded_away_unless_nothing_else_is_left() {
        let cudart = module("/usr/lib/libcudart.so.12", 0x5000, 0x5000, 0x6000);
        let libc = module("/lib/x86_64-linux-gnu/libc.so.6", 0x7000, 0x7000, 0x8000);
        let app = module("/nonexistent/app", 0, 0x1000, 0x2000);
        let replay = replay_of(vec![cudart, libc, app], vec![0x5010, 0x1010, 0x7010]);
        assert_eq!(Symbolizer::new().stack(&replay, 1), vec!["app+0x1010"]);
        let only_libs = replay_of(
            vec![module("/usr/lib/libcuda.so.1", 0x5000, 0x5000, 0x6000)],
            vec![0x5010],
        );
        assert_eq!(
            Symbolizer::new().stack(&only_libs, 1),
            vec!["libcuda.so.1+0x10"]
        );
    }

    #[test]
    fn a_module_loaded_later_does_not_claim_frames_recorded_before() {
        let mut buf = Vec::new();
        let mut enc = Encoder::start(&Header::default(), &mut buf);
        enc.module(
            &module("/nonexistent/liba.so", 0x1000, 0x1000, 0x2000),
            &mut buf,
        );
        enc.stack(1, &[0x1100], &mut buf);
        // liba unloaded, libb mapped over the same range afterwards.
        enc.module(
            &module("/nonexistent/libb.so", 0x1000, 0x1000, 0x2000),
            &mut buf,
        );
        enc.stack(2, &[0x1100], &mut buf);
        let replay = Replay::from_reader(&mut Reader::new(&buf[..]).unwrap()).unwrap();
        let mut s = Symbolizer::new();
        assert_eq!(s.stack(&replay, 1), vec!["liba.so+0x100"]);
        assert_eq!(s.stack(&replay, 2), vec!["libb.so+0x100"]);
    }

    #[test]
    fn an_undefined_stack_id_is_named_not_dropped() {
        let replay = replay_of(vec![], vec![]);
        assert_eq!(
            Symbolizer::new().stack(&replay, 9),
            vec!["<stack 9 is missing from the trace>"]
        );
        assert!(Symbolizer::new().stack(&replay, NO_STACK).is_empty());
    }

    fn python_replay(modules: Vec<Module>, frames: Vec<u64>, python: Vec<(u32, u32)>) -> Replay {
        let mut buf = Vec::new();
        let mut enc = Encoder::start(&Header::default(), &mut buf);
        for m in &modules {
            enc.module(m, &mut buf);
        }
        let code = |id: u32, name: &str| gpuleak_trace::PyCode {
            id,
            first_line: 1,
            file: "/work/sampler.py".into(),
            name: name.into(),
        };
        let codes = [
            code(1, "denoise_step"),
            code(2, "main"),
            code(3, "<module>"),
        ];
        let python: Vec<PyFrame> = python
            .into_iter()
            .map(|(code, line)| PyFrame { code, line })
            .collect();
        enc.py_stack(1, &frames, &codes, &python, &mut buf);
        let mut r = Reader::new(&buf[..]).expect("prelude");
        Replay::from_reader(&mut r).expect("valid trace")
    }

    #[test]
    fn python_frames_replace_the_interpreter_frames() {
        let ffi = module("/nonexistent/libffi.so.8", 0x1000, 0x1000, 0x2000);
        let libc = module("/lib/x86_64-linux-gnu/libc.so.6", 0x7000, 0x7000, 0x8000);
        let py = module("/usr/lib/libpython3.11.so.1.0", 0x3000, 0x3000, 0x4000);
        let exe = module("/usr/bin/python3.11", 0x5000, 0x5000, 0x6000);
        let replay = python_replay(
            vec![ffi, libc, py, exe],
            vec![0x7010, 0x1010, 0x3010, 0x3020, 0x5010],
            vec![(1, 212), (2, 30), (3, 0)],
        );
        assert_eq!(
            Symbolizer::new().stack(&replay, 1),
            vec![
                "libffi.so.8+0x10",
                "denoise_step (/work/sampler.py:212)",
                "main (/work/sampler.py:30)",
                "<module> (/work/sampler.py)",
            ]
        );
        // A python executable with the interpreter linked in is the boundary too.
        let ffi = module("/nonexistent/libffi.so.8", 0x1000, 0x1000, 0x2000);
        let exe = module("/usr/bin/python3.11", 0x5000, 0x5000, 0x6000);
        let replay = python_replay(vec![ffi, exe], vec![0x1010, 0x5010], vec![(1, 7)]);
        assert_eq!(
            Symbolizer::new().stack(&replay, 1),
            vec!["libffi.so.8+0x10", "denoise_step (/work/sampler.py:7)"]
        );
    }

    #[test]
    fn python_frames_without_native_ones_or_without_an_interpreter_frame() {
        let replay = python_replay(vec![], vec![], vec![(1, 5), (9, 1)]);
        assert_eq!(
            Symbolizer::new().stack(&replay, 1),
            vec![
                "denoise_step (/work/sampler.py:5)",
                "<python code 9 is missing from the trace>"
            ]
        );
        let app = module("/nonexistent/app", 0x1000, 0x1000, 0x2000);
        let replay = python_replay(vec![app], vec![0x1010, 0x1020], vec![(2, 3)]);
        assert_eq!(
            Symbolizer::new().stack(&replay, 1),
            vec!["app+0x10", "app+0x20", "main (/work/sampler.py:3)"]
        );
    }

    #[test]
    fn a_stack_redefined_without_python_frames_loses_them() {
        let mut buf = Vec::new();
        let mut enc = Encoder::start(&Header::default(), &mut buf);
        let code = gpuleak_trace::PyCode {
            id: 1,
            first_line: 1,
            file: "a.py".into(),
            name: "f".into(),
        };
        enc.py_stack(1, &[], &[code], &[PyFrame { code: 1, line: 2 }], &mut buf);
        enc.stack(1, &[0x10], &mut buf);
        let replay = Replay::from_reader(&mut Reader::new(&buf[..]).unwrap()).unwrap();
        assert_eq!(replay.python_stack(1), None);
        assert_eq!(Symbolizer::new().stack(&replay, 1), vec!["0x10"]);
    }

    #[inline(never)]
    fn a_function_with_a_recognisable_name() -> u64 {
        std::hint::black_box(7)
    }

    /// The test binary's own load bias and extent, from /proc/self/maps.
    fn own_module() -> Option<Module> {
        let exe = std::fs::read_link("/proc/self/exe").ok()?;
        let exe = exe.to_str()?.to_string();
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let (mut start, mut end, mut base) = (u64::MAX, 0, None);
        for line in maps.lines().filter(|l| l.ends_with(exe.as_str())) {
            let mut parts = line.split_whitespace();
            let range = parts.next()?;
            let _perms = parts.next()?;
            let file_off = u64::from_str_radix(parts.next()?, 16).ok()?;
            let (s, e) = range.split_once('-')?;
            let (s, e) = (
                u64::from_str_radix(s, 16).ok()?,
                u64::from_str_radix(e, 16).ok()?,
            );
            if file_off == 0 && base.is_none() {
                // The first segment of a position-independent executable maps vaddr 0.
                base = Some(s);
            }
            start = start.min(s);
            end = end.max(e);
        }
        Some(Module {
            path: exe,
            base: base?,
            start,
            end,
            build_id: vec![],
        })
    }

    #[test]
    fn a_file_of_another_build_is_not_trusted_for_names() {
        let Some(mut m) = own_module() else {
            eprintln!("no /proc/self/maps here; skipped");
            return;
        };
        m.build_id = vec![0xab; 20];
        let f = a_function_with_a_recognisable_name as *const () as u64;
        let offset = f + 1 - m.base;
        let replay = replay_of(vec![m], vec![f + 1]);
        let names = Symbolizer::new().stack(&replay, 1);
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].ends_with(&format!("+{offset:#x}")), "{names:?}");
    }

    #[test]
    fn a_frame_in_a_file_with_symbols_gets_its_function_name() {
        let Some(m) = own_module() else {
            eprintln!("no /proc/self/maps here; skipped");
            return;
        };
        let f = a_function_with_a_recognisable_name as *const () as u64;
        assert_eq!(a_function_with_a_recognisable_name(), 7);
        // Pretend a call inside the function returns just past its first byte.
        let replay = replay_of(vec![m], vec![f + 1]);
        let names = Symbolizer::new().stack(&replay, 1);
        let innermost = names.first().expect("one frame");
        assert!(
            innermost.contains("a_function_with_a_recognisable_name"),
            "got {names:?}"
        );
        assert!(
            innermost.contains("symbols.rs:"),
            "no file:line in {names:?}"
        );
    }
}
