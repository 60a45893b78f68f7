//! Other processes on the device: when an allocation fails for want of memory, the hook asks
//! NVML who else holds the device's memory and records it with the failure; the replay gives it
//! to the out-of-memory report. The other process is the fake driver's (test doubles:
//! `FAKE_CUDA_OTHER_BYTES`, `FAKE_CUDA_OTHER_PID`), listed by the fake NVML.

mod common;

use std::path::Path;

use gpuleak_tests::{Run, TempDir, fake_cuda_dir};
use gpuleak_trace::{DeviceProcess, DeviceProcesses, Event, Record};

const OTHER_PID: u32 = 4242;

fn processes(trace: &Path) -> Vec<DeviceProcesses> {
    common::records(trace)
        .0
        .into_iter()
        .filter_map(|r| match r {
            Record::Processes(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn traced_pid(trace: &Path) -> u32 {
    match &common::records(trace).0[0] {
        Record::Header(h) => h.pid,
        other => panic!("{other:?}"),
    }
}

fn notes(trace: &Path) -> Vec<String> {
    common::records(trace)
        .0
        .into_iter()
        .filter_map(|r| match r {
            Record::Note(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// `oom` on a 64 MiB device of which another process holds 48 MiB.
fn crowded_oom() -> Run {
    Run::program("oom")
        .env("FAKE_CUDA_CAPACITY", "64M")
        .env("FAKE_CUDA_OTHER_BYTES", "48M")
        .env("FAKE_CUDA_OTHER_PID", OTHER_PID.to_string())
}

#[test]
fn another_process_holding_48_of_64_mib_leaves_room_for_16_blocks() {
    let alone = Run::program("oom").env("FAKE_CUDA_CAPACITY", "64M").run();
    alone.assert_success();
    assert!(alone.stdout.contains("allocated 64\n"), "{}", alone.stdout);
    let crowded = crowded_oom().run();
    crowded.assert_success();
    assert!(
        crowded.stdout.contains("allocated 16\n"),
        "{}",
        crowded.stdout
    );
}

#[test]
fn a_failure_on_a_crowded_device_names_the_other_process_and_its_48_mib() {
    let out = crowded_oom().hook().run();
    out.assert_success();
    let evs = common::events(out.trace());
    let failed: Vec<&Event> = evs.iter().filter(|e| !e.ok()).collect();
    assert_eq!(failed.len(), 1, "{evs:#?}");
    let answers = processes(out.trace());
    assert_eq!(answers.len(), 1, "{answers:#?}");
    let a = &answers[0];
    assert_eq!((a.device, a.failure_seq), (0, failed[0].seq));
    assert_eq!(
        a.processes,
        [
            DeviceProcess {
                pid: OTHER_PID,
                used_bytes: Some(48 << 20),
                traced: false,
            },
            // The program itself, with the 16 MiB it holds (the fake context takes nothing).
            DeviceProcess {
                pid: traced_pid(out.trace()),
                used_bytes: Some(16 << 20),
                traced: true,
            },
        ]
    );
    let r = common::replay(out.trace());
    assert_eq!(r.ooms().len(), 1);
    assert_eq!(
        r.ooms()[0].other_processes,
        Some(vec![(OTHER_PID, 48 << 20)])
    );
    assert_eq!(r.ooms()[0].own_process_bytes, Some(16 << 20));
}

#[test]
fn a_program_that_never_fails_asks_nvml_nothing() {
    let out = Run::program("runtime_basic")
        .env("FAKE_CUDA_OTHER_BYTES", "48M")
        .hook()
        .run();
    out.assert_success();
    assert_eq!(processes(out.trace()), []);
    assert_eq!(notes(out.trace()), Vec::<String>::new());
}

/// A directory with the fake driver and runtime but no NVML, as a machine without it.
fn without_nvml() -> TempDir {
    let dir = TempDir::new("no-nvml");
    for lib in ["libcuda.so.1", "libcudart.so.12"] {
        std::os::unix::fs::symlink(fake_cuda_dir().join(lib), dir.path().join(lib)).unwrap();
    }
    dir
}

#[test]
fn without_nvml_the_failure_is_recorded_as_before_with_a_note() {
    let libs = without_nvml();
    let run = || {
        crowded_oom()
            .env("LD_LIBRARY_PATH", libs.path())
            .fake_cuda(false)
    };
    let plain = run().run();
    let out = run().hook().run();
    out.assert_success();
    assert_eq!(
        common::lines_without_ptr(&out),
        common::lines_without_ptr(&plain),
        "the program saw the same"
    );
    assert_eq!(processes(out.trace()), []);
    let notes = notes(out.trace());
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains("other processes on the device are not known")
            && notes[0].contains("NVML is not available"),
        "{}",
        notes[0]
    );
    let r = common::replay(out.trace());
    assert_eq!(r.ooms().len(), 1);
    assert_eq!(r.ooms()[0].other_processes, None);
}

#[test]
fn the_programs_own_nvml_stays_initialised_until_its_own_shutdown() {
    let plain = crowded_oom_program("nvml_owner").run();
    plain.assert_success();
    let out = crowded_oom_program("nvml_owner").hook().run();
    out.assert_success();
    assert_eq!(out.stdout, plain.stdout, "the program saw the same");
    // As PyTorch's out-of-memory message reads it: v1 entries, the other process first.
    assert!(
        out.stdout.contains(&format!(
            "process {OTHER_PID} {}\nprocess self {}\n",
            48 << 20,
            16 << 20
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("nvml before shutdown 0\nnvml after shutdown 1\n"),
        "{}",
        out.stdout
    );
    assert_eq!(processes(out.trace()).len(), 1);
}

/// The bug: the burst was counted from NVML's answer, before the holders' walk, so a retry
/// after a walk longer than the burst asked NVML again (real PyTorch: two records a failure).
#[test]
fn a_retry_after_a_long_walk_is_the_same_burst() {
    if !gpuleak_tests::have_python() {
        eprintln!("skipped: no python3");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("programs/holders_slow_oom.py");
    let out = Run::new("python3")
        .arg(script)
        .arg("1000000")
        .env("FAKE_CUDA_CAPACITY", "64M")
        .env("FAKE_CUDA_OTHER_BYTES", "8M")
        .env("GPULEAK_HOLDERS_SECONDS", "1.5")
        .hook()
        .run();
    out.assert_success();
    assert!(
        out.stdout.contains("out of memory\nout of memory\ndone\n"),
        "{out}"
    );
    let failures = common::events(out.trace())
        .iter()
        .filter(|e| !e.ok())
        .count();
    assert_eq!(failures, 2);
    assert_eq!(processes(out.trace()).len(), 1, "one question per burst");
}

fn crowded_oom_program(name: &str) -> Run {
    Run::program(name)
        .env("FAKE_CUDA_CAPACITY", "64M")
        .env("FAKE_CUDA_OTHER_BYTES", "48M")
        .env("FAKE_CUDA_OTHER_PID", OTHER_PID.to_string())
}
