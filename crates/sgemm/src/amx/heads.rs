//! Films' self-attention on the tiles, from the layer norm's input to the
//! heads' output, with q, k and v never written as f32.
//!
//! The stacked q/k/v product's 32×32 blocks go straight into each (film,
//! head)'s tiles as they leave the kernel (`Out::Heads`, the work done a row
//! or two between the next block's products: `pack::HeadRows`): q as A
//! (tokens × dims), kᵀ and v as B (dims × tokens, tokens × dims). Then each
//! (film, head) is one task: `q·kᵀ` on the tiles, softmax over the film's
//! tokens, the probabilities split into A's tiles and `·v` on the tiles,
//! the output as f32 rows ([`attention`]) or split straight into the next
//! product's A tiles ([`attention_projected`], out_proj's). A head of a film is at most 64 × 64 × 64, so every operand is two
//! blocks (or panels) of two chunks, whatever the film's token count up to
//! 64; the tokens past it are padding that no result reads (the
//! probabilities are zero there, and v's padding is zeroed so that zero
//! times it stays zero).
//!
//! On f32 loops a head took ≈ 10 µs alone and more in its layer (q, k and
//! v read back from 29 MB of f32); packing q, k and v per head for the
//! tiles cost what the tiles saved (docs/PERFORMANCE.md, item 37 and the
//! night's tried-and-dropped).

use rayon::prelude::*;

use super::kernel::{Start, kernel, tile_config};
use super::pack::{AmxB, Prologue, split_a_values};
use super::{BLOCK, CHUNK, HeadsOut, KC_CHUNKS, LINES_PER_CHUNK, Line, Out, PACKED_A, PREFETCH_BYTES_PER_CHUNK, SharedLines, ZERO_LINE, multiply_shares, pack_a, take_lines};
use crate::attention::Heads;
use crate::{Init, MatRef, SharedOut};

/// The dims of a head, and the most tokens a film may have, here.
pub(crate) const WIDTH: usize = 64;
/// One operand of a head: two blocks (or panels) of two chunks.
const OPERAND_LINES: usize = 4 * LINES_PER_CHUNK;
/// A (film, head)'s q, kᵀ and v.
const HEAD_LINES: usize = 3 * OPERAND_LINES;

thread_local! {
    /// The calling thread's heads' tiles, kept between calls (37 MB for a
    /// 64-film batch of ViT-B/32), as `amx::PACKED_INNER` is.
    static PACKED_HEADS: std::cell::Cell<Vec<Line>> = const { std::cell::Cell::new(Vec::new()) };
    /// A task's scores and output (64 × 64 each) and its probabilities'
    /// tiles, allocated once per thread.
    static SCRATCH: std::cell::RefCell<Option<Box<HeadScratch>>> = const { std::cell::RefCell::new(None) };
    /// The calling thread's attention output as a projection's A
    /// ([`attention_projected`]), kept as `PACKED_HEADS` is.
    static PACKED_PROJECTED: std::cell::Cell<Vec<Line>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Whether [`attention`] takes this product and shape: heads of 64 dims,
/// q, k and v side by side in B's columns, one block of depth (so a block of
/// q/k/v is whole when its kernel call returns), at most 64 tokens a film,
/// and an even number of them (v's tiles hold tokens in pairs, and a pair
/// must not span two films).
pub(crate) fn fits(b: &AmxB, shape: Heads) -> bool {
    let Heads { tokens, head_dim, .. } = shape;
    head_dim == WIDTH && tokens > 0 && tokens <= WIDTH && tokens.is_multiple_of(2) && b.n == 3 * shape.hidden() && (1..=KC_CHUNKS).contains(&b.chunks)
}

/// Where the q, k or v (`part` 0, 1, 2) of head `head` of film `film` starts.
#[inline(always)]
fn operand(film: usize, head: usize, part: usize, heads: usize) -> usize {
    ((film * heads + head) * 3 + part) * OPERAND_LINES
}

/// Where one row of q/k/v goes: token `j` of film `film`, the 32 dims of
/// `half` of head `head`, of `part` (0 q, 1 k, 2 v). For q, the hi line
/// (its lo line is 32 further on): row `j` of A's tiles, the half's chunk.
/// For k and v, the first line of the 64 of the chunk holding it: kᵀ's
/// panel of token `j`, chunk `half` (the dims are the depth), or v's panel
/// `half`, the chunk of token `j` (the tokens are the depth).
#[inline(always)]
pub(in crate::amx) fn row_place(film: usize, j: usize, head: usize, half: usize, part: usize, heads: usize) -> usize {
    let base = operand(film, head, part, heads);
    match part {
        0 => base + ((j / BLOCK) * 2 + half) * LINES_PER_CHUNK + j % BLOCK,
        1 => base + ((j / BLOCK) * 2 + half) * LINES_PER_CHUNK,
        _ => base + (half * 2 + j / CHUNK) * LINES_PER_CHUNK,
    }
}

/// `softmax(q·kᵀ)·v` for every film and head, q, k and v the columns of
/// `prologue(x)·B + bias` (q scaled by 1/√d already, as
/// `crate::attention::self_attention` reads them): `[films·tokens,
/// hidden]`, heads side by side. The products on `threads` threads.
///
/// # Panics
/// Unless [`fits`] (the caller's check) and `x` has films·tokens rows.
pub(crate) fn attention(x: MatRef<'_>, prologue: Prologue<'_>, b: &AmxB, bias: Option<&[f32]>, shape: Heads, threads: usize, tiles: bool) -> Vec<f32> {
    let m = shape.batch * shape.tokens;
    let mut output: Vec<f32> = Vec::with_capacity(m * shape.hidden());
    // SAFETY: the output holds every film's rows.
    unsafe {
        heads_into(x, prologue, b, bias, shape, threads, tiles, Destination::Rows(SharedOut(output.as_mut_ptr())));
        // Every task wrote its head's columns of its film's rows.
        output.set_len(m * shape.hidden());
    }
    output
}

/// `C += attention · W` with the attention as [`attention`] computes it,
/// each head's output split straight into W's product's A tiles (never
/// written as f32), C (`films·tokens` rows, `ldc` apart) initialised.
///
/// # Panics
/// Unless [`fits`] and W takes the attention's output (the caller's checks).
///
/// # Safety
/// As `amx::gemm` for C.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn attention_projected(x: MatRef<'_>, prologue: Prologue<'_>, b: &AmxB, bias: Option<&[f32]>, shape: Heads, w: &AmxB, c: SharedOut, ldc: usize, threads: usize, tiles: bool) {
    let m = shape.batch * shape.tokens;
    assert_eq!(w.chunks * CHUNK, shape.hidden(), "sgemm: a projection {} chunks deep after attention {} wide", w.chunks, shape.hidden());
    let mut a = take_lines(&PACKED_PROJECTED, m.div_ceil(BLOCK) * w.chunks * LINES_PER_CHUNK);
    // SAFETY: `a` holds every row block's chunks; then C as the caller allows.
    unsafe {
        heads_into(x, prologue, b, bias, shape, threads, tiles, Destination::Tiles(SharedLines(a.as_mut_ptr()), w.chunks));
        multiply_shares(&a, m, w, Out::C { c, ldc }, Init::Accumulate, threads, tiles);
    }
    PACKED_PROJECTED.set(a);
}

/// Where the heads' outputs go.
#[derive(Clone, Copy)]
enum Destination {
    /// f32 rows, `hidden` apart.
    Rows(SharedOut),
    /// The next product's A tiles, `chunks` a row block.
    Tiles(SharedLines, usize),
}

/// [`attention`]'s work, its heads' outputs going where `to` says.
///
/// # Safety
/// `to` holds every film's rows (or row blocks), accessed by no one else.
#[allow(clippy::too_many_arguments)]
unsafe fn heads_into(x: MatRef<'_>, prologue: Prologue<'_>, b: &AmxB, bias: Option<&[f32]>, shape: Heads, threads: usize, tiles: bool, to: Destination) {
    assert!(fits(b, shape), "sgemm: attention on the tiles does not take {shape:?} with q/k/v {} wide, {} chunks deep", b.n, b.chunks);
    let Heads { batch: films, tokens, heads, .. } = shape;
    let (m, hidden) = (films * tokens, shape.hidden());
    assert_eq!(x.rows(), m, "sgemm: attention's input has {} rows for {films} films of {tokens} tokens", x.rows());
    let mut a = take_lines(&PACKED_A, m.div_ceil(BLOCK) * b.chunks * LINES_PER_CHUNK);
    pack_a(x, prologue, b.chunks, &mut a, threads);
    let mut packed = take_lines(&PACKED_HEADS, films * heads * HEAD_LINES);
    let out = Out::Heads(HeadsOut { lines: SharedLines(packed.as_mut_ptr()), tokens, heads });
    // SAFETY: each thread writes the tiles of its own panels of B (its
    // heads' q, k or v halves), which `packed` holds for every film.
    unsafe { multiply_shares(&a, m, b, out, Init::Bias(bias), threads, tiles) };
    PACKED_A.set(a);
    let probabilities = Probabilities::for_this_cpu();
    let bf16 = super::bf16_rounding();
    let heads_at = SharedLines(packed.as_mut_ptr());
    let tasks = films * heads;
    // Tasks in groups of a few heads: the tiles are configured once a group.
    (0..tasks.div_ceil(GROUP)).into_par_iter().for_each(|group| {
        SCRATCH.with_borrow_mut(|scratch| {
            let scratch = scratch.get_or_insert_with(|| Box::new(HeadScratch { scores: Square([0.0; WIDTH * WIDTH]), probs: [ZERO_LINE; OPERAND_LINES] }));
            if tiles {
                tile_config();
            }
            for task in group * GROUP..(group * GROUP + GROUP).min(tasks) {
                let (film, head) = (task / heads, task % heads);
                // SAFETY: this task's head tiles (written by the product
                // above) are its alone now, and so are its film's rows of
                // the output in its head's 64 columns; the next task's tiles
                // are only asked into L2.
                unsafe {
                    let lines = heads_at.add(operand(film, head, 0, heads));
                    let next = heads_at.add(operand(film, head, 0, heads) + HEAD_LINES * usize::from(task + 1 < tasks)) as *const Line;
                    let out = match to {
                        Destination::Rows(rows) => HeadOut::Rows(rows.add(film * tokens * hidden + head * WIDTH), hidden),
                        Destination::Tiles(lines, chunks) => HeadOut::Tiles { lines: lines.0, chunks, first_row: film * tokens, chunk: head * 2, bf16 },
                    };
                    attend(lines, next, tokens, scratch, out, tiles, probabilities);
                }
            }
            #[cfg(target_arch = "x86_64")]
            if tiles {
                // SAFETY: releases this thread's tile state (configured above).
                unsafe { std::arch::asm!("tilerelease", options(nostack)) };
            }
        });
    });
    PACKED_HEADS.set(packed);
}

/// Where one head's output rows go: f32 rows (`ld` apart), or A's tiles
/// (`chunks` a row block) from the film's first row, the head's two chunks
/// from `chunk`, split as A's packing splits on this CPU (`bf16`: by
/// AVX512-BF16's rounding).
#[derive(Clone, Copy)]
enum HeadOut {
    Rows(*mut f32, usize),
    Tiles { lines: *mut Line, chunks: usize, first_row: usize, chunk: usize, bf16: bool },
}

/// Heads a task group takes (a film's twelve make two groups, so that one
/// film's attention still runs on two cores).
const GROUP: usize = 6;

#[repr(C, align(64))]
struct Square([f32; WIDTH * WIDTH]);

struct HeadScratch {
    /// The scores, then the probabilities, then the output, rows 64 apart.
    scores: Square,
    /// The probabilities as A's tiles (two blocks of two chunks).
    probs: [Line; OPERAND_LINES],
}

/// One film's head: its q, kᵀ and v tiles at `lines` (the 768 of
/// [`operand`]), its output rows where `out` says; the next task's tiles at
/// `next` asked into L2 meanwhile.
///
/// # Safety
/// `lines` valid for reads and writes of 768 lines, `out` for writes of
/// the head's `tokens` rows, neither accessed by anyone else; `tiles` only
/// where AMX is available and after [`tile_config`].
unsafe fn attend(lines: *mut Line, next: *const Line, tokens: usize, scratch: &mut HeadScratch, out: HeadOut, tiles: bool, probabilities: Probabilities) {
    let blocks = tokens.div_ceil(BLOCK);
    // SAFETY: the caller's contract.
    let (q, keys, values) = unsafe { (lines as *const Line, lines.add(OPERAND_LINES) as *const Line, lines.add(2 * OPERAND_LINES)) };
    // v's depth past the film's tokens meets zero probabilities: zeros there
    // keep the products' sums exact (what a previous call left could be
    // anything, even infinite).
    for j in (tokens..blocks * BLOCK).step_by(2) {
        for panel in 0..2 {
            for tile in 0..4 {
                // SAFETY: line (j mod 32)/2 of each tile of v's chunk of token j.
                unsafe { *values.add((panel * 2 + j / CHUNK) * LINES_PER_CHUNK + tile * 16 + (j % CHUNK) / 2) = ZERO_LINE };
            }
        }
    }
    let scores = scratch.scores.0.as_mut_ptr();
    // SAFETY (the products): each block's tiles lie in the head's operands
    // (two chunks of depth for q·kᵀ, the tokens' chunks for ·v), each 32×32
    // block of C in the 64 × 64 scratch. The kernel asks 512 bytes a chunk
    // of `next` into L2 (prefetches do not fault).
    let mut ahead = next as *const u8;
    for bi in 0..blocks {
        for bj in 0..blocks {
            unsafe {
                let (a, b) = (q.add(bi * 2 * LINES_PER_CHUNK), keys.add(bj * 2 * LINES_PER_CHUNK));
                kernel(2, a, b, ahead, scores.add(bi * BLOCK * WIDTH + bj * BLOCK), WIDTH, Start::Zero, tiles);
            }
            ahead = ahead.wrapping_add(2 * PREFETCH_BYTES_PER_CHUNK);
        }
    }
    // SAFETY: the scores' first `tokens` rows were written above; the rest
    // of the next task's tiles go on being asked for, row by row.
    unsafe { probabilities.run(&mut scratch.scores, tokens, &mut scratch.probs, ahead, next.cast::<u8>().wrapping_add(HEAD_LINES * 64)) };
    // The probabilities' rows past the tokens (in the last block) are what
    // an earlier head left: their output rows are not read.
    let (probs, output) = (scratch.probs.as_ptr(), scratch.scores.0.as_mut_ptr());
    for bi in 0..blocks {
        for bj in 0..2 {
            // SAFETY: as above; the scores are not read again.
            unsafe {
                let (a, b) = (probs.add(bi * 2 * LINES_PER_CHUNK), values.add(bj * 2 * LINES_PER_CHUNK) as *const Line);
                kernel(blocks, a, b, next.cast::<u8>(), output.add(bi * BLOCK * WIDTH + bj * BLOCK), WIDTH, Start::Zero, tiles);
            }
        }
    }
    match out {
        HeadOut::Rows(rows, ld) => {
            for r in 0..tokens {
                // SAFETY: row r of the head's output (the caller's contract).
                unsafe { std::ptr::copy_nonoverlapping(output.add(r * WIDTH), rows.add(r * ld), WIDTH) };
            }
        }
        HeadOut::Tiles { lines, chunks, first_row, chunk, bf16 } => {
            for r in 0..tokens {
                let row = first_row + r;
                for half in 0..2 {
                    let line = ((row / BLOCK) * chunks + chunk + half) * LINES_PER_CHUNK + row % BLOCK;
                    // SAFETY: the row's lines of the head's chunks (the
                    // caller's contract); the scratch's row r, 64 values.
                    unsafe {
                        let values = &*output.add(r * WIDTH + half * CHUNK).cast::<[f32; CHUNK]>();
                        split_a_values(values, &mut (*lines.add(line)).0, &mut (*lines.add(line + BLOCK)).0, bf16);
                    }
                }
            }
        }
    }
}

/// The scores' softmax over the film's tokens, split into the
/// probabilities' A tiles, compiled for the CPU's vectors (chosen once).
#[derive(Clone, Copy)]
struct Probabilities(unsafe fn(&mut Square, usize, &mut [Line; OPERAND_LINES], *const u8, *const u8));

impl Probabilities {
    for_this_cpu!(probabilities(scores: &mut Square, tokens: usize, probs: &mut [Line; OPERAND_LINES], from: *const u8, to: *const u8));

    /// Rows `..tokens` of `scores` into `probs`' lines; meanwhile the bytes
    /// `from..to` asked into L2, a part a row.
    ///
    /// # Safety
    /// None beyond the function's choice for this CPU (prefetches do not fault).
    unsafe fn run(self, scores: &mut Square, tokens: usize, probs: &mut [Line; OPERAND_LINES], from: *const u8, to: *const u8) {
        // SAFETY: the function was chosen for this CPU.
        unsafe { (self.0)(scores, tokens, probs, from, to) }
    }
}

#[inline(always)]
fn probabilities(scores: &mut Square, tokens: usize, probs: &mut [Line; OPERAND_LINES], from: *const u8, to: *const u8, avx512: bool, bf16: bool) {
    let _ = avx512;
    /// Rows whose softmax steps overlap.
    const ROWS: usize = 4;
    let blocks = tokens.div_ceil(BLOCK);
    let lines = (to as usize).saturating_sub(from as usize) / 64;
    let per_group = lines.div_ceil(tokens.div_ceil(ROWS));
    let rows: &mut [[f32; WIDTH]; WIDTH] = bytemuck_rows(&mut scores.0);
    for (g, group) in rows[..tokens].chunks_mut(ROWS).enumerate() {
        for i in g * per_group..((g + 1) * per_group).min(lines) {
            prefetch_l2(from.wrapping_add(i * 64));
        }
        match <&mut [[f32; WIDTH]; ROWS]>::try_from(&mut *group) {
            Ok(four) => crate::activation::softmax_rows_64(four, tokens),
            Err(_) => group.iter_mut().for_each(|row| crate::activation::softmax_rows_64(std::array::from_mut(row), tokens)),
        }
        for (i, row) in group.iter().enumerate() {
            let r = g * ROWS + i;
            for chunk in 0..blocks {
                let line = (r / BLOCK) * 2 * LINES_PER_CHUNK + chunk * LINES_PER_CHUNK + r % BLOCK;
                let (hi, lo) = probs.split_at_mut(line + BLOCK);
                split_a_values(row[chunk * CHUNK..][..CHUNK].try_into().expect("32 values"), &mut hi[line].0, &mut lo[0].0, bf16);
            }
        }
    }
}

/// The 64 × 64 scores as rows.
fn bytemuck_rows(values: &mut [f32; WIDTH * WIDTH]) -> &mut [[f32; WIDTH]; WIDTH] {
    // SAFETY: the same 4096 values, as 64 arrays of 64 (same alignment).
    unsafe { &mut *(values as *mut [f32; WIDTH * WIDTH]).cast::<[[f32; WIDTH]; WIDTH]>() }
}

/// PREFETCHT1 of the line at `at` (it does not fault).
#[inline(always)]
fn prefetch_l2(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and does not fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(at.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
