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
//! the MLP's chained products in `amx/mlp.rs`). B is packed once, when the model
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

mod mlp;
mod pack;

pub(crate) use mlp::{mlp, mlp_backward, mlp_backward_fits, mlp_fits, mlp_input, mlp_keeping_tape};
pub(crate) use pack::{AmxB, Prologue};
#[cfg(test)]
pub(crate) use pack::split;
use pack::{ActivateKeepingRows, ActivateRows, GeluGradBlock, GeluGradRows, KeptBlock, b_place, pack_a_blocks, widen};

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

/// One chunk of the kernel's products, as `asm!` text (operands `a`, `b`:
/// A's and B's tiles, `s`: 64, `p`: where B's next panel is asked into L2):
/// the hi·hi products, then hi·lo, then lo·hi, loading each tile as late as
/// it can and B's hi tile for columns 16–31 twice (nine loads for twelve
/// products), eight PREFETCHT1s among them.
macro_rules! chunk_template {
    () => {
        concat!(
            "tileloadd tmm4, [{a} + {s}*1]\n",
            // hi · hi
            "tileloadd tmm6, [{b} + {s}*1]\n",
            "tdpbf16ps tmm0, tmm4, tmm6\n",
            "tileloadd tmm7, [{b} + {s}*1 + 1024]\n",
            "tdpbf16ps tmm1, tmm4, tmm7\n",
            "tileloadd tmm5, [{a} + {s}*1 + 1024]\n",
            "tdpbf16ps tmm2, tmm5, tmm6\n",
            "tdpbf16ps tmm3, tmm5, tmm7\n",
            "prefetcht1 [{p}]\n",
            "prefetcht1 [{p} + 64]\n",
            "prefetcht1 [{p} + 128]\n",
            "prefetcht1 [{p} + 192]\n",
            // hi · lo
            "tileloadd tmm7, [{b} + {s}*1 + 2048]\n",
            "tdpbf16ps tmm0, tmm4, tmm7\n",
            "tdpbf16ps tmm2, tmm5, tmm7\n",
            "tileloadd tmm7, [{b} + {s}*1 + 3072]\n",
            "tdpbf16ps tmm1, tmm4, tmm7\n",
            "tdpbf16ps tmm3, tmm5, tmm7\n",
            "prefetcht1 [{p} + 256]\n",
            "prefetcht1 [{p} + 320]\n",
            "prefetcht1 [{p} + 384]\n",
            "prefetcht1 [{p} + 448]\n",
            // lo · hi
            "tileloadd tmm4, [{a} + {s}*1 + 2048]\n",
            "tdpbf16ps tmm0, tmm4, tmm6\n",
            "tileloadd tmm5, [{a} + {s}*1 + 3072]\n",
            "tdpbf16ps tmm2, tmm5, tmm6\n",
            "tileloadd tmm6, [{b} + {s}*1 + 1024]\n",
            "tdpbf16ps tmm1, tmm4, tmm6\n",
            "tdpbf16ps tmm3, tmm5, tmm6\n",
        )
    };
}

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
    let (activate, gelu_grad, keeping) = (ActivateRows::for_this_cpu(), GeluGradRows::for_this_cpu(), ActivateKeepingRows::for_this_cpu());
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

/// Configures this thread's tiles as the kernel uses them (eight tiles of 16
/// rows of 64 bytes), for tools that time tile instructions themselves
/// (`examples/tile_rates.rs`). False, and nothing done, where AMX is not
/// [`available`].
pub fn configure_tiles() -> bool {
    available() && {
        tile_config();
        true
    }
}

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
/// `prefetch` (any address: prefetches do not fault) is where the tiles'
/// loop asks [`PREFETCH_BYTES_PER_CHUNK`] a chunk into L2.
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(chunks: usize, a: *const Line, b: *const Line, prefetch: *const u8, c: *mut f32, ldc: usize, start: Start, tiles: bool) {
    #[cfg(target_arch = "x86_64")]
    if tiles {
        // SAFETY: the caller's contract.
        return unsafe { kernel_tiles(chunks, a, b, prefetch, c, ldc, start) };
    }
    let _ = prefetch;
    // SAFETY: the caller's contract.
    unsafe { kernel_emulated(chunks, a, b, c, ldc, start) }
}

/// [`kernel`] into the 32×32 block `c`, and meanwhile `work` on the rows
/// of another block: on the tiles a row or two after each chunk's
/// products (`work` is given each chunk's share of the 32 rows), which the
/// tile unit then runs while the vector units work. In a model of the loop
/// (a scratch program, one thread, A and B from L2), 24 chunks and the
/// store took 2.07 µs; then a GELU and split of a block 3.26–3.37 µs; with
/// the GELU and split spread over the chunks 2.47–2.55 µs.
///
/// # Safety
/// As [`kernel`] (with `ldc` = 32).
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_then(chunks: usize, a: *const Line, b: *const Line, prefetch: *const u8, c: &mut [f32; BLOCK * BLOCK], start: Start, tiles: bool, mut work: impl FnMut(Range<usize>)) {
    #[cfg(target_arch = "x86_64")]
    if tiles && chunks > 0 {
        // SAFETY (all of the block): the caller's contract; tiles
        // configured on this thread.
        unsafe {
            start_tiles(c.as_mut_ptr(), BLOCK, start);
            for chunk in 0..chunks {
                chunk_tiles(a.add(chunk * LINES_PER_CHUNK), b.add(chunk * LINES_PER_CHUNK), prefetch.wrapping_add(chunk * PREFETCH_BYTES_PER_CHUNK));
                work(chunk * BLOCK / chunks..(chunk + 1) * BLOCK / chunks);
            }
            store_c(c.as_mut_ptr(), BLOCK);
        }
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { kernel(chunks, a, b, prefetch, c.as_mut_ptr(), BLOCK, start, tiles) };
    work(0..BLOCK);
}

/// Tiles 0–3 from C's block, zeros or the bias, as [`kernel_tiles`] starts.
///
/// # Safety
/// As [`kernel_tiles`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn start_tiles(c: *mut f32, ldc: usize, start: Start) {
    // SAFETY: the caller's contract.
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
}

/// One chunk of [`kernel_tiles`]' loop: its nine loads, twelve products and
/// eight prefetches, with A's and B's tiles at `a` and `b`.
///
/// # Safety
/// As [`kernel_tiles`], for one chunk.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn chunk_tiles(a: *const Line, b: *const Line, p: *const u8) {
    // SAFETY: the caller's contract.
    unsafe {
        std::arch::asm!(
            chunk_template!(),
            s = in(reg) 64usize,
            a = in(reg) a,
            b = in(reg) b,
            p = in(reg) p,
            options(nostack, readonly),
        );
    }
}

/// Tiles 0–3 hold C's four 16×16 quarters, 4–5 A's and 6–7 B's tiles of
/// one chunk. Per chunk: the hi·hi products, then hi·lo, then lo·hi, loading
/// each tile as late as it can and B's hi tile for columns 16–31 twice (nine
/// loads for twelve products).
///
/// On data in L1 the twelve products bound this loop (`examples/tile_rates`,
/// the Xeon measured: a TILELOADD from cache lines every ≈ 2.2 ns, a
/// TDPBF16PS every ≈ 4.4 ns, a chunk ≈ 67 ns). In the blocked product a
/// chunk takes 120–135 ns: each store of C's block after its 24 chunks
/// costs ≈ 0.35 µs (however many tiles are stored, and not shortened by
/// asking C or the next operands into L1 first), and B's panels come from
/// L3 (docs/PERFORMANCE.md, item 27). So the loop asks B's next panel into
/// L2, eight lines a chunk (2–7 % faster at 3200 rows); asking A's next
/// chunks into L1 (64 prefetches a chunk) had been 2–14 % slower.
///
/// # Safety
/// As [`kernel`], with tiles configured on this thread.
#[cfg(target_arch = "x86_64")]
unsafe fn kernel_tiles(chunks: usize, a: *const Line, b: *const Line, prefetch: *const u8, c: *mut f32, ldc: usize, start: Start) {
    // SAFETY: the caller's contract. The tiles are this thread's state, not
    // the compiler's: they carry over from one asm block to the next.
    unsafe { start_tiles(c, ldc, start) };
    if chunks == 0 {
        // SAFETY: as above.
        return unsafe { store_c(c, ldc) };
    }
    // SAFETY: the caller's contract.
    unsafe {
        std::arch::asm!(
            "2:",
            chunk_template!(),
            "add {a}, 4096",
            "add {b}, 4096",
            "add {p}, {step}",
            "dec {n}",
            "jnz 2b",
            s = in(reg) 64usize,
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            p = inout(reg) prefetch => _,
            step = const PREFETCH_BYTES_PER_CHUNK,
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
