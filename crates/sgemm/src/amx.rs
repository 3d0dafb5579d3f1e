//! Products on Intel AMX tiles, in "bf16×3".
//!
//! AMX multiplies bfloat16 tiles (TDPBF16PS: 16×32 by 32×16 into 16×16 f32
//! accumulators, 16 384 flops per instruction) at ≈ 10–20× the f32 rate of
//! AVX-512 on the same core. One bf16 product alone would lose f32's
//! precision, so every operand is split in two bf16 halves, `x = hi + lo`
//! (`hi` = x rounded to bf16, `lo` = the remainder rounded to bf16, 16 of
//! f32's 24 significant bits together), and
//!
//! `A·B ≈ Ahi·Bhi + Ahi·Blo + Alo·Bhi`
//!
//! with every bf16×bf16 product exact in the f32 accumulators. What is
//! dropped (`Alo·Blo`, the rounding of `lo`) is ≈ 2⁻¹⁶ of each term: on the
//! full-size ViT-B/32 the hidden states stay within 2.2e-5 (of values up to
//! 5.5) of the f32 model, image embeddings within 2.0e-5 (emulated with
//! PyTorch; docs/PERFORMANCE.md), while the three products still run ≈ 2.8×
//! faster than the f32 AVX-512 kernel (one core, 800 rows: 360–390 against
//! 125–140 GFLOP/s counted as f32 flops).
//!
//! Layout. B is packed once, when the model loads ([`AmxB`]), and A per call,
//! both as tiles of 16 lines of 64 bytes:
//! - B: panels of 32 columns; per panel, per chunk of 32 rows of depth, four
//!   tiles `[hi cols 0–15, hi cols 16–31, lo cols 0–15, lo cols 16–31]`, each
//!   in the pair-interleaved order TDPBF16PS reads (line `p` holds, for each
//!   column, rows `2p` and `2p + 1` of the chunk);
//! - A: blocks of 32 rows; per block, per chunk, four tiles `[hi rows 0–15,
//!   hi rows 16–31, lo rows 0–15, lo rows 16–31]`, a line per row.
//!
//! The two halves take as many bytes as the f32 values they replace, so a
//! model packed this way holds the same memory.
//!
//! The kernel keeps a 32×32 block of C in four accumulator tiles; each chunk
//! of depth is nine tile loads and twelve products. Where AMX is missing (or
//! switched off) nothing is packed this way, except by the tests, which run
//! the same layouts through a scalar emulation of the kernel.

use std::ops::Range;

use rayon::prelude::*;

use crate::{Init, MatRef, SharedOut};

/// Rows of C per kernel call, and columns of B per panel.
const BLOCK: usize = 32;
/// Depth per tile.
const CHUNK: usize = 32;
/// One chunk of one block or panel: four tiles of 16 lines.
const LINES_PER_CHUNK: usize = 64;
/// Chunks per block of depth: 768 values, so C is loaded and stored once for
/// a 768-deep product; a 32-column panel of B is then 96 KiB.
const KC_CHUNKS: usize = 24;
/// Row blocks per pass over a thread's panels: 256 rows of A (768 KiB at
/// full depth) stay in L2 while the panels go by (measured on one core, 800
/// rows: 252–298 → 363–392 GFLOP/s against streaming all rows per panel).
const MC_BLOCKS: usize = 8;

/// Set to `0` or `off` to keep the f32 kernels on a CPU with AMX.
pub const AMX_ENV: &str = "KNEECLIP_SGEMM_AMX";

/// 64 bytes: one tile row, cache-line aligned.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Line([u16; 32]);

const ZERO_LINE: Line = Line([0; 32]);

/// Whether this CPU and OS run AMX-BF16 and the process may use it (asked of
/// Linux once; the permission covers every thread). False where
/// `KNEECLIP_SGEMM_AMX` is `0` or `off`.
pub fn available() -> bool {
    use std::sync::OnceLock;
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let off = std::env::var(AMX_ENV).is_ok_and(|v| v == "0" || v.eq_ignore_ascii_case("off"));
        !off && os::request_tiles()
    })
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod os {
    /// CPUID says AMX-TILE and AMX-BF16, and Linux grants the tile data
    /// state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`).
    pub(super) fn request_tiles() -> bool {
        let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
        let (amx_bf16, amx_tile) = (leaf7.edx & (1 << 22) != 0, leaf7.edx & (1 << 24) != 0);
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: a plain system call; it only changes this process's permissions.
        amx_bf16 && amx_tile && unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) } == 0
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod os {
    pub(super) fn request_tiles() -> bool {
        false
    }
}

/// `x` rounded to the nearest bfloat16 (ties to even); NaN stays NaN.
#[inline(always)]
fn round_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    if x.is_nan() { ((bits >> 16) as u16) | 0x40 } else { rounded }
}

#[inline(always)]
fn widen(h: u16) -> f32 {
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
    n: usize,
    chunks: usize,
    lines: Vec<Line>,
}

impl AmxB {
    pub(crate) fn new(b: MatRef<'_>) -> Self {
        let (k, n) = (b.rows(), b.cols());
        let chunks = k.div_ceil(CHUNK);
        let panels = n.div_ceil(BLOCK);
        let mut lines = vec![ZERO_LINE; panels * chunks * LINES_PER_CHUNK];
        let panel_lines = chunks * LINES_PER_CHUNK;
        if chunks > 0 && b.col_stride == 1 {
            // Row-major B (a weight's gradient's activations, every step):
            // panels in a few groups, each group packed chunk by chunk, so
            // that its rows are read in order. Panel by panel, a 3200 × 3072
            // B was read in 128-byte pieces 12 KiB apart: 14 ms, now ≈ 5.
            let group = panels.div_ceil(2 * rayon::current_num_threads()).max(1);
            lines.par_chunks_mut(group * panel_lines).enumerate().for_each(|(g, out)| pack_b_panels(b, g * group, out));
        } else if chunks > 0 {
            lines.par_chunks_mut(panel_lines).enumerate().for_each(|(jp, panel)| pack_b_panels(b, jp, panel));
        }
        Self { n, chunks, lines }
    }

    fn panels(&self) -> usize {
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

    fn chunk(&self, jp: usize, c: usize) -> *const Line {
        self.lines[(jp * self.chunks + c) * LINES_PER_CHUNK..].as_ptr()
    }
}

/// Panels `first..` of B (32 columns each) as the kernel's tiles, into
/// `panels` (every chunk of depth of each; values past B's are zeros):
/// chunk by chunk across the panels where B is row-major, panel by panel
/// (a column's depth read in order) otherwise.
fn pack_b_panels(b: MatRef<'_>, first: usize, panels: &mut [Line]) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn wide(b: MatRef<'_>, first: usize, panels: &mut [Line]) {
        pack_b_panels_body(b, first, panels)
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU has the features `wide` is compiled for.
        return unsafe { wide(b, first, panels) };
    }
    pack_b_panels_body(b, first, panels)
}

/// [`pack_b_panels`]' work, compiled once per instruction set.
#[inline(always)]
fn pack_b_panels_body(b: MatRef<'_>, first: usize, panels: &mut [Line]) {
    let chunks = b.rows().div_ceil(CHUNK);
    let panel_lines = chunks * LINES_PER_CHUNK;
    let count = panels.len() / panel_lines;
    let columns = |jp: usize| (first + jp) * BLOCK..((first + jp) * BLOCK + BLOCK).min(b.cols());
    let mut tiles = |jp: usize, c: usize| pack_b_chunk(b, columns(jp), c, &mut panels[jp * panel_lines + c * LINES_PER_CHUNK..][..LINES_PER_CHUNK]);
    if b.col_stride == 1 {
        (0..chunks).for_each(|c| (0..count).for_each(|jp| tiles(jp, c)));
    } else {
        (0..count).for_each(|jp| (0..chunks).for_each(|c| tiles(jp, c)));
    }
}

/// Chunk `c` of depth of the panel of B's `columns` as the kernel's four
/// tiles (`tiles`: 64 lines).
#[inline(always)]
fn pack_b_chunk(b: MatRef<'_>, columns: Range<usize>, c: usize, tiles: &mut [Line]) {
    let k = b.rows();
    let mut values = [[0f32; CHUNK]; 2];
    let (mut hi, mut lo) = ([[0u16; CHUNK]; 2], [[0u16; CHUNK]; 2]);
    let depth = c * CHUNK..(c * CHUNK + CHUNK).min(k);
    if b.row_stride == 1 {
        // Column-major B (Wᵀ of a PyTorch weight): a column's depth is
        // one slice.
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
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
    if b.col_stride == 1 && columns.len() == BLOCK && std::is_x86_feature_detected!("avx512f") {
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
fn b_place(pp: usize, j: usize) -> (usize, usize, usize) {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prologue {
    /// Nothing: A as it is.
    None,
    /// CLIP's quick GELU (`crate::activation`), so that the MLP's second
    /// product reads the first one's output without a pass of its own.
    QuickGelu,
}

/// Rows `blocks` (of 32) of A, through `prologue`, as the kernel's tiles,
/// into `out` (`blocks.len() · chunks · 64` lines; rows and depth past A's
/// are zeros).
fn pack_a_blocks(a: MatRef<'_>, chunks: usize, blocks: Range<usize>, out: &mut [Line], prologue: Prologue) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn wide(a: MatRef<'_>, chunks: usize, blocks: Range<usize>, out: &mut [Line], prologue: Prologue) {
        pack_a_body(a, chunks, blocks, out, prologue)
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU has the features `wide` is compiled for.
        return unsafe { wide(a, chunks, blocks, out, prologue) };
    }
    pack_a_body(a, chunks, blocks, out, prologue)
}

/// [`pack_a_blocks`]' work, compiled once per instruction set: a full chunk
/// of a row-major row is split where it lies, anything else through a
/// zero-padded 32×32 block of values.
#[inline(always)]
fn pack_a_body(a: MatRef<'_>, chunks: usize, blocks: Range<usize>, out: &mut [Line], prologue: Prologue) {
    let (m, k) = (a.rows(), a.cols());
    for (b, block) in blocks.enumerate() {
        let rows = block * BLOCK..(block * BLOCK + BLOCK).min(m);
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
                            if prologue == Prologue::QuickGelu {
                                let mut activated = *values;
                                crate::activation::quick_gelu_values(&mut activated);
                                split_values(&activated, hi, lo);
                            } else {
                                split_values(values, hi, lo);
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
                transpose_column_major(a, rows.clone(), depth.clone(), &mut values);
            } else {
                for (r, i) in rows.clone().enumerate() {
                    for (q, p) in depth.clone().enumerate() {
                        values[r][q] = a.at(i, p);
                    }
                }
            }
            for (r, row) in values.iter_mut().enumerate() {
                if prologue == Prologue::QuickGelu {
                    // GELU(0) = 0: the padding stays zeros.
                    crate::activation::quick_gelu_values(row);
                }
                split_values(row, &mut hi_tiles[r].0, &mut lo_tiles[r].0);
            }
        }
    }
}

/// `values[r][q] = A[rows.start + r][depth.start + q]` for a column-major A
/// (row stride 1), the rest of `values` untouched (zeros): each depth's rows
/// are one slice of A. Transposed in AVX-512 registers where the CPU has
/// them (a scalar transpose took about a fifth of a weight gradient's
/// packing: 34 ms for dW against 20 ms for dX at 3200 rows).
#[inline(always)]
fn transpose_column_major(a: MatRef<'_>, rows: Range<usize>, depth: Range<usize>, values: &mut [[f32; CHUNK]; BLOCK]) {
    debug_assert!(a.row_stride == 1 && rows.len() <= BLOCK && depth.len() <= CHUNK);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
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

/// The 16 × 16 transpose of 32-bit values, a register per row: column c of
/// all 16 rows, by the usual unpack and lane-shuffle network (64 shuffles).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose_16x16(r: &[std::arch::x86_64::__m512; 16]) -> [std::arch::x86_64::__m512; 16] {
    use std::arch::x86_64::*;
    let zero = _mm512_setzero_ps();
    // Pairs of rows interleaved by 32 bits, then by 64: s[4i + m]
    // holds, in 128-bit lane L, column 4L + m of rows 4i..4i + 4.
    let mut t = [zero; 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut s = [zero; 16];
    for i in 0..4 {
        let d = |x: __m512| _mm512_castps_pd(x);
        let (a0, a1, a2, a3) = (d(t[4 * i]), d(t[4 * i + 1]), d(t[4 * i + 2]), d(t[4 * i + 3]));
        s[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        s[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        s[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        s[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    // Lanes gathered across the four groups.
    let mut columns = [zero; 16];
    for m in 0..4 {
        let u = _mm512_shuffle_f32x4::<0x88>(s[m], s[4 + m]);
        let v = _mm512_shuffle_f32x4::<0xdd>(s[m], s[4 + m]);
        let u2 = _mm512_shuffle_f32x4::<0x88>(s[8 + m], s[12 + m]);
        let v2 = _mm512_shuffle_f32x4::<0xdd>(s[8 + m], s[12 + m]);
        columns[m] = _mm512_shuffle_f32x4::<0x88>(u, u2);
        columns[4 + m] = _mm512_shuffle_f32x4::<0x88>(v, v2);
        columns[8 + m] = _mm512_shuffle_f32x4::<0xdd>(u, u2);
        columns[12 + m] = _mm512_shuffle_f32x4::<0xdd>(v, v2);
    }
    columns
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

thread_local! {
    /// The calling thread's packed A, kept between calls (taken out while in
    /// use, so a product started inside another on the same thread packs
    /// into a buffer of its own).
    static PACKED_A: std::cell::Cell<Vec<Line>> = const { std::cell::Cell::new(Vec::new()) };
}

/// `C (init) + prologue(A)·B` on C at `c` (`m` rows, leading dimension
/// `ldc`), the products on `threads` threads, each taking a share of B's panels.
///
/// # Safety
/// As `crate::gemm_into`: `c` valid for `(m − 1)·ldc + n` values, initialised
/// with `Init::Accumulate`, accessed by no one else during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(a: MatRef<'_>, prologue: Prologue, b: &AmxB, c: SharedOut, ldc: usize, init: Init<'_>, threads: usize, tiles: bool) {
    let m = a.rows();
    let blocks = m.div_ceil(BLOCK);
    let block_lines = b.chunks * LINES_PER_CHUNK;
    let mut packed = PACKED_A.take();
    packed.resize(blocks * block_lines, ZERO_LINE);
    if threads > 1 && blocks > 1 {
        packed.par_chunks_mut(block_lines).enumerate().for_each(|(i, out)| pack_a_blocks(a, b.chunks, i..i + 1, out, prologue));
    } else {
        pack_a_blocks(a, b.chunks, 0..blocks, &mut packed, prologue);
    }
    let panels = b.panels();
    let threads = threads.min(panels).max(1);
    let share = |t: usize| panels * t / threads..panels * (t + 1) / threads;
    let packed_a: &[Line] = &packed;
    if threads == 1 {
        // SAFETY: the caller's contract.
        unsafe { multiply_panels(packed_a, m, b, c, ldc, 0..panels, init, tiles) };
    } else {
        rayon::scope(|s| {
            for t in 0..threads {
                let panels = share(t);
                // SAFETY: each thread writes only its own columns of C.
                s.spawn(move |_| unsafe { multiply_panels(packed_a, m, b, c, ldc, panels, init, tiles) });
            }
        });
    }
    PACKED_A.set(packed);
}

/// The blocked loops for every row of C and the column panels `panels` (32
/// columns each), C starting as `init` says.
///
/// # Safety
/// `c` must point to an `m × ldc` row-major buffer whose columns of `panels`
/// no other thread accesses during the call; `tiles` only where
/// [`available`].
#[allow(clippy::too_many_arguments)]
unsafe fn multiply_panels(a: &[Line], m: usize, b: &AmxB, c: SharedOut, ldc: usize, panels: Range<usize>, init: Init<'_>, tiles: bool) {
    let n = b.n;
    if b.chunks == 0 {
        // No depth: C is its start alone.
        // SAFETY: the caller's contract.
        return unsafe { crate::init_columns(c, ldc, m, panels.start * BLOCK..(panels.end * BLOCK).min(n), init) };
    }
    let blocks = m.div_ceil(BLOCK);
    if tiles {
        tile_config();
    }
    let mut scratch = Scratch([0f32; BLOCK * BLOCK]);
    // A bias for a partial panel, zero-padded to the panel's 32 columns.
    let mut padded_bias = BiasLine([0f32; BLOCK]);
    for pc in (0..b.chunks).step_by(KC_CHUNKS) {
        let chunks = KC_CHUNKS.min(b.chunks - pc);
        for ic in (0..blocks).step_by(MC_BLOCKS) {
            for jp in panels.clone() {
                let cols = BLOCK.min(n - jp * BLOCK);
                let b_tiles = b.chunk(jp, pc);
                // The first block of depth starts C from zeros or the bias
                // (C's memory is then only written, never read); later ones
                // from C.
                let start = match init {
                    Init::Bias(_) | Init::Accumulate if pc > 0 => Start::Load,
                    Init::Accumulate => Start::Load,
                    Init::Bias(None) => Start::Zero,
                    Init::Bias(Some(bias)) if cols == BLOCK => Start::Bias(bias[jp * BLOCK..].as_ptr()),
                    Init::Bias(Some(bias)) => {
                        padded_bias.0[..BLOCK].fill(0.0);
                        padded_bias.0[..cols].copy_from_slice(&bias[jp * BLOCK..jp * BLOCK + cols]);
                        Start::Bias(padded_bias.0.as_ptr())
                    }
                };
                for rb in ic..(ic + MC_BLOCKS).min(blocks) {
                    let rows = BLOCK.min(m - rb * BLOCK);
                    let a_tiles = a[(rb * b.chunks + pc) * LINES_PER_CHUNK..].as_ptr();
                    // SAFETY: rows rb·32.. and columns jp·32.. lie inside C
                    // (the caller's contract); a partial block goes through a
                    // full-size scratch block.
                    unsafe {
                        let out = c.add(rb * BLOCK * ldc + jp * BLOCK);
                        if rows == BLOCK && cols == BLOCK {
                            kernel(chunks, a_tiles, b_tiles, out, ldc, start, tiles);
                        } else {
                            if let Start::Load = start {
                                for r in 0..rows {
                                    std::ptr::copy_nonoverlapping(out.add(r * ldc), scratch.0[r * BLOCK..].as_mut_ptr(), cols);
                                }
                            }
                            kernel(chunks, a_tiles, b_tiles, scratch.0.as_mut_ptr(), BLOCK, start, tiles);
                            for r in 0..rows {
                                std::ptr::copy_nonoverlapping(scratch.0[r * BLOCK..].as_ptr(), out.add(r * ldc), cols);
                            }
                        }
                    }
                }
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    if tiles {
        // SAFETY: releases this thread's tile state (configured above).
        unsafe { std::arch::asm!("tilerelease", options(nostack)) };
    }
}

/// Where a kernel call's 32×32 block of C starts from.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// C's values.
    Load,
    /// Zeros.
    Zero,
    /// The same 32 values (a bias) in every row.
    Bias(*const f32),
}

#[repr(C, align(64))]
struct Scratch([f32; BLOCK * BLOCK]);

#[repr(C, align(64))]
struct BiasLine([f32; BLOCK]);

/// Every tile 16 rows of 64 bytes (palette 1), for this thread.
fn tile_config() {
    #[repr(C, align(64))]
    struct Config {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        colsb: [u16; 16],
        rows: [u8; 16],
    }
    let mut config = Config { palette: 1, start_row: 0, reserved: [0; 14], colsb: [0; 16], rows: [0; 16] };
    config.colsb[..8].fill(64);
    config.rows[..8].fill(16);
    // SAFETY: a valid palette-1 configuration; only called where AMX is
    // available and permitted.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly));
    }
}

/// `C[32×32] = start + A·B` over `chunks` chunks of depth, on the tiles or,
/// where `tiles` is false, in a scalar emulation reading the same layout.
///
/// # Safety
/// `a` and `b` readable for `chunks · 64` lines, `c` writable for 32 rows of
/// 32 values at leading dimension `ldc` (and readable with `Start::Load`), a
/// bias readable for 32 values; `tiles` only after [`tile_config`].
unsafe fn kernel(chunks: usize, a: *const Line, b: *const Line, c: *mut f32, ldc: usize, start: Start, tiles: bool) {
    #[cfg(target_arch = "x86_64")]
    if tiles {
        // SAFETY: the caller's contract.
        return unsafe { kernel_tiles(chunks, a, b, c, ldc, start) };
    }
    // SAFETY: the caller's contract.
    unsafe { kernel_emulated(chunks, a, b, c, ldc, start) }
}

/// Tiles 0–3 hold C's four 16×16 quarters, 4–5 A's and 6–7 B's tiles of
/// one chunk. Per chunk: the hi·hi products, then hi·lo, then lo·hi, loading
/// each tile as late as it can and B's hi tile for columns 16–31 twice (nine
/// loads for twelve products); A two chunks ahead is asked into L1.
///
/// # Safety
/// As [`kernel`], with tiles configured on this thread.
#[cfg(target_arch = "x86_64")]
unsafe fn kernel_tiles(chunks: usize, a: *const Line, b: *const Line, c: *mut f32, ldc: usize, start: Start) {
    // SAFETY: the caller's contract. The tiles are this thread's state, not
    // the compiler's: they carry over from one asm block to the next.
    unsafe {
        match start {
            Start::Load => std::arch::asm!(
                "tileloadd tmm0, [{c0} + {ldcb}*1]",
                "tileloadd tmm1, [{c0} + {ldcb}*1 + 64]",
                "tileloadd tmm2, [{c1} + {ldcb}*1]",
                "tileloadd tmm3, [{c1} + {ldcb}*1 + 64]",
                c0 = in(reg) c,
                c1 = in(reg) c.add(16 * ldc),
                ldcb = in(reg) ldc * 4,
                options(nostack, readonly),
            ),
            Start::Zero => std::arch::asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem)),
            // A stride of zero loads the same line in all 16 rows.
            Start::Bias(bias) => std::arch::asm!(
                "tileloadd tmm0, [{bias} + {zero}*1]",
                "tileloadd tmm1, [{bias} + {zero}*1 + 64]",
                "tileloadd tmm2, [{bias} + {zero}*1]",
                "tileloadd tmm3, [{bias} + {zero}*1 + 64]",
                bias = in(reg) bias,
                zero = in(reg) 0usize,
                options(nostack, readonly),
            ),
        }
    }
    if chunks == 0 {
        // SAFETY: as above.
        return unsafe { store_c(c, ldc) };
    }
    // SAFETY: the caller's contract; prefetches never fault.
    unsafe {
        std::arch::asm!(
            "2:",
            "tileloadd tmm4, [{a} + {s}*1]",
            "prefetcht0 [{a} + 8192]", "prefetcht0 [{a} + 8256]", "prefetcht0 [{a} + 8320]", "prefetcht0 [{a} + 8384]",
            "prefetcht0 [{a} + 8448]", "prefetcht0 [{a} + 8512]", "prefetcht0 [{a} + 8576]", "prefetcht0 [{a} + 8640]",
            "prefetcht0 [{a} + 8704]", "prefetcht0 [{a} + 8768]", "prefetcht0 [{a} + 8832]", "prefetcht0 [{a} + 8896]",
            "prefetcht0 [{a} + 8960]", "prefetcht0 [{a} + 9024]", "prefetcht0 [{a} + 9088]", "prefetcht0 [{a} + 9152]",
            "prefetcht0 [{a} + 9216]", "prefetcht0 [{a} + 9280]", "prefetcht0 [{a} + 9344]", "prefetcht0 [{a} + 9408]",
            "prefetcht0 [{a} + 9472]", "prefetcht0 [{a} + 9536]", "prefetcht0 [{a} + 9600]", "prefetcht0 [{a} + 9664]",
            "prefetcht0 [{a} + 9728]", "prefetcht0 [{a} + 9792]", "prefetcht0 [{a} + 9856]", "prefetcht0 [{a} + 9920]",
            "prefetcht0 [{a} + 9984]", "prefetcht0 [{a} + 10048]", "prefetcht0 [{a} + 10112]", "prefetcht0 [{a} + 10176]",
            "prefetcht0 [{a} + 10240]", "prefetcht0 [{a} + 10304]", "prefetcht0 [{a} + 10368]", "prefetcht0 [{a} + 10432]",
            "prefetcht0 [{a} + 10496]", "prefetcht0 [{a} + 10560]", "prefetcht0 [{a} + 10624]", "prefetcht0 [{a} + 10688]",
            "prefetcht0 [{a} + 10752]", "prefetcht0 [{a} + 10816]", "prefetcht0 [{a} + 10880]", "prefetcht0 [{a} + 10944]",
            "prefetcht0 [{a} + 11008]", "prefetcht0 [{a} + 11072]", "prefetcht0 [{a} + 11136]", "prefetcht0 [{a} + 11200]",
            "prefetcht0 [{a} + 11264]", "prefetcht0 [{a} + 11328]", "prefetcht0 [{a} + 11392]", "prefetcht0 [{a} + 11456]",
            "prefetcht0 [{a} + 11520]", "prefetcht0 [{a} + 11584]", "prefetcht0 [{a} + 11648]", "prefetcht0 [{a} + 11712]",
            "prefetcht0 [{a} + 11776]", "prefetcht0 [{a} + 11840]", "prefetcht0 [{a} + 11904]", "prefetcht0 [{a} + 11968]",
            "prefetcht0 [{a} + 12032]", "prefetcht0 [{a} + 12096]", "prefetcht0 [{a} + 12160]", "prefetcht0 [{a} + 12224]",
            // hi · hi
            "tileloadd tmm6, [{b} + {s}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm7, [{b} + {s}*1 + 1024]",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a} + {s}*1 + 1024]",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            // hi · lo
            "tileloadd tmm7, [{b} + {s}*1 + 2048]",
            "tdpbf16ps tmm0, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm7",
            "tileloadd tmm7, [{b} + {s}*1 + 3072]",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm3, tmm5, tmm7",
            // lo · hi
            "tileloadd tmm4, [{a} + {s}*1 + 2048]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm5, [{a} + {s}*1 + 3072]",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tileloadd tmm6, [{b} + {s}*1 + 1024]",
            "tdpbf16ps tmm1, tmm4, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm6",
            "add {a}, 4096",
            "add {b}, 4096",
            "dec {n}",
            "jnz 2b",
            s = in(reg) 64usize,
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            n = inout(reg) chunks => _,
            options(nostack, readonly),
        );
        store_c(c, ldc);
    }
}

/// Tiles 0–3 into C's 32×32 block.
///
/// # Safety
/// `c` writable for 32 rows of 32 values at leading dimension `ldc`.
#[cfg(target_arch = "x86_64")]
unsafe fn store_c(c: *mut f32, ldc: usize) {
    // SAFETY: the caller's contract.
    unsafe {
        std::arch::asm!(
            "tilestored [{c0} + {ldcb}*1], tmm0",
            "tilestored [{c0} + {ldcb}*1 + 64], tmm1",
            "tilestored [{c1} + {ldcb}*1], tmm2",
            "tilestored [{c1} + {ldcb}*1 + 64], tmm3",
            c0 = in(reg) c,
            c1 = in(reg) c.add(16 * ldc),
            ldcb = in(reg) ldc * 4,
            options(nostack),
        );
    }
}

/// What [`kernel_tiles`] computes, one value at a time (f32 sums of the
/// same exact bf16 products, in another order).
///
/// # Safety
/// As [`kernel`].
unsafe fn kernel_emulated(chunks: usize, a: *const Line, b: *const Line, c: *mut f32, ldc: usize, start: Start) {
    // SAFETY: the caller's contract.
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, chunks * LINES_PER_CHUNK), std::slice::from_raw_parts(b, chunks * LINES_PER_CHUNK)) };
    for r in 0..BLOCK {
        for j in 0..BLOCK {
            // SAFETY: (r, j) lies in the 32×32 block, the bias's j in its 32 values.
            let out = unsafe { &mut *c.add(r * ldc + j) };
            match start {
                Start::Load => {}
                Start::Zero => *out = 0.0,
                Start::Bias(bias) => *out = unsafe { *bias.add(j) },
            }
            for (at, bt) in a.chunks_exact(LINES_PER_CHUNK).zip(b.chunks_exact(LINES_PER_CHUNK)) {
                let (a_hi, a_lo) = (&at[(r / 16) * 16 + r % 16], &at[(2 + r / 16) * 16 + r % 16]);
                for p in 0..CHUNK {
                    let (hi_line, lo_line, lane) = b_place(p, j);
                    let (b_hi, b_lo) = (bt[hi_line].0[lane], bt[lo_line].0[lane]);
                    *out += widen(a_hi.0[p]) * widen(b_hi) + widen(a_hi.0[p]) * widen(b_lo) + widen(a_lo.0[p]) * widen(b_hi);
                }
            }
        }
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
            }
        }
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
