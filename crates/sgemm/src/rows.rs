//! Row-wise steps of a transformer block on row-major f32 matrices: layer
//! normalisation, adding a bias row, picking token rows. Large inputs are
//! split across threads by rows.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::MatRef;

/// Values a thread's share should at least hold to be worth handing over.
const MIN_SHARE: usize = 1 << 14;

/// Calls `f(first_row, rows)` on shares of `out`'s `width`-long rows, on
/// several threads when `out` is large.
fn for_row_shares<T: Send>(out: &mut [T], width: usize, f: impl Fn(usize, &mut [T]) + Sync) {
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
    assert!(width > 0 && x.len().is_multiple_of(width), "layer norm: {} values are not rows of {width}", x.len());
    assert!(weight.len() == width && bias.len() == width, "layer norm: weight and bias must have {width} values");
    new_by_row_shares(x.len(), width, |first, share| {
        let input = &x[first * width..first * width + share.len()];
        for (row, out) in input.chunks_exact(width).zip(share.chunks_exact_mut(width)) {
            let (mean, scale) = row_norm(row, eps);
            for (((o, &v), &w), &b) in out.iter_mut().zip(row).zip(weight).zip(bias) {
                o.write(normalised(v, mean, scale, w, b));
            }
        }
    })
}

/// A row's mean and `1 / √(var + eps)`, as [`layer_norm`] takes them (also
/// where the normalisation happens as A is packed for the AMX tiles).
#[inline(always)]
pub(crate) fn row_norm(row: &[f32], eps: f32) -> (f32, f32) {
    let width = row.len() as f32;
    let mean = lane_sum(row, |v| v) / width;
    let var = lane_sum(row, |v| (v - mean) * (v - mean)) / width;
    (mean, 1.0 / (var + eps).sqrt())
}

/// One value of [`layer_norm`]'s output.
#[inline(always)]
pub(crate) fn normalised(v: f32, mean: f32, scale: f32, weight: f32, bias: f32) -> f32 {
    (v - mean) * scale * weight + bias
}

/// A new matrix of `len` values in `width`-long rows, every value written by
/// `f(first_row, rows)` on shares of the rows (on several threads when it is
/// large). The memory is not zeroed first: a single-threaded fill of a
/// batch's activations (9.8 MB for 3200 × 768) kept the other cores waiting.
/// `f` must write every value of the share it is given.
fn new_by_row_shares(len: usize, width: usize, f: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    for_row_shares(&mut out.spare_capacity_mut()[..len], width, f);
    // SAFETY: `f` wrote each of the first `len` values (its contract, kept by
    // this module's callers).
    unsafe { out.set_len(len) };
    out
}

/// `x` with `row` added to each of its `row.len()`-long rows, as a new
/// matrix (a residual with the next product's bias, for it to accumulate into).
pub fn with_row_added(x: &[f32], row: &[f32]) -> Vec<f32> {
    let width = row.len();
    assert!(width > 0 && x.len().is_multiple_of(width), "add row: {} values are not rows of {width}", x.len());
    new_by_row_shares(x.len(), width, |first, share| {
        let input = &x[first * width..first * width + share.len()];
        for (line, out) in input.chunks_exact(width).zip(share.chunks_exact_mut(width)) {
            for ((o, &v), &r) in out.iter_mut().zip(line).zip(row) {
                o.write(v + r);
            }
        }
    })
}

/// A matrix of `len` zeros in `width`-long rows, written by the threads.
pub fn zeros(len: usize, width: usize) -> Vec<f32> {
    assert!(width > 0 && len.is_multiple_of(width), "zeros: {len} values are not rows of {width}");
    new_by_row_shares(len, width, |_, share| {
        share.iter_mut().for_each(|o| {
            o.write(0.0);
        })
    })
}

/// A copy of `x`, made by the threads in shares of `width`-long rows.
pub fn copy_rows(x: &[f32], width: usize) -> Vec<f32> {
    assert!(width > 0 && x.len().is_multiple_of(width), "copy rows: {} values are not rows of {width}", x.len());
    new_by_row_shares(x.len(), width, |first, share| {
        let input = &x[first * width..first * width + share.len()];
        for (o, &v) in share.iter_mut().zip(input) {
            o.write(v);
        }
    })
}

/// The gradients of [`layer_norm`] given the gradient `grad` of its output.
#[derive(Clone, Debug)]
pub struct LayerNormGrads {
    pub x: Vec<f32>,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Backward pass of [`layer_norm`]: with x̂ the normalised row and r = 1/√(var + eps),
/// `dx = r·(g·w − mean(g·w) − x̂·mean(g·w·x̂))`, `dw = Σ_rows g·x̂`, `db = Σ_rows g`.
pub fn layer_norm_backward(x: &[f32], width: usize, weight: &[f32], grad: &[f32], eps: f32) -> LayerNormGrads {
    assert!(width > 0 && x.len().is_multiple_of(width) && grad.len() == x.len(), "layer norm backward: {} values and {} gradients are not rows of {width}", x.len(), grad.len());
    assert_eq!(weight.len(), width, "layer norm backward: weight must have {width} values");
    let rows = x.len() / width;
    let threads = rayon::current_num_threads();
    let per_share = rows.div_ceil(threads).max(MIN_SHARE.div_ceil(width));
    // Not zeroed first (a pass on one thread): every value is written below.
    let mut dx: Vec<f32> = Vec::with_capacity(x.len());
    // Each share sums its rows' dw and db; the shares' sums are added after.
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(per_share * width)
        .enumerate()
        .map(|(i, dx)| {
            let start = i * per_share * width;
            let (x, grad) = (&x[start..start + dx.len()], &grad[start..start + dx.len()]);
            let (mut dw, mut db) = (vec![0f32; width], vec![0f32; width]);
            let mut normed = vec![0f32; width];
            for ((row, g), dx) in x.chunks_exact(width).zip(grad.chunks_exact(width)).zip(dx.chunks_exact_mut(width)) {
                let mean = lane_sum(row, |v| v) / width as f32;
                let var = lane_sum(row, |v| (v - mean) * (v - mean)) / width as f32;
                let r = 1.0 / (var + eps).sqrt();
                let (mut sum_gw, mut sum_gwx) = (0f32, 0f32);
                for ((((n, &v), &g), &w), (dw, db)) in normed.iter_mut().zip(row).zip(g).zip(weight).zip(dw.iter_mut().zip(db.iter_mut())) {
                    *n = (v - mean) * r;
                    *dw += g * *n;
                    *db += g;
                    sum_gw += g * w;
                    sum_gwx += g * w * *n;
                }
                let (mean_gw, mean_gwx) = (sum_gw / width as f32, sum_gwx / width as f32);
                for (((d, &n), &g), &w) in dx.iter_mut().zip(&normed).zip(g).zip(weight) {
                    d.write(r * (g * w - mean_gw - n * mean_gwx));
                }
            }
            (dw, db)
        })
        .collect();
    // SAFETY: the shares cover all x.len() values, each written above.
    unsafe { dx.set_len(x.len()) };
    let (mut dw, mut db) = (vec![0f32; width], vec![0f32; width]);
    for (pw, pb) in &partials {
        dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    LayerNormGrads { x: dx, weight: dw, bias: db }
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

/// Column sums of `m` (its rows contiguous, any row stride): `[cols]`, each
/// column summed row by row in f32 and the threads taking shares of the
/// columns, so the result does not depend on the threads.
///
/// # Panics
/// When a row's values are not contiguous.
pub fn column_sums(m: MatRef<'_>) -> Vec<f32> {
    const COLUMNS: usize = 256;
    let mut sums = vec![0f32; m.cols()];
    sums.par_chunks_mut(COLUMNS).enumerate().for_each(|(chunk, out)| {
        let first = chunk * COLUMNS;
        for r in 0..m.rows() {
            let row = m.row(r).expect("column sums: a row's values must be contiguous");
            out.iter_mut().zip(&row[first..]).for_each(|(s, &v)| *s += v);
        }
    });
    sums
}

/// Adds `row` to every `row.len()`-long row of `matrix`.
pub fn add_row(matrix: &mut [f32], row: &[f32]) {
    let width = row.len();
    assert!(width > 0 && matrix.len().is_multiple_of(width), "add row: {} values are not rows of {width}", matrix.len());
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
    assert!(width > 0 && group > 0 && x.len().is_multiple_of(width * group), "pick rows: {} values are not groups of {group} rows of {width}", x.len());
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
    fn layer_norm_backward_matches_finite_differences() {
        // Loss L = Σ c·y for fixed c; dL/dθ by central differences in f64.
        let (width, rows) = (7, 5);
        let x: Vec<f32> = (0..rows * width).map(|i| ((i * 37) % 23) as f32 * 0.13 - 1.4).collect();
        let weight: Vec<f32> = (0..width).map(|i| 0.7 + i as f32 * 0.11).collect();
        let bias: Vec<f32> = (0..width).map(|i| i as f32 * 0.05).collect();
        let c: Vec<f32> = (0..rows * width).map(|i| ((i * 11) % 9) as f32 * 0.2 - 0.8).collect();
        let eps = 1e-5;
        let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
            let mut total = 0.0;
            for (r, row) in x.chunks(width).enumerate() {
                let mean = row.iter().sum::<f64>() / width as f64;
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / width as f64;
                for j in 0..width {
                    total += c[r * width + j] as f64 * ((row[j] - mean) / (var + eps).sqrt() * w[j] + b[j]);
                }
            }
            total
        };
        let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let (x64, w64, b64) = (f64s(&x), f64s(&weight), f64s(&bias));
        let numeric = |which: usize, i: usize| -> f64 {
            let h = 1e-5;
            let (mut plus, mut minus) = ([x64.clone(), w64.clone(), b64.clone()], [x64.clone(), w64.clone(), b64.clone()]);
            plus[which][i] += h;
            minus[which][i] -= h;
            (loss(&plus[0], &plus[1], &plus[2]) - loss(&minus[0], &minus[1], &minus[2])) / (2.0 * h)
        };
        let got = layer_norm_backward(&x, width, &weight, &c, eps as f32);
        for (which, values) in [&got.x, &got.weight, &got.bias].into_iter().enumerate() {
            for (i, &g) in values.iter().enumerate() {
                let want = numeric(which, i);
                assert!((g as f64 - want).abs() < 1e-4 * want.abs().max(1.0), "gradient {which}[{i}]: {g} vs {want}");
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
    fn new_matrices_are_written_in_every_share() {
        // 3001 rows of 20 on three threads: shares of unequal length, and
        // memory reused from a freed matrix of other values, so a value left
        // unwritten would show.
        let (rows, width) = (3001, 20);
        let x: Vec<f32> = (0..rows * width).map(|i| ((i * 31) % 97) as f32 - 48.0).collect();
        let row: Vec<f32> = (0..width).map(|i| i as f32 * 0.5).collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        drop(vec![f32::NAN; rows * width]);
        let added = pool.install(|| with_row_added(&x, &row));
        drop(vec![f32::NAN; rows * width]);
        let copied = pool.install(|| copy_rows(&x, width));
        drop(vec![f32::NAN; rows * width]);
        let zeros = pool.install(|| zeros(rows * width, width));
        assert!(zeros.len() == x.len() && zeros.iter().all(|&z| z.to_bits() == 0));
        assert_eq!(added.len(), x.len());
        for (i, (&a, &v)) in added.iter().zip(&x).enumerate() {
            assert_eq!(a, v + row[i % width], "value {i}");
        }
        assert_eq!(copied, x);
    }

    #[test]
    fn pick_rows_takes_the_same_rows_of_each_group() {
        // Two groups of three rows of width 2: rows are numbered 0..6.
        let x: Vec<f32> = (0..6).flat_map(|r| [r as f32, r as f32]).collect();
        assert_eq!(pick_rows(&x, 2, 3, &[2, 0]), vec![2.0, 2.0, 0.0, 0.0, 5.0, 5.0, 3.0, 3.0]);
    }

    #[test]
    fn column_sums_read_strided_rows_and_every_column_share() {
        // 300 columns: two shares, the last partial; rows 310 apart.
        let (rows, cols, stride) = (7, 300, 310);
        let data: Vec<f32> = (0..rows * stride).map(|i| (i % 13) as f32 - 6.0).collect();
        let sums = column_sums(MatRef::strided(&data, rows, cols, stride, 1));
        for (j, &s) in sums.iter().enumerate() {
            let want: f32 = (0..rows).map(|r| data[r * stride + j]).sum();
            assert_eq!(s, want, "column {j}");
        }
    }
}
