//! Who else uses the device when an allocation fails for want of memory: NVML's list of the
//! processes on the failing device, recorded as a Processes record that names the failure
//! (trace format section 5.15), or a note saying why there is none.
//!
//! As the out-of-memory walk of `holders::schedule`, the question is asked on a thread of
//! gpuleak's own, never the failing one (which may hold a lock of the program's allocator), at
//! most once per burst of failures (PyTorch frees its cache and retries at once: one failure
//! to the user). Unlike the walk, it is asked in every program, native ones too, so the thread
//! is its own. The failing call waits for the answer, boundedly, so that the figures are the
//! failure's, taken before the program frees anything.

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use gpuleak_trace::{DeviceProcess, DeviceProcesses};

use crate::sync::{Condvar, Mutex};

/// One question per burst: a failure this soon after the last answer is the same burst.
const BURST: Duration = Duration::from_secs(1);
/// How long the failing call waits for the answer; NVML's first initialisation can take a
/// while on a machine without its persistence daemon.
const WAIT: Duration = Duration::from_secs(2);

/// The thread's questions and answers. One per process: a forked child makes its own.
struct Shared {
    pid: u32,
    /// False when the thread could not be started: nothing would answer.
    running: AtomicBool,
    asks: Mutex<Asks>,
    wake: Condvar,
    done: Condvar,
}

#[derive(Default)]
struct Asks {
    asked: u64,
    answered: u64,
    /// The failure to answer: its device and event sequence number.
    pending: Option<(i32, u64)>,
    last: Option<Instant>,
}

static SHARED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());

/// This process's thread and its state, started at the first failure.
fn shared() -> &'static Shared {
    crate::leaked::for_this_process(
        &SHARED,
        |s| s.pid,
        |pid| Shared {
            pid,
            running: AtomicBool::new(true),
            asks: Mutex::new(Asks::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
        },
        |fresh| {
            let started = std::thread::Builder::new()
                .name("gpuleak-nvml".into())
                .spawn(move || answering(fresh));
            if started.is_err() {
                fresh.running.store(false, Ordering::Relaxed);
            }
        },
    )
}

/// An allocation on `device` failed for want of memory; `seq` is its event's number (`None`
/// when it was not recorded). Called outside any gpuleak lock. Returns whether NVML was asked
/// (the failure opened a burst).
pub fn out_of_memory(device: i32, seq: Option<u64>) -> bool {
    let Some(seq) = seq else {
        return false;
    };
    if device < 0 {
        // The device is unknown: nothing to ask NVML about.
        return false;
    }
    let s = shared();
    if !s.running.load(Ordering::Relaxed) {
        return false;
    }
    let mut a = s.asks.lock();
    let now = Instant::now();
    if a.last.is_some_and(|t| now.duration_since(t) < BURST) {
        return false;
    }
    a.last = Some(now);
    a.asked += 1;
    let mine = a.asked;
    a.pending = Some((device, seq));
    s.wake.notify_one();
    let deadline = now + WAIT;
    while a.answered < mine {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        a = s.done.wait_for(a, left).0;
    }
    true
}

/// The failure that opened a burst is about to return to the program (after the holders' walk,
/// which may take seconds): the burst is counted from here, so that the program's immediate
/// retry is not asked about again.
pub fn failure_handled() {
    let p = SHARED.load(Ordering::Acquire);
    // SAFETY: every `Shared` is leaked, never freed.
    if let Some(s) = unsafe { p.as_ref() }
        && s.pid == std::process::id()
    {
        s.asks.lock().last = Some(Instant::now());
    }
}

fn answering(s: &'static Shared) {
    crate::guard::exclude_this_thread();
    loop {
        let (mine, (device, seq)) = {
            let mut a = s.asks.lock();
            loop {
                if let Some(p) = a.pending.take() {
                    break (a.asked, p);
                }
                a = s.wake.wait_for(a, Duration::from_secs(3600)).0;
            }
        };
        crate::record::guarded(|| answer(device, seq));
        let mut a = s.asks.lock();
        a.answered = a.answered.max(mine);
        // The burst is counted from the answer: the failing call waited for it, and its
        // retry comes after.
        a.last = Some(Instant::now());
        s.done.notify_all();
    }
}

fn answer(device: i32, seq: u64) {
    let listed = crate::query::pci_bus_id(device)
        .ok_or_else(|| format!("the driver did not give device {device}'s PCI bus id"))
        .and_then(|bus| crate::nvml::processes_on(&bus));
    match listed {
        Ok(list) => {
            let me = std::process::id();
            crate::record::processes(DeviceProcesses {
                time_ns: 0,
                device,
                failure_seq: seq,
                processes: list
                    .into_iter()
                    .map(|(pid, used_bytes)| DeviceProcess {
                        pid,
                        used_bytes,
                        traced: pid == me,
                    })
                    .collect(),
            });
        }
        Err(why) => {
            // Said once: what kept NVML from answering will keep it from answering again.
            static SAID: AtomicBool = AtomicBool::new(false);
            if !SAID.swap(true, Ordering::Relaxed) {
                crate::record::note(&format!(
                    "other processes on the device are not known at out-of-memory failures: {why}"
                ));
            }
        }
    }
}
