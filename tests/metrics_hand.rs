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
    assert_eq!(r.ece_bins, 15);
    // The proportions carry Wilson intervals (statsmodels' numbers, see wilson_matches_statsmodels).
    interval(&r.accuracy, 5.0 / 8.0, 0.3057423946026273, 0.8631557141764027);
    interval(&r.per_grade[0].sensitivity, 0.5, 0.09453120573423068, 0.9054687942657693);
    interval(&r.per_grade[4].sensitivity, 0.0, 0.0, 0.7934506856227627);
    interval(&r.per_grade[3].specificity, 6.0 / 7.0, 0.4868721707256809, 0.9743203756552563);
    interval(&r.per_grade[4].specificity, 1.0, 0.6456695649333125, 1.0);
    interval(&r.per_grade[1].precision, 2.0 / 3.0, 0.2076596008020477, 0.9385080552796037);
    assert!(r.per_grade[4].precision.value.is_nan(), "KL4 is never predicted: no precision");
    // Per-grade F1 as in precision_f1: 2/3, 4/5, 1/2, 2/3, 0.
    for (g, f1) in [2.0 / 3.0, 0.8, 0.5, 2.0 / 3.0, 0.0].into_iter().enumerate() {
        close(r.per_grade[g].f1.value, f1);
    }
    // One-vs-rest AUCs by hand (score .6 where predicted, .1 elsewhere; ties
    // count one half): 9/12, 11/12, 8/12, 6.5/7, 3.5/7 -> mean 79/105.
    close(r.macro_auc.value, 79.0 / 105.0);
    assert!(r.macro_auc.lower <= r.macro_auc.value && r.macro_auc.value <= r.macro_auc.upper);
    assert!(r.grades_absent.is_empty());
    assert_eq!(r.intervals.wilson_score, ["accuracy", "per_grade.sensitivity", "per_grade.specificity", "per_grade.precision", "flip_agreement"]);
    assert!(r.intervals.percentile_bootstrap.contains(&"qwk") && r.intervals.percentile_bootstrap.contains(&"macro_auc"));
    assert_eq!((r.intervals.bootstrap_resamples, r.intervals.bootstrap_seed), (200, 1));
}

fn interval(ci: &BootstrapCi, value: f64, lower: f64, upper: f64) {
    close(ci.value, value);
    close(ci.lower, lower);
    close(ci.upper, upper);
}

/// Expected numbers from statsmodels 0.14 `proportion_confint(k, n,
/// alpha=0.05, method="wilson")`, an independent implementation.
#[test]
fn wilson_matches_statsmodels() {
    // The QA case: 0 of 40 detected. A percentile bootstrap said [0, 0]; the
    // data allow a sensitivity up to 0.088 (Clopper-Pearson 0.088 too).
    interval(&wilson_ci(0, 40), 0.0, 0.0, 0.08762160119728668);
    interval(&wilson_ci(40, 40), 1.0, 0.9123783988027134, 1.0);
    interval(&wilson_ci(17, 23), 17.0 / 23.0, 0.5352999516257462, 0.8745138395501364);
    interval(&wilson_ci(1, 1), 1.0, 0.2065493143772374, 1.0);
    let none = wilson_ci(0, 0);
    assert!(none.value.is_nan() && none.lower.is_nan() && none.upper.is_nan(), "no films, no interval: {none:?}");
}

/// A grade without films is named, left out of the macro figures (which
/// average over the grades present) and has no sensitivity or AUC.
#[test]
fn an_absent_grade_is_named_and_left_out_of_the_macro_figures() {
    // The example without its KL3 film: recalls 1/2, 2/2, 1/2, -, 0/1.
    let truth = vec![0, 0, 1, 1, 2, 2, 4];
    let pred = [0, 1, 1, 1, 2, 3, 2];
    let probs: Vec<Vec<f32>> = pred.iter().map(|&p| (0..5).map(|g| if g == p { 0.6 } else { 0.1 }).collect()).collect();
    let r = EvaluationReport::compute_with(&truth, &probs, 200, 1);
    assert_eq!(r.grades_absent, [3]);
    assert_eq!(r.per_grade[3].support, 0);
    assert!(r.per_grade[3].sensitivity.value.is_nan() && r.per_grade[3].auc.value.is_nan() && r.per_grade[3].f1.value.is_nan());
    close(r.balanced_accuracy.value, (0.5 + 1.0 + 0.5 + 0.0) / 4.0);
    // KL3 was predicted once (wrongly): its specificity is still a figure, 6 of 7.
    close(r.per_grade[3].specificity.value, 6.0 / 7.0);
}
