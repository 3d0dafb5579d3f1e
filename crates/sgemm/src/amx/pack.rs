//! Operands as the AMX kernel reads them (the layouts are in `amx.rs`'s
//! notes): each f32 split into its two bf16 halves, B packed once per
//! matrix ([`AmxB`]), A per product ([`pack_a_blocks`]), the usual cases
//! (row-major rows, a weight's columns, a gradient's transpose) in AVX-512
//! registers where the CPU has them.

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::{BLOCK, CHUNK, LINES_PER_CHUNK, Line, ZERO_LINE};
use crate::MatRef;
#[cfg(target_arch = "x86_64")]
use crate::transpose::transpose_16x16;

/// `x` rounded to the nearest bfloat16 (ties to even); NaN stays NaN.
#[inline(always)]
fn round_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    if x.is_nan() { ((bits >> 16) as u16) | 0x40 } else { rounded }
}

#[inline(always)]
pub(super) fn widen(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// `x` as `(hi, lo)` bf16 halves with `hi + lo ≈ x` to 2⁻¹⁶ relative.
/// Infinities and NaN keep a zero `lo` (their remainder is NaN).
#[inline(always)]
pub(crate) fn split(x: f32) -> (u16, u16) {
    let hi = round_bf16(x);
    let lo = round_bf16(x - widen(hi));
    (hi, if widen(hi).is_finite() { lo } else { 0 })
}

/// B (`k × n`) packed for the kernel; see the module's notes for the layout.
#[derive(Clone, Debug)]
pub(crate) struct AmxB {
    pub(super) n: usize,
    pub(super) chunks: usize,
    lines: Vec<Line>,
}

impl AmxB {
    pub(crate) fn new(b: MatRef<'_>) -> Self {
        let (k, n) = (b.rows(), b.cols());
        let chunks = k.div_ceil(CHUNK);
        let panels = n.div_ceil(BLOCK);
        let len = panels * chunks * LINES_PER_CHUNK;
        // Not zeroed as a whole first: for the trainer's B, packed every
        // step, that was a pass over up to 39 MB on one thread. Each chunk's
        // lines are zeroed as it is packed instead, in the packing thread's cache.
        let mut lines: Vec<Line> = Vec::with_capacity(len);
        let spare = &mut lines.spare_capacity_mut()[..len];
        let panel_lines = chunks * LINES_PER_CHUNK;
        if chunks > 0 && b.col_stride == 1 {
            // Row-major B (a weight's gradient's activations, every step):
            // panels in a few groups, each group packed chunk by chunk, so
            // that its rows are read in order. Panel by panel, a 3200 × 3072
            // B was read in 128-byte pieces 12 KiB apart: 14 ms, now ≈ 5.
            let group = panels.div_ceil(2 * rayon::current_num_threads()).max(1);
            spare.par_chunks_mut(group * panel_lines).enumerate().for_each(|(g, out)| pack_b_panels(b, g * group, out));
        } else if chunks > 0 {
            spare.par_chunks_mut(panel_lines).enumerate().for_each(|(jp, panel)| pack_b_panels(b, jp, panel));
        }
        // SAFETY: the panels' chunks cover all `len` lines, and every chunk
        // was written (zeroed, then packed); with no depth, `len` is 0.
        unsafe { lines.set_len(len) };
        Self { n, chunks, lines }
    }

    pub(super) fn panels(&self) -> usize {
        self.n.div_ceil(BLOCK)
    }

    /// Element (p, j) as `hi + lo`: B to within 2⁻¹⁶ relative, not exactly.
    pub(crate) fn approximate(&self, p: usize, j: usize) -> f32 {
        let base = (j / BLOCK * self.chunks + p / CHUNK) * LINES_PER_CHUNK;
        let (hi, lo, lane) = b_place(p % CHUNK, j % BLOCK);
        widen(self.lines[base + hi].0[lane]) + widen(self.lines[base + lo].0[lane])
    }

    pub(crate) fn size_bytes(&self) -> usize {
        self.lines.len() * std::mem::size_of::<Line>()
    }

    pub(super) fn chunk(&self, jp: usize, c: usize) -> *const Line {
        self.lines[(jp * self.chunks + c) * LINES_PER_CHUNK..].as_ptr()
    }
}

/// Panels `first..` of B (32 columns each) as the kernel's tiles, into
/// `panels` (every chunk of depth of each; values past B's are zeros):
/// chunk by chunk across the panels where B is row-major, panel by panel
/// (a column's depth read in order) otherwise.
fn pack_b_panels(b: MatRef<'_>, first: usize, panels: &mut [MaybeUninit<Line>]) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn wide(b: MatRef<'_>, first: usize, panels: &mut [MaybeUninit<Line>]) {
        pack_b_panels_body(b, first, panels, true)
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU has the features `wide` is compiled for.
        return unsafe { wide(b, first, panels) };
    }
    pack_b_panels_body(b, first, panels, false)
}

/// [`pack_b_panels`]' work, compiled once per instruction set (`avx512`:
/// the CPU has AVX-512F and BW, checked once by the caller).
#[inline(always)]
fn pack_b_panels_body(b: MatRef<'_>, first: usize, panels: &mut [MaybeUninit<Line>], avx512: bool) {
    let chunks = b.rows().div_ceil(CHUNK);
    let panel_lines = chunks * LINES_PER_CHUNK;
    let count = panels.len() / panel_lines;
    let columns = |jp: usize| (first + jp) * BLOCK..((first + jp) * BLOCK + BLOCK).min(b.cols());
    let mut tiles = |jp: usize, c: usize| {
        let tiles = zeroed(&mut panels[jp * panel_lines + c * LINES_PER_CHUNK..][..LINES_PER_CHUNK]);
        pack_b_chunk(b, columns(jp), c, tiles, avx512)
    };
    if b.col_stride == 1 {
        (0..chunks).for_each(|c| (0..count).for_each(|jp| tiles(jp, c)));
    } else {
        (0..count).for_each(|jp| (0..chunks).for_each(|c| tiles(jp, c)));
    }
}

/// `lines`, each set to zeros: B's padding, where a packing path places
/// only the values B has.
#[inline(always)]
fn zeroed(lines: &mut [MaybeUninit<Line>]) -> &mut [Line] {
    for line in lines.iter_mut() {
        line.write(ZERO_LINE);
    }
    // SAFETY: every line was just written.
    unsafe { &mut *(lines as *mut [MaybeUninit<Line>] as *mut [Line]) }
}

/// Chunk `c` of depth of the panel of B's `columns` as the kernel's four
/// tiles (`tiles`: 64 lines), in AVX-512 registers where `avx512` says the
/// CPU has them.
#[inline(always)]
fn pack_b_chunk(b: MatRef<'_>, columns: Range<usize>, c: usize, tiles: &mut [Line], avx512: bool) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx512;
    let k = b.rows();
    let mut values = [[0f32; CHUNK]; 2];
    let (mut hi, mut lo) = ([[0u16; CHUNK]; 2], [[0u16; CHUNK]; 2]);
    let depth = c * CHUNK..(c * CHUNK + CHUNK).min(k);
    if b.row_stride == 1 {
        // Column-major B (Wᵀ of a PyTorch weight): a column's depth is
        // one slice.
        #[cfg(target_arch = "x86_64")]
        if avx512 {
            // SAFETY: the CPU has AVX-512F; the panel's columns lie in B.
            return unsafe { pack_b_columns_avx512(b, columns, depth, tiles) };
        }
        for (j, col) in columns.clone().enumerate() {
            let start = col * b.col_stride;
            values[0].fill(0.0);
            values[0][..depth.len()].copy_from_slice(&b.data[start + depth.start..start + depth.end]);
            split_values(&values[0], &mut hi[0], &mut lo[0]);
            for pp in 0..depth.len() {
                put_b(tiles, pp, j, hi[0][pp], lo[0][pp]);
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx512 && b.col_stride == 1 && columns.len() == BLOCK {
        // SAFETY: the CPU has AVX-512F; the chunk's rows lie in B.
        return unsafe { pack_b_rows_avx512(b, columns.start, depth, tiles) };
    }
    // Two rows of B at a time (a slice each where B is row-major: the
    // trainer's W and activations, every step): split, then interleaved
    // pairwise into the tiles' lines.
    for pp in (0..CHUNK).step_by(2) {
        for (r, v) in values.iter_mut().enumerate() {
            let p = depth.start + pp + r;
            if p >= depth.end {
                v.fill(0.0);
            } else if b.col_stride == 1 && columns.len() == BLOCK {
                let start = p * b.row_stride + columns.start;
                v.copy_from_slice(&b.data[start..start + BLOCK]);
            } else {
                v.fill(0.0);
                for (v, col) in v.iter_mut().zip(columns.clone()) {
                    *v = b.at(p, col);
                }
            }
        }
        for r in 0..2 {
            split_values(&values[r], &mut hi[r], &mut lo[r]);
        }
        for tile in 0..2 {
            let line = pp / 2;
            interleave(&hi[0][tile * 16..][..16], &hi[1][tile * 16..][..16], &mut tiles[tile * 16 + line].0);
            interleave(&lo[0][tile * 16..][..16], &lo[1][tile * 16..][..16], &mut tiles[(2 + tile) * 16 + line].0);
        }
    }
}

/// The row-major part of [`pack_b_chunk`] for a whole panel (32 columns
/// from `first_column`) in AVX-512 registers: a line of a B tile holds, per
/// column, the halves of two rows side by side, that is one 32-bit lane
/// `half(row 2p) | half(row 2p + 1) << 16`, built from the rounding's
/// 32-bit results without any shuffle (the scalar split and interleave
/// took 14 ms for a 3200 × 3072 B, 3× the packing of the same A).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_b_rows_avx512(b: MatRef<'_>, first_column: usize, depth: Range<usize>, tiles: &mut [Line]) {
    use std::arch::x86_64::*;
    assert!(tiles.len() >= LINES_PER_CHUNK && first_column + BLOCK <= b.cols() && depth.end <= b.rows());
    let row = |p: usize, half: usize| -> __m512 {
        if p < depth.end {
            // SAFETY: row p's columns first_column.. + 32 lie in B (asserted).
            unsafe { _mm512_loadu_ps(b.data.as_ptr().add(p * b.row_stride + first_column + 16 * half)) }
        } else {
            _mm512_setzero_ps()
        }
    };
    for pp in (0..CHUNK).step_by(2) {
        let p = depth.start + pp;
        for half in 0..2 {
            let (even, odd) = (split_lanes(row(p, half)), split_lanes(row(p + 1, half)));
            let line = |e: __m512i, o: __m512i| _mm512_or_si512(e, _mm512_slli_epi32::<16>(o));
            // SAFETY: lines `half · 16 + pp / 2` and `(2 + half) · 16 + pp / 2` lie in `tiles`.
            unsafe {
                _mm512_store_si512(tiles[half * 16 + pp / 2].0.as_mut_ptr().cast(), line(even.0, odd.0));
                _mm512_store_si512(tiles[(2 + half) * 16 + pp / 2].0.as_mut_ptr().cast(), line(even.1, odd.1));
            }
        }
    }
}

/// The column-major part of [`pack_b_chunk`] in AVX-512 registers. A
/// column's 32 values of depth, split and narrowed to 16 bits, are already
/// the pairs a tile's line holds for that column (one 32-bit lane per pair
/// of rows); sixteen columns transposed ([`transpose_16x16`]) are the
/// tile's sixteen lines. The scalar placing of every half took 2.9 ms for a
/// 3072 × 768 weight, packed twice per training step for each of the
/// trainable blocks' six products.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pack_b_columns_avx512(b: MatRef<'_>, columns: Range<usize>, depth: Range<usize>, tiles: &mut [Line]) {
    use std::arch::x86_64::*;
    assert!(tiles.len() >= LINES_PER_CHUNK && columns.len() <= BLOCK && columns.end <= b.cols() && depth.end <= b.rows());
    let zero = _mm512_setzero_ps();
    // Depth's lanes in each half of the 32 values.
    let live = |half: usize| -> __mmask16 {
        let n = depth.len().saturating_sub(16 * half).min(16);
        if n == 16 { 0xffff } else { (1u16 << n) - 1 }
    };
    let narrow = |low: __m512i, high: __m512i| -> __m512 {
        _mm512_castsi512_ps(_mm512_inserti64x4::<1>(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(low)), _mm512_cvtepi32_epi16(high)))
    };
    for tile in 0..2 {
        let (mut hi, mut lo) = ([zero; 16], [zero; 16]);
        for j in 0..16 {
            let Some(col) = columns.clone().nth(tile * 16 + j) else { break };
            let start = col * b.col_stride + depth.start;
            // SAFETY: the lanes kept lie in the column's depth, inside B (asserted).
            let load = |half: usize| unsafe { _mm512_maskz_loadu_ps(live(half), b.data.as_ptr().wrapping_add(start + 16 * half)) };
            let (first, second) = (split_lanes(load(0)), split_lanes(load(1)));
            (hi[j], lo[j]) = (narrow(first.0, second.0), narrow(first.1, second.1));
        }
        let (hi, lo) = (transpose_16x16(&hi), transpose_16x16(&lo));
        for line in 0..16 {
            // SAFETY: lines `tile · 16 + line` and `(2 + tile) · 16 + line` lie in `tiles`.
            unsafe {
                _mm512_store_ps(tiles[tile * 16 + line].0.as_mut_ptr().cast(), hi[line]);
                _mm512_store_ps(tiles[(2 + tile) * 16 + line].0.as_mut_ptr().cast(), lo[line]);
            }
        }
    }
}

/// [`split`] on 16 values at once: (hi, lo), each half in the low 16 bits
/// of its value's 32-bit lane, the high 16 bits zero.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn split_lanes(x: std::arch::x86_64::__m512) -> (std::arch::x86_64::__m512i, std::arch::x86_64::__m512i) {
    use std::arch::x86_64::*;
    // round_bf16, lane by lane: NaN keeps its top bits, made quiet.
    let round = |x: __m512| -> __m512i {
        let bits = _mm512_castps_si512(x);
        let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
        let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))));
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
        _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(0x40)))
    };
    let hi = round(x);
    let wide_hi = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(hi));
    let lo = round(_mm512_sub_ps(x, wide_hi));
    // A zero lo where hi is infinite or NaN (exponent all ones).
    let exponent = _mm512_set1_epi32(0x7f80);
    let finite = _mm512_cmpneq_epi32_mask(_mm512_and_si512(hi, exponent), exponent);
    (hi, _mm512_maskz_mov_epi32(finite, lo))
}

/// `out = [a0, b0, a1, b1, …]`: two rows' values for 16 columns, as a line
/// of a B tile holds them.
#[inline(always)]
fn interleave(a: &[u16], b: &[u16], out: &mut [u16; 32]) {
    for (j, (&a, &b)) in a.iter().zip(b).enumerate() {
        out[2 * j] = a;
        out[2 * j + 1] = b;
    }
}

/// Where element (`pp` of a chunk's depth, column `j` of a panel) lies in
/// the chunk's four B tiles: (line of its hi half, line of its lo half,
/// lane) — rows in pairs, a pair's two values side by side.
#[inline(always)]
pub(super) fn b_place(pp: usize, j: usize) -> (usize, usize, usize) {
    let (tile, line) = (j / 16, pp / 2);
    (tile * 16 + line, (2 + tile) * 16 + line, 2 * (j % 16) + pp % 2)
}

#[inline(always)]
fn put_b(tiles: &mut [Line], pp: usize, j: usize, hi: u16, lo: u16) {
    let (hi_line, lo_line, lane) = b_place(pp, j);
    tiles[hi_line].0[lane] = hi;
    tiles[lo_line].0[lane] = lo;
}

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
pub(super) fn pack_a_blocks(a: MatRef<'_>, chunks: usize, blocks: Range<usize>, out: &mut [Line], prologue: Prologue<'_>) {
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
    if std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512bf16") {
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

/// A 32×32 block of an MLP's first product (`block`, row-major, its first
/// `rows` rows and `cols` columns real) through quick GELU, as the tiles the
/// second product reads for one chunk of one row block (`out`, 64 lines):
/// what [`pack_a_blocks`] with [`Prologue::QuickGelu`] makes of the same
/// values in C, rows and depth past the real ones zeros.
pub(super) fn pack_activated_block(block: &[f32; BLOCK * CHUNK], rows: usize, cols: usize, out: &mut [Line]) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn wide(block: &[f32; BLOCK * CHUNK], rows: usize, cols: usize, out: &mut [Line]) {
        pack_activated_body(block, rows, cols, out, false)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn wide_bf16(block: &[f32; BLOCK * CHUNK], rows: usize, cols: usize, out: &mut [Line]) {
        pack_activated_body(block, rows, cols, out, true)
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512bf16") {
        // SAFETY: the CPU has the features `wide_bf16` is compiled for.
        return unsafe { wide_bf16(block, rows, cols, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU has the features `wide` is compiled for.
        return unsafe { wide(block, rows, cols, out) };
    }
    pack_activated_body(block, rows, cols, out, false)
}

/// [`pack_activated_block`]'s work, compiled once per instruction set.
#[inline(always)]
fn pack_activated_body(block: &[f32; BLOCK * CHUNK], rows: usize, cols: usize, out: &mut [Line], bf16: bool) {
    let (hi_tiles, lo_tiles) = out[..LINES_PER_CHUNK].split_at_mut(32);
    for r in 0..BLOCK {
        let (hi, lo) = (&mut hi_tiles[r].0, &mut lo_tiles[r].0);
        if r >= rows {
            (*hi, *lo) = ([0; CHUNK], [0; CHUNK]);
            continue;
        }
        let mut values: [f32; CHUNK] = block[r * CHUNK..][..CHUNK].try_into().expect("a row is 32 values");
        values[cols..].fill(0.0);
        crate::activation::quick_gelu_values(&mut values);
        split_a_values(&values, hi, lo, bf16);
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

/// The halves of 32 values (the loop the compiler vectorises).
#[inline(always)]
fn split_values(values: &[f32; CHUNK], hi: &mut [u16; CHUNK], lo: &mut [u16; CHUNK]) {
    for ((x, h), l) in values.iter().zip(hi.iter_mut()).zip(lo.iter_mut()) {
        (*h, *l) = split(*x);
    }
}

/// A's halves of 32 values: [`split_values`], or with `bf16` (the CPU has
/// AVX512-BF16, checked by the caller) its rounding instruction.
#[inline(always)]
fn split_a_values(values: &[f32; CHUNK], hi: &mut [u16; CHUNK], lo: &mut [u16; CHUNK], bf16: bool) {
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
unsafe fn split_values_bf16(values: &[f32; CHUNK], hi: &mut [u16; CHUNK], lo: &mut [u16; CHUNK]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs `a` (m × k) into the kernel's A tiles.
    fn packed(a: MatRef<'_>) -> Vec<u16> {
        let (blocks, chunks) = (a.rows().div_ceil(BLOCK), a.cols().div_ceil(CHUNK));
        let mut out = vec![Line([0xdead; 32]); blocks * chunks * LINES_PER_CHUNK];
        pack_a_blocks(a, chunks, 0..blocks, &mut out, Prologue::None);
        out.iter().flat_map(|line| line.0).collect()
    }

    /// B's tiles one element at a time: [`split`] and [`put_b`].
    fn packed_b_reference(b: MatRef<'_>) -> Vec<u16> {
        let (chunks, panels) = (b.rows().div_ceil(CHUNK), b.cols().div_ceil(BLOCK));
        let mut lines = vec![ZERO_LINE; panels * chunks * LINES_PER_CHUNK];
        for p in 0..b.rows() {
            for col in 0..b.cols() {
                let (hi, lo) = split(b.at(p, col));
                put_b(&mut lines[(col / BLOCK * chunks + p / CHUNK) * LINES_PER_CHUNK..], p % CHUNK, col % BLOCK, hi, lo);
            }
        }
        lines.iter().flat_map(|line| line.0).collect()
    }

    /// Row-major B is packed chunk by chunk across panels, column-major B
    /// panel by panel, in AVX-512 registers where there are whole panels
    /// and the CPU has them: either way the tiles are those placed one
    /// element at a time.
    #[test]
    fn b_packs_as_placed_one_element_at_a_time() {
        // Whole and partial panels and chunks, more panels than threads
        // (groups of several), and a row stride wider than the columns.
        for (k, n, extra) in [(32, 32, 0), (1, 5, 0), (50, 17, 3), (70, 45, 0), (96, 300, 7), (31, 33, 1), (64, 1000, 0)] {
            let ld = n + extra;
            // With the values whose halves are special cases sprinkled in.
            let special = [f32::NAN, f32::from_bits(0x7f80_0001), f32::INFINITY, f32::NEG_INFINITY, f32::MAX, -0.0, f32::MIN_POSITIVE / 3.0, 1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8)];
            let value = |i: usize| if i % 37 == 5 { special[i / 37 % special.len()] } else { ((i * 7919 % 1009) as f32 - 504.0) / 97.0 + (i % 13) as f32 * 1e-4 };
            let data: Vec<f32> = (0..k * ld).map(value).collect();
            let row_major = MatRef::strided(&data, k, n, ld, 1);
            let copy: Vec<f32> = (0..n).flat_map(|j| (0..k).map(move |p| (p, j))).map(|(p, j)| data[p * ld + j]).collect();
            let column_major = MatRef::row_major(&copy, n, k).t();
            let want = packed_b_reference(row_major);
            assert_eq!(want, packed_b_reference(column_major));
            for (layout, b) in [("row-major", row_major), ("column-major", column_major)] {
                let packed = AmxB::new(b);
                assert_eq!((packed.n, packed.chunks), (n, k.div_ceil(CHUNK)));
                let words: Vec<u16> = packed.lines.iter().flat_map(|line| line.0).collect();
                assert!(words == want, "{layout} {k}×{n}, leading dimension {ld}: the tiles differ");
                // The scalar paths too (AmxB::new takes AVX-512 where the CPU
                // has it), over memory holding other values: the padding
                // must be written, not found.
                let mut lines = vec![MaybeUninit::new(Line([0xdead; 32])); want.len() / 32];
                pack_b_panels_body(b, 0, &mut lines, false);
                // SAFETY: Line is plain u16s, and every line was initialised above.
                let words: Vec<u16> = lines.iter().flat_map(|line| unsafe { line.assume_init() }.0).collect();
                assert!(words == want, "{layout} {k}×{n}, leading dimension {ld}, scalar: the tiles differ");
            }
        }
    }

    /// AVX512-BF16's rounding splits every value as [`split`] does, NaN,
    /// infinities and roundings to even included, but for values below
    /// 2⁻¹²⁶ (or remainders below it), which it flushes: hi + lo is then
    /// still within 2⁻¹²⁶ of x.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn bf16_instruction_splits_as_split_does() {
        if !(std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512bf16")) {
            eprintln!("no AVX512-BF16 here: the instruction's split is not checked");
            return;
        }
        let special = [f32::NAN, -f32::NAN, f32::from_bits(0x7f80_0001), f32::from_bits(0xffc1_2345), f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, -0.0, 0.0, 1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8), 3.0e38, f32::MIN_POSITIVE];
        let tiny = [f32::MIN_POSITIVE / 3.0, -1e-40, 2f32.powi(-120) * 1.2345, 2f32.powi(-126) * 1.000_123];
        let mut values: Vec<f32> = (0..4096u32).map(|i| f32::from_bits(i.wrapping_mul(2_654_435_761) & 0xbfff_ffff) * if i % 3 == 0 { 1e-30 } else { 1.0 }).collect();
        values.extend(special);
        values.extend(tiny);
        values.resize(values.len().div_ceil(CHUNK) * CHUNK, 1.5);
        let mut flushed = 0;
        for chunk in values.chunks_exact(CHUNK) {
            let chunk: &[f32; CHUNK] = chunk.try_into().unwrap();
            let (mut hi, mut lo) = ([0u16; CHUNK], [0u16; CHUNK]);
            // SAFETY: the CPU has the features (checked above).
            unsafe { split_values_bf16(chunk, &mut hi, &mut lo) };
            for (q, &x) in chunk.iter().enumerate() {
                if (hi[q], lo[q]) == split(x) {
                    continue;
                }
                // Only where a half falls below 2⁻¹²⁶, and then within it.
                let got = widen(hi[q]) as f64 + widen(lo[q]) as f64;
                assert!(x.abs() < 2f32.powi(-100) && (got - x as f64).abs() <= 2f64.powi(-126), "{x:e} ({:08x}): {got:e}", x.to_bits());
                flushed += 1;
            }
        }
        // The values below 2⁻¹²⁶ did go the other way.
        assert!(flushed >= 2, "only {flushed} values split differently");
    }

    #[test]
    fn a_column_major_a_packs_as_its_row_major_copy() {
        // Whole and partial blocks of rows and chunks of depth, and a column
        // stride wider than the rows (a slice of a larger matrix).
        for (m, k, extra) in [(32, 32, 0), (1, 5, 0), (17, 50, 3), (45, 70, 0), (64, 96, 7), (33, 31, 1)] {
            let ld = m + extra;
            let data: Vec<f32> = (0..ld * k).map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 97.0 + (i % 13) as f32 * 1e-4).collect();
            let column_major = MatRef::strided(&data, m, k, 1, ld);
            let copy: Vec<f32> = (0..m).flat_map(|i| (0..k).map(move |p| (i, p))).map(|(i, p)| data[p * ld + i]).collect();
            let row_major = MatRef::row_major(&copy, m, k);
            assert_eq!(packed(column_major), packed(row_major), "{m}×{k}, leading dimension {ld}");
        }
    }
}
