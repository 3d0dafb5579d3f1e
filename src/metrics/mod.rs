//! Evaluation metrics for five-grade (Kellgren–Lawrence 0–4) classification.
//!
//! Everything works on plain slices: true grades, predicted grades and, where
//! needed, per-film probability vectors of length [`GRADES`].

mod bootstrap;
mod classification;
mod ranking;
mod report;

pub use bootstrap::{BootstrapCi, SplitMix64, bootstrap_ci, wilson_ci};
pub use classification::{
    absent_grades, accuracy, balanced_accuracy, confusion_matrix, expected_calibration_error, macro_f1,
    macro_precision, macro_recall, mean_absolute_error, per_grade_f1, per_grade_sensitivity,
    per_grade_precision, per_grade_specificity, quadratic_weighted_kappa,
};
pub use ranking::{auc_one_vs_rest, roc_auc};
pub use report::{BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, ECE_BINS, EvaluationReport, Intervals, PerGrade};

/// Number of Kellgren–Lawrence grades.
pub const GRADES: usize = 5;

/// 5×5 confusion matrix, `m[true][predicted]`.
pub type Confusion = [[u64; GRADES]; GRADES];

/// The predicted grade (argmax) of a probability vector; ties go to the lower grade.
pub fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}
