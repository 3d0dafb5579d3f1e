//! The CPU's arithmetic ceiling: multiply-adds with nothing to load, on one
//! thread and on every thread, for each instruction the kernels could use.
//! No product can beat these rates, so they turn a FLOP count into the
//! shortest possible time (docs/PERFORMANCE.md, "the floor of an epoch").
//! `cargo run --release -p kneeclip-sgemm --example peak_rates`.
//!
//! Each loop keeps twelve independent accumulators (more than an FMA's
//! latency times its issue rate on any x86 core of today), so the issue
//! rate, not a dependency chain, bounds it.

fn main() {
    #[cfg(target_arch = "x86_64")]
    x86::main();
    #[cfg(not(target_arch = "x86_64"))]
    println!("peak_rates measures x86-64 instructions only");
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::time::Instant;

    pub fn main() {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let detected = |name: &str| match name {
            "avx2,fma" => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            "avx512f" => std::is_x86_feature_detected!("avx512f"),
            "avx512bf16" => std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bf16"),
            _ => false,
        };
        // (instruction, features, FLOP per instruction, the loop)
        let loops: [(&str, &str, f64, unsafe fn(u64)); 3] = [
            ("VFMADD231PS ymm (f32, 8 lanes)", "avx2,fma", 16.0, fma_ymm),
            ("VFMADD231PS zmm (f32, 16 lanes)", "avx512f", 32.0, fma_zmm),
            ("VDPBF16PS zmm (bf16 pairs into f32, 16 lanes)", "avx512bf16", 64.0, dpbf16_zmm),
        ];
        println!("threads available: {threads}");
        for (name, features, flop, f) in loops {
            if !detected(features) {
                println!("{name}: not on this CPU");
                continue;
            }
            let one = rate(1, flop, f);
            let all = rate(threads, flop, f);
            println!("{name}: {one:>6.1} GFLOP/s on one thread, {all:>6.1} on {threads}");
        }
    }

    /// Best of five timed runs of `threads` copies of the loop, in GFLOP/s.
    fn rate(threads: usize, flop_per_instruction: f64, f: unsafe fn(u64)) -> f64 {
        const ITERATIONS: u64 = 20_000_000; // × 12 instructions ≈ 0.1 s at 2.4 G/s
        let run = || {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    // SAFETY: only called after the CPU was seen to have the features.
                    scope.spawn(|| unsafe { f(ITERATIONS) });
                }
            });
            start.elapsed().as_secs_f64()
        };
        run(); // warm up: clocks, the upper halves of the vector units
        let best = (0..5).map(|_| run()).fold(f64::INFINITY, f64::min);
        threads as f64 * ITERATIONS as f64 * 12.0 * flop_per_instruction / best / 1e9
    }

    macro_rules! twelve_chains {
        ($name:ident, $features:literal, $setup:literal, $body:literal) => {
            #[target_feature(enable = $features)]
            unsafe fn $name(iterations: u64) {
                // SAFETY: registers only; the counter is the one operand.
                unsafe {
                    std::arch::asm!(
                        $setup,
                        "2:",
                        $body,
                        "dec r12",
                        "jnz 2b",
                        inout("r12") iterations => _,
                        clobber_abi("C"), // every vector register the loop writes
                        options(nostack, nomem),
                    );
                }
            }
        };
    }

    twelve_chains!(
        fma_ymm,
        "avx2,fma",
        "vxorps ymm12, ymm12, ymm12\nvxorps ymm13, ymm13, ymm13",
        "vfmadd231ps ymm0, ymm12, ymm13\nvfmadd231ps ymm1, ymm12, ymm13\nvfmadd231ps ymm2, ymm12, ymm13\nvfmadd231ps ymm3, ymm12, ymm13\nvfmadd231ps ymm4, ymm12, ymm13\nvfmadd231ps ymm5, ymm12, ymm13\nvfmadd231ps ymm6, ymm12, ymm13\nvfmadd231ps ymm7, ymm12, ymm13\nvfmadd231ps ymm8, ymm12, ymm13\nvfmadd231ps ymm9, ymm12, ymm13\nvfmadd231ps ymm10, ymm12, ymm13\nvfmadd231ps ymm11, ymm12, ymm13"
    );

    twelve_chains!(
        fma_zmm,
        "avx512f",
        "vpxord zmm12, zmm12, zmm12\nvpxord zmm13, zmm13, zmm13",
        "vfmadd231ps zmm0, zmm12, zmm13\nvfmadd231ps zmm1, zmm12, zmm13\nvfmadd231ps zmm2, zmm12, zmm13\nvfmadd231ps zmm3, zmm12, zmm13\nvfmadd231ps zmm4, zmm12, zmm13\nvfmadd231ps zmm5, zmm12, zmm13\nvfmadd231ps zmm6, zmm12, zmm13\nvfmadd231ps zmm7, zmm12, zmm13\nvfmadd231ps zmm8, zmm12, zmm13\nvfmadd231ps zmm9, zmm12, zmm13\nvfmadd231ps zmm10, zmm12, zmm13\nvfmadd231ps zmm11, zmm12, zmm13"
    );

    twelve_chains!(
        dpbf16_zmm,
        "avx512f,avx512bf16",
        "vpxord zmm12, zmm12, zmm12\nvpxord zmm13, zmm13, zmm13",
        "vdpbf16ps zmm0, zmm12, zmm13\nvdpbf16ps zmm1, zmm12, zmm13\nvdpbf16ps zmm2, zmm12, zmm13\nvdpbf16ps zmm3, zmm12, zmm13\nvdpbf16ps zmm4, zmm12, zmm13\nvdpbf16ps zmm5, zmm12, zmm13\nvdpbf16ps zmm6, zmm12, zmm13\nvdpbf16ps zmm7, zmm12, zmm13\nvdpbf16ps zmm8, zmm12, zmm13\nvdpbf16ps zmm9, zmm12, zmm13\nvdpbf16ps zmm10, zmm12, zmm13\nvdpbf16ps zmm11, zmm12, zmm13"
    );
}
