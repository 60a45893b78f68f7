//! The CPython offset table the hook reads frames by (hook/src/pylayout.rs) against this
//! Python's own headers.

use std::path::Path;
use std::process::Command;

/// The hook reads frames from memory by a table of offsets per CPython version
/// (hook/src/pylayout.rs). This Python's own headers, internal ones included, must give the same
/// offsets as the table for its version (when the headers are installed and the table has the
/// version; otherwise there is nothing to compare, and the test says so).
#[test]
fn the_layout_table_matches_the_headers() {
    if !gpuleak_tests::have_python() {
        eprintln!("skipped: no python3");
        return;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, sysconfig; print(sysconfig.get_paths()['include']); \
             print(f'{sys.version_info[0]}{sys.version_info[1]}')",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let (include, version) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../hook/src/pylayout.rs"),
    )
    .unwrap();
    let Some(table) = layout_table(&source, version) else {
        gpuleak_tests::skip(
            "the_layout_table_matches_the_headers",
            &format!("no layout for CPython {version} in hook/src/pylayout.rs"),
        );
        return;
    };
    if !Path::new(include).join("internal/pycore_frame.h").exists() {
        gpuleak_tests::skip(
            "the_layout_table_matches_the_headers",
            &format!("no internal headers in {include}"),
        );
        return;
    }
    let dir = gpuleak_tests::TempDir::new("pylayout");
    let exe = dir.path().join("pylayout");
    gpuleak_tests::cc([
        "-I".as_ref(),
        include.as_ref(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("programs/pylayout.c")
            .as_os_str(),
        "-o".as_ref(),
        exe.as_os_str(),
    ]);
    let printed = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
    let mut compared = 0;
    for line in printed.lines().skip(1) {
        let (field, offset) = line.split_once(' ').unwrap();
        let want: usize = offset.parse().unwrap();
        let have = table
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("pylayout.rs has no {field} for CPython {version}"));
        assert_eq!(have, want, "{field} for CPython {version}");
        compared += 1;
    }
    assert!(compared >= 18, "{printed}");
}

/// The `name: value` pairs of pylayout.rs's `PY<version>` table, and its shared constants.
fn layout_table(source: &str, version: &str) -> Option<Vec<(String, usize)>> {
    let start = source.find(&format!("const PY{version}: Layout = Layout {{"))?;
    let body = &source[start..source[start..].find("};")? + start];
    let number = |v: &str| -> Option<usize> {
        let v = v.trim().trim_end_matches(',');
        v.strip_prefix("Some(")
            .map_or(v, |v| v.trim_end_matches(')'))
            .parse()
            .ok()
    };
    let mut out: Vec<(String, usize)> = body
        .lines()
        .filter_map(|l| {
            let (name, value) = l.trim().split_once(": ")?;
            Some((name.to_string(), number(value)?))
        })
        .collect();
    for (name, constant) in [
        ("ob_type", "OB_TYPE"),
        ("ob_size", "OB_SIZE"),
        ("bytes_data", "BYTES_DATA"),
    ] {
        let at = source.find(&format!("const {constant}: usize = "))?;
        let value = source[at..].split(" = ").nth(1)?.split(';').next()?;
        out.push((name.to_string(), value.parse().ok()?));
    }
    Some(out)
}
