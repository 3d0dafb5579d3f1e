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

mod a;
mod epilogue;

pub(crate) use a::Prologue;
pub(in crate::amx) use a::{pack_a_blocks, split_a_values};
pub(in crate::amx) use epilogue::{ActivateKeepingRows, ActivateRows, GeluGradBlock, GeluGradRows, HeadBlock, HeadRows, KeptBlock};
#[cfg(all(test, target_arch = "x86_64"))]
use a::split_values_bf16;

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

    /// B `n` columns wide, `chunks` chunks deep, from its packed lines.
    pub(super) fn from_lines(n: usize, chunks: usize, lines: Vec<Line>) -> Self {
        assert_eq!(lines.len(), n.div_ceil(BLOCK) * chunks * LINES_PER_CHUNK, "sgemm: packed B's lines do not fit its shape");
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
    fn wide(b: MatRef<'_>, first: usize, panels: &mut [MaybeUninit<Line>], bf16: bool) {
        pack_b_panels_body(b, first, panels, true, bf16)
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512bw") {
        let bf16 = std::is_x86_feature_detected!("avx512bf16");
        // SAFETY: the CPU has the features `wide` is compiled for (and
        // AVX512-BF16 where `bf16` says so).
        return unsafe { wide(b, first, panels, bf16) };
    }
    pack_b_panels_body(b, first, panels, false, false)
}

/// [`pack_b_panels`]' work, compiled once per instruction set (`avx512`:
/// the CPU has AVX-512F and BW, `bf16` also AVX512-BF16, checked once by
/// the caller).
#[inline(always)]
fn pack_b_panels_body(b: MatRef<'_>, first: usize, panels: &mut [MaybeUninit<Line>], avx512: bool, bf16: bool) {
    let chunks = b.rows().div_ceil(CHUNK);
    let panel_lines = chunks * LINES_PER_CHUNK;
    let count = panels.len() / panel_lines;
    let columns = |jp: usize| (first + jp) * BLOCK..((first + jp) * BLOCK + BLOCK).min(b.cols());
    let mut tiles = |jp: usize, c: usize| {
        let tiles = &mut panels[jp * panel_lines + c * LINES_PER_CHUNK..][..LINES_PER_CHUNK];
        pack_b_chunk(b, columns(jp), c, tiles, avx512, bf16)
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
/// tiles (`tiles`: 64 lines, every one written), in AVX-512 registers where
/// `avx512` says the CPU has them, rounded by AVX512-BF16 where `bf16` does.
#[inline(always)]
fn pack_b_chunk(b: MatRef<'_>, columns: Range<usize>, c: usize, tiles: &mut [MaybeUninit<Line>], avx512: bool, bf16: bool) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (avx512, bf16);
    let k = b.rows();
    let depth = c * CHUNK..(c * CHUNK + CHUNK).min(k);
    // The register paths write every line, padding included; the others
    // place only B's values, in lines zeroed first.
    #[cfg(target_arch = "x86_64")]
    if avx512 && b.row_stride == 1 {
        // SAFETY: the CPU has AVX-512F (and BF16 where `bf16`: the caller's
        // check); the panel's columns lie in B.
        return unsafe { pack_b_columns_avx512(b, columns, depth, tiles, bf16) };
    }
    #[cfg(target_arch = "x86_64")]
    if avx512 && b.col_stride == 1 && columns.len() == BLOCK {
        // SAFETY: as above; the chunk's rows lie in B.
        return unsafe { pack_b_rows_avx512(b, columns.start, depth, tiles, bf16) };
    }
    let tiles = zeroed(tiles);
    let mut values = [[0f32; CHUNK]; 2];
    let (mut hi, mut lo) = ([[0u16; CHUNK]; 2], [[0u16; CHUNK]; 2]);
    if b.row_stride == 1 {
        // Column-major B (Wᵀ of a PyTorch weight): a column's depth is
        // one slice.
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
unsafe fn pack_b_rows_avx512(b: MatRef<'_>, first_column: usize, depth: Range<usize>, tiles: &mut [MaybeUninit<Line>], bf16: bool) {
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
            let (even, odd) = (split_lanes(row(p, half), bf16), split_lanes(row(p + 1, half), bf16));
            let line = |e: __m512i, o: __m512i| _mm512_or_si512(e, _mm512_slli_epi32::<16>(o));
            // SAFETY: lines `half · 16 + pp / 2` and `(2 + half) · 16 + pp / 2` lie in `tiles`.
            unsafe {
                _mm512_store_si512(tiles[half * 16 + pp / 2].as_mut_ptr().cast(), line(even.0, odd.0));
                _mm512_store_si512(tiles[(2 + half) * 16 + pp / 2].as_mut_ptr().cast(), line(even.1, odd.1));
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
unsafe fn pack_b_columns_avx512(b: MatRef<'_>, columns: Range<usize>, depth: Range<usize>, tiles: &mut [MaybeUninit<Line>], bf16: bool) {
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
            let (first, second) = (split_lanes(load(0), bf16), split_lanes(load(1), bf16));
            (hi[j], lo[j]) = (narrow(first.0, second.0), narrow(first.1, second.1));
        }
        let (hi, lo) = (transpose_16x16(&hi), transpose_16x16(&lo));
        for line in 0..16 {
            // SAFETY: lines `tile · 16 + line` and `(2 + tile) · 16 + line` lie in `tiles`.
            unsafe {
                _mm512_store_ps(tiles[tile * 16 + line].as_mut_ptr().cast(), hi[line]);
                _mm512_store_ps(tiles[(2 + tile) * 16 + line].as_mut_ptr().cast(), lo[line]);
            }
        }
    }
}

/// [`split`] on 16 values at once: (hi, lo), each half in the low 16 bits
/// of its value's 32-bit lane, the high 16 bits zero. With `bf16` (the CPU
/// has AVX512-BF16, the caller's check) by VCVTNEPS2BF16, in a third of
/// the integer steps: as A's `a::split_values_bf16`, it flushes values
/// below 2⁻¹²⁶ to zero and splits every other value the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn split_lanes(x: std::arch::x86_64::__m512, bf16: bool) -> (std::arch::x86_64::__m512i, std::arch::x86_64::__m512i) {
    use std::arch::x86_64::*;
    // round_bf16, lane by lane: NaN keeps its top bits, made quiet.
    let round = |x: __m512| -> __m512i {
        if bf16 {
            let rounded: __m256i;
            // SAFETY: the CPU has AVX512-BF16 (the caller's check); a
            // register-to-register conversion. In `asm!` because the
            // intrinsic would need the feature on every function it is
            // inlined through.
            unsafe { std::arch::asm!("vcvtneps2bf16 {out}, {x}", x = in(zmm_reg) x, out = out(ymm_reg) rounded, options(pure, nomem, nostack)) };
            return _mm512_cvtepu16_epi32(rounded);
        }
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

/// The halves of 32 values (the loop the compiler vectorises).
#[inline(always)]
pub(super) fn split_values(values: &[f32; CHUNK], hi: &mut [u16; CHUNK], lo: &mut [u16; CHUNK]) {
    for ((x, h), l) in values.iter().zip(hi.iter_mut()).zip(lo.iter_mut()) {
        (*h, *l) = split(*x);
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

    /// B's tiles one element at a time: `split` (as [`split`]) and [`put_b`].
    fn packed_b_reference(b: MatRef<'_>, split: fn(f32) -> (u16, u16)) -> Vec<u16> {
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

    /// [`split`] as VCVTNEPS2BF16 computes it: a positive value below
    /// 2⁻¹²⁶, or a remainder below it, is read as zero (the test's values
    /// have no negative ones, whose sign would depend on MXCSR's DAZ).
    fn split_flushing(x: f32) -> (u16, u16) {
        let flush = |v: f32| if v.is_subnormal() { 0.0 } else { v };
        let hi = round_bf16(flush(x));
        let lo = round_bf16(flush(x - widen(hi)));
        (hi, if widen(hi).is_finite() { lo } else { 0 })
    }

    /// Row-major B is packed chunk by chunk across panels, column-major B
    /// panel by panel, in AVX-512 registers where there are whole panels
    /// and the CPU has them: either way the tiles are those placed one
    /// element at a time (split by AVX512-BF16's rounding where the CPU
    /// has it).
    #[test]
    fn b_packs_as_placed_one_element_at_a_time() {
        let mut flushed = false;
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
            let want = packed_b_reference(row_major, split);
            assert_eq!(want, packed_b_reference(column_major, split));
            #[cfg(target_arch = "x86_64")]
            let (avx512, bf16) = (std::is_x86_feature_detected!("avx512bw"), std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512bf16"));
            #[cfg(not(target_arch = "x86_64"))]
            let (avx512, bf16) = (false, false);
            let want_here = if bf16 { packed_b_reference(row_major, split_flushing) } else { want.clone() };
            flushed |= want_here != want;
            for (layout, b) in [("row-major", row_major), ("column-major", column_major)] {
                let packed = AmxB::new(b);
                assert_eq!((packed.n, packed.chunks), (n, k.div_ceil(CHUNK)));
                let words: Vec<u16> = packed.lines.iter().flat_map(|line| line.0).collect();
                // A partial row-major panel takes the scalar path, which does not flush.
                let agrees = words.iter().zip(want.iter().zip(&want_here)).all(|(w, (a, b))| w == a || w == b);
                assert!(agrees && words.len() == want.len(), "{layout} {k}×{n}, leading dimension {ld}: the tiles differ");
                // Every path (AmxB::new takes the fastest the CPU has), over
                // memory holding other values: the padding must be written,
                // not found.
                for (path, fast, rounding) in [("scalar", false, false), ("AVX-512", true, false), ("AVX512-BF16", true, true)] {
                    if fast && !avx512 || rounding && !bf16 {
                        continue;
                    }
                    let mut lines = vec![MaybeUninit::new(Line([0xdead; 32])); want.len() / 32];
                    pack_b_panels_body(b, 0, &mut lines, fast, rounding);
                    // SAFETY: Line is plain u16s, and every line was initialised above.
                    let words: Vec<u16> = lines.iter().flat_map(|line| unsafe { line.assume_init() }.0).collect();
                    let agrees = if rounding { words.iter().zip(want.iter().zip(&want_here)).all(|(w, (a, b))| w == a || w == b) } else { words == want };
                    assert!(agrees, "{layout} {k}×{n}, leading dimension {ld}, {path}: the tiles differ");
                }
            }
        }
        // Where the instruction runs, some value must have told its split apart.
        #[cfg(target_arch = "x86_64")]
        assert!(flushed || !std::is_x86_feature_detected!("avx512bf16"), "no value of the test is one the instruction flushes");
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
