//! What a head's sidecar records of its run beyond the settings: the split's
//! method, the films' content hashes (so that `kneeclip eval --head` can tell
//! a head's own training or validation films), the thread count, the class
//! weights, whether and why it stopped early, and resumes that changed its length.

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::config::TrainConfig;
use super::dataset::Film;
use super::trainer::EpochRecord;

/// How the validation films were chosen (the sidecar's `dataset.split`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum SplitMethod {
    /// A separate validation folder.
    Folder,
    /// This fraction of the patients of every grade, drawn with `seed`.
    Split { fraction: f64, seed: u64 },
    /// Fold `fold` (0-based) of a stratified, patient-grouped `folds`-fold split drawn with `seed`.
    Fold { folds: usize, fold: usize, seed: u64 },
}

/// The sidecar's note on `validation_metrics`.
pub const VALIDATION_METRICS_NOTE: &str = "measured on the validation set that also picked the best epoch and fitted the temperature: optimistic; measure the head on films it never saw (kneeclip eval --head) for its figures";

/// The sidecar's note on the films' hashes.
pub const FILM_HASHES_NOTE: &str = "the first 12 hex digits of the SHA-256 of each film file's bytes, sorted: no names or paths; kneeclip eval --head warns when it is given films this head trained or validated on";

/// The sidecar's note on the thread count.
pub const THREADS_NOTE: &str = "the same seed gives the same head only with the same thread count (RAYON_NUM_THREADS) and arithmetic: sums are split across threads";

/// The first 12 hex digits of the SHA-256 of a file's bytes (None: unreadable).
fn film_sha256(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| crate::files::short_sha256(&bytes))
}

/// Every film's [`film_sha256`], sorted (on every core: about a second for
/// 6600 films of 50 KB); unreadable files are left out.
pub fn films_sha256(films: &[Film]) -> Vec<String> {
    let mut hashes: Vec<String> = films.par_iter().filter_map(|f| film_sha256(&f.path)).collect();
    hashes.sort_unstable();
    hashes
}

/// Why the run ended before its last epoch, or None when it ran them all.
pub fn stopped_early(config: &TrainConfig, history: &[EpochRecord], best_epoch: usize) -> Option<String> {
    let last = history.last()?.epoch;
    (last < config.epochs).then(|| {
        format!(
            "{} did not improve for {} epochs after epoch {best_epoch} (patience {}): stopped after epoch {last} of {}",
            config.early_stop_on.label(),
            last - best_epoch,
            config.patience,
            config.epochs
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_methods_serialize_as_machine_readable_fields() {
        assert_eq!(serde_json::to_value(SplitMethod::Fold { folds: 5, fold: 0, seed: 42 }).unwrap(), serde_json::json!({"method": "fold", "folds": 5, "fold": 0, "seed": 42}));
        assert_eq!(serde_json::to_value(SplitMethod::Folder).unwrap(), serde_json::json!({"method": "folder"}));
    }

    #[test]
    fn a_run_that_ran_all_its_epochs_did_not_stop_early() {
        let record = |epoch| EpochRecord { epoch, lr: 0.0, train_loss: 1.0, train_accuracy: 0.2, val_loss: 1.6, val_accuracy: 0.2, val_confusion: Default::default(), seconds: 1.0 };
        let config = TrainConfig { epochs: 4, patience: 2, ..TrainConfig::default() };
        assert_eq!(stopped_early(&config, &[record(1), record(2), record(3), record(4)], 2), None);
        let why = stopped_early(&config, &[record(1), record(2), record(3)], 1).unwrap();
        assert!(why.starts_with("validation loss did not improve for 2 epochs after epoch 1 (patience 2)"), "{why}");
    }
}
