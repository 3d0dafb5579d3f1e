//! Seeded, stratified splits that keep each patient's films on one side.
//!
//! Patient ids come from file names: `<id><L|R>.<ext>` (OAI style, e.g.
//! `9001695L.png` → `9001695`) or `<id>_<n>.<ext>` (e.g. `p17_2.png` → `p17`);
//! otherwise the whole stem is the id (every film its own patient).

use std::collections::BTreeMap;
use std::path::Path;

use crate::metrics::SplitMix64;

pub fn patient_id(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if let Some((id, n)) = stem.rsplit_once('_') {
        if !id.is_empty() && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) {
            return id.to_string();
        }
    }
    if let Some(id) = stem.strip_suffix(['L', 'R']) {
        if !id.is_empty() {
            return id.to_string();
        }
    }
    stem.to_string()
}

fn shuffle<T>(v: &mut [T], rng: &mut SplitMix64) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

/// Groups (patients) with their film indices and a stratum: the grade of the
/// group's first film (patients' knees mostly share a grade range).
fn groups(paths: &[&Path], grades: &[usize]) -> Vec<(usize, Vec<usize>)> {
    let mut by_id: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in paths.iter().enumerate() {
        by_id.entry(patient_id(p)).or_default().push(i);
    }
    by_id.into_values().map(|ix| (grades[ix[0]], ix)).collect()
}

/// Assigns every patient group to one of `k` folds: within each stratum the
/// groups are shuffled (seeded) and dealt round-robin, starting each stratum
/// at the currently smallest fold. Returns the fold of every film.
pub fn stratified_k_fold(paths: &[&Path], grades: &[usize], k: usize, seed: u64) -> Vec<usize> {
    assert!(k >= 2, "k-fold needs k >= 2");
    let mut rng = SplitMix64(seed);
    let mut strata: BTreeMap<usize, Vec<Vec<usize>>> = BTreeMap::new();
    for (s, ix) in groups(paths, grades) {
        strata.entry(s).or_default().push(ix);
    }
    let mut fold_of = vec![0usize; paths.len()];
    let mut sizes = vec![0usize; k];
    for (_, mut gs) in strata {
        shuffle(&mut gs, &mut rng);
        for g in gs {
            let f = (0..k).min_by_key(|&f| (sizes[f], f)).unwrap();
            sizes[f] += g.len();
            for i in g {
                fold_of[i] = f;
            }
        }
    }
    fold_of
}

/// Film indices `(train, validation)`, with about `val_fraction` of every grade's
/// patients in validation (at least one when a grade has two or more patients).
pub fn stratified_split(paths: &[&Path], grades: &[usize], val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = SplitMix64(seed);
    let mut strata: BTreeMap<usize, Vec<Vec<usize>>> = BTreeMap::new();
    for (s, ix) in groups(paths, grades) {
        strata.entry(s).or_default().push(ix);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (_, mut gs) in strata {
        shuffle(&mut gs, &mut rng);
        let mut n_val = (gs.len() as f64 * val_fraction).round() as usize;
        if n_val == 0 && gs.len() >= 2 && val_fraction > 0.0 {
            n_val = 1;
        }
        for (i, g) in gs.into_iter().enumerate() {
            if i < n_val { val.extend(g) } else { train.extend(g) }
        }
    }
    train.sort();
    val.sort();
    (train, val)
}
