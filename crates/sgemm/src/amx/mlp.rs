//! An MLP's products on the tiles with the hidden layer kept out of memory
//! as f32: forward ([`mlp`], and [`mlp_keeping_tape`] for training), and
//! the backward through the activation to fc1 ([`mlp_backward`]). Each
//! block of the first product goes where its `Out` says while the kernel
//! multiplies the next (`super::kernel_then`).

use super::pack::{AmxB, Prologue};
use super::{BLOCK, GeluGradOut, KC_CHUNKS, KeepingOut, LINES_PER_CHUNK, Line, Out, PACKED_A, PACKED_INNER, PACKED_TRANSPOSED, SharedLines, multiply_shares, pack_a, take_lines};
use crate::{Init, MatRef, MlpBackward, SharedOut};

/// A's rows through `prologue`, packed as an MLP's first product ([`mlp`])
/// reads them, in the calling thread's buffer (which [`mlp`] gives back).
pub(crate) fn mlp_input(a: MatRef<'_>, prologue: Prologue<'_>, b1: &AmxB, threads: usize) -> PackedA {
    let mut lines = take_lines(&PACKED_A, a.rows().div_ceil(BLOCK) * b1.chunks * LINES_PER_CHUNK);
    pack_a(a, prologue, b1.chunks, &mut lines, threads);
    PackedA { lines, rows: a.rows(), chunks: b1.chunks }
}

/// Whether [`mlp`] takes these products: the first one block of depth deep
/// (so each block of the hidden layer is complete when its kernel call
/// returns), the second as deep as the first is wide.
pub(crate) fn mlp_fits(b1: &AmxB, b2: &AmxB) -> bool {
    (1..=KC_CHUNKS).contains(&b1.chunks) && b2.chunks == b1.panels()
}

/// A packed for [`mlp`]: `rows` rows, `chunks` chunks deep.
pub(crate) struct PackedA {
    lines: Vec<Line>,
    rows: usize,
    chunks: usize,
}

/// An MLP's two products, `C += quick_gelu(A·B1 + bias1)·B2` for A packed
/// by [`mlp_input`] (C initialised, as `Init::Accumulate` reads it). The
/// hidden layer never goes to memory as f32: each 32×32 block of the first
/// product is left in an L1 scratch block, activated and split straight
/// into the tiles the second product reads (B1's columns are B2's depth, so
/// the block of rows `rb` and columns `jp` is chunk `jp` of row block `rb`
/// of the second product's A), while the kernel multiplies the next block
/// ([`kernel_then`]). For a 64-film batch, storing the hidden layer
/// (3200 × 3072 values) and packing it again made the MLP 40–41 ms; the
/// block activated after its store 35–39 ms, during the next block's
/// products 31–34 (docs/PERFORMANCE.md, items 28 and 32).
/// The same values as `gemm` with `Init::Bias(bias1)` into a hidden layer,
/// then `gemm` with `Prologue::QuickGelu` from it.
///
/// # Safety
/// As [`gemm`] for C, with `m` = A's rows.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn mlp(a: PackedA, b1: &AmxB, bias1: Option<&[f32]>, b2: &AmxB, c: SharedOut, ldc: usize, threads: usize, tiles: bool) {
    assert!(mlp_fits(b1, b2), "sgemm: an MLP of {} and {} chunks deep, {} panels wide, is not one `mlp` takes", b1.chunks, b2.chunks, b1.panels());
    assert_eq!(a.chunks, b1.chunks, "sgemm: A is packed {} chunks deep for a product {} deep", a.chunks, b1.chunks);
    let m = a.rows;
    let mut inner = take_lines(&PACKED_INNER, m.div_ceil(BLOCK) * b2.chunks * LINES_PER_CHUNK);
    let hidden = Out::Activated { lines: SharedLines(inner.as_mut_ptr()), chunks: b2.chunks };
    // SAFETY: the threads write disjoint chunks of `inner` (their panels of
    // B1), which holds every row block's chunks; then C as the caller allows.
    unsafe {
        multiply_shares(&a.lines, m, b1, hidden, Init::Bias(bias1), threads, tiles);
        multiply_shares(&inner, m, b2, Out::C { c, ldc }, Init::Accumulate, threads, tiles);
    }
    PACKED_A.set(a.lines);
    PACKED_INNER.set(inner);
}

/// [`mlp`], keeping what the MLP's backward reads: fc1's outputs (`m` rows
/// of `b1.n`, before the activation) and the activated layer packed as B
/// (`m × b1.n`, as `AmxB::new` packs it), both written as each block of
/// fc1 leaves the kernel. The same values as [`mlp`].
///
/// # Safety
/// As [`mlp`].
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn mlp_keeping_tape(a: PackedA, b1: &AmxB, bias1: Option<&[f32]>, b2: &AmxB, c: SharedOut, ldc: usize, threads: usize, tiles: bool) -> (Vec<f32>, AmxB) {
    assert!(mlp_fits(b1, b2), "sgemm: an MLP of {} and {} chunks deep, {} panels wide, is not one `mlp` takes", b1.chunks, b2.chunks, b1.panels());
    assert_eq!(a.chunks, b1.chunks, "sgemm: A is packed {} chunks deep for a product {} deep", a.chunks, b1.chunks);
    let (m, width) = (a.rows, b1.n);
    let blocks = m.div_ceil(BLOCK);
    let mut lines = take_lines(&PACKED_INNER, blocks * b2.chunks * LINES_PER_CHUNK);
    let mut inner: Vec<f32> = Vec::with_capacity(m * width);
    let b_len = b1.panels() * blocks * LINES_PER_CHUNK;
    let mut b_lines: Vec<Line> = Vec::with_capacity(b_len);
    let out = Out::ActivatedKeeping(KeepingOut {
        lines: SharedLines(lines.as_mut_ptr()),
        chunks: b2.chunks,
        inner: SharedOut(inner.as_mut_ptr()),
        ld: width,
        b_lines: SharedLines(b_lines.as_mut_ptr()),
        b_chunks: blocks,
    });
    // SAFETY: the threads write disjoint panels' chunks of the tiles and
    // columns of `inner`; every block (all rows, all panels) writes its
    // values of `inner` and its 64 lines of B, so both are then whole.
    unsafe {
        multiply_shares(&a.lines, m, b1, out, Init::Bias(bias1), threads, tiles);
        inner.set_len(m * width);
        b_lines.set_len(b_len);
        multiply_shares(&lines, m, b2, Out::C { c, ldc }, Init::Accumulate, threads, tiles);
    }
    PACKED_A.set(a.lines);
    PACKED_INNER.set(lines);
    (inner, AmxB::from_lines(width, blocks, b_lines))
}

/// Whether [`mlp_backward`] takes these products: fc2's input gradient one
/// block of depth deep, fc1's weights as deep as fc2's are wide, and fc1's
/// input packed as B for `rows` rows.
pub(crate) fn mlp_backward_fits(w2: &AmxB, w1: &AmxB, x: &AmxB, rows: usize) -> bool {
    (1..=KC_CHUNKS).contains(&w2.chunks) && w1.chunks == w2.panels() && x.chunks == rows.div_ceil(BLOCK) && x.n == w1.n
}

/// An MLP's backward from its output gradient `dy` to fc1's input, for
/// `y = quick_gelu(x·W1ᵀ + b1)·W2ᵀ + b2` with `inner` = fc1's outputs
/// (`m` rows of `w2.n`): `g = (dy·W2) ∘ gelu'(inner)` is never written as
/// f32. Each 32 × 32 block of `dy·W2` is taken through the gradient and
/// split into the A tiles of both products after it, g·W1 (fc1's input
/// gradient) and gᵀ·x (its weight gradient, `x` packed as B), while the
/// kernel multiplies the next block ([`kernel_then`]); its column sums are
/// fc1's bias gradient. The same values as the unfused passes: `dy·W2`
/// into a matrix, `quick_gelu_backward_in_place`, `column_sums`, then the
/// two products packing g and gᵀ.
///
/// # Safety
/// `tiles` only where [`available`]; the products must fit
/// ([`mlp_backward_fits`]).
pub(crate) unsafe fn mlp_backward(dy: MatRef<'_>, w2: &AmxB, inner: &[f32], w1: &AmxB, x: &AmxB, threads: usize, tiles: bool) -> MlpBackward {
    let (m, width) = (dy.rows(), w2.n);
    assert!(mlp_backward_fits(w2, w1, x, m), "sgemm: an MLP backward of {m} rows does not fit its products");
    assert_eq!(inner.len(), m * width, "sgemm: fc1's outputs hold {} values, the backward needs {m} × {width}", inner.len());
    let (blocks, panels) = (m.div_ceil(BLOCK), w2.panels());
    let mut a = take_lines(&PACKED_A, blocks * w2.chunks * LINES_PER_CHUNK);
    pack_a(dy, Prologue::None, w2.chunks, &mut a, threads);
    // g's tiles for g·W1 (row blocks of tokens, fc1's width deep) and for
    // gᵀ·x (row blocks of fc1's units, the tokens deep).
    let mut lines = take_lines(&PACKED_INNER, blocks * panels * LINES_PER_CHUNK);
    let mut transposed = take_lines(&PACKED_TRANSPOSED, panels * blocks * LINES_PER_CHUNK);
    let mut d_b1 = vec![0f32; width];
    let out = Out::GeluGrad(GeluGradOut {
        inner: SharedOut(inner.as_ptr() as *mut f32),
        ld: width,
        lines: SharedLines(lines.as_mut_ptr()),
        chunks: panels,
        transposed: SharedLines(transposed.as_mut_ptr()),
        depth: blocks,
        sums: SharedOut(d_b1.as_mut_ptr()),
    });
    let (k, n1) = (w1.n, x.n);
    let mut d_input = Vec::with_capacity(m * k);
    let mut d_w1 = Vec::with_capacity(width * n1);
    // SAFETY: the threads write disjoint panels' chunks of both tile sets
    // and sums (each its columns of dy·W2), `inner` is only read; then each
    // product writes every value of its new matrix (no depth is zero).
    unsafe {
        multiply_shares(&a, m, w2, out, Init::Bias(None), threads, tiles);
        multiply_shares(&lines, m, w1, Out::C { c: SharedOut(d_input.as_mut_ptr()), ldc: k }, Init::Bias(None), threads, tiles);
        multiply_shares(&transposed, width, x, Out::C { c: SharedOut(d_w1.as_mut_ptr()), ldc: n1 }, Init::Bias(None), threads, tiles);
        d_input.set_len(m * k);
        d_w1.set_len(width * n1);
    }
    PACKED_A.set(a);
    PACKED_INNER.set(lines);
    PACKED_TRANSPOSED.set(transposed);
    MlpBackward { d_input, d_w1, d_b1 }
}
