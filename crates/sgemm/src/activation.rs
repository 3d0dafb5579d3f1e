//! The two places a transformer block takes exponentials, in place over f32:
//! CLIP's quick GELU, `x · σ(1.702·x)`, and the attention's softmax.
//!
//! The activation runs on every MLP's hidden layer (a film's 50 × 3072 values
//! per block, 16× that for a batch). Composed from candle's ops it took three
//! passes over memory and a scalar libm `expf` per value, ≈ 8 % of a batch's
//! time in `perf`. Here it is one pass with a polynomial `exp` the compiler
//! vectorises, compiled for the widest vector unit the CPU has, and large
//! inputs are split across threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Values per thread's share of a large activation (a share then costs far
/// more than handing it to a thread).
const CHUNK: usize = 1 << 15;

/// Defines `fn $dispatch(args)`, which runs `$portable(args)` compiled for the
/// widest vector unit this CPU has (AVX-512F, else AVX2 with FMA, else the
/// baseline): one body that the compiler vectorises for each.
macro_rules! widest_vectors {
    ($dispatch:ident => $portable:ident($($arg:ident: $ty:ty),*)) => {
        fn $dispatch($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $portable($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2_fma($($arg: $ty),*) {
                    $portable($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F (checked above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports AVX2 and FMA (checked above).
                    return unsafe { avx2_fma($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}

widest_vectors!(quick_gelu_dispatch => quick_gelu_portable(xs: &mut [f32]));
widest_vectors!(quick_gelu_copy_dispatch => quick_gelu_copy_portable(x: &[f32], out: &mut [MaybeUninit<f32>]));
widest_vectors!(quick_gelu_backward_dispatch => quick_gelu_backward_portable(x: &[f32], grad: &mut [f32]));
widest_vectors!(softmax_dispatch => softmax_portable(rows: &mut [f32], width: usize, len: usize));

/// `x · σ(1.702·x)` for every value, in place.
pub fn quick_gelu_in_place(xs: &mut [f32]) {
    if xs.len() > 2 * CHUNK && rayon::current_num_threads() > 1 {
        xs.par_chunks_mut(CHUNK).for_each(quick_gelu_dispatch);
    } else {
        quick_gelu_dispatch(xs);
    }
}

/// `x · σ(1.702·x)` for every value of `x`, as a new vector: the activation
/// beside its input (the trainer keeps both), in one pass rather than a copy
/// and then another.
pub fn quick_gelu(x: &[f32]) -> Vec<f32> {
    // Not zeroed first: a fill of the trainer's 3200 × 3072 activations ran
    // on one thread while the others waited.
    let mut out: Vec<f32> = Vec::with_capacity(x.len());
    let spare = &mut out.spare_capacity_mut()[..x.len()];
    if x.len() > 2 * CHUNK && rayon::current_num_threads() > 1 {
        spare.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| quick_gelu_copy_dispatch(x, o));
    } else {
        quick_gelu_copy_dispatch(x, spare);
    }
    // SAFETY: every one of the x.len() values was written above (each
    // chunk of `out` beside the chunk of `x` of the same length).
    unsafe { out.set_len(x.len()) };
    out
}

#[inline(always)]
fn quick_gelu_copy_portable(x: &[f32], out: &mut [MaybeUninit<f32>]) {
    for (o, &x) in out.iter_mut().zip(x) {
        o.write(quick_gelu_value(x));
    }
}

/// `x · σ(1.702·x)`, as every quick GELU here computes it (bit for bit the
/// same wherever it runs).
#[inline(always)]
fn quick_gelu_value(x: f32) -> f32 {
    x / (1.0 + exp(-1.702 * x))
}

/// Quick GELU in place on values the caller holds (A's packing for the
/// AMX tiles, `crate::amx`): the same operations as [`quick_gelu_in_place`],
/// vectorised as the caller is compiled.
#[inline(always)]
pub(crate) fn quick_gelu_values(xs: &mut [f32]) {
    quick_gelu_portable(xs)
}

#[inline(always)]
fn quick_gelu_portable(xs: &mut [f32]) {
    for x in xs {
        *x = quick_gelu_value(*x);
    }
}

/// The gradient through quick GELU: `grad[i] *= d/dx [x·σ(1.702·x)]` at
/// `x[i]`, that is `σ + 1.702·x·σ·(1 − σ)`, in place (training's backward pass).
pub fn quick_gelu_backward_in_place(x: &[f32], grad: &mut [f32]) {
    assert_eq!(x.len(), grad.len(), "quick gelu backward: {} inputs, {} gradients", x.len(), grad.len());
    if grad.len() > 2 * CHUNK && rayon::current_num_threads() > 1 {
        grad.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(g, x)| quick_gelu_backward_dispatch(x, g));
    } else {
        quick_gelu_backward_dispatch(x, grad);
    }
}

#[inline(always)]
fn quick_gelu_backward_portable(x: &[f32], grad: &mut [f32]) {
    for (g, &x) in grad.iter_mut().zip(x) {
        *g = quick_gelu_grad(x, *g);
    }
}

/// `g · d/dx [x·σ(1.702·x)]` at `x`: one value of
/// [`quick_gelu_backward_in_place`], by the same operations (the AMX
/// kernel's MLP backward applies it to its blocks, `crate::amx`).
#[inline(always)]
pub(crate) fn quick_gelu_grad(x: f32, g: f32) -> f32 {
    let s = 1.0 / (1.0 + exp(-1.702 * x));
    g * (s + 1.702 * x * s * (1.0 - s))
}

/// Softmax of each `width`-long row of `rows`, in place. A −∞ entry (a
/// masked position) gets exactly 0.
pub fn softmax_rows_in_place(rows: &mut [f32], width: usize) {
    softmax_row_prefixes_in_place(rows, width, width);
}

/// Softmax of the first `len` values of each `width`-long row, in place; the
/// rest of each row becomes 0. Attention hands it the keys a block of
/// queries can see, when the mask hides every later one: the values equal
/// those of the whole rows' softmax, bit for bit.
pub fn softmax_row_prefixes_in_place(rows: &mut [f32], width: usize, len: usize) {
    assert!(width > 0 && rows.len() % width == 0, "softmax: {} values are not rows of {width}", rows.len());
    assert!(len > 0 && len <= width, "softmax: a prefix of {len} values of rows of {width}");
    softmax_dispatch(rows, width, len);
}

/// Lanes of the running maxima and sums: independent accumulators let the
/// compiler vectorise reductions it must otherwise keep in order.
const LANES: usize = 16;

#[inline(always)]
fn softmax_portable(rows: &mut [f32], width: usize, len: usize) {
    let whole = len - len % LANES;
    for row in rows.chunks_exact_mut(width) {
        let (row, hidden) = row.split_at_mut(len);
        hidden.fill(0.0);
        // The last values past a multiple of LANES (10 of a prompt tree's 106,
        // 2 of a film's 50) go through the same vector steps in a copy padded
        // with −∞, which is never the maximum and whose exponential is 0: one
        // at a time they cost as much as the rest of the row.
        let (body, tail) = row.split_at_mut(whole);
        let mut padded = [f32::NEG_INFINITY; LANES];
        padded[..tail.len()].copy_from_slice(tail);
        let mut lanes = [f32::NEG_INFINITY; LANES];
        for chunk in body.chunks_exact(LANES).chain(std::iter::once(&padded[..])) {
            for (m, &x) in lanes.iter_mut().zip(chunk) {
                *m = if x > *m { x } else { *m };
            }
        }
        let max = halving(lanes, |a, b| if b > a { b } else { a });
        let mut sums = [0f32; LANES];
        for chunk in body.chunks_exact_mut(LANES).chain(std::iter::once(&mut padded[..])) {
            for (s, x) in sums.iter_mut().zip(chunk) {
                *x = exp_or_zero(*x - max);
                *s += *x;
            }
        }
        let inv = 1.0 / halving(sums, |a, b| a + b);
        for x in body.iter_mut() {
            *x *= inv;
        }
        for (x, &p) in tail.iter_mut().zip(&padded) {
            *x = p * inv;
        }
    }
}

/// Softmax of the first `len` values of each of `R` rows of 64, the rest
/// 0: a film head's scores (`amx::heads`), `R` rows at a time so that their
/// steps (each row's a chain of dependent ones) overlap. The same steps in
/// the same order as [`softmax_row_prefixes_in_place`] (the last partial
/// group of 16 masked with −∞), so the same values, in vector steps wherever
/// it is inlined into a build for wide vectors.
#[inline(always)]
pub(crate) fn softmax_rows_64<const R: usize>(rows: &mut [[f32; 64]; R], len: usize) {
    let masked = |i: usize, x: f32| if i < len { x } else { f32::NEG_INFINITY };
    let mut lanes = [[f32::NEG_INFINITY; LANES]; R];
    for c in 0..64 / LANES {
        for (row, lanes) in rows.iter().zip(lanes.iter_mut()) {
            for (i, m) in lanes.iter_mut().enumerate() {
                let x = masked(c * LANES + i, row[c * LANES + i]);
                *m = if x > *m { x } else { *m };
            }
        }
    }
    let max: [f32; R] = std::array::from_fn(|r| halving(lanes[r], |a, b| if b > a { b } else { a }));
    let mut sums = [[0f32; LANES]; R];
    for c in 0..64 / LANES {
        for ((row, sums), &max) in rows.iter_mut().zip(sums.iter_mut()).zip(&max) {
            for (i, s) in sums.iter_mut().enumerate() {
                let x = &mut row[c * LANES + i];
                *x = exp_or_zero(masked(c * LANES + i, *x) - max);
                *s += *x;
            }
        }
    }
    for (row, sums) in rows.iter_mut().zip(sums) {
        let inv = 1.0 / halving(sums, |a, b| a + b);
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}

/// The lanes folded in halves (lane i with lane i + 8, then + 4, + 2, + 1):
/// four vector steps, where a fold in lane order is sixteen dependent ones
/// (that chain, twice a row, made the softmax 37 % of a film's attention).
#[inline(always)]
fn halving(mut lanes: [f32; LANES], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut half = LANES / 2;
    while half > 0 {
        for i in 0..half {
            lanes[i] = f(lanes[i], lanes[i + half]);
        }
        half /= 2;
    }
    lanes[0]
}

/// `eˣ`, with −∞ (masked) giving exactly 0 rather than the clamp's 2⁻¹²⁶.
#[inline(always)]
fn exp_or_zero(x: f32) -> f32 {
    let e = exp(x);
    if x == f32::NEG_INFINITY { 0.0 } else { e }
}

/// `eˣ` to within 2 ulp over f32's range (Cephes' `expf` polynomial), written
/// without branches or calls so that loops over it vectorise. Arguments below
/// −87.3 give 2⁻¹²⁶ (not 0) and above 88.7 give 2¹²⁸-ish: both saturate the
/// sigmoid exactly as the true values would.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.7);
    let rounded = x * LOG2E + ROUND;
    let n = rounded - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let er = p * r * r + r + 1.0;
    // 2ⁿ built from its exponent bits; n ∈ [−126, 128] after the clamp. The
    // integer n is read from `rounded`'s low bits (its exponent is that of
    // ROUND, one unit per ulp): `n as i32` would saturate, value by value,
    // and keep the loop from vectorising.
    let n_int = (rounded.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let two_n = f32::from_bits(((n_int + 127).clamp(1, 254) as u32) << 23);
    er * two_n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_the_true_value() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max((got - want).abs() / want);
            x += 0.0137;
        }
        // f32's unit roundoff is 6e-8; two ulp ≈ 2.4e-7.
        assert!(worst < 2.4e-7, "worst relative error {worst:e}");
    }

    #[test]
    fn quick_gelu_matches_the_formula_and_saturates() {
        let mut xs: Vec<f32> = (-2000..2000).map(|i| i as f32 * 0.01).collect();
        xs.extend([-200.0, -90.0, 90.0, 200.0, 0.0, f32::MIN_POSITIVE]);
        let want: Vec<f64> = xs.iter().map(|&x| x as f64 / (1.0 + (-1.702 * x as f64).exp())).collect();
        let mut got = xs.clone();
        quick_gelu_in_place(&mut got);
        for ((x, g), w) in xs.iter().zip(&got).zip(&want) {
            assert!((*g as f64 - w).abs() <= 1e-6 * w.abs().max(1e-3), "x = {x}: {g} vs {w}");
        }
        assert_eq!(got[xs.len() - 3], 200.0, "large inputs pass through");
        assert!(got[xs.len() - 6].abs() < 1e-30, "large negative inputs vanish");
        // Into a new vector: the same values, bit for bit, small and threaded.
        let long: Vec<f32> = xs.iter().cycle().take(5 * CHUNK + 17).copied().collect();
        for input in [&xs[..], &long[..]] {
            let mut in_place = input.to_vec();
            quick_gelu_in_place(&mut in_place);
            let beside = quick_gelu(input);
            assert!(beside.iter().zip(&in_place).all(|(a, b)| a.to_bits() == b.to_bits()) && beside.len() == input.len());
        }
    }

    #[test]
    fn large_activations_split_across_threads_give_the_same_values() {
        let xs: Vec<f32> = (0..5 * CHUNK + 17).map(|i| (i % 1000) as f32 * 0.01 - 5.0).collect();
        let mut whole = xs.clone();
        quick_gelu_dispatch(&mut whole);
        let mut split = xs;
        rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(|| quick_gelu_in_place(&mut split));
        assert_eq!(whole, split);
    }

    #[test]
    fn quick_gelu_backward_matches_the_derivative() {
        let xs: Vec<f32> = (-3000..3000).map(|i| i as f32 * 0.01).chain([-200.0, 200.0]).collect();
        let grads: Vec<f32> = (0..xs.len()).map(|i| 0.5 + (i % 7) as f32 * 0.25).collect();
        let mut got = grads.clone();
        quick_gelu_backward_in_place(&xs, &mut got);
        for ((&x, &g), &v) in xs.iter().zip(&grads).zip(&got) {
            let (x, g) = (x as f64, g as f64);
            let s = 1.0 / (1.0 + (-1.702 * x).exp());
            let want = g * (s + 1.702 * x * s * (1.0 - s));
            // The derivative's two terms are of order one and cancel near x ≈ −0.76.
            assert!((v as f64 - want).abs() <= 1e-6 * g, "x = {x}: {v} vs {want}");
        }
    }

    #[test]
    fn softmax_matches_f64_and_zeroes_masked_entries() {
        // Widths around the lane count, one with a masked tail and one row
        // of large values (the maximum is subtracted first).
        for width in [1, 5, 16, 17, 50, 77] {
            let mut rows: Vec<f32> = (0..3 * width).map(|i| ((i * 7919) % 101) as f32 * 0.05 - 2.5).collect();
            rows[width..2 * width].iter_mut().for_each(|x| *x += 80.0);
            if width > 2 {
                rows[3 * width - 2..].fill(f32::NEG_INFINITY);
            }
            let input = rows.clone();
            softmax_rows_in_place(&mut rows, width);
            for (got, x) in rows.chunks(width).zip(input.chunks(width)) {
                let max = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                let sum: f64 = x.iter().map(|&v| (v as f64 - max).exp()).sum();
                for (g, &v) in got.iter().zip(x) {
                    let want = (v as f64 - max).exp() / sum;
                    assert!((*g as f64 - want).abs() <= 1e-6 * want.max(1e-6), "width {width}: {g} vs {want}");
                    if v == f32::NEG_INFINITY {
                        assert_eq!(*g, 0.0, "a masked entry is exactly zero");
                    }
                }
            }
        }
    }

    #[test]
    fn a_prefix_softmax_equals_the_whole_rows_when_the_rest_is_masked() {
        for (width, len) in [(37, 21), (106, 106), (106, 16), (50, 3), (33, 32)] {
            let mut whole: Vec<f32> = (0..4 * width).map(|i| if i % width < len { ((i * 31) % 17) as f32 * 0.4 - 3.0 } else { f32::NEG_INFINITY }).collect();
            // Past the prefix the values are ignored, whatever they are.
            let mut prefix: Vec<f32> = whole.iter().map(|&v| if v == f32::NEG_INFINITY { 7.0 } else { v }).collect();
            softmax_rows_in_place(&mut whole, width);
            softmax_row_prefixes_in_place(&mut prefix, width, len);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&prefix), bits(&whole), "width {width}, prefix {len}");
        }
    }

    #[test]
    fn every_instruction_set_gives_the_same_values() {
        let xs: Vec<f32> = (-500..500).map(|i| i as f32 * 0.037).collect();
        let mut portable = xs.clone();
        quick_gelu_portable(&mut portable);
        let mut dispatched = xs.clone();
        quick_gelu_in_place(&mut dispatched);
        let mut rows_portable = xs.clone();
        softmax_portable(&mut rows_portable, 100, 100);
        let mut rows_dispatched = xs;
        softmax_rows_in_place(&mut rows_dispatched, 100);
        portable.extend(rows_portable);
        dispatched.extend(rows_dispatched);
        // The same body compiled for another instruction set; rustc does not
        // contract to FMA, so only a last-bit difference would be tolerated.
        for (a, b) in portable.iter().zip(&dispatched) {
            assert!((a - b).abs() <= 2.0 * f32::EPSILON * a.abs().max(1e-6), "{a} vs {b}");
        }
    }
}
