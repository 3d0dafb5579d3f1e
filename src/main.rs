fn main() {
    keep_freed_memory();
    std::process::exit(kneeclip::cli::main());
}

/// A film's forward pass allocates and frees tens of megabytes of
/// activations. By default glibc hands large blocks back to the kernel at
/// once and page-faults them in again on the next film (≈4 % of inference
/// time in `perf`); keeping up to 128 MB of freed memory avoids that.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}
