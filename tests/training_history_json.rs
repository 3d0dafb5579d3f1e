//! A training run's history goes into the checkpoint as JSON and comes back
//! at a resume, then into the sidecar: each figure must come back as the same
//! f64, or a resumed run's sidecar differs from an uninterrupted one's in the
//! last digit (research QA: val_loss 1.9838643838404146 came back …144).

use kneeclip::training::trainer::EpochRecord;

#[test]
fn epoch_figures_read_back_as_written() {
    let figures = [1.9838643838404146, 0.1 + 0.2, 2.2250738585072014e-308, 9.62e-5, 1.0 / 3.0, 2.5797000000000003, 0.24000000000000002];
    for (i, &x) in figures.iter().enumerate() {
        let record = EpochRecord { epoch: i + 1, lr: x, train_loss: x * 1.0000001, train_accuracy: x / 7.0, val_loss: x, val_accuracy: 1.0 - x.min(1.0), val_confusion: [[i as u64; 5]; 5], seconds: x * 3.0 };
        let json = serde_json::to_string(&record).unwrap();
        let back: EpochRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json, "{x:e}");
        assert_eq!((back.lr.to_bits(), back.train_loss.to_bits(), back.train_accuracy.to_bits(), back.val_loss.to_bits(), back.seconds.to_bits()), (record.lr.to_bits(), record.train_loss.to_bits(), record.train_accuracy.to_bits(), record.val_loss.to_bits(), record.seconds.to_bits()), "{x:e}");
    }
}
