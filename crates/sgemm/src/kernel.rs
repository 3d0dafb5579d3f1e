//! The micro-kernels: `C[MR×NR] += A_panel · B_panel` over a depth of `kc`.
//!
//! Element (r, p) of the A panel is `a[r·rs + p·cs]`: a packed panel has
//! `rs = 1, cs = MR`; a row-major A is read where it lies (`rs` its row
//! stride, `cs = 1`), which spares packing the small left-hand side of
//! inference. `b` holds `kc` groups of `NR`; `c` is row-major with leading
//! dimension `ldc`. A *wide* kernel reads two
//! adjacent B panels at once and writes an `MR × 2·NR` tile: with 512-bit
//! registers one panel row is a single register, and six rows of one panel
//! would leave the two FMA units waiting on their own latency.

use crate::{MR, NR};

/// `MR × NR` from one B panel.
pub(crate) type Kernel = unsafe fn(kc: usize, a: APanel, b: *const f32, c: *mut f32, ldc: usize);
/// `MR × 2·NR` from two B panels.
pub(crate) type WideKernel = unsafe fn(kc: usize, a: APanel, b0: *const f32, b1: *const f32, c: *mut f32, ldc: usize, next: Prefetch);

/// What a wide kernel asks for while it runs, spread evenly over its depth
/// (issued all at once, prefetches stall on the cache's miss buffers: 3–5 %
/// of the anchors' samples in `perf` for B's, ≈ 4 % of a training epoch's
/// for C's):
/// - into L2, `lines` rows of `NR` values of the next B panels, from each of
///   `p0` and `p1`;
/// - into L1, the `c_rows` rows (2·`NR` values each, `c_ld` apart) of the
///   C tile the next call adds to, which a large output (a batch's) has let
///   go since its previous block of depth.
#[derive(Clone, Copy)]
pub(crate) struct Prefetch {
    pub p0: *const f32,
    pub p1: *const f32,
    pub lines: usize,
    pub c: *const f32,
    pub c_ld: usize,
    pub c_rows: usize,
}

impl Prefetch {
    pub const NONE: Self = Self { p0: std::ptr::null(), p1: std::ptr::null(), lines: 0, c: std::ptr::null(), c_ld: 0, c_rows: 0 };

    /// The three lines one row of a C tile (2·`NR` values) may span.
    #[inline(always)]
    pub fn c_row(self, row: usize) {
        let line = self.c.wrapping_add(row * self.c_ld);
        prefetch_l1(line);
        prefetch_l1(line.wrapping_add(NR));
        prefetch_l1(line.wrapping_add(2 * NR - 1));
    }
}

/// Where a kernel reads its `MR` rows of A: element (r, p) at `ptr[r·rs + p·cs]`.
#[derive(Clone, Copy)]
pub(crate) struct APanel {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}

impl APanel {
    /// Offsets of the panel's rows, hoisted out of the kernels' loops.
    #[inline(always)]
    fn row_offsets(self) -> [usize; MR] {
        std::array::from_fn(|r| r * self.rs)
    }
}

/// Asks for the cache line at `p` to be brought into L2 (nothing where the
/// architecture has no such hint).
#[inline(always)]
pub(crate) fn prefetch_l2(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks for the cache line at `p` to be brought into L1 (nothing where the
/// architecture has no such hint).
#[inline(always)]
pub(crate) fn prefetch_l1(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The kernels of one instruction set.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub name: &'static str,
    pub narrow: Kernel,
    pub wide: Option<WideKernel>,
    /// Wide kernels for a last group of 1 to `MR − 1` rows (index: rows − 1),
    /// where the full one would compute zero-padded rows for nothing (50
    /// tokens a film are eight groups of six and one of two).
    pub wide_tail: Option<[WideKernel; MR - 1]>,
}

/// Environment variable that forces a kernel ("portable", "avx2-fma",
/// "avx512"), for comparisons; a name this CPU cannot run is ignored.
pub const KERNEL_ENV: &str = "KNEECLIP_SGEMM_KERNEL";

/// The fastest kernels this CPU runs (or those `KNEECLIP_SGEMM_KERNEL`
/// names), chosen once.
pub(crate) fn select() -> Kernels {
    use std::sync::OnceLock;
    static CHOICE: OnceLock<Kernels> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        let available = all();
        let forced = std::env::var(KERNEL_ENV).ok();
        forced
            .and_then(|name| available.iter().find(|k| k.name == name).copied())
            .unwrap_or(*available.last().expect("the portable kernel is always available"))
    })
}

/// Every kernel set this CPU runs, slowest first.
pub(crate) fn all() -> Vec<Kernels> {
    #[allow(unused_mut)]
    let mut kernels = vec![Kernels { name: "portable", narrow: portable, wide: None, wide_tail: None }];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            kernels.push(Kernels { name: "avx2-fma", narrow: avx2_fma, wide: None, wide_tail: None });
        }
        if std::is_x86_feature_detected!("avx512f") {
            let tail = [avx512_wide_rows::<1> as WideKernel, avx512_wide_rows::<2>, avx512_wide_rows::<3>, avx512_wide_rows::<4>, avx512_wide_rows::<5>];
            kernels.push(Kernels { name: "avx512", narrow: avx512_narrow, wide: Some(avx512_wide), wide_tail: Some(tail) });
        }
    }
    kernels
}

/// Plain Rust; the compiler vectorises the `NR`-wide rows.
///
/// # Safety
/// `a` readable at every (r < MR, p < kc), `b` for `kc·NR` values, `c`
/// writable for `MR` rows.
unsafe fn portable(kc: usize, a: APanel, b: *const f32, c: *mut f32, ldc: usize) {
    let mut acc = [[0f32; NR]; MR];
    // SAFETY: the caller guarantees the lengths.
    let b = unsafe { std::slice::from_raw_parts(b, kc * NR) };
    let rows = a.row_offsets();
    for (p, bp) in b.chunks_exact(NR).enumerate() {
        for (row, &offset) in acc.iter_mut().zip(&rows) {
            // SAFETY: (r, p) lies in the panel (caller's contract).
            let av = unsafe { *a.ptr.add(offset + p * a.cs) };
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
unsafe fn avx2_fma(kc: usize, a: APanel, b: *const f32, c: *mut f32, ldc: usize) {
    use std::arch::x86_64::*;
    const _: () = assert!(MR == 6 && NR == 16);
    // SAFETY: all reads stay within the A panel and b[..kc*NR]; writes within
    // the MR×NR tile of C (caller's contract).
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 12];
        let rows = a.row_offsets();
        let (mut ap, mut b) = (a.ptr, b);
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for r in 0..MR {
                let av = _mm256_broadcast_ss(&*ap.add(rows[r]));
                acc[2 * r] = _mm256_fmadd_ps(av, b0, acc[2 * r]);
                acc[2 * r + 1] = _mm256_fmadd_ps(av, b1, acc[2 * r + 1]);
            }
            ap = ap.add(a.cs);
            b = b.add(NR);
        }
        for r in 0..MR {
            let row = c.add(r * ldc);
            _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), acc[2 * r]));
            _mm256_storeu_ps(row.add(8), _mm256_add_ps(_mm256_loadu_ps(row.add(8)), acc[2 * r + 1]));
        }
    }
}

/// Twelve AVX-512 accumulators (6 rows × two panels of 16 columns); per step
/// of depth two loads of B, six broadcasts of A and twelve fused multiply-adds
/// — enough independent chains to keep two 512-bit FMA units busy.
///
/// # Safety
/// As [`portable`] for each of `b0` and `b1`, `c` writable for `MR` rows of
/// `2·NR` columns, and the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_wide(kc: usize, a: APanel, b0: *const f32, b1: *const f32, c: *mut f32, ldc: usize, next: Prefetch) {
    // SAFETY: the caller's contract.
    unsafe { avx512_wide_rows::<MR>(kc, a, b0, b1, c, ldc, next) }
}

/// [`avx512_wide`] for the first `R ≤ MR` rows of the A panel, writing `R`
/// rows of C. Each row is summed in the same order whatever `R` is, so a
/// row's result does not depend on the rows computed beside it (one film
/// grades the same alone as in a batch).
///
/// # Safety
/// As [`avx512_wide`], with `R` rows of A and C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_wide_rows<const R: usize>(kc: usize, a: APanel, b0: *const f32, b1: *const f32, c: *mut f32, ldc: usize, next: Prefetch) {
    use std::arch::x86_64::*;
    const _: () = assert!(MR == 6 && NR == 16);
    // SAFETY: reads within the A panel's first R rows, b0[..kc*NR],
    // b1[..kc*NR]; writes within the R×2NR tile of C (caller's contract).
    // Prefetches never fault.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); 2 * MR];
        let rows = a.row_offsets();
        let (mut ap, mut b0, mut b1) = (a.ptr, b0, b1);
        let events = next.lines.max(next.c_rows);
        let every = if events == 0 { usize::MAX } else { (kc / events).max(1) };
        let (mut countdown, mut issued) = (1, 0);
        for _ in 0..kc {
            countdown -= 1;
            if countdown == 0 {
                countdown = every;
                if issued < next.lines {
                    prefetch_l2(next.p0.wrapping_add(issued * NR));
                    prefetch_l2(next.p1.wrapping_add(issued * NR));
                }
                if issued < next.c_rows {
                    next.c_row(issued);
                }
                issued += 1;
            }
            let x0 = _mm512_loadu_ps(b0);
            let x1 = _mm512_loadu_ps(b1);
            for r in 0..R {
                let av = _mm512_set1_ps(*ap.add(rows[r]));
                acc[2 * r] = _mm512_fmadd_ps(av, x0, acc[2 * r]);
                acc[2 * r + 1] = _mm512_fmadd_ps(av, x1, acc[2 * r + 1]);
            }
            ap = ap.add(a.cs);
            b0 = b0.add(NR);
            b1 = b1.add(NR);
        }
        for r in 0..R {
            let row = c.add(r * ldc);
            _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), acc[2 * r]));
            _mm512_storeu_ps(row.add(NR), _mm512_add_ps(_mm512_loadu_ps(row.add(NR)), acc[2 * r + 1]));
        }
    }
}

/// One panel with AVX-512 (the odd panel left over by [`avx512_wide`]): even
/// and odd depths go to separate accumulators, twelve chains again.
///
/// # Safety
/// As [`portable`], and the CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_narrow(kc: usize, a: APanel, b: *const f32, c: *mut f32, ldc: usize) {
    use std::arch::x86_64::*;
    // SAFETY: reads within the A panel and b[..kc*NR]; writes within the MR×NR
    // tile of C (caller's contract).
    unsafe {
        let mut even = [_mm512_setzero_ps(); MR];
        let mut odd = [_mm512_setzero_ps(); MR];
        let rows = a.row_offsets();
        let (mut ap, mut b) = (a.ptr, b);
        for _ in 0..kc / 2 {
            let x0 = _mm512_loadu_ps(b);
            let x1 = _mm512_loadu_ps(b.add(NR));
            let next = ap.add(a.cs);
            for r in 0..MR {
                even[r] = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(rows[r])), x0, even[r]);
                odd[r] = _mm512_fmadd_ps(_mm512_set1_ps(*next.add(rows[r])), x1, odd[r]);
            }
            ap = ap.add(2 * a.cs);
            b = b.add(2 * NR);
        }
        if kc % 2 == 1 {
            let x0 = _mm512_loadu_ps(b);
            for r in 0..MR {
                even[r] = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add(rows[r])), x0, even[r]);
            }
        }
        for r in 0..MR {
            let row = c.add(r * ldc);
            _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), _mm512_add_ps(even[r], odd[r])));
        }
    }
}
