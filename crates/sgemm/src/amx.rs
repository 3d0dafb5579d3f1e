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
//! Layout (packing in `amx/pack.rs`, A's in `amx/pack/a.rs`, what a block goes
//! through on its way into the next product's tiles in `amx/pack/epilogue.rs`,
//! the MLP's chained products in `amx/mlp.rs`, the kernel in `amx/kernel.rs`).
//! B is packed once, when the model
//! loads ([`AmxB`]), and A per call, both as tiles of 16 lines of 64 bytes:
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

/// `for_this_cpu()`, choosing once which build of `$body` this CPU runs:
/// AVX-512 with AVX512-BF16's rounding, AVX-512, or portable code (`$body`
/// takes the arguments, then whether it has AVX-512 and the rounding). For
/// the passes a product's blocks go through (`pack::epilogue`) and a film
/// head's softmax (`heads`).
macro_rules! for_this_cpu {
    ($body:ident($($arg:ident: $ty:ty),*)) => {
        pub(in crate::amx) fn for_this_cpu() -> Self {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw")]
            #[allow(unused_unsafe)]
            unsafe fn wide($($arg: $ty),*) {
                // SAFETY: the caller's contract.
                unsafe { $body($($arg),*, true, false) }
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
            #[allow(unused_unsafe)]
            unsafe fn wide_bf16($($arg: $ty),*) {
                // SAFETY: the caller's contract.
                unsafe { $body($($arg),*, true, true) }
            }
            #[allow(unused_unsafe)]
            unsafe fn portable($($arg: $ty),*) {
                // SAFETY: the caller's contract.
                unsafe { $body($($arg),*, false, false) }
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::amx::bf16_rounding() {
                return Self(wide_bf16);
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512bw") {
                return Self(wide);
            }
            Self(portable)
        }
    };
}

/// Whether the CPU has AVX-512BW and rounds to bf16 by AVX512-BF16 (the
/// build [`for_this_cpu`] chooses first).
pub(crate) fn bf16_rounding() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512bf16");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

mod heads;
mod kernel;
mod mlp;
mod pack;

pub(crate) use heads::{attention as heads_attention, attention_projected as heads_attention_projected, fits as heads_fit};
pub(crate) use mlp::{mlp, mlp_backward, mlp_backward_fits, mlp_fits, mlp_input, mlp_keeping_tape};
pub(crate) use pack::{AmxB, Prologue};
#[cfg(test)]
pub(crate) use pack::split;
pub use kernel::configure_tiles;
use kernel::{Start, kernel, kernel_then, tile_config};
use pack::{ActivateKeepingRows, ActivateRows, GeluGradBlock, GeluGradRows, HeadBlock, HeadRows, KeptBlock, pack_a_blocks};

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
/// Bytes of the next panel of B asked into L2 per chunk (eight lines): the
/// next panel's 24 chunks (96 KiB) over the 8 × 24 chunks of a group of
/// row blocks.
const PREFETCH_BYTES_PER_CHUNK: usize = 512;
// The tiles' loop issues eight PREFETCHT1s a chunk, one line each.
const _: () = assert!(PREFETCH_BYTES_PER_CHUNK == 8 * 64);

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

thread_local! {
    /// The calling thread's packed A, kept between calls (taken out while in
    /// use, so a product started inside another on the same thread packs
    /// into a buffer of its own).
    static PACKED_A: std::cell::Cell<Vec<Line>> = const { std::cell::Cell::new(Vec::new()) };
    /// The calling thread's activated MLP hidden layer as the second
    /// product's A ([`mlp`]), kept between calls as [`PACKED_A`] is (39 MB
    /// for a 64-film batch: allocated afresh, its pages would fault in on
    /// every block).
    static PACKED_INNER: std::cell::Cell<Vec<Line>> = const { std::cell::Cell::new(Vec::new()) };
    /// The calling thread's transposed hidden-layer gradient as A
    /// ([`mlp_backward`]), kept as [`PACKED_INNER`] is.
    static PACKED_TRANSPOSED: std::cell::Cell<Vec<Line>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The calling thread's buffer from `slot`, at least `lines` long.
fn take_lines(slot: &'static std::thread::LocalKey<std::cell::Cell<Vec<Line>>>, lines: usize) -> Vec<Line> {
    let mut buffer = slot.take();
    // The buffer only grows: packing writes every line it uses, and a
    // block's fc2 (3072 deep) after its fc1 (768) would otherwise fill
    // 29 MB with zeros on one thread while the others wait.
    if buffer.len() < lines {
        buffer.resize(lines, ZERO_LINE);
    }
    buffer
}

/// A's rows through `prologue` as the kernel's tiles for `chunks` chunks of
/// depth, into the first `blocks · chunks · 64` lines of `buffer`, a row
/// block per task where `threads` > 1.
fn pack_a(a: MatRef<'_>, prologue: Prologue<'_>, chunks: usize, buffer: &mut [Line], threads: usize) {
    let blocks = a.rows().div_ceil(BLOCK);
    let block_lines = chunks * LINES_PER_CHUNK;
    let packed = &mut buffer[..blocks * block_lines];
    if threads > 1 && blocks > 1 {
        packed.par_chunks_mut(block_lines).enumerate().for_each(|(i, out)| pack_a_blocks(a, chunks, i..i + 1, out, prologue));
    } else {
        pack_a_blocks(a, chunks, 0..blocks, packed, prologue);
    }
}

/// `multiply_panels` on `threads` threads, each a share of B's panels (on
/// the calling thread alone where `threads` is 1).
#[allow(clippy::too_many_arguments)]
unsafe fn multiply_shares(a: &[Line], m: usize, b: &AmxB, out: Out, init: Init<'_>, threads: usize, tiles: bool) {
    let panels = b.panels();
    let threads = threads.min(panels).max(1);
    let share = |t: usize| panels * t / threads..panels * (t + 1) / threads;
    if threads == 1 {
        // SAFETY: the caller's contract.
        unsafe { multiply_panels(a, m, b, out, 0..panels, init, tiles) };
    } else {
        rayon::scope(|s| {
            for t in 0..threads {
                let panels = share(t);
                // SAFETY: each thread writes only its own columns of C (or
                // its own chunks of the packed hidden layer).
                s.spawn(move |_| unsafe { multiply_panels(a, m, b, out, panels, init, tiles) });
            }
        });
    }
}

/// `C (init) + prologue(A)·B` on C at `c` (`m` rows, leading dimension
/// `ldc`), the products on `threads` threads, each taking a share of B's panels.
///
/// # Safety
/// As `crate::gemm_into`: `c` valid for `(m − 1)·ldc + n` values, initialised
/// with `Init::Accumulate`, accessed by no one else during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(a: MatRef<'_>, prologue: Prologue<'_>, b: &AmxB, c: SharedOut, ldc: usize, init: Init<'_>, threads: usize, tiles: bool) {
    let m = a.rows();
    let mut buffer = take_lines(&PACKED_A, m.div_ceil(BLOCK) * b.chunks * LINES_PER_CHUNK);
    pack_a(a, prologue, b.chunks, &mut buffer, threads);
    // SAFETY: the caller's contract.
    unsafe { multiply_shares(&buffer, m, b, Out::C { c, ldc }, init, threads, tiles) };
    PACKED_A.set(buffer);
}

/// Where the kernel's 32×32 blocks go.
#[derive(Clone, Copy)]
enum Out {
    /// Into C, at leading dimension `ldc`.
    C { c: SharedOut, ldc: usize },
    /// Through quick GELU into the next product's A tiles, `chunks` chunks
    /// a row block ([`mlp`]).
    Activated { lines: SharedLines, chunks: usize },
    /// Through quick GELU's gradient into two products' A tiles
    /// ([`mlp_backward`]).
    GeluGrad(GeluGradOut),
    /// As `Activated`, keeping fc1's outputs and the activated layer as B
    /// ([`mlp_keeping_tape`]).
    ActivatedKeeping(KeepingOut),
    /// A stacked q/k/v product's blocks into each film's heads' tiles
    /// ([`heads_attention`]).
    Heads(HeadsOut),
}

/// Where [`Out::Heads`] puts the blocks: the heads' tiles at `lines` (as
/// `heads::row_place` lays them out), for films of `tokens` tokens and
/// `heads` heads.
#[derive(Clone, Copy)]
struct HeadsOut {
    lines: SharedLines,
    tokens: usize,
    heads: usize,
}

/// Where [`Out::ActivatedKeeping`] puts a block of rows `rb`, columns `jp`:
/// activated into chunk `jp` of row block `rb` of `lines` (`chunks` a row
/// block), as it was into `inner` (rows `ld` apart), activated into chunk
/// `rb` of panel `jp` of `b_lines` (`b_chunks` a panel).
#[derive(Clone, Copy)]
struct KeepingOut {
    lines: SharedLines,
    chunks: usize,
    inner: SharedOut,
    ld: usize,
    b_lines: SharedLines,
    b_chunks: usize,
}

/// Where [`Out::GeluGrad`] puts a block of rows `rb`, columns `jp`: times
/// the GELU's gradient at `inner`'s block (rows `ld` apart), into chunk
/// `jp` of row block `rb` of `lines` (`chunks` a row block), transposed into
/// chunk `rb` of row block `jp` of `transposed` (`depth` chunks a row
/// block), its column sums added to `sums` from column `jp · 32`.
#[derive(Clone, Copy)]
struct GeluGradOut {
    inner: SharedOut,
    ld: usize,
    lines: SharedLines,
    chunks: usize,
    transposed: SharedLines,
    depth: usize,
    sums: SharedOut,
}

/// Packed lines that threads write in disjoint chunks.
#[derive(Clone, Copy)]
struct SharedLines(*mut Line);
// SAFETY: threads write disjoint chunks (see `mlp`).
unsafe impl Send for SharedLines {}
unsafe impl Sync for SharedLines {}

impl SharedLines {
    /// The line `offset` lines on (a method, so that closures capture the
    /// `Sync` wrapper rather than its pointer).
    ///
    /// # Safety
    /// As `pointer::add`.
    unsafe fn add(self, offset: usize) -> *mut Line {
        // SAFETY: the caller's contract.
        unsafe { self.0.add(offset) }
    }
}

/// The blocked loops for every row of C and the column panels `panels` (32
/// columns each), C starting as `init` says, its blocks going where `out` says.
///
/// # Safety
/// With `Out::C`, `c` must point to an `m × ldc` row-major buffer whose
/// columns of `panels` no other thread accesses during the call; with
/// any other `Out`, its lines (and sums, and kept values) must hold every
/// row block's chunks, those of `panels` accessed by no one else, its
/// inputs every block's values, and B be at most `KC_CHUNKS` deep;
/// `tiles` only where [`available`].
#[allow(clippy::too_many_arguments)]
unsafe fn multiply_panels(a: &[Line], m: usize, b: &AmxB, out: Out, panels: Range<usize>, init: Init<'_>, tiles: bool) {
    let n = b.n;
    if b.chunks == 0 {
        let Out::C { c, ldc } = out else { unreachable!("an MLP's first product has depth (checked by `mlp_fits`)") };
        // No depth: C is its start alone.
        // SAFETY: the caller's contract.
        return unsafe { crate::init_columns(c, ldc, m, panels.start * BLOCK..(panels.end * BLOCK).min(n), init) };
    }
    let blocks = m.div_ceil(BLOCK);
    if tiles {
        tile_config();
    }
    let mut scratch = Scratch([0f32; BLOCK * BLOCK]);
    // Where the blocks go through a pass of their own (every `Out` but C):
    // the kernel leaves each block in one of two scratch blocks, and
    // finishes the previous one (`pending`, in the other) a row or two per
    // chunk between its products, so that the vector units work while the
    // tiles multiply (item 32).
    let mut finishing = [Scratch([0f32; BLOCK * BLOCK]), Scratch([0f32; BLOCK * BLOCK])];
    let mut pending: Option<Pending> = None;
    let (activate, gelu_grad, keeping, heads) = (ActivateRows::for_this_cpu(), GeluGradRows::for_this_cpu(), ActivateKeepingRows::for_this_cpu(), HeadRows::for_this_cpu());
    // Rows `range` of the pending block `p`, whose values are in `values`.
    // SAFETY (for the calls below): the lines, sums and inputs named lie
    // inside the caller's buffers, those written by this thread alone (the
    // caller's contract).
    let finish = |p: Pending, values: &mut [f32; BLOCK * BLOCK], range: Range<usize>| unsafe {
        match out {
            Out::C { .. } => unreachable!("C's blocks are stored where they go"),
            Out::Activated { lines, chunks: depth } => activate.run(values, range, p.rows, p.cols, lines.0.add((p.rb * depth + p.jp) * LINES_PER_CHUNK)),
            Out::GeluGrad(g) => {
                let at = GeluGradBlock {
                    rows: p.rows,
                    cols: p.cols,
                    inner: g.inner.add(p.rb * BLOCK * g.ld + p.jp * BLOCK),
                    ld: g.ld,
                    lines: g.lines.0.add((p.rb * g.chunks + p.jp) * LINES_PER_CHUNK),
                    transposed: g.transposed.0.add((p.jp * g.depth + p.rb) * LINES_PER_CHUNK),
                    sums: g.sums.add(p.jp * BLOCK),
                };
                gelu_grad.run(values, range, &at)
            }
            Out::ActivatedKeeping(k) => {
                let at = KeptBlock {
                    rows: p.rows,
                    cols: p.cols,
                    lines: k.lines.0.add((p.rb * k.chunks + p.jp) * LINES_PER_CHUNK),
                    inner: k.inner.add(p.rb * BLOCK * k.ld + p.jp * BLOCK),
                    ld: k.ld,
                    b_tiles: k.b_lines.0.add((p.jp * k.b_chunks + p.rb) * LINES_PER_CHUNK),
                };
                keeping.run(values, range, &at)
            }
            Out::Heads(h) => heads.run(values, range, &HeadBlock { rows: p.rows, first_row: p.rb * BLOCK, panel: p.jp, tokens: h.tokens, heads: h.heads, lines: h.lines.0 }),
        }
    };
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
                // The panel after this one (the share's first for the next
                // group of rows), asked into L2 a slice per row block while
                // this one is multiplied: a thread's share of B does not fit
                // its L2, so each group of rows read every panel from L3.
                let next_panel = b.chunk(if jp + 1 < panels.end { jp + 1 } else { panels.start }, pc) as *const u8;
                for rb in ic..(ic + MC_BLOCKS).min(blocks) {
                    let rows = BLOCK.min(m - rb * BLOCK);
                    let a_tiles = a[(rb * b.chunks + pc) * LINES_PER_CHUNK..].as_ptr();
                    let prefetch = next_panel.wrapping_add((rb - ic) * chunks * PREFETCH_BYTES_PER_CHUNK);
                    let Out::C { c, ldc } = out else {
                        let slot = pending.map_or(0, |p| 1 - p.slot);
                        let (first, second) = finishing.split_at_mut(1);
                        let (now, before) = if slot == 0 { (&mut first[0], &mut second[0]) } else { (&mut second[0], &mut first[0]) };
                        // SAFETY: the caller's contract (A and B's tiles).
                        unsafe {
                            kernel_then(chunks, a_tiles, b_tiles, prefetch, &mut now.0, start, tiles, |range| {
                                if let Some(p) = pending {
                                    finish(p, &mut before.0, range)
                                }
                            });
                        }
                        pending = Some(Pending { slot, rows, cols, rb, jp });
                        continue;
                    };
                    // SAFETY: rows rb·32.. and columns jp·32.. lie inside C
                    // (the caller's contract); a partial block goes through a
                    // full-size scratch block.
                    unsafe {
                        let out = c.add(rb * BLOCK * ldc + jp * BLOCK);
                        if rows == BLOCK && cols == BLOCK {
                            kernel(chunks, a_tiles, b_tiles, prefetch, out, ldc, start, tiles);
                        } else {
                            if let Start::Load = start {
                                for r in 0..rows {
                                    std::ptr::copy_nonoverlapping(out.add(r * ldc), scratch.0[r * BLOCK..].as_mut_ptr(), cols);
                                }
                            }
                            kernel(chunks, a_tiles, b_tiles, prefetch, scratch.0.as_mut_ptr(), BLOCK, start, tiles);
                            for r in 0..rows {
                                std::ptr::copy_nonoverlapping(scratch.0[r * BLOCK..].as_ptr(), out.add(r * ldc), cols);
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(last) = pending {
        finish(last, &mut finishing[last.slot].0, 0..BLOCK);
    }
    #[cfg(target_arch = "x86_64")]
    if tiles {
        // SAFETY: releases this thread's tile state (configured above).
        unsafe { std::arch::asm!("tilerelease", options(nostack)) };
    }
}

/// A block (rows `rb`, columns `jp`; its first `rows` rows and `cols`
/// columns real) left in scratch block `slot` by the kernel, still to go
/// where its `Out` says.
#[derive(Clone, Copy)]
struct Pending {
    slot: usize,
    rows: usize,
    cols: usize,
    rb: usize,
    jp: usize,
}

#[repr(C, align(64))]
struct Scratch([f32; BLOCK * BLOCK]);

#[repr(C, align(64))]
struct BiasLine([f32; BLOCK]);
