//! Row-wise steps of a transformer block on row-major f32 matrices: layer
//! normalisation, adding a bias row, picking token rows. Large inputs are
//! split across threads by rows.

use rayon::prelude::*;

/// Values a thread's share should at least hold to be worth handing over.
const MIN_SHARE: usize = 1 << 14;

/// Calls `f(first_row, rows)` on shares of `out`'s `width`-long rows, on
/// several threads when `out` is large.
fn for_row_shares(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = out.len() / width.max(1);
    let threads = rayon::current_num_threads();
    let per_share = rows.div_ceil(threads).max(MIN_SHARE.div_ceil(width.max(1)));
    if threads == 1 || per_share >= rows {
        return f(0, out);
    }
    out.par_chunks_mut(per_share * width).enumerate().for_each(|(i, share)| f(i * per_share, share));
}

/// Layer normalisation of each `width`-long row of `x`: `(x − mean) / √(var + eps) · weight + bias`,
/// the variance taken about the mean in a second pass, as PyTorch does.
pub fn layer_norm(x: &[f32], width: usize, weight: &[f32], bias: &[f32], eps: f32) -> Vec<f32> {
    assert!(width > 0 && x.len() % width == 0, "layer norm: {} values are not rows of {width}", x.len());
    assert!(weight.len() == width && bias.len() == width, "layer norm: weight and bias must have {width} values");
    let mut out = vec![0f32; x.len()];
    for_row_shares(&mut out, width, |first, share| {
        let input = &x[first * width..first * width + share.len()];
        for (row, out) in input.chunks_exact(width).zip(share.chunks_exact_mut(width)) {
            let mean = lane_sum(row, |v| v) / width as f32;
            let var = lane_sum(row, |v| (v - mean) * (v - mean)) / width as f32;
            let scale = 1.0 / (var + eps).sqrt();
            for (((o, &v), &w), &b) in out.iter_mut().zip(row).zip(weight).zip(bias) {
                *o = (v - mean) * scale * w + b;
            }
        }
    });
    out
}

/// `Σ f(v)` over `row` in 16 independent lanes, so that the compiler may
/// vectorise it (a sum in order cannot be).
#[inline(always)]
fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 16];
    let chunks = row.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Adds `row` to every `row.len()`-long row of `matrix`.
pub fn add_row(matrix: &mut [f32], row: &[f32]) {
    let width = row.len();
    assert!(width > 0 && matrix.len() % width == 0, "add row: {} values are not rows of {width}", matrix.len());
    for_row_shares(matrix, width, |_, share| {
        for line in share.chunks_exact_mut(width) {
            for (v, &r) in line.iter_mut().zip(row) {
                *v += r;
            }
        }
    });
}

/// From each group of `group` consecutive `width`-long rows of `x` (one film
/// or prompt sequence), the rows `picks`, in order: a `[groups·picks, width]` matrix.
pub fn pick_rows(x: &[f32], width: usize, group: usize, picks: &[usize]) -> Vec<f32> {
    assert!(width > 0 && group > 0 && x.len() % (width * group) == 0, "pick rows: {} values are not groups of {group} rows of {width}", x.len());
    assert!(picks.iter().all(|&p| p < group), "pick rows: a row index is outside the group of {group}");
    let mut out = Vec::with_capacity(x.len() / group * picks.len());
    for rows in x.chunks_exact(width * group) {
        for &p in picks {
            out.extend_from_slice(&rows[p * width..(p + 1) * width]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_matches_f64_on_every_share() {
        let width = 37;
        let rows = 2000; // several threads' shares
        let x: Vec<f32> = (0..rows * width).map(|i| ((i * 7919) % 1013) as f32 * 0.01 - 3.0 + ((i / width) % 10) as f32).collect();
        let weight: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 * 0.1).collect();
        let bias: Vec<f32> = (0..width).map(|i| i as f32 * -0.2).collect();
        let got = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(|| layer_norm(&x, width, &weight, &bias, 1e-5));
        for (r, (row, out)) in x.chunks(width).zip(got.chunks(width)).enumerate() {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / width as f64;
            for (j, (&v, &o)) in row.iter().zip(out).enumerate() {
                let want = (v as f64 - mean) / (var + 1e-5).sqrt() * weight[j] as f64 + bias[j] as f64;
                assert!((o as f64 - want).abs() < 2e-5 * want.abs().max(1.0), "row {r} column {j}: {o} vs {want}");
            }
        }
    }

    #[test]
    fn add_row_reaches_every_row() {
        let mut m = vec![1f32; 3000 * 20];
        let row: Vec<f32> = (0..20).map(|i| i as f32).collect();
        rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| add_row(&mut m, &row));
        for line in m.chunks(20) {
            assert!(line.iter().zip(&row).all(|(v, r)| *v == r + 1.0));
        }
    }

    #[test]
    fn pick_rows_takes_the_same_rows_of_each_group() {
        // Two groups of three rows of width 2: rows are numbered 0..6.
        let x: Vec<f32> = (0..6).flat_map(|r| [r as f32, r as f32]).collect();
        assert_eq!(pick_rows(&x, 2, 3, &[2, 0]), vec![2.0, 2.0, 0.0, 0.0, 5.0, 5.0, 3.0, 3.0]);
    }
}
