//! A ViT-B/32 layer's attention half from its layer norm's input to the
//! residual after out_proj, both ways: the q/k/v product, then
//! `attention::self_attention` (f32 loops), then out_proj's product; and
//! `attention_block_after_layer_norm` (q/k/v into the heads' tiles, both
//! of a head's products on the AMX tiles, its output into out_proj's
//! tiles). Medians (and the fastest) of interleaved rounds, for a 64-film
//! training batch and one film.
//! `cargo run --release -p kneeclip-sgemm --example attention_rates`.

use std::time::Instant;

use kneeclip_sgemm::attention::{Heads, self_attention};
use kneeclip_sgemm::{MatRef, PackedB, amx, attention_block_after_layer_norm, gemm, matmul_after_layer_norm};

fn main() {
    // As kneeclip's main does (src/denormals.rs): subnormals flushed to
    // zero, in this thread and the pool's, started after it.
    #[cfg(target_arch = "x86_64")]
    #[allow(deprecated)]
    // SAFETY: sets MXCSR's FTZ and DAZ bits only.
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | (1 << 15) | (1 << 6));
    }
    // As kneeclip's allocator settings do (src/allocator.rs): freed buffers
    // kept for the next call, whose pages would otherwise fault in afresh.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: glibc's own tuning calls, before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    println!("AMX: {}, threads: {}", amx::available(), rayon::current_num_threads());
    let (k, heads) = (768, 12);
    let weights = |n: usize, seed: usize| (0..n * k).map(|i| ((i * 7919 + seed) % 1000) as f32 * 6e-5 - 0.03).collect::<Vec<f32>>();
    let qkv = PackedB::fastest(MatRef::row_major(&weights(3 * k, 1), 3 * k, k).t());
    let out_proj = PackedB::fastest(MatRef::row_major(&weights(k, 2), k, k).t());
    let (weight, bias, qkv_bias) = (vec![1f32; k], vec![0f32; k], vec![0.01f32; 3 * k]);
    for (films, rounds) in [(64, 40), (1, 400)] {
        let shape = Heads { batch: films, tokens: 50, heads, head_dim: 64 };
        let x: Vec<f32> = (0..films * 50 * k).map(|i| ((i * 104729) % 997) as f32 * 1e-3).collect();
        let (mut apart, mut tiles) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let mut residual = x.clone();
            let t = Instant::now();
            let attention = self_attention(&matmul_after_layer_norm(&x, &weight, &bias, 1e-5, &qkv, Some(&qkv_bias)), shape, None, None, false);
            gemm(MatRef::row_major(&attention.output, films * 50, k), &out_proj, &mut residual, k);
            apart.push(t.elapsed().as_secs_f64());
            std::hint::black_box(&residual);
            let mut residual = x.clone();
            let t = Instant::now();
            if !attention_block_after_layer_norm(&x, &weight, &bias, 1e-5, &qkv, Some(&qkv_bias), &out_proj, &mut residual, shape) {
                println!("the tiles do not take this shape here (no AMX?)");
                return;
            }
            tiles.push(t.elapsed().as_secs_f64());
            std::hint::black_box(&residual);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            format!("{:.3} (fastest {:.3})", v[v.len() / 2] * 1e3, v[0] * 1e3)
        };
        println!("{films:>2} films, ms: q/k/v, f32 attention, out_proj {}; on the tiles {}", median(apart), median(tiles));
    }
}
