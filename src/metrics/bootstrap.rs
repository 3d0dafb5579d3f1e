//! 95% confidence intervals: Wilson score for proportions, percentile
//! bootstrap (seeded, deterministic) for everything else.

use serde::Serialize;

/// A point estimate with its 95% interval (percentile bootstrap, or Wilson
/// score for a proportion: see [`wilson_ci`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BootstrapCi {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The 97.5% quantile of the standard normal distribution (two-sided 95%).
const Z_95: f64 = 1.959_963_984_540_054;

/// `successes / n` with its 95% Wilson score interval; NaN throughout when
/// `n` is 0. Used for proportions because a percentile bootstrap collapses
/// to a point at 0/n or n/n (0 of 40 would read "[0.000, 0.000]", where the
/// data allow up to 0.088), and Wilson keeps its coverage for small `n`.
pub fn wilson_ci(successes: u64, n: u64) -> BootstrapCi {
    if n == 0 {
        return BootstrapCi { value: f64::NAN, lower: f64::NAN, upper: f64::NAN };
    }
    let (k, n) = (successes as f64, n as f64);
    let p = k / n;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    // At p = 0 or 1 the bound is exactly 0 or 1, but rounding left 5.6e-17 in
    // `eval --json`: clamped into [0, 1] and snapped when within 1e-12 of either end.
    BootstrapCi { value: p, lower: snap_unit(centre - half), upper: snap_unit(centre + half) }
}

/// `x` clamped into [0, 1], and exactly 0 or 1 when within 1e-12 of them.
fn snap_unit(x: f64) -> f64 {
    const EPS: f64 = 1e-12;
    match x.clamp(0.0, 1.0) {
        x if x < EPS => 0.0,
        x if x > 1.0 - EPS => 1.0,
        x => x,
    }
}

/// SplitMix64: small, fast and fully specified, so intervals are reproducible
/// across platforms and crate versions.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0), by rejection so there is no modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }
    /// Uniform in [0, 1) with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `metric` on all `n` films, and its 2.5% / 97.5% percentiles over `resamples`
/// resamples of the film indices with replacement (seeded). Resamples where the
/// metric is not finite (e.g. a grade missing) are dropped from the percentiles.
pub fn bootstrap_ci<F>(n: usize, resamples: usize, seed: u64, metric: F) -> BootstrapCi
where
    F: Fn(&[usize]) -> f64,
{
    let all: Vec<usize> = (0..n).collect();
    let value = metric(&all);
    if n == 0 || resamples == 0 {
        return BootstrapCi { value, lower: f64::NAN, upper: f64::NAN };
    }
    let mut rng = SplitMix64(seed);
    let mut idx = vec![0usize; n];
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in idx.iter_mut() {
            *slot = rng.below(n);
        }
        let s = metric(&idx);
        if s.is_finite() {
            stats.push(s);
        }
    }
    if stats.is_empty() {
        return BootstrapCi { value, lower: f64::NAN, upper: f64::NAN };
    }
    stats.sort_by(f64::total_cmp);
    BootstrapCi { value, lower: percentile(&stats, 2.5), upper: percentile(&stats, 97.5) }
}

/// Linear interpolation between closest ranks (NumPy's default).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::wilson_ci;

    #[test]
    fn wilson_bounds_at_the_ends_are_exactly_0_and_1() {
        // Rounding left 5.551115123125783e-17 as the lower bound of 0 of 3 (the
        // value eval --json showed), 0.9999999999999999 as the upper of 10 of 10.
        let none = wilson_ci(0, 40);
        assert_eq!((none.value, none.lower), (0.0, 0.0));
        assert!((none.upper - 0.0876).abs() < 1e-3, "{none:?}");
        let all = wilson_ci(40, 40);
        assert_eq!((all.value, all.upper), (1.0, 1.0));
        for n in 1..200 {
            assert_eq!(wilson_ci(0, n).lower, 0.0, "0 of {n}");
            assert_eq!(wilson_ci(n, n).upper, 1.0, "{n} of {n}");
            let half = wilson_ci(n / 2, n);
            assert!(n < 2 || (0.0 < half.lower && half.upper < 1.0), "{half:?}");
        }
    }
}
