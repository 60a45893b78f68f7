//! The program `gpuleak run` started, as the terminal UI knows it, and the processes of the run
//! (one followed trace each).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use gpuleak_analysis::Symbolizer;
use parking_lot::Mutex;

use crate::tui::follow::Follower;

/// How the program of `gpuleak run` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// What the TUI knows of the program `gpuleak run` started.
pub struct RunInfo {
    pub command: String,
    pub pid: u32,
    pub started: Instant,
    /// Set by whoever waits for the program.
    pub exit: Arc<Mutex<Option<Exit>>>,
    /// Where the program's stdout and stderr go while the TUI has the terminal.
    pub log: Option<PathBuf>,
    /// Sends the program SIGINT (Ctrl-C in the TUI, whose raw mode keeps the terminal's).
    pub interrupt: Option<Box<dyn Fn()>>,
}

impl RunInfo {
    pub fn exit(&self) -> Option<Exit> {
        *self.exit.lock()
    }
}

/// Finds the traces of the run as they appear: the program's, then its children's.
pub type Discover = Box<dyn FnMut() -> Vec<PathBuf>>;

/// A request for holders sent to a process (state/holders.rs makes it).
#[derive(Clone, Debug)]
pub struct Asked {
    pub at: Instant,
    /// Walks in its trace when asked: the answer is the one after.
    pub after: usize,
    pub request: PathBuf,
}

/// One process of the run: its trace, followed.
pub struct Proc {
    pub follower: Follower,
    /// Kept per process so each address is symbolized once per session.
    pub symbols: Symbolizer,
    /// The last request for holders sent to it (the Holders pane).
    pub asked: Option<Asked>,
}

impl Proc {
    pub fn new(follower: Follower) -> Proc {
        Proc {
            follower,
            symbols: Symbolizer::new(),
            asked: None,
        }
    }
}

/// "SIGKILL" for 9, else "signal N".
pub fn signal_name(sig: i32) -> String {
    match sig {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        6 => "SIGABRT".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}
