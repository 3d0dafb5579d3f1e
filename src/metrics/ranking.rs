//! Rank-based ROC AUC (Mann–Whitney U with mid-ranks for ties).

use super::GRADES;

/// AUC of `scores` for separating positives from negatives: the probability a
/// random positive scores above a random negative, ties counting one half.
/// NaN when either class is empty.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> f64 {
    let n_pos = positive.iter().filter(|p| **p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return f64::NAN;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mid-ranks (1-based) for tied groups.
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if positive[k] {
                rank_sum_pos += mid;
            }
        }
        i = j + 1;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    u / (n_pos as f64 * n_neg as f64)
}

/// One-vs-rest AUC per grade, scoring each film by its probability of that grade.
pub fn auc_one_vs_rest(truth: &[usize], probs: &[Vec<f32>]) -> [f64; GRADES] {
    std::array::from_fn(|g| {
        let s: Vec<f64> = probs.iter().map(|p| p[g] as f64).collect();
        let pos: Vec<bool> = truth.iter().map(|t| *t == g).collect();
        roc_auc(&s, &pos)
    })
}
