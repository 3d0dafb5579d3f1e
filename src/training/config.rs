//! A training run's settings ([`TrainConfig`]: the paper's recipe by
//! default), the refusal of settings no run can use, and what differs
//! between a run and the checkpoint it would resume.

use serde::{Deserialize, Serialize};

use super::trainer::EpochRecord;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    pub patience: usize,
    pub bottleneck: usize,
    pub class_weighted: bool,
    /// Rotation angles (degrees) of the training views; each also mirrored.
    pub angles: Vec<f32>,
    pub flip_probability: f64,
    /// Weight of the flip-consistency term (CLIP-KOA): W · mean over the batch of
    /// ‖softmax(logits(view)) − softmax(logits(mirrored view))‖². 0 = off. Costs a
    /// second forward/backward of the trainable part per batch.
    #[serde(default)]
    pub flip_consistency: f64,
    /// Which validation figure picks the best epoch and drives early stopping.
    #[serde(default)]
    pub early_stop_on: EarlyStopOn,
}

/// The validation figure that picks the best epoch (the head that is written)
/// and stops the run after `patience` epochs without improvement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EarlyStopOn {
    /// Lowest validation loss (the paper's choice).
    #[default]
    Loss,
    /// Highest validation accuracy; ties go to the lower validation loss.
    Accuracy,
}

impl EarlyStopOn {
    /// Whether `candidate` beats `best` (no best yet: any finite figure does).
    pub fn improves(self, candidate: &EpochRecord, best: Option<&EpochRecord>) -> bool {
        let Some(best) = best else {
            return candidate.val_loss.is_finite();
        };
        match self {
            EarlyStopOn::Loss => candidate.val_loss < best.val_loss,
            EarlyStopOn::Accuracy => {
                candidate.val_accuracy > best.val_accuracy
                    || (candidate.val_accuracy == best.val_accuracy && candidate.val_loss < best.val_loss)
            }
        }
    }

    /// As the command line writes it.
    pub fn name(self) -> &'static str {
        match self {
            EarlyStopOn::Loss => "loss",
            EarlyStopOn::Accuracy => "accuracy",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            EarlyStopOn::Loss => "validation loss",
            EarlyStopOn::Accuracy => "validation accuracy",
        }
    }
}

impl TrainConfig {
    /// Refuses settings no run can use, before any work: a learning rate of
    /// 0, NaN or 1e30 trains nothing or diverges to a head of NaN.
    pub fn check(&self) -> Result<(), String> {
        let at_least_one = [("epochs", self.epochs), ("batch size", self.batch_size), ("patience", self.patience), ("adapter bottleneck", self.bottleneck)];
        if let Some((what, _)) = at_least_one.iter().find(|(_, n)| *n == 0) {
            return Err(format!("the {what} must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 1.0) {
            return Err(format!("learning rate {}: give a number above 0 and at most 1 (the recipe's is 1e-4)", self.lr));
        }
        if !(self.weight_decay.is_finite() && (0.0..=1.0).contains(&self.weight_decay)) {
            return Err(format!("weight decay {}: give a number from 0 to 1 (the recipe's is 1e-5)", self.weight_decay));
        }
        if !(self.flip_consistency.is_finite() && self.flip_consistency >= 0.0) {
            return Err(format!("flip-consistency weight {}: give 0 (off) or more", self.flip_consistency));
        }
        if self.angles.is_empty() || self.angles.iter().any(|a| !(a.is_finite() && a.abs() <= 180.0)) {
            return Err(format!("rotation angles {:?}: give one or more angles in degrees, from -180 to 180", self.angles));
        }
        Ok(())
    }

    /// The settings of `self` that differ from the checkpoint's (`other`),
    /// each as "this run's / the checkpoint's" in the command line's words: a
    /// resumed run must be the same run, though it may run longer (`epochs`,
    /// the cosine schedule then stretched to the new end) or wait longer
    /// before stopping (`patience`).
    pub fn differences(&self, other: &TrainConfig) -> Vec<String> {
        let flag = |on: bool, name: &str| if on { format!("--{name}") } else { format!("no --{name}") };
        let angles = |a: &[f32]| format!("--angles {}", a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","));
        let settings = |c: &TrainConfig| {
            [
                format!("--batch-size {}", c.batch_size),
                format!("--lr {}", c.lr),
                format!("--weight-decay {}", c.weight_decay),
                format!("--seed {}", c.seed),
                format!("--bottleneck {}", c.bottleneck),
                flag(c.class_weighted, "class-weighted"),
                angles(&c.angles),
                format!("flip probability {}", c.flip_probability),
                format!("--flip-consistency {}", c.flip_consistency),
                format!("--early-stop-on {}", c.early_stop_on.name()),
            ]
        };
        settings(self).into_iter().zip(settings(other)).filter(|(a, b)| a != b).map(|(a, b)| format!("{a} here, {b} in the checkpoint's run")).collect()
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 64,
            lr: 1e-4,
            weight_decay: 1e-5,
            seed: 42,
            patience: 5,
            bottleneck: 128,
            class_weighted: false,
            angles: vec![-10.0, -5.0, 0.0, 5.0, 10.0],
            flip_probability: 0.5,
            flip_consistency: 0.0,
            early_stop_on: EarlyStopOn::Loss,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, val_loss: f64, val_accuracy: f64) -> EpochRecord {
        EpochRecord { epoch, lr: 0.0, train_loss: 0.0, train_accuracy: 0.0, val_loss, val_accuracy, val_confusion: Default::default(), seconds: 0.0 }
    }

    #[test]
    fn early_stopping_on_loss_or_accuracy() {
        let best = record(1, 1.0, 0.5);
        let lower_loss_lower_accuracy = record(2, 0.9, 0.4);
        assert!(EarlyStopOn::Loss.improves(&lower_loss_lower_accuracy, Some(&best)));
        assert!(!EarlyStopOn::Accuracy.improves(&lower_loss_lower_accuracy, Some(&best)));
        let same_accuracy_lower_loss = record(2, 0.8, 0.5);
        assert!(EarlyStopOn::Accuracy.improves(&same_accuracy_lower_loss, Some(&best)), "ties go to the lower loss");
        assert!(!EarlyStopOn::Accuracy.improves(&record(2, 1.2, 0.5), Some(&best)));
        assert!(EarlyStopOn::Accuracy.improves(&record(2, 3.0, 0.6), Some(&best)));
        for m in [EarlyStopOn::Loss, EarlyStopOn::Accuracy] {
            assert!(m.improves(&best, None), "the first finite epoch is the best so far");
            assert!(!m.improves(&record(1, f64::NAN, f64::NAN), None), "an empty validation set never improves");
        }
    }

    #[test]
    fn early_stop_setting_defaults_to_loss_in_old_configs() {
        let mut json = serde_json::to_value(TrainConfig::default()).unwrap();
        assert_eq!(json["early_stop_on"], "loss");
        json.as_object_mut().unwrap().remove("early_stop_on");
        let old: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.early_stop_on, EarlyStopOn::Loss);
    }
}
