//! Subnormal floats flushed to zero on x86-64.
//!
//! Values below 1.2e-38 take a microcode assist on every multiply-add that
//! reads or writes them, at dozens of times the normal cost. Attention
//! probabilities and the gradients through them can drift into that range:
//! `kneeclip bench --training` took 308–339 ms per film for the trainable
//! step in two of six runs instead of 57–67 ms; with flushing, four runs in a
//! row took 51–60 ms. Flushing them (FTZ) and reading them as zero (DAZ)
//! changes results only below 1.2e-38 — far under anything a grade or a
//! gradient step can see — and is what inference engines commonly do.

/// Sets FTZ and DAZ for this thread and every thread it starts afterwards
/// (Linux copies the control register to new threads). Call first in `main`.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    #[allow(deprecated)] // the intrinsics are deprecated in favour of inline asm; they still do this
    // SAFETY: only the floating-point control register changes, before other threads exist.
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        const FLUSH_TO_ZERO: u32 = 1 << 15;
        const DENORMALS_ARE_ZERO: u32 = 1 << 6;
        _mm_setcsr(_mm_getcsr() | FLUSH_TO_ZERO | DENORMALS_ARE_ZERO);
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn subnormal_results_and_inputs_become_zero_in_this_thread_and_its_children() {
        // In a thread of its own, so the other tests keep the default mode.
        std::thread::spawn(|| {
            let tiny = black_box(1e-30f32) * black_box(1e-10f32);
            assert!(tiny > 0.0 && !tiny.is_normal(), "by default 1e-40 is subnormal, not zero");
            super::flush_denormals();
            assert_eq!(black_box(1e-30f32) * black_box(1e-10f32), 0.0, "FTZ: a subnormal result is zero");
            assert_eq!(black_box(f32::from_bits(1)) * black_box(1.0f32), 0.0, "DAZ: a subnormal input reads as zero");
            let child = std::thread::spawn(|| black_box(1e-30f32) * black_box(1e-10f32)).join().unwrap();
            assert_eq!(child, 0.0, "threads started afterwards flush too");
            assert!(black_box(1e-30f32) * black_box(1e-7f32) > 0.0, "normal values (1e-37) are untouched");
        })
        .join()
        .unwrap();
    }
}
