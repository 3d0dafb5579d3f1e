//! Everything `kneeclip eval` reports, with 95% bootstrap intervals.

use serde::Serialize;

use super::*;

/// Bootstrap settings used for reports: 1000 resamples, fixed seed.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;
pub const BOOTSTRAP_SEED: u64 = 42;
pub const ECE_BINS: usize = 15;

#[derive(Clone, Debug, Serialize)]
pub struct PerGrade {
    pub grade: usize,
    pub support: u64,
    pub sensitivity: BootstrapCi,
    pub specificity: BootstrapCi,
    pub auc: BootstrapCi,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvaluationReport {
    pub films: usize,
    pub accuracy: BootstrapCi,
    pub balanced_accuracy: BootstrapCi,
    pub macro_precision: BootstrapCi,
    pub macro_sensitivity: BootstrapCi,
    pub macro_f1: BootstrapCi,
    pub qwk: BootstrapCi,
    pub mae: BootstrapCi,
    pub ece: BootstrapCi,
    pub per_grade: Vec<PerGrade>,
    /// Rows = true grade, columns = predicted grade.
    pub confusion_matrix: Confusion,
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
        let confusion = cm_of(&(0..n).collect::<Vec<_>>());
        let per_grade = (0..GRADES)
            .map(|g| PerGrade {
                grade: g,
                support: confusion[g].iter().sum(),
                sensitivity: ci(&|m| per_grade_sensitivity(m)[g]),
                specificity: ci(&|m| per_grade_specificity(m)[g]),
                auc: bootstrap_ci(n, resamples, seed, |idx| {
                    let s: Vec<f64> = idx.iter().map(|&i| probs[i][g] as f64).collect();
                    let pos: Vec<bool> = idx.iter().map(|&i| truth[i] == g).collect();
                    roc_auc(&s, &pos)
                }),
            })
            .collect();
        Self {
            films: n,
            accuracy: ci(&accuracy),
            balanced_accuracy: ci(&balanced_accuracy),
            macro_precision: ci(&macro_precision),
            macro_sensitivity: ci(&macro_recall),
            macro_f1: ci(&macro_f1),
            qwk: ci(&quadratic_weighted_kappa),
            mae: ci(&mean_absolute_error),
            ece: bootstrap_ci(n, resamples, seed, |idx| {
                let t: Vec<usize> = idx.iter().map(|&i| truth[i]).collect();
                let p: Vec<Vec<f32>> = idx.iter().map(|&i| probs[i].clone()).collect();
                expected_calibration_error(&t, &p, ECE_BINS)
            }),
            per_grade,
            confusion_matrix: confusion,
        }
    }
}
