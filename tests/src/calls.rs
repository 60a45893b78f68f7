//! The test programs' output convention: one `<api> <code> <ptr> <size>` line per CUDA call.

/// One `<api> <code> <pointer> <size>` line (`child <api> ...` from a forked child).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub api: String,
    pub code: i64,
    pub ptr: u64,
    pub size: u64,
    /// Printed by a forked child (`child ` prefix).
    pub child: bool,
}

impl Call {
    /// The line without the pointer (which changes from run to run): `"cudaMalloc 0 1048576"`.
    pub fn without_ptr(&self) -> String {
        let prefix = if self.child { "child " } else { "" };
        format!("{prefix}{} {} {}", self.api, self.code, self.size)
    }
}

/// The call lines of a program's stdout; other lines (`ready`, `total ...`) are skipped.
pub fn parse_calls(stdout: &str) -> Vec<Call> {
    stdout.lines().filter_map(parse_call).collect()
}

fn parse_call(line: &str) -> Option<Call> {
    let (child, rest) = match line.strip_prefix("child ") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let [api, code, ptr, size] = fields[..] else {
        return None;
    };
    Some(Call {
        api: api.to_string(),
        code: code.parse().ok()?,
        ptr: u64::from_str_radix(ptr.strip_prefix("0x")?, 16).ok()?,
        size: size.parse().ok()?,
        child,
    })
}

#[cfg(test)]
mod tests {
    use crate::calls::*;
    use crate::paths::target_dir;

    #[test]
    fn parses_call_lines() {
        let calls = parse_calls("cudaMalloc 0 0x7f00 4096\nready\nchild cudaFree 1 0x0 0\n");
        assert_eq!(
            calls,
            vec![
                Call {
                    api: "cudaMalloc".into(),
                    code: 0,
                    ptr: 0x7f00,
                    size: 4096,
                    child: false
                },
                Call {
                    api: "cudaFree".into(),
                    code: 1,
                    ptr: 0,
                    size: 0,
                    child: true
                },
            ]
        );
        assert_eq!(calls[1].without_ptr(), "child cudaFree 1 0");
    }

    #[test]
    fn target_dir_is_the_profile_dir() {
        let dir = target_dir();
        assert!(dir.join("deps").is_dir(), "{}", dir.display());
    }
}
