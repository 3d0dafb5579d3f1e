//! How fast this CPU issues AMX tile loads and tile products, one thread:
//! what bounds the bf16×3 kernel's loop (docs/PERFORMANCE.md, item 24).
//! `cargo run --release -p kneeclip-sgemm --example tile_rates`; prints
//! nothing useful (and says so) where AMX is missing.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn main() {
    use std::arch::asm;
    use std::time::Instant;

    if !kneeclip_sgemm::amx::configure_tiles() {
        println!("AMX-BF16 is not available here (or KNEECLIP_SGEMM_AMX is off): nothing to measure");
        return;
    }

    // Four tiles' worth of bf16 ones: 4 KiB, in L1.
    let data = vec![0x3f80u16; 4 * 512];
    let at = data.as_ptr();
    let rounds = 1_000_000usize;
    let time = |label: &str, per_round: f64, f: &dyn Fn()| {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{label:<44} {:>6.2} ns each", best * 1e9 / (rounds as f64 * per_round));
    };
    // SAFETY (every block below): tiles configured on this thread; the loads
    // read 16 lines of 64 bytes inside `data` (or one line, at stride 0).
    time("TILELOADD, four tiles, 4 KiB in L1", 4.0, &|| unsafe {
        asm!("2:", "tileloadd tmm0, [{a} + {s}*1]", "tileloadd tmm1, [{a} + {s}*1 + 1024]", "tileloadd tmm2, [{a} + {s}*1 + 2048]",
            "tileloadd tmm3, [{a} + {s}*1 + 3072]", "dec {n}", "jnz 2b",
            a = in(reg) at, s = in(reg) 64usize, n = inout(reg) rounds => _, options(nostack, readonly));
    });
    time("TILELOADD, all 16 rows from one line", 4.0, &|| unsafe {
        asm!("2:", "tileloadd tmm0, [{a} + {s}*1]", "tileloadd tmm1, [{a} + {s}*1]", "tileloadd tmm2, [{a} + {s}*1]",
            "tileloadd tmm3, [{a} + {s}*1]", "dec {n}", "jnz 2b",
            a = in(reg) at, s = in(reg) 0usize, n = inout(reg) rounds => _, options(nostack, readonly));
    });
    time("TDPBF16PS, four accumulators, no loads", 12.0, &|| unsafe {
        asm!("2:",
            "tdpbf16ps tmm0, tmm4, tmm6", "tdpbf16ps tmm1, tmm4, tmm7", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7",
            "tdpbf16ps tmm0, tmm4, tmm7", "tdpbf16ps tmm2, tmm5, tmm7", "tdpbf16ps tmm1, tmm4, tmm7", "tdpbf16ps tmm3, tmm5, tmm7",
            "tdpbf16ps tmm0, tmm4, tmm6", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm1, tmm4, tmm6", "tdpbf16ps tmm3, tmm5, tmm6",
            "dec {n}", "jnz 2b", n = inout(reg) rounds => _, options(nostack, nomem));
    });
    // The kernel's chunk (amx.rs): nine loads, twelve products, on the same
    // 4 KiB, so that only the instructions' rates show.
    time("the kernel's chunk: 9 loads + 12 products", 1.0, &|| unsafe {
        asm!("2:",
            "tileloadd tmm4, [{a} + {s}*1]", "tileloadd tmm6, [{a} + {s}*1]", "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm7, [{a} + {s}*1 + 1024]", "tdpbf16ps tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a} + {s}*1 + 1024]", "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm7, [{a} + {s}*1 + 2048]", "tdpbf16ps tmm0, tmm4, tmm7", "tdpbf16ps tmm2, tmm5, tmm7",
            "tileloadd tmm7, [{a} + {s}*1 + 3072]", "tdpbf16ps tmm1, tmm4, tmm7", "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm4, [{a} + {s}*1 + 2048]", "tdpbf16ps tmm0, tmm4, tmm6",
            "tileloadd tmm5, [{a} + {s}*1 + 3072]", "tdpbf16ps tmm2, tmm5, tmm6",
            "tileloadd tmm6, [{a} + {s}*1 + 1024]", "tdpbf16ps tmm1, tmm4, tmm6", "tdpbf16ps tmm3, tmm5, tmm6",
            "dec {n}", "jnz 2b",
            a = in(reg) at, s = in(reg) 64usize, n = inout(reg) rounds => _, options(nostack, readonly));
    });
    // SAFETY: releases this thread's tile state.
    unsafe { asm!("tilerelease", options(nostack)) };
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn main() {
    println!("AMX tiles are measured on x86-64 Linux only");
}
