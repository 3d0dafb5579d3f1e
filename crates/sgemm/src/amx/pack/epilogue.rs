//! What a product's 32×32 blocks go through on their way into the next
//! products' tiles, when they never go to memory as f32 (`crate::amx`'s
//! `Out`): quick GELU ([`ActivateRows`]), the same keeping what training's
//! backward reads ([`ActivateKeepingRows`]), GELU's gradient into two
//! layouts ([`GeluGradRows`]), q, k and v into their heads' tiles
//! ([`HeadRows`]). Each takes some of a block's rows at a
//! time, so that the kernel can run it a row or two between the products
//! of its next block's chunks; each is compiled for the CPU's instruction
//! set and chosen once.

use std::ops::Range;

use super::super::heads::{WIDTH, row_place};
use super::super::{BLOCK, CHUNK, LINES_PER_CHUNK, Line};
use super::b_place;
use super::a::split_a_values;
use crate::MatRef;
#[cfg(target_arch = "x86_64")]
use crate::transpose::transpose_16x16;

/// A 32×32 block of an MLP's first product (row-major, its first `rows`
/// rows and `cols` columns real) through quick GELU, as the tiles the second
/// product reads for one chunk of one row block (64 lines): what
/// `pack_a_blocks` with `Prologue::QuickGelu` makes of the same values in
/// C, rows and depth past the real ones zeros. Some of the block's rows at a
/// time, compiled for the CPU's instruction set (chosen once: the AMX kernel
/// runs it a row or two between the products of its chunks).
#[derive(Clone, Copy)]
pub(in crate::amx) struct ActivateRows(unsafe fn(&[f32; BLOCK * CHUNK], Range<usize>, usize, usize, *mut Line));

impl ActivateRows {
    for_this_cpu!(pack_activated_rows(block: &[f32; BLOCK * CHUNK], range: Range<usize>, rows: usize, cols: usize, out: *mut Line));

    /// Rows `range` of the block into their lines of the 64 at `out`.
    ///
    /// # Safety
    /// `out` valid for writes of 64 lines, no one else accessing those of
    /// the rows in `range` (lines `r` and `32 + r`).
    #[inline(always)]
    pub(in crate::amx) unsafe fn run(self, block: &[f32; BLOCK * CHUNK], range: Range<usize>, rows: usize, cols: usize, out: *mut Line) {
        // SAFETY: the caller's contract; the function was chosen for this CPU.
        unsafe { (self.0)(block, range, rows, cols, out) }
    }
}

/// [`ActivateRows`]' work, compiled once per instruction set (`avx512`
/// unused: the compiler vectorises it for the build's features).
///
/// # Safety
/// As [`ActivateRows::run`].
#[inline(always)]
unsafe fn pack_activated_rows(block: &[f32; BLOCK * CHUNK], range: Range<usize>, rows: usize, cols: usize, out: *mut Line, avx512: bool, bf16: bool) {
    let _ = avx512;
    for r in range {
        // SAFETY: lines r and 32 + r of the 64 at `out` (the caller's contract).
        let (hi, lo) = unsafe { (&mut (*out.add(r)).0, &mut (*out.add(32 + r)).0) };
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

/// [`ActivateRows`], keeping what the MLP's backward reads: the block's
/// values before the activation into `inner` (fc1's outputs), and, with
/// its last row, the activated block as the chunk of B that fc2's weight
/// gradient reads (`b_tiles`, 64 lines: tokens as depth, as `AmxB` packs
/// the activated matrix). The block is activated in place.
#[derive(Clone, Copy)]
pub(in crate::amx) struct ActivateKeepingRows(unsafe fn(&mut [f32; BLOCK * CHUNK], Range<usize>, &KeptBlock));

/// Where [`ActivateKeepingRows`] writes one block.
pub(in crate::amx) struct KeptBlock {
    pub(in crate::amx) rows: usize,
    pub(in crate::amx) cols: usize,
    pub(in crate::amx) lines: *mut Line,
    /// fc1's outputs at the block's first row and column, rows `ld` apart.
    pub(in crate::amx) inner: *mut f32,
    pub(in crate::amx) ld: usize,
    pub(in crate::amx) b_tiles: *mut Line,
}

impl ActivateKeepingRows {
    for_this_cpu!(activate_keeping_rows(block: &mut [f32; BLOCK * CHUNK], range: Range<usize>, at: &KeptBlock));

    /// Rows `range` of `block`.
    ///
    /// # Safety
    /// `at`'s pointers valid for the block's writes (`inner`: `rows` rows
    /// of `cols` values; `lines`, `b_tiles`: 64 lines), accessed by no one else.
    #[inline(always)]
    pub(in crate::amx) unsafe fn run(self, block: &mut [f32; BLOCK * CHUNK], range: Range<usize>, at: &KeptBlock) {
        // SAFETY: the caller's contract; the function was chosen for this CPU.
        unsafe { (self.0)(block, range, at) }
    }
}

/// [`ActivateKeepingRows`]' work, compiled once per instruction set.
///
/// # Safety
/// As [`ActivateKeepingRows::run`].
#[inline(always)]
unsafe fn activate_keeping_rows(block: &mut [f32; BLOCK * CHUNK], range: Range<usize>, at: &KeptBlock, avx512: bool, bf16: bool) {
    let last = range.end == BLOCK;
    for r in range {
        // SAFETY (the row's writes): the caller's contract.
        let (hi, lo) = unsafe { (&mut (*at.lines.add(r)).0, &mut (*at.lines.add(32 + r)).0) };
        let values: &mut [f32; CHUNK] = (&mut block[r * CHUNK..][..CHUNK]).try_into().expect("a row is 32 values");
        if r >= at.rows {
            *values = [0.0; CHUNK];
            (*hi, *lo) = ([0; CHUNK], [0; CHUNK]);
            continue;
        }
        // SAFETY: row r of fc1's outputs has `cols` values here.
        unsafe { std::slice::from_raw_parts_mut(at.inner.add(r * at.ld), at.cols) }.copy_from_slice(&values[..at.cols]);
        values[at.cols..].fill(0.0);
        crate::activation::quick_gelu_values(values);
        split_a_values(values, hi, lo, bf16);
    }
    if last {
        // SAFETY: the 64 lines of B's chunk (the caller's contract); they
        // are only written.
        let tiles = unsafe { std::slice::from_raw_parts_mut(at.b_tiles as *mut std::mem::MaybeUninit<Line>, LINES_PER_CHUNK) };
        super::pack_b_chunk(MatRef::row_major(&block[..], BLOCK, CHUNK), 0..BLOCK, 0, tiles, avx512, bf16);
    }
}

/// A 32×32 block of fc2's input gradient (the kernel's block, row-major:
/// tokens × hidden units, its first `rows` rows and `cols` columns real)
/// through quick GELU's gradient at fc1's outputs, as both products after it
/// read it: split into the A tiles of fc1's input gradient (`lines`, the
/// block's 64, as `pack_a_blocks` packs the gradient), and, transposed,
/// into those of fc1's weight gradient (`transposed`: hidden units as rows,
/// tokens as depth, as `pack_a_blocks` packs the gradient's transpose);
/// the block's column sums added to `sums` (fc1's bias gradient, a row at a
/// time in order, as `crate::rows::column_sums` adds them). Some of the
/// block's rows at a time; the transposed tiles when the last row is done.
#[derive(Clone, Copy)]
pub(in crate::amx) struct GeluGradRows(unsafe fn(&mut [f32; BLOCK * CHUNK], Range<usize>, &GeluGradBlock));

/// Where [`GeluGradRows`] reads and writes one block.
pub(in crate::amx) struct GeluGradBlock {
    pub(in crate::amx) rows: usize,
    pub(in crate::amx) cols: usize,
    /// fc1's outputs at the block's first row and column, rows `ld` apart.
    pub(in crate::amx) inner: *const f32,
    pub(in crate::amx) ld: usize,
    pub(in crate::amx) lines: *mut Line,
    pub(in crate::amx) transposed: *mut Line,
    /// The block's 32 columns' sums (those past `cols` untouched).
    pub(in crate::amx) sums: *mut f32,
}

impl GeluGradRows {
    for_this_cpu!(gelu_grad_rows(block: &mut [f32; BLOCK * CHUNK], range: Range<usize>, at: &GeluGradBlock));

    /// Rows `range` of `block` (in place: the block keeps the gradient's
    /// values for the transposed tiles, written with its last row).
    ///
    /// # Safety
    /// `at`'s pointers valid for the block: `inner` for reads of `rows`
    /// rows of `cols` values, `lines` and `transposed` for writes of 64
    /// lines, `sums` for reads and writes of `cols` values; those written
    /// accessed by no one else.
    #[inline(always)]
    pub(in crate::amx) unsafe fn run(self, block: &mut [f32; BLOCK * CHUNK], range: Range<usize>, at: &GeluGradBlock) {
        // SAFETY: the caller's contract; the function was chosen for this CPU.
        unsafe { (self.0)(block, range, at) }
    }
}

/// [`GeluGradRows`]' work, compiled once per instruction set (`avx512`:
/// the CPU has AVX-512F and BW, `bf16` also AVX512-BF16).
///
/// # Safety
/// As [`GeluGradRows::run`].
#[inline(always)]
unsafe fn gelu_grad_rows(block: &mut [f32; BLOCK * CHUNK], range: Range<usize>, at: &GeluGradBlock, avx512: bool, bf16: bool) {
    let last = range.end == BLOCK;
    for r in range {
        // SAFETY (the row's reads and writes): the caller's contract.
        let (hi, lo) = unsafe { (&mut (*at.lines.add(r)).0, &mut (*at.lines.add(32 + r)).0) };
        let values: &mut [f32; CHUNK] = (&mut block[r * CHUNK..][..CHUNK]).try_into().expect("a row is 32 values");
        if r >= at.rows {
            *values = [0.0; CHUNK];
            (*hi, *lo) = ([0; CHUNK], [0; CHUNK]);
            continue;
        }
        // Whole rows of 32, so that the loop is vector steps.
        let mut inner = [0f32; CHUNK];
        // SAFETY: row r of fc1's outputs has `cols` values here.
        inner[..at.cols].copy_from_slice(unsafe { std::slice::from_raw_parts(at.inner.add(r * at.ld), at.cols) });
        for (v, &x) in values.iter_mut().zip(&inner) {
            *v = crate::activation::quick_gelu_grad(x, *v);
        }
        values[at.cols..].fill(0.0);
        // SAFETY: the block's columns' sums (the caller's contract).
        let sums = unsafe { std::slice::from_raw_parts_mut(at.sums, at.cols) };
        for (s, &v) in sums.iter_mut().zip(values.iter()) {
            *s += v;
        }
        split_a_values(values, hi, lo, bf16);
    }
    if last {
        let mut columns = [[0f32; CHUNK]; BLOCK];
        transpose_block(block, &mut columns, avx512);
        for (j, column) in columns.iter().enumerate() {
            // SAFETY: lines j and 32 + j of the transposed tiles (the caller's contract).
            let (hi, lo) = unsafe { (&mut (*at.transposed.add(j)).0, &mut (*at.transposed.add(32 + j)).0) };
            split_a_values(column, hi, lo, bf16);
        }
    }
}

/// `columns[j][q] = block[q][j]` for a row-major 32 × 32 block, in 16 × 16
/// quarters of AVX-512 registers where `avx512` says the CPU has them.
#[inline(always)]
fn transpose_block(block: &[f32; BLOCK * CHUNK], columns: &mut [[f32; CHUNK]; BLOCK], avx512: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx512 {
        use std::arch::x86_64::*;
        for (qb, jb) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            // SAFETY: the CPU has AVX-512F (the caller's check); rows and
            // columns qb·16.. and jb·16.. + 16 lie in both 32 × 32 blocks.
            unsafe {
                let rows: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(block.as_ptr().add((qb * 16 + i) * CHUNK + jb * 16)));
                let t = transpose_16x16(&rows);
                for (i, line) in t.iter().enumerate() {
                    _mm512_storeu_ps(columns[jb * 16 + i].as_mut_ptr().add(qb * 16), *line);
                }
            }
        }
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx512;
    for (j, column) in columns.iter_mut().enumerate() {
        for (q, v) in column.iter_mut().enumerate() {
            *v = block[q * CHUNK + j];
        }
    }
}

/// A 32×32 block of a stacked q/k/v product (rows: tokens of consecutive
/// films; its 32 columns: half of one head's q, k or v) into that head's
/// tiles, split into bf16 halves: q's rows as A's, k's as the columns of
/// kᵀ's B, v's as rows of B (`heads::row_place`). Some of the block's rows
/// at a time.
#[derive(Clone, Copy)]
pub(in crate::amx) struct HeadRows(unsafe fn(&[f32; BLOCK * CHUNK], Range<usize>, &HeadBlock));

/// Where [`HeadRows`] puts one block.
pub(in crate::amx) struct HeadBlock {
    /// Real rows (the last block's may be fewer than 32).
    pub(in crate::amx) rows: usize,
    /// The token, counted over all films, of the block's first row.
    pub(in crate::amx) first_row: usize,
    /// The block's panel of the product's columns (32 each).
    pub(in crate::amx) panel: usize,
    pub(in crate::amx) tokens: usize,
    pub(in crate::amx) heads: usize,
    /// The heads' tiles.
    pub(in crate::amx) lines: *mut Line,
}

impl HeadRows {
    for_this_cpu!(head_rows(block: &[f32; BLOCK * CHUNK], range: Range<usize>, at: &HeadBlock));

    /// Rows `range` of `block`.
    ///
    /// # Safety
    /// `at.lines` holds the tiles of every film of the block's rows, whose
    /// lines this block writes accessed by no one else.
    #[inline(always)]
    pub(in crate::amx) unsafe fn run(self, block: &[f32; BLOCK * CHUNK], range: Range<usize>, at: &HeadBlock) {
        // SAFETY: the caller's contract; the function was chosen for this CPU.
        unsafe { (self.0)(block, range, at) }
    }
}

/// [`HeadRows`]' work, compiled once per instruction set.
///
/// # Safety
/// As [`HeadRows::run`].
#[inline(always)]
unsafe fn head_rows(block: &[f32; BLOCK * CHUNK], range: Range<usize>, at: &HeadBlock, avx512: bool, bf16: bool) {
    let hidden = at.heads * WIDTH;
    let (part, column) = (at.panel * BLOCK / hidden, at.panel * BLOCK % hidden);
    let (head, half) = (column / WIDTH, column % WIDTH / CHUNK);
    let place = |r: usize| {
        let token = at.first_row + r;
        let j = token % at.tokens;
        (j, row_place(token / at.tokens, j, head, half, part, at.heads))
    };
    let halves = |r: usize| {
        let values: &[f32; CHUNK] = block[r * CHUNK..][..CHUNK].try_into().expect("a row is 32 values");
        let (mut hi, mut lo) = ([0u16; CHUNK], [0u16; CHUNK]);
        split_a_values(values, &mut hi, &mut lo, bf16);
        (hi, lo)
    };
    let rows = range.start..range.end.min(at.rows);
    if part == 0 {
        for r in rows {
            let (_, line) = place(r);
            // SAFETY: q's lines of the row's token (the caller's contract).
            let (hi, lo) = unsafe { (&mut (*at.lines.add(line)).0, &mut (*at.lines.add(line + BLOCK)).0) };
            split_a_values(block[r * CHUNK..][..CHUNK].try_into().expect("a row is 32 values"), hi, lo, bf16);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx512 {
        use std::arch::x86_64::*;
        // SAFETY (the vector steps): the CPU has AVX-512F and BW (the
        // caller's choice of build); every line written is one of the 64 of
        // the chunk holding the row (the caller's contract).
        unsafe {
            if part == 1 {
                // A row of k is a column of kᵀ: its 16 pairs of dims (a
                // pair's two halves side by side are one 32-bit lane of B's
                // line) go to lane j mod 16 of the tile's 16 lines.
                let lines = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(16));
                for r in rows {
                    let ((j, chunk), (hi, lo)) = (place(r), halves(r));
                    let tile = at.lines.add(chunk).cast::<i32>().add((j % BLOCK) / 16 * 16 * 16);
                    let index = _mm512_add_epi32(lines, _mm512_set1_epi32((j % 16) as i32));
                    _mm512_i32scatter_epi32::<4>(tile, index, _mm512_loadu_si512(hi.as_ptr().cast()));
                    _mm512_i32scatter_epi32::<4>(tile.add(2 * 16 * 16), index, _mm512_loadu_si512(lo.as_ptr().cast()));
                }
                return;
            }
            // v: tokens are B's depth, in pairs (j even, and j + 1 in the
            // same film, the tokens being even), so each pair of rows makes
            // whole lines, done when its second row is.
            let pick = |t: i16| -> __m512i {
                let lanes: [i16; 32] = std::array::from_fn(|i| if i % 2 == 0 { 16 * t + i as i16 / 2 } else { 32 + 16 * t + i as i16 / 2 });
                _mm512_loadu_si512(lanes.as_ptr().cast())
            };
            let (first, second) = (pick(0), pick(1));
            for r in rows.filter(|r| r % 2 == 1) {
                let ((j, chunk), (hi0, lo0), (hi1, lo1)) = (place(r - 1), halves(r - 1), halves(r));
                let tiles = at.lines.add(chunk);
                let line = (j % CHUNK) / 2;
                let load = |h: &[u16; CHUNK]| _mm512_loadu_si512(h.as_ptr().cast());
                for (t, pick) in [(0, first), (1, second)] {
                    _mm512_store_si512(tiles.add(t * 16 + line).cast(), _mm512_permutex2var_epi16(load(&hi0), pick, load(&hi1)));
                    _mm512_store_si512(tiles.add((2 + t) * 16 + line).cast(), _mm512_permutex2var_epi16(load(&lo0), pick, load(&lo1)));
                }
            }
            return;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx512;
    for r in rows {
        let ((j, chunk), (hi, lo)) = (place(r), halves(r));
        // SAFETY: the 64 lines of the chunk holding this row (the caller's contract).
        let tiles = unsafe { std::slice::from_raw_parts_mut(at.lines.add(chunk), LINES_PER_CHUNK) };
        for d in 0..CHUNK {
            // k: the dims are kᵀ's depth, the token its column; v the other way.
            let (hi_line, lo_line, lane) = if part == 1 { b_place(d, j % BLOCK) } else { b_place(j % CHUNK, d) };
            tiles[hi_line].0[lane] = hi[d];
            tiles[lo_line].0[lane] = lo[d];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::ZERO_LINE;
    use super::*;

    /// Every build of [`HeadRows`] (the portable one, and the AVX-512 one
    /// where the CPU has it) puts q, k and v's rows in the same lanes, whether
    /// the rows come a few at a time or all at once; blocks that start
    /// mid-film and cross into the next one, and a partial last block.
    #[test]
    fn head_rows_place_the_same_values_in_every_build() {
        let (tokens, heads) = (50, 2);
        let films = 3;
        let block: [f32; BLOCK * CHUNK] = std::array::from_fn(|i| ((i * 7919) % 1013) as f32 / 97.0 - 5.0);
        // The CPU's build (its own rounding) against the portable one with the same rounding.
        let chosen = HeadRows::for_this_cpu();
        let bf16 = crate::amx::bf16_rounding();
        for panel in 0..3 * heads * 2 {
            for (first_row, rows) in [(32, 32), (96, 32), (128, 22)] {
                let run = |portable: bool, steps: &[Range<usize>]| {
                    let mut lines = vec![ZERO_LINE; films * heads * 3 * 4 * LINES_PER_CHUNK];
                    let at = HeadBlock { rows, first_row, panel, tokens, heads, lines: lines.as_mut_ptr() };
                    for range in steps {
                        // SAFETY: `lines` holds every film's heads' tiles.
                        unsafe {
                            if portable {
                                head_rows(&block, range.clone(), &at, false, bf16)
                            } else {
                                chosen.run(&block, range.clone(), &at)
                            }
                        }
                    }
                    lines.iter().flat_map(|line| line.0).collect::<Vec<u16>>()
                };
                let in_steps: Vec<Range<usize>> = (0..24).map(|c| c * BLOCK / 24..(c + 1) * BLOCK / 24).collect();
                let want = run(true, std::slice::from_ref(&(0..BLOCK)));
                assert!(want.iter().any(|&v| v != 0), "panel {panel}: nothing written");
                assert_eq!(run(false, &in_steps), want, "panel {panel}, rows from {first_row}: the CPU's build, a row or two at a time");
                assert_eq!(run(true, &in_steps), want, "panel {panel}, rows from {first_row}: the portable build, a row or two at a time");
            }
        }
    }
}
