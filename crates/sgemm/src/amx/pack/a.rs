//! A packed per product as the AMX kernel reads it: a line per row of a
//! 32-row block, each value split into its bf16 halves (hi lines, then lo),
//! through a prologue (quick GELU, a layer norm) where the product asks,
//! or straight from a 32×32 block of the previous product (`epilogue.rs`).

use std::ops::Range;

use super::super::{BLOCK, CHUNK, LINES_PER_CHUNK, Line};
use super::split_values;
use crate::MatRef;
#[cfg(target_arch = "x86_64")]
use crate::transpose::transpose_16x16;

/// What A's values go through as they are packed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Prologue<'a> {
    /// Nothing: A as it is.
    None,
    /// CLIP's quick GELU (`crate::activation`), so that the MLP's second
    /// product reads the first one's output without a pass of its own.
    QuickGelu,
    /// Layer normalisation of each row of A (row-major), as
    /// `crate::rows::layer_norm` computes it, so that the normalised rows
    /// are never written out and read back.
    LayerNorm { weight: &'a [f32], bias: &'a [f32], eps: f32 },
}

/// Rows `blocks` (of 32) of A, through `prologue`, as the kernel's tiles,
/// into `out` (`blocks.len() · chunks · 64` lines; rows and depth past A's
/// are zeros).
pub(in crate::amx) fn pack_a_blocks(a: MatRef<'_>, chunks: usize, blocks: Range<usize>, out: &mut [Line], prologue: Prologue<'_>) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn wide(a: MatRef<'_>, chunks: usize, blocks: Range<usize>, out: &mut [Line], prologue: Prologue<'_>) {
        pack_a_body(a, chunks, blocks, out, prologue, true, false)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn wide_bf16(a: MatRef<'_>, chunks: usize, blocks: Range<usize>, out: &mut [Line], prologue: Prologue<'_>) {
        pack_a_body(a, chunks, blocks, out, prologue, true, true)
    }
    #[cfg(target_arch = "x86_64")]
    if crate::amx::bf16_rounding() {
        // SAFETY: the CPU has the features `wide_bf16` is compiled for.
        return unsafe { wide_bf16(a, chunks, blocks, out, prologue) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU has the features `wide` is compiled for.
        return unsafe { wide(a, chunks, blocks, out, prologue) };
    }
    pack_a_body(a, chunks, blocks, out, prologue, false, false)
}

/// [`pack_a_blocks`]' work, compiled once per instruction set (`avx512`:
/// the CPU has AVX-512F and BW, `bf16` also AVX512-BF16, checked once by
/// the caller): a full chunk of a row-major row is split where it lies,
/// anything else through a zero-padded 32×32 block of values.
#[inline(always)]
fn pack_a_body(a: MatRef<'_>, chunks: usize, blocks: Range<usize>, out: &mut [Line], prologue: Prologue<'_>, avx512: bool, bf16: bool) {
    let (m, k) = (a.rows(), a.cols());
    for (b, block) in blocks.enumerate() {
        let rows = block * BLOCK..(block * BLOCK + BLOCK).min(m);
        // Each row's (mean, scale) for a layer norm: the block's rows are
        // then read from cache as they are packed, chunk by chunk.
        let mut norms = [(0f32, 0f32); BLOCK];
        if let Prologue::LayerNorm { eps, .. } = prologue {
            assert!(a.col_stride == 1, "sgemm: a layer norm before the product needs a row-major A");
            for (r, i) in rows.clone().enumerate() {
                norms[r] = crate::rows::row_norm(&a.data[i * a.row_stride..][..k], eps);
            }
        }
        for c in 0..chunks {
            let depth = c * CHUNK..(c * CHUNK + CHUNK).min(k);
            let tiles = &mut out[(b * chunks + c) * LINES_PER_CHUNK..][..LINES_PER_CHUNK];
            let (hi_tiles, lo_tiles) = tiles.split_at_mut(32);
            if a.col_stride == 1 && depth.len() == CHUNK {
                for r in 0..BLOCK {
                    let (hi, lo) = (&mut hi_tiles[r].0, &mut lo_tiles[r].0);
                    match rows.clone().nth(r) {
                        Some(i) => {
                            let start = i * a.row_stride + depth.start;
                            let values: &[f32; CHUNK] = a.data[start..start + CHUNK].try_into().expect("a chunk is 32 values");
                            match prologue {
                                Prologue::None => split_a_values(values, hi, lo, bf16),
                                Prologue::QuickGelu => {
                                    let mut activated = *values;
                                    crate::activation::quick_gelu_values(&mut activated);
                                    split_a_values(&activated, hi, lo, bf16);
                                }
                                Prologue::LayerNorm { weight, bias, .. } => {
                                    let mut normed = *values;
                                    layer_norm_values(&mut normed, norms[r], &weight[depth.start..depth.end], &bias[depth.start..depth.end]);
                                    split_a_values(&normed, hi, lo, bf16);
                                }
                            }
                        }
                        None => (*hi, *lo) = ([0; CHUNK], [0; CHUNK]),
                    }
                }
                continue;
            }
            // The block's 32×32 values of this chunk, zero-padded.
            let mut values = [[0f32; CHUNK]; BLOCK];
            if a.col_stride == 1 {
                for (r, i) in rows.clone().enumerate() {
                    let start = i * a.row_stride;
                    values[r][..depth.len()].copy_from_slice(&a.data[start + depth.start..start + depth.end]);
                }
            } else if a.row_stride == 1 {
                // Column-major A (Gᵀ in a weight's gradient): a depth's rows
                // are one slice, transposed here.
                transpose_column_major(a, rows.clone(), depth.clone(), &mut values, avx512);
            } else {
                for (r, i) in rows.clone().enumerate() {
                    for (q, p) in depth.clone().enumerate() {
                        values[r][q] = a.at(i, p);
                    }
                }
            }
            for (r, row) in values.iter_mut().enumerate() {
                match prologue {
                    Prologue::None => {}
                    // GELU(0) = 0: the padding stays zeros.
                    Prologue::QuickGelu => crate::activation::quick_gelu_values(row),
                    // A's values only: the padding stays zeros.
                    Prologue::LayerNorm { weight, bias, .. } if r < rows.len() => {
                        layer_norm_values(&mut row[..depth.len()], norms[r], &weight[depth.clone()], &bias[depth.clone()])
                    }
                    Prologue::LayerNorm { .. } => {}
                }
                split_a_values(row, &mut hi_tiles[r].0, &mut lo_tiles[r].0, bf16);
            }
        }
    }
}

/// A row's values normalised in place, given the row's (mean, scale) and
/// the weight and bias of their columns.
#[inline(always)]
fn layer_norm_values(values: &mut [f32], (mean, scale): (f32, f32), weight: &[f32], bias: &[f32]) {
    for ((v, &w), &b) in values.iter_mut().zip(weight).zip(bias) {
        *v = crate::rows::normalised(*v, mean, scale, w, b);
    }
}

/// `values[r][q] = A[rows.start + r][depth.start + q]` for a column-major A
/// (row stride 1), the rest of `values` untouched (zeros): each depth's rows
/// are one slice of A. Transposed in AVX-512 registers where `avx512` says
/// the CPU has them (a scalar transpose took about a fifth of a weight
/// gradient's packing: 34 ms for dW against 20 ms for dX at 3200 rows).
#[inline(always)]
fn transpose_column_major(a: MatRef<'_>, rows: Range<usize>, depth: Range<usize>, values: &mut [[f32; CHUNK]; BLOCK], avx512: bool) {
    debug_assert!(a.row_stride == 1 && rows.len() <= BLOCK && depth.len() <= CHUNK);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx512;
    #[cfg(target_arch = "x86_64")]
    if avx512 {
        // SAFETY: the CPU has AVX-512F; every row read lies inside A (asserted in the function).
        return unsafe { transpose_column_major_avx512(a, rows, depth, values) };
    }
    for (q, p) in depth.enumerate() {
        let start = p * a.col_stride;
        for (r, &v) in a.data[start + rows.start..start + rows.end].iter().enumerate() {
            values[r][q] = v;
        }
    }
}

/// [`transpose_column_major`] in 16×16 quarters: sixteen rows of depth
/// loaded (masked to A's rows), transposed by the usual unpack and
/// lane-shuffle network ([`transpose_16x16`]), stored as sixteen rows of A.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_column_major_avx512(a: MatRef<'_>, rows: Range<usize>, depth: Range<usize>, values: &mut [[f32; CHUNK]; BLOCK]) {
    use std::arch::x86_64::*;
    for p in depth.clone() {
        assert!(p * a.col_stride + rows.end <= a.data.len(), "transpose: depth {p} runs past A");
    }
    let zero = _mm512_setzero_ps();
    for quarter_rows in 0..BLOCK / 16 {
        let first_row = quarter_rows * 16;
        let live = rows.len().saturating_sub(first_row).min(16);
        if live == 0 {
            continue;
        }
        let mask: __mmask16 = if live == 16 { 0xffff } else { (1u16 << live) - 1 };
        for quarter_depth in 0..CHUNK / 16 {
            let first_depth = quarter_depth * 16;
            // r[k]: depth first_depth + k, rows first_row.. (lanes).
            let mut r = [zero; 16];
            for (k, line) in r.iter_mut().enumerate() {
                let q = first_depth + k;
                if q < depth.len() {
                    let start = (depth.start + q) * a.col_stride + rows.start + first_row;
                    // SAFETY: the lanes `mask` keeps lie inside A (asserted above).
                    *line = unsafe { _mm512_maskz_loadu_ps(mask, a.data.as_ptr().add(start)) };
                }
            }
            let columns = transpose_16x16(&r);
            for (c, column) in columns.iter().enumerate().take(live) {
                // SAFETY: 16 values from column first_depth of row first_row + c of `values`.
                unsafe { _mm512_storeu_ps(values[first_row + c][first_depth..].as_mut_ptr(), *column) };
            }
        }
    }
}

/// A's halves of 32 values: [`split_values`], or with `bf16` (the CPU has
/// AVX512-BF16, checked by the caller) its rounding instruction.
#[inline(always)]
pub(in crate::amx) fn split_a_values(values: &[f32; CHUNK], hi: &mut [u16; CHUNK], lo: &mut [u16; CHUNK], bf16: bool) {
    #[cfg(target_arch = "x86_64")]
    if bf16 {
        // SAFETY: the CPU has AVX-512F, BW and BF16 (the caller's check).
        return unsafe { split_values_bf16(values, hi, lo) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bf16;
    split_values(values, hi, lo)
}

/// [`split_values`] by VCVTNE2PS2BF16, which rounds 32 values to bf16 (to
/// nearest, ties to even, NaN kept quiet) in one instruction: A's halves in
/// about a third of the integer steps. It flushes values below f32's
/// smallest normal (2⁻¹²⁶) to zero where [`split`] keeps them, so hi + lo
/// differs from x by less than 2⁻¹²⁶ there: far below anything a product
/// of activations reads. Every other value splits bit for bit the same.
///
/// # Safety
/// On a CPU with AVX-512F, BW and BF16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn split_values_bf16(values: &[f32; CHUNK], hi: &mut [u16; CHUNK], lo: &mut [u16; CHUNK]) {
    use std::arch::x86_64::*;
    // SAFETY: 32 values in, 32 halves out each, all inside the arrays.
    unsafe {
        let (x0, x1) = (_mm512_loadu_ps(values.as_ptr()), _mm512_loadu_ps(values.as_ptr().add(16)));
        // Values 0–15 in the low 256 bits, 16–31 in the high.
        let high: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(x1, x0));
        let widen = |half: __m256i| _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(half)));
        let (h0, h1) = (widen(_mm512_castsi512_si256(high)), widen(_mm512_extracti64x4_epi64::<1>(high)));
        let low: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(_mm512_sub_ps(x1, h1), _mm512_sub_ps(x0, h0)));
        // A zero lo where hi is infinite or NaN (exponent all ones).
        let exponent = _mm512_set1_epi16(0x7f80);
        let finite = _mm512_cmpneq_epi16_mask(_mm512_and_si512(high, exponent), exponent);
        _mm512_storeu_si512(hi.as_mut_ptr().cast(), high);
        _mm512_storeu_si512(lo.as_mut_ptr().cast(), _mm512_maskz_mov_epi16(finite, low));
    }
}
