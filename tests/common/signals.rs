//! Watching a kneeclip process's stop handler from outside (Linux /proc), so
//! that the signal tests wait on conditions, never on times.
#![cfg(target_os = "linux")]

/// The bits of signal `signal` in a `SigIgn:`/`SigCgt:` line of /proc/PID/status.
pub fn signal_set(status: &str, field: &str, signal: u32) -> bool {
    let mask = status.lines().find_map(|l| l.strip_prefix(field)).unwrap_or_else(|| panic!("no {field} in\n{status}"));
    u64::from_str_radix(mask.trim(), 16).unwrap() & (1 << (signal - 1)) != 0
}

/// Whether the stop handler has run: the thread it ran on names itself
/// `kneeclip-stop` once the stop flag is set (src/cli/interrupt.rs).
pub fn stop_asked(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten().any(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == "kneeclip-stop"))
}

/// Whether the process has ended (a zombie until waited for).
pub fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).map_or(true, |s| s.lines().any(|l| l.starts_with("State:") && l.contains('Z')))
}
