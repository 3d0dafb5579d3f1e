//! A ViT-B/32 layer's attention from its layer norm's input, both ways:
//! the q/k/v product then `attention::self_attention` (f32 loops), and
//! `attention_after_layer_norm` (q/k/v into the heads' tiles, both
//! products on the AMX tiles). Medians of interleaved rounds, for a
//! 64-film training batch and one film.
//! `cargo run --release -p kneeclip-sgemm --example attention_rates`.

use std::time::Instant;

use kneeclip_sgemm::attention::{Heads, self_attention};
use kneeclip_sgemm::{MatRef, PackedB, amx, attention_after_layer_norm, matmul_after_layer_norm};

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
    println!("AMX: {}, threads: {}", amx::available(), rayon::current_num_threads());
    let (k, heads) = (768, 12);
    let w: Vec<f32> = (0..3 * k * k).map(|i| ((i * 7919) % 1000) as f32 * 6e-5 - 0.03).collect();
    let packed = PackedB::fastest(MatRef::row_major(&w, 3 * k, k).t());
    let (weight, bias, product_bias) = (vec![1f32; k], vec![0f32; k], vec![0.01f32; 3 * k]);
    let cases: &[(usize, usize)] = if std::env::var("ONE_FILM").is_ok() { &[(1, 20000)] } else { &[(64, 40), (1, 400)] };
    for &(films, rounds) in cases {
        let shape = Heads { batch: films, tokens: 50, heads, head_dim: 64 };
        let x: Vec<f32> = (0..films * 50 * k).map(|i| ((i * 104729) % 997) as f32 * 1e-3).collect();
        let (mut apart, mut fused, mut product) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let only_tiles = std::env::var("ONLY_TILES").is_ok();
            let t = Instant::now();
            if !only_tiles {
            let qkv = matmul_after_layer_norm(&x, &weight, &bias, 1e-5, &packed, Some(&product_bias));
            std::hint::black_box(self_attention(&qkv, shape, None, None, false));
            }
            apart.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            std::hint::black_box(matmul_after_layer_norm(&x, &weight, &bias, 1e-5, &packed, Some(&product_bias)));
            product.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let Some(out) = attention_after_layer_norm(&x, &weight, &bias, 1e-5, &packed, Some(&product_bias), shape) else {
                println!("the tiles do not take this shape here (no AMX?)");
                return;
            };
            std::hint::black_box(out);
            fused.push(t.elapsed().as_secs_f64());
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            format!("{:.3} (fastest {:.3})", v[v.len() / 2] * 1e3, v[0] * 1e3)
        };
        println!("{films:>2} films, ms: q/k/v then f32 attention {}, on the tiles {}; the q/k/v product alone {}", median(apart), median(fused), median(product));
    }
}
