//! The trainer: last two vision blocks + adapter + logit scale, AdamW with
//! cosine annealing, cross-entropy over the five anchors, early stopping,
//! atomic per-epoch checkpoints, cancellation.
//!
//! Runs on any thread; reports through [`TrainingObserver`]. Setting
//! [`Trainer::cancel`] stops the run at the next film or batch boundary: the
//! unfinished epoch is dropped and the last complete checkpoint stays as it was.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor, Var};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::adamw::{AdamW, AdamWConfig};
use super::augment::{self, View};
use super::cache::FeatureCache;
use super::checkpoint::{CheckpointState, PendingCheckpoint, load_checkpoint};
pub use super::checkpoint::Resumed;
pub use super::calibration::{fit_temperature, nll};
pub use super::config::{EarlyStopOn, TrainConfig};
use super::dataset::Film;
use super::forward::{self, FrozenTail, Params};
use super::outputs::{OutputLock, kept_beside};
use crate::grading::Grader;
use crate::metrics::{Confusion, GRADES, SplitMix64, accuracy, argmax, confusion_matrix};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub val_confusion: Confusion,
    /// Wall-clock seconds of the epoch (training batches + validation).
    #[serde(default)]
    pub seconds: f64,
}

/// What the trainer tells its caller (the CLI's progress bar, the GUI tab).
pub trait TrainingObserver: Send {
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize) {}
    fn batch_done(&mut self, _batch: usize, _batches: usize, _loss: f64) {}
    fn epoch_finished(&mut self, _record: &EpochRecord) {}
    fn message(&mut self, _text: &str) {}
    /// A resumed run's earlier epochs (from the checkpoint), before any new one.
    fn resumed(&mut self, _history: &[EpochRecord]) {}
}

/// The base model's tensors after the blocks: post-layernorm and projection.
const TAIL_TENSORS: [&str; 3] = ["vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias", "visual_projection.weight"];

/// The frozen model and data a run needs.
pub struct TrainData {
    pub grader: Grader,
    /// The base model's tensors (safetensors names); the run reads
    /// [`Trainer::base_tensor_names`] of them.
    pub base: HashMap<String, Tensor>,
    pub train: Vec<Film>,
    pub val: Vec<Film>,
}

pub struct TrainOutcome {
    /// Trained tensors of the best epoch (lowest validation loss), head-file names.
    pub tensors: HashMap<String, Tensor>,
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    /// Validation logits (before temperature) and labels at the best epoch.
    pub val_logits: Vec<Vec<f32>>,
    pub val_labels: Vec<usize>,
    /// Stopped through [`Trainer::cancel`]: `tensors` and the validation logits
    /// are then empty, and no head should be written.
    pub cancelled: bool,
    /// The epoch the checkpoint file holds after the run (None: no checkpoint
    /// was written or resumed from).
    pub checkpoint_epoch: Option<usize>,
    /// The resumes that changed the run's epoch count (see [`Resumed`]).
    pub resumed: Vec<Resumed>,
}

pub struct Trainer {
    pub config: TrainConfig,
    pub checkpoint: Option<PathBuf>,
    pub resume: bool,
    pub cancel: Arc<AtomicBool>,
    /// Held while a checkpoint is written. Whoever must end the process at once
    /// (a second Ctrl-C, closing the window) takes it first, so the process never
    /// dies half-way through a write and leaves a temporary file behind.
    pub files_lock: Arc<Mutex<()>>,
    /// Bytes the frozen features of training views and validation films may
    /// hold in memory ([`FeatureCache`]; by default half of the machine's).
    pub feature_cache_limit: u64,
    /// The run's lock on its files, checked before each checkpoint is written
    /// (see [`OutputLock::hold`]); None when the caller holds none.
    pub output_lock: Option<Arc<OutputLock>>,
}

/// The view key of a validation film in the feature cache (training views
/// are numbered from 0).
const VALIDATION_VIEW: usize = usize::MAX;

type R<T> = Result<T, String>;
fn e<E: std::fmt::Display>(x: E) -> String {
    x.to_string()
}

impl Trainer {
    pub fn new(config: TrainConfig) -> Self {
        Self {
            config,
            checkpoint: None,
            resume: false,
            cancel: Arc::new(AtomicBool::new(false)),
            files_lock: Arc::default(),
            feature_cache_limit: FeatureCache::default_limit(),
            output_lock: None,
        }
    }

    fn trainable_names(layers: usize) -> Vec<String> {
        let mut names = Vec::new();
        for i in layers - 2..layers {
            for t in ["self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj", "self_attn.out_proj", "layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2"] {
                for w in ["weight", "bias"] {
                    names.push(format!("vision_model.encoder.layers.{i}.{t}.{w}"));
                }
            }
        }
        for n in ["adapter.down.weight", "adapter.down.bias", "adapter.up.weight", "adapter.up.bias", "logit_scale"] {
            names.push(n.into());
        }
        names
    }

    /// The base model's tensors a run reads: the trainable blocks' and those
    /// after them ([`FrozenTail`]).
    pub fn base_tensor_names(layers: usize) -> Vec<String> {
        let mut names = Self::trainable_names(layers);
        names.extend(TAIL_TENSORS.map(String::from));
        names
    }

    /// Initial trainable tensors: the base blocks, `down` PyTorch-Linear-uniform
    /// (seeded), `up` zero, logit scale from the base model.
    fn init(&self, data: &TrainData, rng: &mut SplitMix64) -> R<HashMap<String, Tensor>> {
        let model = data.grader.model();
        let dev = model.device();
        let layers = model.vision().num_layers();
        let dim = model.config().projection_dim;
        let b = self.config.bottleneck;
        let mut t = HashMap::new();
        for n in Self::trainable_names(layers) {
            if let Some(x) = data.base.get(&n) {
                t.insert(n, x.to_dtype(DType::F32).map_err(e)?.to_device(dev).map_err(e)?);
            }
        }
        let bound = 1.0 / (dim as f64).sqrt();
        let mut uni = |n: usize| -> Vec<f32> { (0..n).map(|_| ((rng.unit() * 2.0 - 1.0) * bound) as f32).collect() };
        let w = Tensor::from_vec(uni(b * dim), (b, dim), dev).map_err(e)?;
        let bias = Tensor::from_vec(uni(b), b, dev).map_err(e)?;
        t.insert("adapter.down.weight".into(), w);
        t.insert("adapter.down.bias".into(), bias);
        t.insert("adapter.up.weight".into(), Tensor::zeros((dim, b), DType::F32, dev).map_err(e)?);
        t.insert("adapter.up.bias".into(), Tensor::zeros(dim, DType::F32, dev).map_err(e)?);
        t.insert("logit_scale".into(), Tensor::new(model.logit_scale(), dev).map_err(e)?);
        Ok(t)
    }

    /// Frozen hidden states for (film, view) keys; stops with an error as soon
    /// as `cancel` is set (decoding a batch of full-size films takes seconds).
    fn frozen(data: &TrainData, films: &[Film], views: &[View], keys: &[(usize, usize)], cancel: &AtomicBool) -> candle_core::Result<Tensor> {
        let g = &data.grader;
        let vision = g.model().vision();
        let size = vision.config().image_size;
        // Films are decoded, augmented and preprocessed on every core, each
        // into its place in the batch (a concatenation afterwards copied
        // 38 MB on one thread); the blocks then run threaded on the batch.
        // A gray film's three channels are one set of levels, normalised
        // three ways: the vision tower folds that into its patch weights.
        let per_film = size * size;
        let mut batch: Vec<f32> = Vec::with_capacity(keys.len() * per_film);
        batch.spare_capacity_mut()[..keys.len() * per_film]
            .par_chunks_mut(per_film)
            .zip(keys.par_iter())
            .map(|(place, &(f, v))| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(candle_core::Error::Msg("cancelled".into()));
                }
                // ImagingError names the file itself.
                let film = crate::imaging::Radiograph::open(&films[f].path).map_err(|err| candle_core::Error::Msg(err.to_string()))?;
                let view = film.model_view();
                let (w, h) = (view.width as usize, view.height as usize);
                let gray = augment::apply(views[v], w, h, &view.data);
                let levels = g.preprocessing().gray_values(w, h, &gray);
                if levels.len() != per_film {
                    candle_core::bail!("{}: {} gray levels, the model takes {per_film}", films[f].path.display(), levels.len());
                }
                place.iter_mut().zip(levels).for_each(|(p, v)| {
                    p.write(v);
                });
                Ok(())
            })
            .collect::<candle_core::Result<()>>()?;
        // SAFETY: every film's place was written in full (or the batch
        // failed and returned above).
        unsafe { batch.set_len(keys.len() * per_film) };
        let levels = Tensor::from_vec(batch, (keys.len(), size, size), g.device())?;
        let first = vision.num_layers() - 2;
        let pre = g.preprocessing();
        vision.run_blocks(&vision.embed_gray(&levels, pre.mean, pre.std)?, 0..first)
    }

    pub fn run(&self, data: &mut TrainData, observer: &mut dyn TrainingObserver) -> R<TrainOutcome> {
        let outcome = self.run_epochs(data, observer);
        // The feature caches and the step's activations are gone now; the
        // allocator keeps up to 1 GiB of them for reuse unless told.
        crate::allocator::release_freed_memory();
        outcome
    }

    fn run_epochs(&self, data: &mut TrainData, observer: &mut dyn TrainingObserver) -> R<TrainOutcome> {
        let c = self.config.clone();
        let dev: Device = data.grader.device().clone();
        let vcfg = data.grader.model().vision().config().clone();
        let layers = vcfg.num_hidden_layers;
        let first = layers - 2;
        let anchors = data.grader.anchor_embeddings().map_err(e)?;
        let base = |name: &str| data.base.get(name).ok_or_else(|| format!("the base model has no tensor {name}"));
        let tail = FrozenTail {
            post_ln_weight: base(TAIL_TENSORS[0])?.to_device(&dev).map_err(e)?,
            post_ln_bias: base(TAIL_TENSORS[1])?.to_device(&dev).map_err(e)?,
            projection: base(TAIL_TENSORS[2])?.to_device(&dev).map_err(e)?,
        };
        let names = Self::trainable_names(layers);
        let mut rng = SplitMix64(c.seed);
        let mut tensors = self.init(data, &mut rng)?;
        let films = super::overlap::films_fingerprint(&data.train, &data.val);
        let film_sizes = super::overlap::sizes_fingerprint(&data.train, &data.val);
        let film_heads = super::overlap::heads_fingerprint(&data.train, &data.val);
        let salt = super::overlap::new_salt();
        let mut state = CheckpointState {
            epoch: 0,
            step: 0,
            rng: 0,
            best_val_loss: f64::INFINITY,
            best_epoch: 0,
            config: c.clone(),
            history: vec![],
            films: Some(films.clone()),
            film_sizes: Some(film_sizes.clone()),
            film_heads: Some(film_heads.clone()),
            film_list: Some(super::overlap::films_list(&data.train, &data.val, &salt)),
            film_salt: Some(salt),
            resumed: Vec::new(),
        };
        let mut moments: Option<(Vec<Tensor>, Vec<Tensor>)> = None;
        let mut resumed_best: Option<HashMap<String, Tensor>> = None;
        let mut checkpoint_epoch = None;
        let mut finished = false;
        if let (true, Some(ck)) = (self.resume, &self.checkpoint) {
            let (t, s, m, b) = load_checkpoint(ck, &names, &dev)?;
            // Resuming another run's checkpoint would mix two runs silently:
            // another split puts trained-on films in validation, another
            // epoch count bends the learning-rate schedule.
            let mut differences = c.differences(&s.config);
            if s.films.as_ref().is_some_and(|f| *f != films) {
                // By the films' name keys, salted as the checkpoint's; this run's films are named, a gone one cannot be.
                let salt = s.film_salt.as_deref().unwrap_or("");
                let names = super::overlap::names_by_key(&data.train, &data.val, salt);
                let shown = |key: &str| names.get(key).cloned().unwrap_or_else(|| "a film of the checkpoint's run".into());
                let before = s.film_list.as_ref().map(|l| l.iter().map(|line| super::overlap::keyed_line(line, salt)).collect::<Vec<_>>());
                let now = super::overlap::films_list(&data.train, &data.val, salt);
                let example = before.as_deref().and_then(|before| super::overlap::a_film_that_differs(before, &now, shown));
                differences.push(format!("the training or validation films (another dataset, split, fold or seed{})", example.map(|e| format!("; e.g. {e}")).unwrap_or_default()));
            } else if s.film_sizes.as_ref().is_some_and(|f| *f != film_sizes) {
                differences.push("the content of some films: they have the checkpoint's names, but other sizes (replaced or edited since)".into());
            } else if s.film_heads.as_ref().is_some_and(|f| *f != film_heads) {
                differences.push("the content of some films: they have the checkpoint's names and sizes, but other bytes (replaced or edited since, or no longer readable)".into());
            }
            if !differences.is_empty() {
                return Err(another_run(ck, &differences));
            }
            // Its run finished (all its epochs, or stopped early) but no head came of it
            // (the head's write failed, the run was stopped in its last validation):
            // the head is written from it as that run's end would have, without training more.
            // A run stopped short of its own epochs and resumed with fewer than it did (a
            // default --epochs): neither trained on nor taken as finished (review).
            if s.epoch >= c.epochs && s.epoch < s.config.epochs {
                return Err(format!(
                    "{}: its run stopped after {} of its {} epochs; resume it with --epochs {} (its own) or more to go on",
                    ck.display(),
                    s.epoch,
                    s.config.epochs,
                    s.config.epochs
                ));
            }
            finished = s.epoch >= c.epochs || s.epoch.saturating_sub(s.best_epoch) >= c.patience;
            if finished {
                let done = if s.epoch == 1 { "its 1 epoch".to_string() } else { format!("its {} epochs", s.epoch) };
                // Said why when it is the patience (perhaps not the run's own) that ends it.
                let why = if s.epoch < c.epochs {
                    format!(
                        ", {} since its best epoch {} without improvement, and the patience is {} (its run's was {}; give --patience {} or more to train on)",
                        s.epoch - s.best_epoch,
                        s.best_epoch,
                        c.patience,
                        s.config.patience,
                        s.epoch - s.best_epoch + 1
                    )
                } else {
                    format!(" (best epoch {})", s.best_epoch)
                };
                observer.message(&format!("{}: its run has done {done}{why}; writing the head from it without training more", ck.display()));
            }
            tensors = t;
            resumed_best = Some(b);
            rng = SplitMix64(s.rng);
            moments = Some(m);
            if !finished {
                observer.message(&format!("resumed from {} after epoch {}", ck.display(), s.epoch));
            }
            // The cosine schedule runs over the whole run: another length bends it from here on (QA).
            let mut s = s;
            if !finished && s.config.epochs != c.epochs {
                observer.message(&format!(
                    "note: the checkpoint's run was planned for {} epochs, this one for {}: the learning-rate schedule is recomputed for {} epochs from epoch {} on, so the head will differ from a fresh {}-epoch run (the sidecar records this under \"resumed\")",
                    s.config.epochs, c.epochs, c.epochs, s.epoch + 1, c.epochs
                ));
                s.resumed.push(super::checkpoint::Resumed { from_epoch: s.epoch, epochs_before: s.config.epochs, epochs_after: c.epochs });
            }
            checkpoint_epoch = Some(s.epoch);
            observer.resumed(&s.history);
            // This run's settings from here on (it may ask for more epochs or
            // another patience): the checkpoints it writes say how far it means
            // to go, and carry the fingerprints an older checkpoint lacked.
            // The checkpoint's salt goes on (an older checkpoint's unsalted list gets this run's), its list with it.
            let film_salt = s.film_salt.clone().or_else(|| state.film_salt.take());
            let film_list = Some(super::overlap::films_list(&data.train, &data.val, film_salt.as_deref().unwrap_or("")));
            state = CheckpointState { config: c.clone(), films: Some(films.clone()), film_sizes: Some(film_sizes.clone()), film_heads: Some(film_heads.clone()), film_list, film_salt, ..s };
        }
        let params: Params = names.iter().map(|n| Ok((n.clone(), Var::from_tensor(&tensors[n]).map_err(e)?))).collect::<R<_>>()?;
        let vars: Vec<&Var> = names.iter().map(|n| &params[n]).collect();
        let mut opt = AdamW::new(&vars, AdamWConfig { lr: c.lr, weight_decay: c.weight_decay, ..Default::default() }).map_err(e)?;
        opt.step = state.step;
        if let Some((m, v)) = moments {
            opt.m = m;
            opt.v = v;
        }
        let views = augment::view_set(&c.angles);
        let n_angles = c.angles.len().max(1);
        let class_w: Option<Vec<f32>> = c.class_weighted.then(|| class_weights(&data.train));
        // One budget for the training views and the validation films.
        let mut cache = FeatureCache::with_limit(self.feature_cache_limit);
        let identity = [View::IDENTITY];
        let mut best = resumed_best.unwrap_or_else(|| tensors.clone());
        let mut cancelled = false;
        let cancel = &*self.cancel;
        let mut pending = PendingCheckpoint::default();
        let batches = data.train.len().div_ceil(c.batch_size.max(1));
        let total_steps = (c.epochs * batches).max(1) as f64;
        let last_epoch = if finished { state.epoch } else { c.epochs };
        'epochs: for epoch in state.epoch + 1..=last_epoch {
            observer.epoch_started(epoch, c.epochs);
            let started = std::time::Instant::now();
            let mut order: Vec<usize> = (0..data.train.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            let (mut loss_sum, mut correct) = (0.0, 0usize);
            let mut lr = c.lr;
            for (b, chunk) in order.chunks(c.batch_size.max(1)).enumerate() {
                if cancel.load(Ordering::Relaxed) {
                    cancelled = true;
                    break 'epochs;
                }
                let keys: Vec<(usize, usize)> = chunk
                    .iter()
                    .map(|&f| {
                        let flip = rng.unit() < c.flip_probability;
                        let angle = rng.below(n_angles);
                        (f, if flip { n_angles } else { 0 } + angle)
                    })
                    .collect();
                let films = &data.train;
                let Some(hidden) = unless_cancelled(cache.get_or_compute(&keys, |k| Self::frozen(data, films, &views, k, cancel)), cancel)? else {
                    cancelled = true;
                    break 'epochs;
                };
                let labels: Vec<usize> = chunk.iter().map(|&f| data.train[f].grade).collect();
                let pass = forward::pass(&params, &vcfg, &tail, &anchors, &hidden, first).map_err(e)?;
                let lg = pass.logits.clone();
                let mut loss = forward::cross_entropy(&lg, &labels, class_w.as_deref()).map_err(e)?;
                let mut mirrored_pass = None;
                if c.flip_consistency > 0.0 {
                    let mirrored: Vec<(usize, usize)> = keys.iter().map(|&(f, v)| (f, (v + n_angles) % (2 * n_angles))).collect();
                    let Some(hm) = unless_cancelled(cache.get_or_compute(&mirrored, |k| Self::frozen(data, films, &views, k, cancel)), cancel)? else {
                        cancelled = true;
                        break 'epochs;
                    };
                    let mp = forward::pass(&params, &vcfg, &tail, &anchors, &hm, first).map_err(e)?;
                    let lm = mp.logits.clone();
                    mirrored_pass = Some(mp);
                    let pa = candle_nn::ops::softmax(&lg, candle_core::D::Minus1).map_err(e)?;
                    let pb = candle_nn::ops::softmax(&lm, candle_core::D::Minus1).map_err(e)?;
                    let term = ((pa - pb).map_err(e)?.sqr().map_err(e)?.sum_all().map_err(e)? / chunk.len() as f64).map_err(e)?;
                    loss = (loss + (term * c.flip_consistency).map_err(e)?).map_err(e)?;
                }
                let grads = kneeclip_sgemm::on_pool(|| loss.backward()).map_err(e)?;
                let passes: Vec<&forward::Pass> = std::iter::once(&pass).chain(mirrored_pass.as_ref()).collect();
                let mut by_name = forward::gradients(&passes, &params, &grads).map_err(e)?;
                let gs: Vec<Option<Tensor>> = names.iter().map(|n| by_name.remove(n)).collect();
                // Cosine annealing per step from lr to 0 over the whole run.
                lr = c.lr * 0.5 * (1.0 + (std::f64::consts::PI * opt.step as f64 / total_steps).cos());
                opt.step(&vars, &gs, lr).map_err(e)?;
                let l = loss.to_scalar::<f32>().map_err(e)? as f64;
                if !l.is_finite() {
                    return Err(diverged(epoch, &format!("the training loss became {l} at batch {}", b + 1), &c, pending.finish()?.or(checkpoint_epoch)));
                }
                loss_sum += l * chunk.len() as f64;
                let rows = lg.to_vec2::<f32>().map_err(e)?;
                correct += rows.iter().zip(&labels).filter(|(r, y)| argmax(r) == **y).count();
                observer.batch_done(b + 1, batches, l);
                // A deleted lock file is made again at once, not only at the epoch's end,
                // leaving a second run less time to get in; whether one did is for the
                // checkpoint's write to handle.
                if let Some(lock) = &self.output_lock {
                    let _ = lock.hold();
                }
            }
            let validated = Self::validate(data, &params, &vcfg, &tail, &anchors, first, &mut cache, &identity, cancel);
            let Some((vl, vlabels)) = unless_cancelled(validated, cancel)? else {
                cancelled = true;
                break 'epochs;
            };
            let val_loss = nll(&vl, &vlabels, 1.0);
            if !val_loss.is_finite() {
                return Err(diverged(epoch, &format!("the validation loss became {val_loss}"), &c, pending.finish()?.or(checkpoint_epoch)));
            }
            let preds: Vec<usize> = vl.iter().map(|r| argmax(r)).collect();
            let cm = confusion_matrix(&vlabels, &preds);
            let record = EpochRecord {
                epoch,
                lr,
                train_loss: loss_sum / data.train.len().max(1) as f64,
                train_accuracy: correct as f64 / data.train.len().max(1) as f64,
                val_loss,
                val_accuracy: accuracy(&cm),
                val_confusion: cm,
                seconds: started.elapsed().as_secs_f64(),
            };
            let best_so_far = state.history.iter().find(|r| r.epoch == state.best_epoch);
            if c.early_stop_on.improves(&record, best_so_far) {
                state.best_val_loss = val_loss;
                state.best_epoch = epoch;
                best = snapshot(&params, &names)?;
            }
            state.history.push(record.clone());
            state.epoch = epoch;
            state.step = opt.step;
            state.rng = rng.0;
            if let Some(ck) = &self.checkpoint {
                if let Some(written) = pending.finish().map_err(|err| checkpoint_failed(&err, checkpoint_epoch))? {
                    checkpoint_epoch = Some(written);
                }
                // The contents are taken now (the parameters change in place
                // at the next step); writing and syncing ≈ 230 MB (≈ 0.7 s)
                // overlaps the next epoch.
                let snapshot = pending.snapshot(&params, &best, &names, &opt, &state)?;
                // Another run took the files (their lock file was deleted during
                // this run): this epoch goes beside them, whole, and the run stops
                // rather than write over that run's checkpoint or race it for the head.
                if let Some(taken) = self.output_lock.as_ref().and_then(|lock| lock.hold().err()) {
                    let kept = kept_beside(ck);
                    pending.start(epoch, kept.clone(), snapshot, self.files_lock.clone());
                    pending.finish()?;
                    return Err(format!(
                        "{taken}. This run stopped so as not to write over them; its epochs up to {epoch} are kept in {}: go on with them with --resume {} and a head of another name (--out)",
                        kept.display(),
                        kept.display()
                    ));
                }
                pending.start(epoch, ck.clone(), snapshot, self.files_lock.clone());
            }
            // Told once the checkpoint's contents are taken: its file is
            // complete before the next epoch's is written and before the run returns.
            observer.epoch_finished(&record);
            if epoch - state.best_epoch >= c.patience {
                observer.message(&format!("early stop: {} has not improved for {} epochs", c.early_stop_on.label(), c.patience));
                break;
            }
        }
        if let Some(written) = pending.finish().map_err(|err| checkpoint_failed(&err, checkpoint_epoch))? {
            checkpoint_epoch = Some(written);
        }
        if cancelled {
            return Ok(TrainOutcome {
                tensors: HashMap::new(),
                history: state.history,
                best_epoch: state.best_epoch,
                val_logits: Vec::new(),
                val_labels: Vec::new(),
                cancelled,
                checkpoint_epoch,
                resumed: state.resumed,
            });
        }
        let mb = |bytes: u64| bytes as f64 / 1e6;
        let mut report = format!(
            "frozen-feature cache: {} views ({:.0} MB of {:.0} MB allowed), {} hits, {} misses",
            cache.len(),
            mb(cache.bytes()),
            mb(cache.limit()),
            cache.hits,
            cache.misses
        );
        if cache.not_kept > 0 {
            report += &format!("; {} views computed again because the cache was full", cache.not_kept);
        }
        // A finished run resumed only for its head trained nothing: no cache to speak of.
        if !finished {
            observer.message(&report);
        }
        if state.best_epoch == 0 {
            best = snapshot(&params, &names)?;
        }
        // Validation logits at the best parameters, for the temperature fit.
        let best_params: Params = names.iter().map(|n| Ok((n.clone(), Var::from_tensor(&best[n]).map_err(e)?))).collect::<R<_>>()?;
        let (val_logits, val_labels) = Self::validate(data, &best_params, &vcfg, &tail, &anchors, first, &mut cache, &identity, cancel).map_err(e)?;
        Ok(TrainOutcome { tensors: best, history: state.history, best_epoch: state.best_epoch, val_logits, val_labels, cancelled, checkpoint_epoch, resumed: state.resumed })
    }

    #[allow(clippy::too_many_arguments)]
    fn validate(
        data: &TrainData,
        params: &Params,
        vcfg: &crate::model::config::VisionConfig,
        tail: &FrozenTail,
        anchors: &Tensor,
        first: usize,
        cache: &mut FeatureCache,
        identity: &[View],
        cancel: &AtomicBool,
    ) -> candle_core::Result<(Vec<Vec<f32>>, Vec<usize>)> {
        let mut logits = Vec::new();
        let idx: Vec<usize> = (0..data.val.len()).collect();
        for chunk in idx.chunks(64) {
            let keys: Vec<(usize, usize)> = chunk.iter().map(|&i| (i, VALIDATION_VIEW)).collect();
            let hidden = cache.get_or_compute(&keys, |k| {
                let films: Vec<(usize, usize)> = k.iter().map(|&(i, _)| (i, 0)).collect();
                Self::frozen(data, &data.val, identity, &films, cancel)
            })?;
            let lg = forward::logits(params, vcfg, tail, anchors, &hidden, first)?.detach();
            logits.extend(lg.to_vec2::<f32>()?);
        }
        Ok((logits, data.val.iter().map(|f| f.grade).collect()))
    }
}

/// The loss's weight of each grade with --class-weighted: inverse grade
/// frequency, n / (5 · films of the grade) (0 for a grade without films).
pub fn class_weights(train: &[Film]) -> Vec<f32> {
    let mut counts = [0usize; GRADES];
    train.iter().for_each(|f| counts[f.grade] += 1);
    let n = train.len() as f32;
    counts.iter().map(|&k| if k == 0 { 0.0 } else { n / (GRADES as f32 * k as f32) }).collect()
}

/// Why a run stopped when its numbers stopped being numbers; no head is
/// written from it.
fn diverged(epoch: usize, what: &str, c: &TrainConfig, kept: Option<usize>) -> String {
    let kept = match kept {
        Some(k) => format!("the checkpoint keeps epoch {k}"),
        None => "no epoch was complete, so no checkpoint was kept".into(),
    };
    // A large flip-consistency weight diverges at any learning rate: named when it is the likelier cause.
    let weight = if c.flip_consistency > 1.0 { format!(", or a flip-consistency weight below {:e}", c.flip_consistency) } else { String::new() };
    format!("{DIVERGED} in epoch {epoch}: {what}. No head was written; {kept}. Start again (--restart) with a lower learning rate than {:e}{weight}", c.lr)
}

/// A checkpoint that could not be written (`err` names it and why): the
/// run stops there, and says what it keeps.
fn checkpoint_failed(err: &str, kept: Option<usize>) -> String {
    let kept = match kept {
        Some(k) => format!("the checkpoint file still holds epoch {k}"),
        None => "no checkpoint of this run was kept".to_string(),
    };
    format!("{err}. Training stopped there: no head was written, and {kept}")
}

/// Why a checkpoint cannot be resumed by this run.
pub fn another_run(checkpoint: &std::path::Path, differences: &[String]) -> String {
    format!(
        "{}: this checkpoint is from another run: {}. Resume it with its own settings, or start a new run instead of resuming (--restart in place of --resume)",
        checkpoint.display(),
        differences.join("; ")
    )
}

/// How a diverged run's error begins (resuming it would diverge again).
pub const DIVERGED: &str = "training diverged";

/// `Ok(None)` when `result` failed because the run was cancelled meanwhile,
/// the error message otherwise.
fn unless_cancelled<T, E: std::fmt::Display>(result: Result<T, E>, cancel: &AtomicBool) -> R<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(_) if cancel.load(Ordering::Relaxed) => Ok(None),
        Err(err) => Err(err.to_string()),
    }
}

fn snapshot(params: &Params, names: &[String]) -> R<HashMap<String, Tensor>> {
    names.iter().map(|n| Ok((n.clone(), params[n].as_tensor().copy().map_err(e)?))).collect()
}
