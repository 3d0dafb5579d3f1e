//! The kernel: a 32×32 block of C from its chunks of A's and B's tiles
//! (`TDPBF16PS`, nine tile loads and twelve products a chunk of depth),
//! and the same computation in a scalar emulation for CPUs without AMX
//! (the tests run the layouts through it everywhere).

use std::ops::Range;

use super::pack::{b_place, widen};
use super::{BLOCK, CHUNK, LINES_PER_CHUNK, Line, PREFETCH_BYTES_PER_CHUNK, available};

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

/// Where a kernel call's 32×32 block of C starts from.
#[derive(Clone, Copy, Debug)]
pub(super) enum Start {
    /// C's values.
    Load,
    /// Zeros.
    Zero,
    /// The same 32 values (a bias) in every row.
    Bias(*const f32),
}

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
pub(super) fn tile_config() {
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
pub(super) unsafe fn kernel(chunks: usize, a: *const Line, b: *const Line, prefetch: *const u8, c: *mut f32, ldc: usize, start: Start, tiles: bool) {
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
pub(super) unsafe fn kernel_then(chunks: usize, a: *const Line, b: *const Line, prefetch: *const u8, c: &mut [f32; BLOCK * BLOCK], start: Start, tiles: bool, mut work: impl FnMut(Range<usize>)) {
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
