//! Everything `kneeclip eval` reports, with 95% intervals: Wilson score for
//! the proportions, percentile bootstrap for the rest ([`Intervals`]).

use serde::Serialize;

use super::*;

/// Bootstrap settings used for reports: 1000 resamples, fixed seed.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;
pub const BOOTSTRAP_SEED: u64 = 42;
/// ECE: equal-width bins of the top-label confidence on (0, 1].
pub const ECE_BINS: usize = 15;

#[derive(Clone, Debug, Serialize)]
pub struct PerGrade {
    pub grade: usize,
    pub support: u64,
    pub sensitivity: BootstrapCi,
    pub specificity: BootstrapCi,
    pub precision: BootstrapCi,
    pub f1: BootstrapCi,
    pub auc: BootstrapCi,
}

/// Which interval each figure has, so a reader of the JSON need not guess.
#[derive(Clone, Debug, Serialize)]
pub struct Intervals {
    pub level: f64,
    pub wilson_score: &'static [&'static str],
    pub percentile_bootstrap: &'static [&'static str],
    pub bootstrap_resamples: usize,
    pub bootstrap_seed: u64,
}

/// The proportions (successes of a count of films): Wilson score intervals.
/// `flip_agreement` is `eval --mirror-check`'s, computed there.
pub const WILSON_METRICS: &[&str] = &["accuracy", "per_grade.sensitivity", "per_grade.specificity", "per_grade.precision", "flip_agreement"];
pub const BOOTSTRAP_METRICS: &[&str] =
    &["balanced_accuracy", "macro_precision", "macro_sensitivity", "macro_f1", "macro_auc", "qwk", "mae", "ece", "per_grade.f1", "per_grade.auc"];

#[derive(Clone, Debug, Serialize)]
pub struct EvaluationReport {
    pub films: usize,
    pub accuracy: BootstrapCi,
    pub balanced_accuracy: BootstrapCi,
    pub macro_precision: BootstrapCi,
    pub macro_sensitivity: BootstrapCi,
    pub macro_f1: BootstrapCi,
    /// Mean of the one-vs-rest AUCs of the grades present.
    pub macro_auc: BootstrapCi,
    pub qwk: BootstrapCi,
    pub mae: BootstrapCi,
    pub ece: BootstrapCi,
    pub ece_bins: usize,
    pub per_grade: Vec<PerGrade>,
    /// Grades without films: the macro figures average over the others.
    pub grades_absent: Vec<usize>,
    /// Rows = true grade, columns = predicted grade.
    pub confusion_matrix: Confusion,
    pub intervals: Intervals,
}

impl EvaluationReport {
    /// `probs[i]` is the probability vector of film `i`; the prediction is its argmax.
    pub fn compute(truth: &[usize], probs: &[Vec<f32>]) -> Self {
        Self::compute_with(truth, probs, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
    }

    pub fn compute_with(truth: &[usize], probs: &[Vec<f32>], resamples: usize, seed: u64) -> Self {
        let n = truth.len();
        let pred: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
        let cm_of = |idx: &[usize]| {
            let t: Vec<usize> = idx.iter().map(|&i| truth[i]).collect();
            let p: Vec<usize> = idx.iter().map(|&i| pred[i]).collect();
            confusion_matrix(&t, &p)
        };
        let ci = |f: &dyn Fn(&Confusion) -> f64| bootstrap_ci(n, resamples, seed, |idx| f(&cm_of(idx)));
        let m = cm_of(&(0..n).collect::<Vec<_>>());
        let total: u64 = m.iter().flatten().sum();
        let per_grade = (0..GRADES)
            .map(|g| {
                let row: u64 = m[g].iter().sum();
                let col: u64 = (0..GRADES).map(|t| m[t][g]).sum();
                let (tp, fp) = (m[g][g], col - m[g][g]);
                let tn = total - row - fp;
                PerGrade {
                    grade: g,
                    support: row,
                    sensitivity: wilson_ci(tp, row),
                    specificity: wilson_ci(tn, tn + fp),
                    precision: wilson_ci(tp, col),
                    f1: ci(&|m| per_grade_f1(m)[g]),
                    auc: bootstrap_ci(n, resamples, seed, |idx| {
                        let s: Vec<f64> = idx.iter().map(|&i| probs[i][g] as f64).collect();
                        let pos: Vec<bool> = idx.iter().map(|&i| truth[i] == g).collect();
                        roc_auc(&s, &pos)
                    }),
                }
            })
            .collect();
        let correct: u64 = (0..GRADES).map(|g| m[g][g]).sum();
        Self {
            films: n,
            accuracy: wilson_ci(correct, total),
            balanced_accuracy: ci(&balanced_accuracy),
            macro_precision: ci(&macro_precision),
            macro_sensitivity: ci(&macro_recall),
            macro_f1: ci(&macro_f1),
            macro_auc: bootstrap_ci(n, resamples, seed, |idx| {
                let t: Vec<usize> = idx.iter().map(|&i| truth[i]).collect();
                let p: Vec<Vec<f32>> = idx.iter().map(|&i| probs[i].clone()).collect();
                // A grade absent from the (resampled) films has no AUC: the mean is over the others.
                let aucs: Vec<f64> = auc_one_vs_rest(&t, &p).into_iter().filter(|a| a.is_finite()).collect();
                if aucs.is_empty() { f64::NAN } else { aucs.iter().sum::<f64>() / aucs.len() as f64 }
            }),
            qwk: ci(&quadratic_weighted_kappa),
            mae: ci(&mean_absolute_error),
            ece: bootstrap_ci(n, resamples, seed, |idx| {
                let t: Vec<usize> = idx.iter().map(|&i| truth[i]).collect();
                let p: Vec<Vec<f32>> = idx.iter().map(|&i| probs[i].clone()).collect();
                expected_calibration_error(&t, &p, ECE_BINS)
            }),
            ece_bins: ECE_BINS,
            per_grade,
            grades_absent: absent_grades(&m),
            confusion_matrix: m,
            intervals: Intervals {
                level: 0.95,
                wilson_score: WILSON_METRICS,
                percentile_bootstrap: BOOTSTRAP_METRICS,
                bootstrap_resamples: resamples,
                bootstrap_seed: seed,
            },
        }
    }
}
