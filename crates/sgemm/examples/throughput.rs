//! GFLOP/s at the shapes of CLIP ViT-B/32 inference (one film = 50 tokens;
//! 800 rows = 16 films, 3200 = a training batch of 64; 114 = five prompts).
//! `cargo run --release -p kneeclip-sgemm --example throughput`; the same
//! shapes in PyTorch: `tools/gemm_pytorch.py`. `KNEECLIP_SGEMM_KERNEL` and
//! `RAYON_NUM_THREADS` choose the kernel and the threads.

use std::time::Instant;

use kneeclip_sgemm::{MatRef, PackedB, Precision, amx, gemm, kernel_name, matmul};

fn main() {
    println!("kernel: {}, AMX: {}, threads: {}", kernel_name(), amx::available(), rayon::current_num_threads());
    let precisions: &[Precision] = if amx::available() { &[Precision::F32, Precision::Bf16x3] } else { &[Precision::F32] };
    for &precision in precisions {
        println!("{precision:?}:");
        shapes(precision);
    }
    streamed();
}

fn shapes(precision: Precision) {
    for (m, k, n) in [(50, 768, 768), (50, 768, 2304), (50, 768, 3072), (50, 3072, 768), (800, 768, 3072), (114, 512, 2048), (3200, 768, 2304), (3200, 768, 768), (3200, 768, 3072), (3200, 3072, 768)] {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 * 0.1).collect();
        let packed = PackedB::with_precision(MatRef::row_major(&w, n, k).t(), precision);
        let runs = (2e10 / (2.0 * (m * n * k) as f64)).clamp(5.0, 2000.0) as usize;
        let mut times = Vec::with_capacity(runs);
        // The output is allocated once: a fresh 39 MB buffer per call would
        // time the kernel's page faults, not the product.
        let mut c = vec![0f32; m * n];
        for _ in 0..runs {
            let t = Instant::now();
            gemm(MatRef::row_major(&a, m, k), &packed, &mut c, n);
            std::hint::black_box(&mut c);
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let median = times[runs / 2];
        println!("{m:>4}×{k:>4}×{n:>4}: {:>7.3} ms  {:>6.1} GFLOP/s", median * 1e3, 2.0 * (m * n * k) as f64 / median / 1e9);
    }
}

/// One film's fc1 products with twelve different weights, as in inference:
/// 113 MB of weights, so B comes from memory rather than cache.
fn streamed() {
    let (m, k, n, blocks) = (50, 768, 3072, 12);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let weights: Vec<PackedB> = (0..blocks)
        .map(|b| {
            let w: Vec<f32> = (0..n * k).map(|i| ((i + b) % 5) as f32 * 0.1).collect();
            PackedB::weights_from_transposed(&w, n, k)
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        for w in &weights {
            std::hint::black_box(matmul(MatRef::row_major(&a, m, k), w, None));
        }
        times.push(t.elapsed().as_secs_f64() / blocks as f64);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{m:>4}×{k:>4}×{n:>4} streamed over {blocks} weights: {:>7.3} ms  {:>6.1} GFLOP/s",
        median * 1e3,
        2.0 * (m * n * k) as f64 / median / 1e9
    );
}
