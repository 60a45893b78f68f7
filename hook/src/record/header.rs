//! The trace's header: who the process is, and how it was recorded.

use gpuleak_trace::Header;

use crate::record::mode::stacks;
use crate::record::state::now_ns;

pub fn header() -> Header {
    let argv = std::fs::read("/proc/self/cmdline")
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut host = [0u8; 256];
    // SAFETY: buffer and its length.
    let hostname = if unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) } == 0 {
        let n = host.iter().position(|&c| c == 0).unwrap_or(host.len());
        String::from_utf8_lossy(&host[..n]).into_owned()
    } else {
        String::new()
    };
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Header {
        pid: std::process::id(),
        // SAFETY: getppid has no preconditions.
        ppid: unsafe { libc::getppid() } as u32,
        exe: std::fs::read_link("/proc/self/exe")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        argv,
        hostname,
        start_unix_ns: unix,
        start_mono_ns: now_ns(),
        hook_version: env!("CARGO_PKG_VERSION").to_string(),
        stacks: stacks().0.name().to_string(),
        devices: crate::query::device_names(),
        launch_env: gpuleak_trace::LAUNCH_VARIABLES
            .iter()
            .filter_map(|&k| Some((k.to_string(), std::env::var(k).ok()?)))
            .collect(),
    }
}
