//! Trainer pieces: augmentation, temperature fit, cancellation on a thread,
//! frozen weights untouched.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use candle_core::{Device, Tensor};
use common::{data_dir, fixture_dir, shared_tokenizer};
use kneeclip::grading::Grader;
use kneeclip::training::augment::{View, apply};
use kneeclip::training::dataset::Film;
use kneeclip::training::trainer::{EpochRecord, TrainConfig, TrainData, Trainer, TrainingObserver, fit_temperature, nll};

#[test]
fn flip_and_rotation() {
    // 3×3 film with 8-bit values k/255.
    let g: Vec<f32> = (0..9).map(|k| k as f32 / 255.0).collect();
    assert_eq!(apply(View::IDENTITY, 3, 3, &g), g);
    let f = apply(View { flip: true, degrees: 0.0 }, 3, 3, &g);
    assert_eq!(f, [2, 1, 0, 5, 4, 3, 8, 7, 6].map(|k| k as f32 / 255.0));
    // 90° about the centre (1,1) is an exact permutation under bilinear sampling:
    // out(x,y) = in(cx + (x-cx)cos - (y-cy)sin, cy + (x-cx)sin + (y-cy)cos) = in(2-y, x)
    let r = apply(View { flip: false, degrees: 90.0 }, 3, 3, &g);
    let want: Vec<f32> = (0..9).map(|i| { let (x, y) = (i % 3, i / 3); (x * 3 + (2 - y)) as f32 / 255.0 }).collect();
    for (a, b) in r.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6, "{r:?} vs {want:?}");
    }
    // Small angles keep 8-bit steps and fill outside with black.
    let r = apply(View { flip: false, degrees: 10.0 }, 3, 3, &g);
    assert!(r.iter().all(|v| ((v * 255.0).round() - v * 255.0).abs() < 1e-4));
}

#[test]
fn temperature_minimises_validation_nll() {
    // Over-confident logits: half the argmax predictions are wrong.
    let logits = vec![vec![10.0, 0.0, 0.0, 0.0, 0.0]; 4];
    let labels = vec![0, 0, 1, 0];
    let t = fit_temperature(&logits, &labels);
    assert!(t > 1.0, "over-confident logits are softened: {t}");
    for d in [0.98, 1.02] {
        assert!(nll(&logits, &labels, t) <= nll(&logits, &labels, t * d) + 1e-12);
    }
    // Hand: p(correct class 0) at optimum = 3/4, i.e. e^{10/T}/(e^{10/T}+4) = 3/4 ->
    // e^{10/T} = 12 -> T = 10/ln 12.
    assert!((t - 10.0 / 12f64.ln()).abs() < 1e-4, "{t}");
}

fn tiny(per_grade: usize) -> Option<TrainData> {
    let dir = fixture_dir("tiny-clip");
    let tok = shared_tokenizer()?;
    let grader = Grader::load(&dir.join("config.json"), &dir.join("model.safetensors"), &tok, "tiny", &Device::Cpu).ok()?;
    let base: HashMap<String, Tensor> = common::load_tensors(&dir.join("model.safetensors"));
    let mut films = Vec::new();
    for g in 0..5 {
        let mut f: Vec<PathBuf> = std::fs::read_dir(data_dir().join(format!("oai-kl/train/{g}"))).ok()?.map(|e| e.unwrap().path()).collect();
        f.sort();
        films.extend(f.into_iter().take(per_grade).map(|path| Film { path, grade: g }));
    }
    Some(TrainData { grader, base, train: films.clone(), val: films })
}

struct Count(usize, usize);
impl TrainingObserver for Count {
    fn batch_done(&mut self, _: usize, _: usize, _: f64) {
        self.0 += 1;
    }
    fn epoch_finished(&mut self, _: &EpochRecord) {
        self.1 += 1;
    }
}

#[test]
fn cancel_from_another_thread_and_frozen_weights_untouched() {
    let Some(mut data) = tiny(2) else { return };
    let frozen_before = data.base["vision_model.encoder.layers.0.mlp.fc1.weight"].clone();
    let cfg = TrainConfig { epochs: 3, batch_size: 4, bottleneck: 8, ..Default::default() };
    let trainer = Trainer::new(cfg);
    let cancel = trainer.cancel.clone();
    // Cancelled before it starts: stops at the first batch boundary.
    cancel.store(true, Ordering::Relaxed);
    let handle = std::thread::spawn(move || {
        let mut obs = Count(0, 0);
        let out = trainer.run(&mut data, &mut obs).unwrap();
        (out.cancelled, obs.0, obs.1, data)
    });
    let (cancelled, batches, epochs, data) = handle.join().unwrap();
    assert!(cancelled);
    assert_eq!((batches, epochs), (0, 0));
    assert_eq!(common::max_abs_diff(&frozen_before, &data.base["vision_model.encoder.layers.0.mlp.fc1.weight"]), 0.0);

    // A full short run: loss goes down on a dataset it sees again (train = val).
    let mut data = data;
    let cfg = TrainConfig { epochs: 3, batch_size: 5, bottleneck: 8, lr: 1e-3, angles: vec![0.0], ..Default::default() };
    let out = Trainer::new(cfg).run(&mut data, &mut Count(0, 0)).unwrap();
    assert_eq!(out.history.len(), 3);
    assert!(out.history[2].train_loss < out.history[0].train_loss, "{:?}", out.history);
    assert!(out.tensors.contains_key("adapter.up.weight") && !out.tensors.contains_key("vision_model.encoder.layers.0.mlp.fc1.weight"));
}

#[test]
fn the_feature_cache_budget_changes_speed_not_results() {
    let Some(mut data) = tiny(2) else { return };
    // Two angles, mirrored: four views per film, drawn at random over three
    // epochs, so a film meets views it has and views it has not.
    let cfg = TrainConfig { epochs: 3, batch_size: 4, bottleneck: 8, lr: 1e-3, angles: vec![-5.0, 5.0], ..Default::default() };
    let run = |limit: u64, data: &mut TrainData| {
        let mut trainer = Trainer::new(cfg.clone());
        trainer.feature_cache_limit = limit;
        let mut messages = Messages(Vec::new());
        let out = trainer.run(data, &mut messages).unwrap();
        (out, messages.0.join("\n"))
    };
    let (cached, cached_says) = run(u64::MAX, &mut data);
    let (uncached, uncached_says) = run(0, &mut data);
    let losses = |h: &[EpochRecord]| h.iter().map(|r| (r.train_loss, r.val_loss)).collect::<Vec<_>>();
    assert_eq!(losses(&cached.history), losses(&uncached.history), "the same run, bit for bit");
    assert_eq!(cached.val_logits, uncached.val_logits);
    for (name, t) in &cached.tensors {
        assert_eq!(common::max_abs_diff(t, &uncached.tensors[name]), 0.0, "{name}");
    }
    assert!(cached_says.contains("hits") && !cached_says.contains("computed again"), "{cached_says}");
    assert!(uncached_says.contains("0 views (0 MB of 0 MB allowed)") && uncached_says.contains("computed again because the cache was full"), "{uncached_says}");
}

struct Messages(Vec<String>);
impl TrainingObserver for Messages {
    fn message(&mut self, text: &str) {
        self.0.push(text.to_string());
    }
}

#[test]
fn the_checkpoint_holds_the_run_it_was_taken_from() {
    let Some(mut data) = tiny(2) else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.checkpoint.safetensors");
    let cfg = TrainConfig { epochs: 2, batch_size: 4, bottleneck: 8, lr: 1e-3, angles: vec![0.0], ..Default::default() };
    let mut trainer = Trainer::new(cfg);
    trainer.checkpoint = Some(path.clone());
    let out = trainer.run(&mut data, &mut Count(0, 0)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let state: serde_json::Value = serde_json::from_str(&meta.metadata().as_ref().unwrap()["state"]).unwrap();
    assert_eq!(state["epoch"], 2);
    assert_eq!(state["history"].as_array().unwrap().len(), 2);
    let saved = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
    assert!(!out.tensors.is_empty());
    for (name, t) in &out.tensors {
        // The best epoch's tensors, value for value, beside the last epoch's and both moments.
        assert_eq!(common::max_abs_diff(t, &saved[&format!("best.{name}")]), 0.0, "{name}");
        for part in ["param", "adam_m", "adam_v"] {
            assert_eq!(saved[&format!("{part}.{name}")].dims(), t.dims(), "{part}.{name}");
        }
    }
    assert_eq!(saved.len(), 4 * out.tensors.len());
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, ["run.checkpoint.safetensors"], "no temporary file left");
}
