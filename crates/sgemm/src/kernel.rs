//! The micro-kernels: `C[MR×NR] += A_panel · B_panel` over a depth of `kc`.
//!
//! `a` holds `kc` groups of `MR` values, `b` holds `kc` groups of `NR`; `c`
//! is row-major with leading dimension `ldc`.

use crate::{MR, NR};

pub(crate) type Kernel = unsafe fn(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize);

/// The fastest kernel this CPU runs, chosen once.
pub(crate) fn select() -> (Kernel, &'static str) {
    use std::sync::OnceLock;
    static CHOICE: OnceLock<(Kernel, &'static str)> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return (avx2_fma as Kernel, "avx2-fma");
        }
        (portable as Kernel, "portable")
    })
}

/// Plain Rust; the compiler vectorises the `NR`-wide rows.
///
/// # Safety
/// `a`, `b` readable for `kc·MR` and `kc·NR` values, `c` writable for `MR` rows.
unsafe fn portable(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
    let mut acc = [[0f32; NR]; MR];
    // SAFETY: the caller guarantees the lengths.
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, kc * MR), std::slice::from_raw_parts(b, kc * NR)) };
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (row, &av) in acc.iter_mut().zip(ap) {
            for (x, &bv) in row.iter_mut().zip(bp) {
                *x = av.mul_add(bv, *x);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            // SAFETY: row r < MR and column j < NR of C.
            unsafe { *c.add(r * ldc + j) += v };
        }
    }
}

/// Twelve AVX accumulators (6 rows × 2 registers of 8 columns); per step of
/// depth two loads of B, six broadcasts of A and twelve fused multiply-adds.
///
/// # Safety
/// As [`portable`], and the CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_fma(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
    use std::arch::x86_64::*;
    const _: () = assert!(MR == 6 && NR == 16);
    // SAFETY: all reads stay within a[..kc*MR], b[..kc*NR]; writes within
    // the MR×NR tile of C (caller's contract).
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 12];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for r in 0..MR {
                let av = _mm256_broadcast_ss(&*a.add(r));
                acc[2 * r] = _mm256_fmadd_ps(av, b0, acc[2 * r]);
                acc[2 * r + 1] = _mm256_fmadd_ps(av, b1, acc[2 * r + 1]);
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        for r in 0..MR {
            let row = c.add(r * ldc);
            _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), acc[2 * r]));
            _mm256_storeu_ps(row.add(8), _mm256_add_ps(_mm256_loadu_ps(row.add(8)), acc[2 * r + 1]));
        }
    }
}

/// Both kernels, for tests that compare them.
#[cfg(test)]
pub(crate) fn all() -> Vec<(Kernel, &'static str)> {
    let mut kernels = vec![(portable as Kernel, "portable")];
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        kernels.push((avx2_fma as Kernel, "avx2-fma"));
    }
    kernels
}
