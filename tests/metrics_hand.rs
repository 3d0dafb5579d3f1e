//! Metrics against values computed by hand on small examples.

use kneeclip::metrics::*;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
}

// truth = [0,0,1,1,2,2,3,4], pred = [0,1,1,1,2,3,3,2]
// Confusion (rows true):
//   0: [1,1,0,0,0]
//   1: [0,2,0,0,0]
//   2: [0,0,1,1,0]
//   3: [0,0,0,1,0]
//   4: [0,0,1,0,0]
fn example() -> Confusion {
    confusion_matrix(&[0, 0, 1, 1, 2, 2, 3, 4], &[0, 1, 1, 1, 2, 3, 3, 2])
}

#[test]
fn confusion_rows_are_true_grades() {
    let m = example();
    assert_eq!(m[0], [1, 1, 0, 0, 0]);
    assert_eq!(m[4], [0, 0, 1, 0, 0]);
    assert_eq!(m.iter().flatten().sum::<u64>(), 8);
}

#[test]
fn accuracy_and_balanced_accuracy() {
    let m = example();
    // diagonal 1+2+1+1+0 = 5 of 8
    close(accuracy(&m), 5.0 / 8.0);
    // recalls 1/2, 2/2, 1/2, 1/1, 0/1 -> mean 3/5
    close(balanced_accuracy(&m), 0.6);
    close(macro_recall(&m), 0.6);
}

#[test]
fn precision_f1() {
    let m = example();
    // column sums 1,3,2,2,0 -> precisions 1, 2/3, 1/2, 1/2, (never predicted) 0
    close(macro_precision(&m), (1.0 + 2.0 / 3.0 + 0.5 + 0.5 + 0.0) / 5.0);
    // F1: g0 2·1·.5/1.5 = 2/3; g1 2·(2/3)·1/(5/3) = 4/5; g2 1/2; g3 2/3; g4 0
    // mean = (2/3 + 4/5 + 1/2 + 2/3 + 0)/5 = (79/30)/5 = 79/150
    close(macro_f1(&m), 79.0 / 150.0);
}

#[test]
fn sensitivity_specificity() {
    let m = example();
    let s = per_grade_sensitivity(&m);
    for (a, b) in s.iter().zip([0.5, 1.0, 0.5, 1.0, 0.0]) {
        close(*a, b);
    }
    // N=8. g0: FP 0, TN 6 -> 1; g1: FP 1, TN 5 -> 5/6; g2: FP 1 (true 4), TN 5 -> 5/6;
    // g3: FP 1 (true 2), TN 6 -> 6/7; g4: FP 0, TN 7 -> 1
    let sp = per_grade_specificity(&m);
    for (a, b) in sp.iter().zip([1.0, 5.0 / 6.0, 5.0 / 6.0, 6.0 / 7.0, 1.0]) {
        close(*a, b);
    }
}

#[test]
fn qwk_and_mae() {
    let m = example();
    // |errors|: 0->1 (1), 2->3 (1), 4->2 (2): MAE = 4/8
    close(mean_absolute_error(&m), 0.5);
    // w = (i-j)^2/16. Observed: (1 + 1 + 4)/16 = 48/128.
    // rows r = [2,2,2,1,1], cols c = [1,3,2,2,0];
    // Σ (i-j)^2 r_i c_j = 58 + 22 + 18 + 23 + 53 = 174 -> expected 174/(16·8) = 174/128
    // κ = 1 - 48/174 = 21/29
    close(quadratic_weighted_kappa(&m), 21.0 / 29.0);
    // perfect agreement -> 1
    close(quadratic_weighted_kappa(&confusion_matrix(&[0, 1, 4], &[0, 1, 4])), 1.0);
}

#[test]
fn auc_rank_based_with_ties() {
    // Classic: neg 0.1, 0.4; pos 0.35, 0.8 -> pairs won 3 of 4
    close(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75);
    // Ties: neg 0.2, 0.5; pos 0.5, 0.7 -> 1 + 0.5 (tie) + 2 = 3.5 of 4
    close(roc_auc(&[0.2, 0.5, 0.5, 0.7], &[false, true, false, true]), 0.875);
    // All tied -> 0.5
    close(roc_auc(&[0.3, 0.3, 0.3], &[true, false, false]), 0.5);
    assert!(roc_auc(&[0.1, 0.2], &[true, true]).is_nan());
    let probs = vec![vec![0.9, 0.1, 0.0, 0.0, 0.0], vec![0.2, 0.8, 0.0, 0.0, 0.0]];
    let auc = auc_one_vs_rest(&[0, 1], &probs);
    close(auc[0], 1.0);
    close(auc[1], 1.0);
    assert!(auc[2].is_nan());
}

#[test]
fn ece_three_bins() {
    // Bins (0,1/3], (1/3,2/3], (2/3,1].
    // A conf .9 correct, B conf .8 wrong -> top bin: acc .5, conf .85, weight 2/4 -> .175
    // C conf .4 correct, D conf .6 correct -> middle bin: acc 1, conf .5, weight 2/4 -> .25
    // ECE = .425
    let probs = vec![
        vec![0.9, 0.025, 0.025, 0.025, 0.025],
        vec![0.05, 0.8, 0.05, 0.05, 0.05],
        vec![0.4, 0.3, 0.1, 0.1, 0.1],
        vec![0.1, 0.1, 0.6, 0.1, 0.1],
    ];
    let e = expected_calibration_error(&[0, 0, 0, 2], &probs, 3);
    assert!((e - 0.425).abs() < 1e-6, "{e}");
}

#[test]
fn bootstrap_is_seeded_and_brackets_the_value() {
    let truth = [0, 0, 1, 1, 2, 2, 3, 4, 1, 2, 3, 0];
    let pred = [0, 1, 1, 1, 2, 3, 3, 2, 1, 2, 4, 0];
    let acc = |idx: &[usize]| {
        idx.iter().filter(|&&i| truth[i] == pred[i]).count() as f64 / idx.len() as f64
    };
    let a = bootstrap_ci(truth.len(), 1000, 7, acc);
    let b = bootstrap_ci(truth.len(), 1000, 7, acc);
    assert_eq!(a, b);
    close(a.value, 8.0 / 12.0);
    assert!(a.lower <= a.value && a.value <= a.upper && a.lower < a.upper);
    let c = bootstrap_ci(truth.len(), 1000, 8, acc);
    assert_ne!(a, c);
    // constant metric -> degenerate interval
    let d = bootstrap_ci(5, 1000, 1, |_| 1.0);
    assert_eq!((d.lower, d.upper), (1.0, 1.0));
}

#[test]
fn report_matches_parts() {
    let truth = vec![0, 0, 1, 1, 2, 2, 3, 4];
    let pred = [0, 1, 1, 1, 2, 3, 3, 2];
    let probs: Vec<Vec<f32>> = pred
        .iter()
        .map(|&p| (0..5).map(|g| if g == p { 0.6 } else { 0.1 }).collect())
        .collect();
    let r = EvaluationReport::compute_with(&truth, &probs, 200, 1);
    close(r.accuracy.value, 0.625);
    close(r.qwk.value, 21.0 / 29.0);
    assert_eq!(r.confusion_matrix, example());
    assert_eq!(r.per_grade.len(), 5);
    // all confidences .6 in bin ⌈.6·15⌉-1 = 8: |5/8 - .6| = .025
    assert!((r.ece.value - 0.025).abs() < 1e-6);
}
