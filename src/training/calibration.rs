//! The temperature that calibrates a head's probabilities: fitted on the
//! validation films' logits once training ends (what `grade` applies).

/// Mean negative log-likelihood of `logits / temperature`.
pub fn nll(logits: &[Vec<f32>], labels: &[usize], temperature: f64) -> f64 {
    if logits.is_empty() {
        return f64::NAN;
    }
    let mut s = 0.0;
    for (r, &y) in logits.iter().zip(labels) {
        let z: Vec<f64> = r.iter().map(|&v| v as f64 / temperature).collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        s += lse - z[y];
    }
    s / logits.len() as f64
}

// The temperature's limit belongs to heads (grading warns of a head fitted
// at it); the fit below stops there.
pub use crate::grading::grader::{MOST_TEMPERATURE, at_most_temperature};

/// Temperature minimising validation NLL over a log-spaced grid 0.05…20
/// (400 points), then refined by golden-section search around the best point.
pub fn fit_temperature(logits: &[Vec<f32>], labels: &[usize]) -> f64 {
    if logits.is_empty() {
        return 1.0;
    }
    let grid: Vec<f64> = (0..400).map(|i| 0.05 * (MOST_TEMPERATURE / 0.05).powf(i as f64 / 399.0)).collect();
    let best = (0..grid.len()).min_by(|&a, &b| nll(logits, labels, grid[a]).total_cmp(&nll(logits, labels, grid[b]))).unwrap();
    let (mut lo, mut hi) = (grid[best.saturating_sub(1)], grid[(best + 1).min(grid.len() - 1)]);
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let (a, b) = (hi - phi * (hi - lo), lo + phi * (hi - lo));
        if nll(logits, labels, a) < nll(logits, labels, b) { hi = b } else { lo = a }
    }
    (lo + hi) / 2.0
}
