//! Counting metrics: accuracy, precision/recall/F1, sensitivity/specificity,
//! quadratic weighted kappa, MAE, expected calibration error.

use super::{Confusion, GRADES, argmax};

/// Rows = true grade, columns = predicted grade. Grades ≥ 5 are ignored.
pub fn confusion_matrix(truth: &[usize], pred: &[usize]) -> Confusion {
    let mut m = [[0u64; GRADES]; GRADES];
    for (&t, &p) in truth.iter().zip(pred) {
        if t < GRADES && p < GRADES {
            m[t][p] += 1;
        }
    }
    m
}

fn total(m: &Confusion) -> u64 {
    m.iter().flatten().sum()
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { f64::NAN } else { a as f64 / b as f64 }
}

/// Mean of the finite values (grades absent from the data give NaN and are skipped).
fn mean_finite(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() { f64::NAN } else { f.iter().sum::<f64>() / f.len() as f64 }
}

pub fn accuracy(m: &Confusion) -> f64 {
    ratio((0..GRADES).map(|i| m[i][i]).sum(), total(m))
}

/// Sensitivity (recall) per grade: TP / (TP + FN); NaN for a grade with no films.
pub fn per_grade_sensitivity(m: &Confusion) -> [f64; GRADES] {
    std::array::from_fn(|g| ratio(m[g][g], m[g].iter().sum()))
}

/// Specificity per grade: TN / (TN + FP).
pub fn per_grade_specificity(m: &Confusion) -> [f64; GRADES] {
    let n = total(m);
    std::array::from_fn(|g| {
        let row: u64 = m[g].iter().sum();
        let col: u64 = (0..GRADES).map(|t| m[t][g]).sum();
        let fp = col - m[g][g];
        let tn = n - row - fp;
        ratio(tn, tn + fp)
    })
}

/// Precision per grade: TP / (TP + FP); NaN when the grade is never predicted.
pub fn per_grade_precision(m: &Confusion) -> [f64; GRADES] {
    std::array::from_fn(|g| ratio(m[g][g], (0..GRADES).map(|t| m[t][g]).sum()))
}

/// Mean per-grade recall over grades present in the data.
pub fn balanced_accuracy(m: &Confusion) -> f64 {
    mean_finite(&per_grade_sensitivity(m))
}

pub fn macro_recall(m: &Confusion) -> f64 {
    balanced_accuracy(m)
}

/// Macro precision over grades present in the data (true row non-empty); a
/// present grade that is never predicted counts as precision 0.
pub fn macro_precision(m: &Confusion) -> f64 {
    let p = per_grade_precision(m);
    let v: Vec<f64> = (0..GRADES)
        .filter(|&g| m[g].iter().sum::<u64>() > 0)
        .map(|g| if p[g].is_finite() { p[g] } else { 0.0 })
        .collect();
    mean_finite(&v)
}

/// F1 = 2PR/(P+R) per grade; a grade never predicted has P = 0 (so F1 0),
/// a grade without films NaN.
pub fn per_grade_f1(m: &Confusion) -> [f64; GRADES] {
    let p = per_grade_precision(m);
    let r = per_grade_sensitivity(m);
    std::array::from_fn(|g| {
        let pg = if p[g].is_finite() { p[g] } else { 0.0 };
        if r[g].is_nan() { f64::NAN } else if pg + r[g] == 0.0 { 0.0 } else { 2.0 * pg * r[g] / (pg + r[g]) }
    })
}

/// Macro F1 over grades present in the data.
pub fn macro_f1(m: &Confusion) -> f64 {
    mean_finite(&per_grade_f1(m))
}

/// Grades with no films in the data: left out of every macro figure.
pub fn absent_grades(m: &Confusion) -> Vec<usize> {
    (0..GRADES).filter(|&g| m[g].iter().sum::<u64>() == 0).collect()
}

/// Cohen's kappa with quadratic weights w_ij = (i−j)²/(K−1)²:
/// κ = 1 − Σ w·O / Σ w·E with E the outer product of the marginals / N.
pub fn quadratic_weighted_kappa(m: &Confusion) -> f64 {
    let n = total(m) as f64;
    if n == 0.0 {
        return f64::NAN;
    }
    let rows: Vec<f64> = (0..GRADES).map(|i| m[i].iter().sum::<u64>() as f64).collect();
    let cols: Vec<f64> = (0..GRADES).map(|j| (0..GRADES).map(|i| m[i][j]).sum::<u64>() as f64).collect();
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..GRADES {
        for j in 0..GRADES {
            let w = ((i as f64 - j as f64) / (GRADES as f64 - 1.0)).powi(2);
            num += w * m[i][j] as f64;
            den += w * rows[i] * cols[j] / n;
        }
    }
    if den == 0.0 { if num == 0.0 { 1.0 } else { f64::NAN } } else { 1.0 - num / den }
}

/// Mean |true − predicted| in grades.
pub fn mean_absolute_error(m: &Confusion) -> f64 {
    let mut s = 0u64;
    for i in 0..GRADES {
        for j in 0..GRADES {
            s += m[i][j] * i.abs_diff(j) as u64;
        }
    }
    ratio(s, total(m))
}

/// Expected calibration error with `bins` equal-width confidence bins on
/// (0, 1]: Σ_b |B_b|/N · |acc(B_b) − conf(B_b)|, confidence = max probability.
/// A confidence c falls in bin ⌈c·bins⌉−1 (so bin edges belong to the lower bin).
pub fn expected_calibration_error(truth: &[usize], probs: &[Vec<f32>], bins: usize) -> f64 {
    let n = truth.len();
    if n == 0 {
        return f64::NAN;
    }
    let mut count = vec![0usize; bins];
    let mut correct = vec![0usize; bins];
    let mut conf = vec![0f64; bins];
    for (t, p) in truth.iter().zip(probs) {
        let k = argmax(p);
        let c = p[k] as f64;
        let b = ((c * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        count[b] += 1;
        conf[b] += c;
        if k == *t {
            correct[b] += 1;
        }
    }
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let nb = count[b] as f64;
            nb / n as f64 * (correct[b] as f64 / nb - conf[b] / nb).abs()
        })
        .sum()
}
