//! Tuning of glibc's allocator for tensor work.
//!
//! A forward pass allocates and frees tens of megabytes of activations (a
//! training batch of 64, ~40 MB per MLP activation and a gigabyte or more
//! held for the backward pass). By default glibc hands freed memory at the
//! top of the heap back to the kernel at once, and the next pass page-faults
//! it in again: ≈ 4 % of inference time in `perf`, and half of a training
//! step's 2.9 million page faults (`kneeclip bench --training`). Keeping up
//! to 1 GiB of freed memory avoids that; peak memory is unchanged (it is set
//! by the largest working set), and [`release_freed_memory`] gives the
//! surplus back once a training run, the only large user, is over.

/// Called once at start-up, before any other thread runs.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any threads start.
    unsafe {
        // Blocks below 64 MiB (every activation of a batch of 64) come from
        // the heap rather than fresh mappings.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        // One arena for every thread: forward passes run on rayon's threads
        // and training on a worker thread, and a thread's own arena grows in
        // heaps of at most 64 MiB that are unmapped once empty, so a 40 MB
        // activation would be mapped and faulted in afresh on every pass.
        // The few threads that allocate take turns on one lock instead.
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Returns freed memory to the system (after a training run).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds unused.
    unsafe {
        libc::malloc_trim(0);
    }
}
