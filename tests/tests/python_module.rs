//! The `gpuleak` Python module: marks reach the trace under the hook, and do nothing without it.

use std::path::PathBuf;

use gpuleak_tests::Run;

fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../python")
}

const SCRIPT: &str = r#"
import ctypes, gpuleak
rt = ctypes.CDLL("libcudart.so.12")
kept = []
for step in range(6):
    with gpuleak.iteration("step"):
        p = ctypes.c_void_p()
        assert rt.cudaMalloc(ctypes.byref(p), ctypes.c_size_t(1 << 20)) == 0
        kept.append(p)
print("active", gpuleak.active())
"#;

#[test]
fn python_marks_become_the_iterations_of_the_trace() {
    if !gpuleak_tests::have_python() {
        eprintln!("skipped: no python3");
        return;
    }
    let out = Run::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .env("PYTHONPATH", python_dir())
        .hook()
        .run();
    out.assert_success();
    assert!(out.stdout.contains("active True"), "{out}");
    let json = gpuleak_tests::report_json(out.trace());
    assert_eq!(json["iterations"]["source"], "marker");
    assert_eq!(json["iterations"]["count"], 6);
    let leak = json["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["verdict"] == "leak")
        .expect("the 1 MiB kept per step is a leak");
    assert_eq!(leak["bytes_per_iteration"], 1 << 20);
}

#[test]
fn without_the_hook_the_module_does_nothing() {
    if !gpuleak_tests::have_python() {
        eprintln!("skipped: no python3");
        return;
    }
    let out = Run::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .env("PYTHONPATH", python_dir())
        .run();
    out.assert_success();
    assert!(out.stdout.contains("active False"), "{out}");
    assert!(out.traces.is_empty());
}
