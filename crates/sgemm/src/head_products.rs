//! The attention's products for one (sequence, head): at most 64 columns
//! (a head's width, or its 50 tokens), depth 50–64.
//!
//! Through the general kernel each product packed B (and A) into fresh
//! buffers: for a head's 50 × 64 matrices packing, zeroing and allocating
//! took ≈ 4× the arithmetic (`perf`: the kernel 19 % of the attention's
//! samples). Here C = A·B reads A's rows and B's rows where they lie (any row
//! strides) and keeps a few rows of C in registers over the whole depth
//! (five rows, 20 registers, in AVX-512; four in the portable loops).

/// Columns of C and of B's rows, always: narrower products pad B with zeros.
pub(crate) const WIDTH: usize = 64;

/// Rows of C kept in registers at a time by the portable loops.
const ROWS: usize = 4;

/// A row-strided matrix whose rows hold at least the values read.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) stride: usize,
}

impl<'a> Rows<'a> {
    #[inline(always)]
    fn row(&self, i: usize, len: usize) -> &'a [f32] {
        &self.data[i * self.stride..i * self.stride + len]
    }
}

/// `C[m × 64] = A[m × k] · B[k × 64]` (or `+=` with `accumulate`), C's rows
/// `ldc` apart from `c`.
///
/// # Safety
/// `c` valid for reads and writes of 64 values at each of the `m` rows, and
/// those values accessed by no one else during the call (other threads may
/// write other columns of the same rows).
pub(crate) unsafe fn multiply(m: usize, k: usize, a: Rows<'_>, b: Rows<'_>, c: *mut f32, ldc: usize, accumulate: bool) {
    assert!(m == 0 || a.data.len() >= (m - 1) * a.stride + k, "head product: A is too short");
    assert!(k == 0 || b.data.len() >= (k - 1) * b.stride + WIDTH, "head product: B is too short");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; A's and B's reads were checked above,
        // C is the caller's contract.
        return unsafe { multiply_avx512(m, k, a, b, c, ldc, accumulate) };
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn narrow(m: usize, k: usize, a: Rows<'_>, b: Rows<'_>, c: *mut f32, ldc: usize, accumulate: bool) {
        // SAFETY: the caller's contract.
        unsafe { multiply_body(m, k, a, b, c, ldc, accumulate) }
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features `narrow` is compiled for; the rest is the caller's contract.
        return unsafe { narrow(m, k, a, b, c, ldc, accumulate) };
    }
    // SAFETY: the caller's contract.
    unsafe { multiply_body(m, k, a, b, c, ldc, accumulate) }
}

/// [`multiply`] in AVX-512 registers: five rows × four vectors of C (20
/// of the 32 registers), B's row loaded once per step of depth for the five
/// rows; the last rows of an `m` not a multiple of five in a block their size.
/// Five rows, against four, spread B's loads over 25 % more FMAs and leave
/// no single row over for a film's 50 tokens. Every value of C is the same
/// sequence of FMAs whatever the block, so the blocking changes no result.
///
/// # Safety
/// As [`multiply`], on a CPU with AVX-512F, with A and B long enough.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn multiply_avx512(m: usize, k: usize, a: Rows<'_>, b: Rows<'_>, c: *mut f32, ldc: usize, accumulate: bool) {
    let mut i = 0;
    // SAFETY (each block): rows i.. of A and C lie in the product (the
    // caller's contract and `multiply`'s checks).
    unsafe {
        while i + 5 <= m {
            rows_avx512::<5>(i, k, a, b, c, ldc, accumulate);
            i += 5;
        }
        match m - i {
            4 => rows_avx512::<4>(i, k, a, b, c, ldc, accumulate),
            3 => rows_avx512::<3>(i, k, a, b, c, ldc, accumulate),
            2 => rows_avx512::<2>(i, k, a, b, c, ldc, accumulate),
            1 => rows_avx512::<1>(i, k, a, b, c, ldc, accumulate),
            _ => {}
        }
    }
}

/// Rows `first..first + R` of C = A·B (or `+=`), their 4·R vectors of C in
/// registers over the whole depth.
///
/// # Safety
/// As [`multiply_avx512`], with `first + R ≤ m`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn rows_avx512<const R: usize>(first: usize, k: usize, a: Rows<'_>, b: Rows<'_>, c: *mut f32, ldc: usize, accumulate: bool) {
    use std::arch::x86_64::*;
    // SAFETY (every access below): rows < m of A up to k values, rows < k of
    // B up to 64 values (checked by `multiply`), and C's rows (the caller's).
    unsafe {
        let (a_at, b_at) = (a.data.as_ptr(), b.data.as_ptr());
        let mut acc = [[_mm512_setzero_ps(); 4]; R];
        let rows: [*const f32; R] = std::array::from_fn(|r| a_at.add((first + r) * a.stride));
        for p in 0..k {
            let bp = b_at.add(p * b.stride);
            let bv = [_mm512_loadu_ps(bp), _mm512_loadu_ps(bp.add(16)), _mm512_loadu_ps(bp.add(32)), _mm512_loadu_ps(bp.add(48))];
            for r in 0..R {
                let x = _mm512_set1_ps(*rows[r].add(p));
                for v in 0..4 {
                    acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let out = c.add((first + r) * ldc);
            for (v, &x) in acc.iter().enumerate() {
                let x = if accumulate { _mm512_add_ps(x, _mm512_loadu_ps(out.add(16 * v))) } else { x };
                _mm512_storeu_ps(out.add(16 * v), x);
            }
        }
    }
}

/// [`multiply`]'s loops, compiled once per instruction set: the fixed-size
/// accumulator arrays become registers.
///
/// # Safety
/// As [`multiply`].
#[inline(always)]
unsafe fn multiply_body(m: usize, k: usize, a: Rows<'_>, b: Rows<'_>, c: *mut f32, ldc: usize, accumulate: bool) {
    let mut i = 0;
    while i < m {
        let rows = ROWS.min(m - i);
        let mut acc = [[0f32; WIDTH]; ROWS];
        if rows == ROWS {
            let a_rows: [&[f32]; ROWS] = std::array::from_fn(|r| a.row(i + r, k));
            for p in 0..k {
                let b_row: &[f32; WIDTH] = b.row(p, WIDTH).try_into().expect("a row of 64");
                for r in 0..ROWS {
                    let x = a_rows[r][p];
                    for (acc, &y) in acc[r].iter_mut().zip(b_row) {
                        *acc += x * y;
                    }
                }
            }
        } else {
            for (r, acc) in acc.iter_mut().enumerate().take(rows) {
                let a_row = a.row(i + r, k);
                for (p, &x) in a_row.iter().enumerate() {
                    let b_row: &[f32; WIDTH] = b.row(p, WIDTH).try_into().expect("a row of 64");
                    for (acc, &y) in acc.iter_mut().zip(b_row) {
                        *acc += x * y;
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate().take(rows) {
            // SAFETY: row i + r's 64 values, the caller's contract.
            let out = unsafe { &mut *(c.add((i + r) * ldc) as *mut [f32; WIDTH]) };
            if accumulate {
                out.iter_mut().zip(acc).for_each(|(o, &v)| *o += v);
            } else {
                *out = *acc;
            }
        }
        i += rows;
    }
}

/// `out[j][i] = m[i][j]` for an `rows × cols` matrix (rows `stride` apart)
/// into `out`, whose rows are [`WIDTH`] long (columns past `rows` zero).
pub(crate) fn transpose_padded(rows: usize, cols: usize, m: Rows<'_>, out: &mut [f32]) {
    assert!(rows <= WIDTH && out.len() >= cols * WIDTH, "head transpose: {rows} rows, {cols} columns");
    assert!(rows == 0 || cols == 0 || m.data.len() >= (rows - 1) * m.stride + cols, "head transpose: the matrix is too short");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; the reads were checked above.
        return unsafe { transpose_padded_avx512(rows, cols, m, out) };
    }
    for line in out[..cols * WIDTH].chunks_exact_mut(WIDTH) {
        line[rows..].fill(0.0);
    }
    let (from, to) = (m.data.as_ptr(), out.as_mut_ptr());
    for i in 0..rows {
        for j in 0..cols {
            // SAFETY: i < rows, j < cols, both bounds checked above.
            unsafe { *to.add(j * WIDTH + i) = *from.add(i * m.stride + j) };
        }
    }
}

/// [`transpose_padded`] in 16 × 16 blocks of registers: sixteen rows'
/// columns loaded (masked to the matrix, zeros past its rows), transposed,
/// stored as sixteen lines of `out`. One value at a time, a film head's keys
/// (50 rows 2304 values apart) took 1.5 % of a training epoch.
///
/// # Safety
/// On a CPU with AVX-512F, with the sizes [`transpose_padded`] checks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_padded_avx512(rows: usize, cols: usize, m: Rows<'_>, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let zero = _mm512_setzero_ps();
    for first_col in (0..cols).step_by(16) {
        let live = (cols - first_col).min(16);
        let mask: __mmask16 = if live == 16 { 0xffff } else { (1u16 << live) - 1 };
        // Every block of 16 lines' values, the padding past `rows` included.
        for first_row in (0..WIDTH).step_by(16) {
            if first_row >= rows {
                // Padding alone: zeros, with nothing to transpose.
                for c in 0..live {
                    // SAFETY: line first_col + c < cols of `out` (checked by
                    // the caller), values first_row.. + 16 ≤ WIDTH.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr().add((first_col + c) * WIDTH + first_row), zero) };
                }
                continue;
            }
            let mut r = [zero; 16];
            for (k, line) in r.iter_mut().enumerate().take(rows.saturating_sub(first_row)) {
                // SAFETY: row first_row + k < rows, its columns up to `cols`
                // lie in the matrix (checked by the caller).
                *line = unsafe { _mm512_maskz_loadu_ps(mask, m.data.as_ptr().add((first_row + k) * m.stride + first_col)) };
            }
            let columns = crate::transpose::transpose_16x16(&r);
            for (c, column) in columns.iter().enumerate().take(live) {
                // SAFETY: line first_col + c < cols of `out` (checked by the
                // caller), values first_row.. + 16 < WIDTH.
                unsafe { _mm512_storeu_ps(out.as_mut_ptr().add((first_col + c) * WIDTH + first_row), *column) };
            }
        }
    }
}

thread_local! {
    /// Each thread's scratch for a head's products (a few 64 × 64 blocks),
    /// kept between tasks.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `f` on this thread's scratch, at least `len` values (contents unspecified).
/// `f` must not start another head's products on this thread.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < len {
            scratch.resize(len, 0.0);
        }
        f(&mut scratch[..len])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape the attention hands it (a film head's 50 × 64 keys, a
    /// prompt's 77 tokens, a single query), over memory holding other values:
    /// each line is the column, then zeros to 64.
    #[test]
    fn transposed_lines_are_the_columns_then_zeros() {
        for (rows, cols, stride) in [(50, 64, 2304), (64, 64, 64), (1, 50, 50), (50, 77, 80), (17, 5, 9), (0, 3, 4), (33, 16, 16)] {
            let data: Vec<f32> = (0..rows.max(1) * stride).map(|i| i as f32 * 0.5 - 7.0).collect();
            let mut out = vec![f32::NAN; cols * WIDTH];
            transpose_padded(rows, cols, Rows { data: &data, stride }, &mut out);
            for j in 0..cols {
                for i in 0..WIDTH {
                    let want = if i < rows { data[i * stride + j] } else { 0.0 };
                    assert_eq!(out[j * WIDTH + i].to_bits(), want.to_bits(), "{rows} × {cols}: line {j}, value {i}");
                }
            }
        }
    }
}

