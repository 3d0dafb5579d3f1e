//! How long a training run has left, for the progress bar and the GUI.
//!
//! The first epoch is no guide to the others: it runs the frozen blocks on
//! every film's view, which later epochs mostly find in the feature cache
//! (see the module notes of [`crate::training`]). So while the first epoch
//! runs only its own remainder is estimated; from the second on, each later
//! epoch is taken to last as long as the latest warm one (the last finished
//! epoch after the first, or the current epoch projected from its batches).

use std::time::Instant;

/// Where a run stands, as the observer hears it.
#[derive(Clone, Debug, Default)]
pub struct RunClock {
    epoch: usize,
    epochs: usize,
    epoch_started: Option<Instant>,
    /// (epoch, seconds) of the epochs finished in this process.
    finished: Vec<(usize, f64)>,
}

/// What is left of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Remaining {
    /// Seconds left in the current (first) epoch; later ones cannot be told yet.
    ThisEpoch(f64),
    /// Seconds left in the whole run.
    Run(f64),
}

impl RunClock {
    pub fn epoch_started(&mut self, epoch: usize, epochs: usize) {
        (self.epoch, self.epochs, self.epoch_started) = (epoch, epochs, Some(Instant::now()));
    }

    pub fn epoch_finished(&mut self, epoch: usize, seconds: f64) {
        self.finished.push((epoch, seconds));
    }

    /// What is left after `batch` of `batches` of the current epoch; `None`
    /// before the first batch of an epoch ends.
    pub fn remaining(&self, batch: usize, batches: usize) -> Option<Remaining> {
        let elapsed = self.epoch_started?.elapsed().as_secs_f64();
        remaining(self.epoch, self.epochs, batch, batches, elapsed, &self.finished)
    }
}

/// [`RunClock::remaining`] with the clock read: `elapsed` seconds into epoch
/// `epoch` (1-based) of `epochs`, after `batch` of `batches`; `finished`
/// holds (epoch, seconds) of earlier epochs.
pub fn remaining(epoch: usize, epochs: usize, batch: usize, batches: usize, elapsed: f64, finished: &[(usize, f64)]) -> Option<Remaining> {
    if batch == 0 || batches == 0 || epoch == 0 || !elapsed.is_finite() {
        return None;
    }
    let batch = batch.min(batches);
    let this_epoch = elapsed / batch as f64 * batches as f64;
    let this_left = this_epoch - elapsed;
    let later = epochs.saturating_sub(epoch);
    if later == 0 {
        return Some(Remaining::Run(this_left));
    }
    // The latest warm epoch: a finished one after the first, else this one
    // if it is not the first.
    let warm = finished.iter().rev().find(|(e, _)| *e > 1).map(|&(_, s)| s).or((epoch > 1).then_some(this_epoch));
    Some(match warm {
        Some(per_epoch) => Remaining::Run(this_left + later as f64 * per_epoch),
        None => Remaining::ThisEpoch(this_left),
    })
}

/// "about 1 h 05 min", "about 12 min", "about 40 s", "under 10 s".
pub fn about(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..10 => "under 10 s".into(),
        10..90 => format!("about {} s", (s + 5) / 10 * 10),
        90..3570 => format!("about {} min", (s + 30) / 60),
        _ => {
            let minutes = (s + 30) / 60;
            format!("about {} h {:02} min", minutes / 60, minutes % 60)
        }
    }
}

impl Remaining {
    /// "about 12 min left", "about 40 s left in this epoch".
    pub fn describe(self) -> String {
        match self {
            Remaining::ThisEpoch(s) => format!("{} left in this epoch", about(s)),
            Remaining::Run(s) => format!("{} left", about(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_epoch_estimates_only_itself() {
        // 10 of 40 batches in 30 s: 90 s left in the epoch; later epochs unknown.
        assert_eq!(remaining(1, 30, 10, 40, 30.0, &[]), Some(Remaining::ThisEpoch(90.0)));
        // A one-epoch run is all in this epoch.
        assert_eq!(remaining(1, 1, 10, 40, 30.0, &[]), Some(Remaining::Run(90.0)));
        assert_eq!(remaining(1, 30, 0, 40, 3.0, &[]), None, "no batch finished yet");
    }

    #[test]
    fn later_epochs_last_as_long_as_the_latest_warm_one() {
        // Epoch 2 of 5, 20 of 40 batches in 10 s: 10 s left here, then three epochs of 20 s
        // (this one projected: the cold first epoch's 120 s is not used).
        assert_eq!(remaining(2, 5, 20, 40, 10.0, &[(1, 120.0)]), Some(Remaining::Run(10.0 + 3.0 * 20.0)));
        // Epoch 4 of 5: the last finished warm epoch (3, 25 s) sets the pace.
        assert_eq!(remaining(4, 5, 40, 40, 22.0, &[(1, 120.0), (2, 20.0), (3, 25.0)]), Some(Remaining::Run(25.0)));
    }

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        assert_eq!(about(4.0), "under 10 s");
        assert_eq!(about(42.0), "about 40 s");
        assert_eq!(about(89.0), "about 90 s");
        assert_eq!(about(720.0), "about 12 min");
        assert_eq!(about(3900.0), "about 1 h 05 min");
        assert_eq!(Remaining::ThisEpoch(130.0).describe(), "about 2 min left in this epoch");
    }
}
