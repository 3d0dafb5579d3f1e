//! The vision tower's embedding on the CPU over plain buffers.
//!
//! Through candle, a 64-film batch's embedding took ≈ 32 ms, a third of it
//! outside the patch product: the patch permutation was a copy on one
//! thread (7.4 ms), then the class token's concatenation, the positions'
//! broadcast add and the pre-layernorm each a pass of their own. Here the
//! patches are gathered on the threads, the product runs on the sgemm
//! kernel, and tokens (class token or patch, plus position) are made on the
//! threads before the threaded layer norm. The candle composition in
//! vision.rs stays for other devices and dtypes, and is the reference the
//! tests hold this to.

use kneeclip_sgemm::{MatRef, PackedB, matmul, rows};
use rayon::prelude::*;

/// What the embedding needs besides the pixels, as plain values.
pub struct EmbeddingParts<'a> {
    /// Wᵀ of the patch convolution as a matrix, `[channels·patch·patch, hidden]`.
    pub patch: &'a PackedB,
    /// The patch product's bias (none in CLIP; the gray path's folded normalisation).
    pub patch_bias: Option<&'a [f32]>,
    /// Subtracted from every pixel value as the patches are gathered (the
    /// gray path centres its levels; 0 leaves the values as they are).
    pub offset: f32,
    pub class: &'a [f32],
    /// `[tokens, hidden]`.
    pub positions: &'a [f32],
    pub norm_weight: &'a [f32],
    pub norm_bias: &'a [f32],
    pub eps: f32,
}

/// Pixel values `[batch, channels, size, size]` (row-major) → tokens
/// `[batch · (1 + grid²), hidden]` after the pre-layernorm, for patches of
/// `patch` × `patch`.
pub fn embed(pixels: &[f32], batch: usize, channels: usize, size: usize, patch: usize, parts: &EmbeddingParts<'_>) -> Vec<f32> {
    let grid = size / patch;
    let (patch_len, hidden) = (channels * patch * patch, parts.class.len());
    let tokens = 1 + grid * grid;
    assert_eq!(pixels.len(), batch * channels * size * size, "embedding: {} pixel values for {batch} films of {channels}×{size}×{size}", pixels.len());
    assert_eq!(parts.patch.k(), patch_len, "embedding: the patch weights take {} values, a patch has {patch_len}", parts.patch.k());
    assert_eq!(parts.patch.n(), hidden, "embedding: the patch weights give {} values, the class token has {hidden}", parts.patch.n());
    assert_eq!(parts.positions.len(), tokens * hidden, "embedding: {} position values for {tokens} tokens of {hidden}", parts.positions.len());
    // Each row of patches: for each channel, the patch's rows side by side
    // (the convolution weight's [channels, patch, patch] order).
    let mut patches: Vec<f32> = Vec::with_capacity(batch * grid * grid * patch_len);
    patches.spare_capacity_mut()[..batch * grid * grid * patch_len].par_chunks_mut(grid * patch_len).enumerate().for_each(|(band, out)| {
        let (b, gy) = (band / grid, band % grid);
        for (gx, row) in out.chunks_exact_mut(patch_len).enumerate() {
            for c in 0..channels {
                for py in 0..patch {
                    let from = &pixels[((b * channels + c) * size + gy * patch + py) * size + gx * patch..][..patch];
                    let to = &mut row[(c * patch + py) * patch..][..patch];
                    to.iter_mut().zip(from).for_each(|(o, &v)| _ = o.write(v - parts.offset));
                }
            }
        }
    });
    // SAFETY: every band wrote each of its patches' values.
    unsafe { patches.set_len(batch * grid * grid * patch_len) };
    let projected = matmul(MatRef::row_major(&patches, batch * grid * grid, patch_len), parts.patch, parts.patch_bias);
    drop(patches);
    // Class token or patch, plus its position, as candle's concatenation
    // and broadcast add computed them.
    let mut embedded: Vec<f32> = Vec::with_capacity(batch * tokens * hidden);
    embedded.spare_capacity_mut()[..batch * tokens * hidden].par_chunks_mut(tokens * hidden).enumerate().for_each(|(b, sequence)| {
        for (t, row) in sequence.chunks_exact_mut(hidden).enumerate() {
            let from = if t == 0 { parts.class } else { &projected[(b * grid * grid + t - 1) * hidden..][..hidden] };
            let position = &parts.positions[t * hidden..][..hidden];
            row.iter_mut().zip(from).zip(position).for_each(|((o, &v), &p)| _ = o.write(v + p));
        }
    });
    // SAFETY: every sequence wrote each of its tokens' values.
    unsafe { embedded.set_len(batch * tokens * hidden) };
    drop(projected);
    rows::layer_norm(&embedded, hidden, parts.norm_weight, parts.norm_bias, parts.eps)
}

