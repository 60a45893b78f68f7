//! Settings from the environment, read once when the first event is recorded.

pub const DEFAULT_OUTPUT: &str = "gpuleak-%p.trace";
pub const DEFAULT_STACK_DEPTH: usize = 64;
pub const MAX_STACK_DEPTH: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stacks {
    Off,
    Native,
    /// Python frames where the thread runs Python and holds the GIL; native frames elsewhere.
    Python,
    /// Native and Python frames, joined by readers at the interpreter boundary.
    All,
}

impl Stacks {
    pub fn name(self) -> &'static str {
        match self {
            Stacks::Off => "off",
            Stacks::Native => "native",
            Stacks::Python => "python",
            Stacks::All => "all",
        }
    }

    pub fn python(self) -> bool {
        matches!(self, Stacks::Python | Stacks::All)
    }
}

/// How native stacks are unwound (GPULEAK_UNWIND).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unwinder {
    /// libgcc's unwinder through the `backtrace` crate.
    Libgcc = 0,
    /// framehop's DWARF CFI walk with cached rules (x86-64), libgcc where it cannot vouch for
    /// a stack; on other targets the same as `Libgcc`.
    Cfi = 1,
    /// `Cfi` without the libgcc fallback: a stack framehop cannot walk is recorded empty. For
    /// tests and diagnosis (it shows which stacks framehop itself produced).
    CfiOnly = 2,
}

impl Unwinder {
    pub const DEFAULT: Unwinder = Unwinder::Cfi;
}

pub struct Config {
    /// GPULEAK_OUTPUT, `%p` expanded to the pid when the file is created.
    pub output: String,
    /// GPULEAK_STACKS=off|native|python|all; `all` when unset (which becomes `native` when the
    /// process has no Python, see record.rs).
    pub stacks: Stacks,
    /// Whether GPULEAK_STACKS named the mode (rather than the default).
    pub stacks_explicit: bool,
    /// GPULEAK_STACK_DEPTH, frames kept per stack.
    pub stack_depth: usize,
    /// GPULEAK_MAX_WAIT_MS: how long a thread may wait for the writer before its event is
    /// counted as dropped. Lossless unless the disk cannot keep up for this long.
    pub max_wait_ms: u64,
    /// GPULEAK_UNWIND=libgcc|framehop|framehop-only.
    pub unwinder: Unwinder,
    /// GPULEAK_MAX_SIZE: the most disk the trace may take; the oldest segments are dropped to
    /// stay under it. `None`: no cap.
    pub max_size: Option<u64>,
}

/// The smallest cap: a segment must hold the live set it starts with and some events.
pub const MIN_MAX_SIZE: u64 = 1 << 20;

impl Config {
    pub fn from_env() -> (Config, Vec<String>) {
        let mut notes = Vec::new();
        let output = std::env::var("GPULEAK_OUTPUT")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_OUTPUT.to_string());
        let (stacks, stacks_explicit) = match std::env::var("GPULEAK_STACKS").as_deref() {
            Err(_) | Ok("") => (Stacks::All, false),
            Ok("native") => (Stacks::Native, true),
            Ok("python") => (Stacks::Python, true),
            Ok("all") => (Stacks::All, true),
            Ok("off") => (Stacks::Off, true),
            Ok(other) => {
                notes.push(format!(
                    "GPULEAK_STACKS={other} is not one of off|native|python|all; using the default"
                ));
                (Stacks::All, false)
            }
        };
        let stack_depth = match std::env::var("GPULEAK_STACK_DEPTH") {
            Err(_) => DEFAULT_STACK_DEPTH,
            Ok(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_STACK_DEPTH).contains(&n) => n,
                _ => {
                    notes.push(format!(
                        "GPULEAK_STACK_DEPTH={v} is not in 1..={MAX_STACK_DEPTH}; using {DEFAULT_STACK_DEPTH}"
                    ));
                    DEFAULT_STACK_DEPTH
                }
            },
        };
        let max_wait_ms = match std::env::var("GPULEAK_MAX_WAIT_MS") {
            Err(_) => 10_000,
            Ok(v) => v.parse().unwrap_or_else(|_| {
                notes.push(format!(
                    "GPULEAK_MAX_WAIT_MS={v} is not a number; using 10000"
                ));
                10_000
            }),
        };
        let unwinder = match std::env::var("GPULEAK_UNWIND").as_deref() {
            Err(_) | Ok("") => Unwinder::DEFAULT,
            Ok("libgcc") => Unwinder::Libgcc,
            Ok("framehop") => Unwinder::Cfi,
            Ok("framehop-only") => Unwinder::CfiOnly,
            Ok(other) => {
                notes.push(format!(
                    "GPULEAK_UNWIND={other} is not one of libgcc|framehop|framehop-only; using the default"
                ));
                Unwinder::DEFAULT
            }
        };
        let max_size = match std::env::var("GPULEAK_MAX_SIZE").as_deref() {
            Err(_) | Ok("") | Ok("0") => None,
            Ok(v) => match gpuleak_trace::parse_size(v) {
                Some(n) if n >= MIN_MAX_SIZE => Some(n),
                Some(_) => {
                    notes.push(format!(
                        "GPULEAK_MAX_SIZE={v} is below the smallest cap; using 1M"
                    ));
                    Some(MIN_MAX_SIZE)
                }
                None => {
                    notes.push(format!(
                        "GPULEAK_MAX_SIZE={v} is not a size (such as 512M or 2G); the trace is not capped"
                    ));
                    None
                }
            },
        };
        (
            Config {
                output,
                stacks,
                stacks_explicit,
                stack_depth,
                max_wait_ms,
                unwinder,
                max_size,
            },
            notes,
        )
    }
}
