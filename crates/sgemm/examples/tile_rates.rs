//! How fast this CPU issues AMX tile loads, stores and products, one
//! thread: what bounds the bf16×3 kernel's loop (docs/PERFORMANCE.md, items
//! 24 and 27). `cargo run --release -p kneeclip-sgemm --example tile_rates`;
//! prints nothing useful (and says so) where AMX is missing.
//!
//! Every buffer is placed on a cache line, as the kernel's packed A and B
//! are: a tile row that straddles two lines loads several times slower,
//! which the "straddling" lines show (an earlier version of this example
//! read a `Vec<u16>`, 16 bytes off a line, and took that for the tile
//! load's rate).

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn main() {
    use std::arch::asm;
    use std::time::Instant;

    if !kneeclip_sgemm::amx::configure_tiles() {
        println!("AMX-BF16 is not available here (or KNEECLIP_SGEMM_AMX is off): nothing to measure");
        return;
    }

    /// One cache line of bf16 ones.
    #[derive(Clone, Copy)]
    #[repr(C, align(64))]
    struct Line([u16; 32]);
    const ONES: Line = Line([0x3f80; 32]);

    let best_of_three = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let rounds = 1_000_000usize;
    let report = |label: &str, seconds: f64, count: usize| println!("{label:<58} {:>7.2} ns each", seconds * 1e9 / count as f64);

    // Four tiles' worth (4 KiB, in L1), on a line and 16 bytes past one.
    let small = vec![ONES; 65];
    let on_line = small.as_ptr() as usize;
    for (label, at) in [("TILELOADD, 4 KiB in L1, rows on cache lines", on_line), ("TILELOADD, 4 KiB in L1, rows straddling two lines", on_line + 16)] {
        // SAFETY (every asm block below): tiles configured on this thread;
        // the loads read 16 rows of 64 bytes inside the buffers named.
        let t = best_of_three(&|| unsafe {
            asm!("2:", "tileloadd tmm0, [{a} + {s}*1]", "tileloadd tmm1, [{a} + {s}*1 + 1024]", "tileloadd tmm2, [{a} + {s}*1 + 2048]",
                "tileloadd tmm3, [{a} + {s}*1 + 3072]", "dec {n}", "jnz 2b",
                a = in(reg) at, s = in(reg) 64usize, n = inout(reg) rounds => _, options(nostack, readonly));
        });
        report(label, t, 4 * rounds);
    }
    let t = best_of_three(&|| unsafe {
        asm!("2:",
            "tdpbf16ps tmm0, tmm4, tmm6", "tdpbf16ps tmm1, tmm4, tmm7", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7",
            "tdpbf16ps tmm0, tmm4, tmm7", "tdpbf16ps tmm2, tmm5, tmm7", "tdpbf16ps tmm1, tmm4, tmm7", "tdpbf16ps tmm3, tmm5, tmm7",
            "tdpbf16ps tmm0, tmm4, tmm6", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm1, tmm4, tmm6", "tdpbf16ps tmm3, tmm5, tmm6",
            "dec {n}", "jnz 2b", n = inout(reg) rounds => _, options(nostack, nomem));
    });
    report("TDPBF16PS, four accumulators, no loads", t, 12 * rounds);

    // The kernel's loop (amx.rs: nine loads, twelve products a chunk of
    // depth), A's 32 rows and B's 32 columns advancing 4 KiB a chunk as in
    // the packed operands, `chunks` chunks from `a` and `b`.
    let chunks_at = |a: usize, b: usize, chunks: usize| unsafe {
        asm!("2:",
            "tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{b} + {s}*1]", "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm7, [{b} + {s}*1 + 1024]", "tdpbf16ps tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a} + {s}*1 + 1024]", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm7, [{b} + {s}*1 + 2048]", "tdpbf16ps tmm0, tmm4, tmm7", "tdpbf16ps tmm2, tmm5, tmm7",
            "tileloadd tmm7, [{b} + {s}*1 + 3072]", "tdpbf16ps tmm1, tmm4, tmm7", "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm4, [{a} + {s}*1 + 2048]", "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm5, [{a} + {s}*1 + 3072]", "tdpbf16ps tmm2, tmm5, tmm6",
            "tileloadd tmm6, [{b} + {s}*1 + 1024]", "tdpbf16ps tmm1, tmm4, tmm6", "tdpbf16ps tmm3, tmm5, tmm6",
            "add {a}, 4096", "add {b}, 4096", "dec {n}", "jnz 2b",
            a = inout(reg) a => _, b = inout(reg) b => _, s = in(reg) 64usize, n = inout(reg) chunks => _, options(nostack, readonly));
    };
    for (label, at) in [("the kernel's chunk (9 loads, 12 products), 4 KiB in L1", on_line), ("the same, rows straddling two lines", on_line + 16)] {
        // The same chunk over and over, A and B both read from `at`.
        let t = best_of_three(&|| (0..rounds).for_each(|_| chunks_at(at, at, 1)));
        report(label, t, rounds);
    }

    // As in the blocked product: eight row blocks of A (768 KiB, in L2)
    // against one panel of B (96 KiB), 24 chunks (768 of depth) per 32×32
    // block of C, which starts from zeros and is then stored, or not.
    let a = vec![ONES; 8 * 24 * 64];
    let b = vec![ONES; 24 * 64];
    let mut c = vec![ONES; 64];
    let (a_at, b_at, c_at) = (a.as_ptr() as usize, b.as_ptr() as usize, c.as_mut_ptr() as usize);
    let passes = 1000;
    for (label, store) in [("a chunk in the blocked loop, A and B from L2, C not stored", false), ("the same, C's block stored after its 24 chunks", true)] {
        let t = best_of_three(&|| {
            for _ in 0..passes {
                for rb in 0..8 {
                    unsafe { asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem)) };
                    chunks_at(a_at + rb * 24 * 4096, b_at, 24);
                    if store {
                        // SAFETY: 32 rows of 128 bytes inside `c`.
                        unsafe {
                            asm!("tilestored [{c0} + {l}*1], tmm0", "tilestored [{c0} + {l}*1 + 64], tmm1",
                                "tilestored [{c1} + {l}*1], tmm2", "tilestored [{c1} + {l}*1 + 64], tmm3",
                                c0 = in(reg) c_at, c1 = in(reg) c_at + 16 * 128, l = in(reg) 128usize, options(nostack));
                        }
                    }
                }
            }
        });
        report(label, t, passes * 8 * 24);
    }
    std::hint::black_box(&mut c);
    // SAFETY: releases this thread's tile state.
    unsafe { asm!("tilerelease", options(nostack)) };
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn main() {
    println!("AMX tiles are measured on x86-64 Linux only");
}
