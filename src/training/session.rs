//! One training run from labelled films to a written head, shared by
//! `kneeclip train` and the viewer's training tab: which films train and which
//! validate ([`Plan`]), the base model's tensors, the [`Trainer`], the
//! temperature fit, and the head with its JSON sidecar written atomically.
//! A cancelled run writes no head; its checkpoint is the last complete epoch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::dataset::{Dataset, DatasetSummary, Film, films_per_grade};
use super::overlap::films_in_both;
use super::sidecar;
pub use super::outputs::{OutputLock, checkpoint_for, sidecar_for, unfinished_run};
use super::sidecar::SplitMethod;
use super::split::{stratified_k_fold, stratified_split};
use super::checkpoint::TensorView;
use super::trainer::{EpochRecord, TrainConfig, TrainData, Trainer, TrainingObserver, fit_temperature};
use crate::grading::Grader;
use crate::model::safetensors_file::SafetensorsFile;
use candle_nn::var_builder::SimpleBackend;
use crate::metrics::{EvaluationReport, GRADES};

/// Where the validation films come from.
pub enum Validation {
    /// A separate labelled dataset.
    Folder(Dataset),
    /// This fraction of the patients of every grade (seeded, patient-grouped).
    Split { fraction: f64 },
    /// Fold `fold` of a stratified, patient-grouped `k`-fold split.
    Fold { k: usize, fold: usize },
}

/// Below this many training films of a grade, [`Plan::warnings`] cautions:
/// the head fits such a grade to a few films' noise (the recipe's own
/// dataset has hundreds of every grade), and a default 80/20 split of fewer
/// leaves one or two to validate it.
const FEW_TRAINING_FILMS: usize = 10;
/// Below this many validation films of a grade (one film is 20 % of five),
/// that grade's figures move by 20 points with each film.
const FEW_VALIDATION_FILMS: usize = 5;

/// The films a run trains and validates on, and what the datasets held.
#[derive(Clone, Debug)]
pub struct Plan {
    pub train: Vec<Film>,
    pub val: Vec<Film>,
    pub dataset: DatasetSummary,
    /// The validation dataset's summary when it is a separate folder.
    pub validation: Option<DatasetSummary>,
    /// How the validation films were chosen.
    pub method: SplitMethod,
}

/// Films per grade on each side of the split and how it was made (what the sidecar records).
#[derive(Clone, Debug, Serialize)]
pub struct SplitSummary {
    #[serde(flatten)]
    pub method: SplitMethod,
    pub train: [usize; GRADES],
    pub validation: [usize; GRADES],
}

impl Plan {
    pub fn new(full: &Dataset, validation: Validation, seed: u64) -> Result<Plan, String> {
        let paths: Vec<&Path> = full.films.iter().map(|f| f.path.as_path()).collect();
        let pick = |ix: &[usize]| ix.iter().map(|&i| full.films[i].clone()).collect::<Vec<_>>();
        let (train, val, validation, method) = match validation {
            Validation::Folder(v) => (full.films.clone(), v.films, Some(v.summary), SplitMethod::Folder),
            Validation::Split { fraction } => {
                let (t, v) = stratified_split(&paths, &full.grades(), fraction, seed);
                (pick(&t), pick(&v), None, SplitMethod::Split { fraction, seed })
            }
            Validation::Fold { k, fold } => {
                if k < 2 || fold >= k {
                    return Err(format!("--folds {k} --fold {fold}: need k >= 2 and 0 <= fold < k"));
                }
                let folds = stratified_k_fold(&paths, &full.grades(), k, seed);
                let (v, t): (Vec<usize>, Vec<usize>) = (0..full.films.len()).partition(|&i| folds[i] == fold);
                (pick(&t), pick(&v), None, SplitMethod::Fold { folds: k, fold, seed })
            }
        };
        if val.is_empty() {
            return Err("the validation set is empty; choose a validation folder or use a larger dataset".into());
        }
        if train.is_empty() {
            return Err("the training set is empty".into());
        }
        // The anchors' classifier needs every grade: a fold of a small
        // dataset can leave one out of the training side.
        let per_grade = films_per_grade(&train);
        if let Some(grade) = per_grade.iter().position(|&n| n == 0) {
            return Err(format!(
                "the training side of this split has no films of grade {grade} (films per grade: {per_grade:?}); use fewer folds, a larger dataset, or a validation folder"
            ));
        }
        // Only a separate folder can hold the same files (a split's sides are
        // disjoint); copies under other names are looked for when the run starts.
        let shared: Vec<&Film> = if validation.is_some() { films_in_both(&train, &val) } else { Vec::new() };
        if let Some(first) = shared.first() {
            return Err(format!(
                "{} of the {} validation films are also training films (e.g. {}); validate on films the model does not train on",
                shared.len(),
                val.len(),
                first.path.display()
            ));
        }
        Ok(Plan { train, val, dataset: full.summary.clone(), validation, method })
    }

    pub fn split(&self) -> SplitSummary {
        SplitSummary { method: self.method.clone(), train: films_per_grade(&self.train), validation: films_per_grade(&self.val) }
    }

    /// "N training films, M validation films" with the films per grade of each side.
    pub fn describe(&self) -> String {
        let s = self.split();
        format!(
            "{} training films, {} validation films; films per grade (KL 0-4): training {:?}, validation {:?}",
            self.train.len(),
            self.val.len(),
            s.train,
            s.validation
        )
    }

    /// What the user should know before a long run: grades absent from
    /// validation, and grades with so few films that the run can neither
    /// learn them nor show whether it did (clinic QA: a grade of 2 films
    /// was accepted without a word).
    pub fn warnings(&self) -> Vec<String> {
        let split = self.split();
        let grades = |side: &[usize; GRADES], keep: fn(usize) -> bool| -> Vec<String> {
            side.iter().enumerate().filter(|(_, n)| keep(**n)).map(|(g, n)| format!("KL {g} ({n})")).collect()
        };
        let mut warnings = Vec::new();
        let missing: Vec<String> = split.validation.iter().enumerate().filter(|(_, n)| **n == 0).map(|(g, _)| g.to_string()).collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "the validation set has no films of grade {}: its accuracy and confusion matrix say nothing about {}",
                missing.join(", "),
                if missing.len() == 1 { "that grade" } else { "those grades" }
            ));
        }
        let few_train = grades(&split.train, |n| n < FEW_TRAINING_FILMS);
        if !few_train.is_empty() {
            warnings.push(format!(
                "few training films of {}: a head cannot learn a grade from so few (fewer than {FEW_TRAINING_FILMS}), and may grade it no better than the base model or worse; add films of it if you can",
                few_train.join(", ")
            ));
        }
        let few_val = grades(&split.validation, |n| n > 0 && n < FEW_VALIDATION_FILMS);
        if !few_val.is_empty() {
            warnings.push(format!(
                "few validation films of {}: {} on so few films says little",
                few_val.join(", "),
                if few_val.len() == 1 { "that grade's accuracy" } else { "each of those grades' accuracy" }
            ));
        }
        warnings
    }
}


/// What a finished run wrote.
#[derive(Clone, Debug)]
pub struct Written {
    pub head: PathBuf,
    pub sidecar: PathBuf,
    pub checkpoint: PathBuf,
    pub best_epoch: usize,
    pub temperature: f64,
    pub validation_accuracy: f64,
    pub history: Vec<EpochRecord>,
}

impl Written {
    /// What the reader should check before using the head: a temperature
    /// fitted at its limit (nearly flat probabilities), and a head whose
    /// validation films all got one grade.
    pub fn cautions(&self) -> Vec<String> {
        let mut cautions = Vec::new();
        if super::calibration::at_most_temperature(self.temperature) {
            cautions.push(format!(
                "the fitted temperature is at its limit ({:.1}): the head's probabilities are nearly flat, it hardly tells the grades apart; train longer or on more films",
                self.temperature
            ));
        }
        if let Some(best) = self.history.iter().find(|r| r.epoch == self.best_epoch) {
            let per_grade: Vec<u64> = (0..GRADES).map(|p| best.val_confusion.iter().map(|row| row[p]).sum()).collect();
            let total: u64 = per_grade.iter().sum();
            if let Some(only) = per_grade.iter().position(|&n| n == total && total > 0) {
                cautions.push(format!("the head gave every validation film KL {only} (epoch {}): it does not grade yet; see the confusion matrix", self.best_epoch));
            }
        }
        cautions
    }
}

#[derive(Clone, Debug)]
pub enum Outcome {
    Written(Written),
    /// Cancelled: no head written. `epoch` is the last complete epoch kept in
    /// `checkpoint` (None: none finished, nothing to resume from).
    Cancelled { checkpoint: PathBuf, epoch: Option<usize> },
}

/// One run's settings and its handles for cancelling it from another thread.
pub struct Session {
    pub config: TrainConfig,
    /// The head to write (safetensors); its sidecar and checkpoint go beside it.
    pub out: PathBuf,
    /// Resume from this checkpoint (and keep checkpointing to it).
    pub resume: Option<PathBuf>,
    pub cancel: Arc<AtomicBool>,
    /// Held while any file of the run is written (see [`Trainer::files_lock`]).
    pub files_lock: Arc<Mutex<()>>,
    /// Bytes the cached frozen features may hold (None: half of the memory;
    /// see [`Trainer::feature_cache_limit`]).
    pub feature_cache_limit: Option<u64>,
    /// Start afresh even where the checkpoint beside the head holds an
    /// unfinished run (its epochs are then lost); otherwise that is refused.
    pub restart: bool,
    /// The outputs' lock, once [`prepare`](Self::prepare) took it.
    pub output_lock: Option<Arc<OutputLock>>,
}

impl Session {
    pub fn new(config: TrainConfig, out: PathBuf) -> Session {
        Session {
            config,
            out,
            resume: None,
            cancel: Arc::default(),
            files_lock: Arc::default(),
            feature_cache_limit: None,
            restart: false,
            output_lock: None,
        }
    }

    /// Checks the outputs ([`check_output`](Self::check_output)), takes their
    /// lock, then refuses to replace an unfinished run's checkpoint unless
    /// resuming it or told to restart: in that order, so that a run going on
    /// in another window is named as such. The command line and the Training
    /// tab call it before the datasets are checked; [`run`](Self::run) does
    /// when they did not.
    pub fn prepare(&mut self) -> Result<(), String> {
        self.check_output()?;
        self.take_outputs()
    }

    /// [`Session::prepare`]'s second half, for a caller that checked the
    /// output itself first (and refused what it would replace in between).
    pub fn take_outputs(&mut self) -> Result<(), String> {
        let lock = Arc::new(self.lock_and_check()?);
        self.output_lock = Some(lock);
        Ok(())
    }

    fn lock_and_check(&self) -> Result<OutputLock, String> {
        let checkpoint = self.checkpoint();
        let mut lock = OutputLock::take(&[&self.out, &checkpoint])?;
        if let (None, false, Some((done, asked))) = (&self.resume, self.restart, unfinished_run(&self.out)) {
            return Err(format!(
                "{}: holds an unfinished run ({done} of {asked} epochs) that this run would replace; go on with it (--resume {}), or start over and lose it (--restart)",
                checkpoint.display(),
                crate::files::shell_quote(&checkpoint.display().to_string())
            ));
        }
        // A run killed mid-write left its temporary files; held now, no write of them is
        // under way. Only once the run is sure to go on, so that a refused one removes nothing.
        lock.removed_partials = super::outputs::remove_stale_partials(&[&self.out, &sidecar_for(&self.out), &checkpoint], lock.unlocked);
        Ok(lock)
    }

    pub fn checkpoint(&self) -> PathBuf {
        self.resume.clone().unwrap_or_else(|| checkpoint_for(&self.out))
    }

    /// Refuses, before hours of training, an output the run could not write:
    /// creates the head's folder when missing and writes and removes a probe file.
    pub fn check_output(&self) -> Result<(), String> {
        self.config.check()?;
        let name = self.out.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ends_in_separator = self.out.as_os_str().to_string_lossy().ends_with(std::path::is_separator);
        if self.out.is_dir() {
            return Err(format!("{}: that is a folder; the head is a file: give a file name, e.g. {}", self.out.display(), self.out.join("head.safetensors").display()));
        }
        if name.is_empty() || ends_in_separator {
            return Err(format!("{}: the head must be a file name, e.g. head.safetensors", self.out.display()));
        }
        // The sidecar and checkpoint are named after the head with its
        // extension replaced: a head named `clinic` (or `clinic/`) would write
        // `clinic.json`, the sidecar of the head `clinic.safetensors` beside
        // it, and a head named `.json` its own sidecar.
        // A head named `clinic.checkpoint.safetensors` is the checkpoint of `clinic.safetensors`.
        // In lower case: `h.SAFETENSORS` would share `h.json` and its checkpoint with `h.safetensors`.
        let named_safetensors = self.out.extension().is_some_and(|e| e == "safetensors");
        let named_checkpoint = self.out.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s.to_ascii_lowercase().ends_with(".checkpoint"));
        let sidecar = sidecar_for(&self.out);
        if !named_safetensors || named_checkpoint || self.resume.as_ref() == Some(&self.out) {
            return Err(format!("{}: name the head something.safetensors; its sidecar (.json) and checkpoint (.checkpoint.safetensors) go beside it", self.out.display()));
        }
        for beside in [&sidecar, &self.checkpoint()] {
            if beside.is_dir() {
                return Err(format!("{}: a folder is in the way of the run's {} file", beside.display(), if *beside == sidecar { "sidecar" } else { "checkpoint" }));
            }
        }
        if let Some(resume) = &self.resume {
            if !resume.is_file() {
                return Err(super::outputs::nothing_to_resume(resume, &self.out));
            }
            let state = super::checkpoint::read_checkpoint_state(resume)?;
            let differences = self.config.differences(&state.config);
            if !differences.is_empty() {
                return Err(super::trainer::another_run(resume, &differences));
            }
        }
        let dir = self.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create the folder for the head: {e}", dir.display()))?;
        // The head's folder, and the resumed checkpoint's when elsewhere: each epoch rewrites it there.
        let checkpoint = self.checkpoint();
        let checkpoint_dir = checkpoint.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        for (dir, what) in [(dir, "the head"), (checkpoint_dir, "the checkpoint")] {
            let probe = dir.join(format!(".{name}.{}.probe", std::process::id()));
            std::fs::write(&probe, b"").map_err(|e| format!("{}: cannot write {what} there: {e}", dir.display()))?;
            let _ = std::fs::remove_file(&probe);
        }
        Ok(())
    }

    /// Trains on `plan` with `grader` (the base model, no head) whose weights
    /// file is `weights`, then fits the temperature and writes the head.
    pub fn run(&self, grader: Grader, weights: &Path, plan: Plan, observer: &mut dyn TrainingObserver) -> Result<Outcome, String> {
        self.check_output()?;
        let lock = match &self.output_lock {
            Some(lock) => lock.clone(),
            None => Arc::new(self.lock_and_check()?),
        };
        // Copies under other names in a validation folder (a split's sides come
        // from one dataset: duplicates inside it are that dataset's own).
        let copies = if plan.validation.is_some() { super::overlap::copies_across(&plan.train, &plan.val, &self.cancel) } else { Vec::new() };
        if let Some((copy, original)) = copies.first() {
            return Err(format!(
                "{} of the {} validation films are copies of training films (e.g. {} has the content of {}); validate on films the model does not train on",
                copies.len(),
                plan.val.len(),
                copy.path.display(),
                original.path.display()
            ));
        }
        // The file is hashed as it streams by, and only the base tensors the
        // run starts from are read (≈ 58 of 605 MB for ViT-B/32): the grader
        // already holds the whole model, packed for its products.
        let base_hash = crate::weights::sha256_file(weights).map_err(|e| format!("{}: {e}", weights.display()))?[..12].to_string();
        let file = SafetensorsFile::open(weights).map_err(|e| e.to_string())?;
        let layers = grader.model().vision().num_layers();
        let base: HashMap<String, candle_core::Tensor> = Trainer::base_tensor_names(layers)
            .into_iter()
            .filter(|n| file.contains_tensor(n))
            .map(|n| Ok((n.clone(), file.get_unchecked(&n, candle_core::DType::F32, grader.device()).map_err(|e| e.to_string())?)))
            .collect::<Result<_, String>>()?;
        drop(file);
        let mut trainer = Trainer::new(self.config.clone());
        trainer.checkpoint = Some(self.checkpoint());
        trainer.resume = self.resume.is_some();
        trainer.cancel = self.cancel.clone();
        trainer.files_lock = self.files_lock.clone();
        trainer.output_lock = Some(lock.clone());
        if let Some(limit) = self.feature_cache_limit {
            trainer.feature_cache_limit = limit;
        }
        let model_id = grader.model_id().to_string();
        let anchors = grader.anchors().anchors.clone();
        let arithmetic = crate::model::device::arithmetic_label(grader.device());
        let split = plan.split();
        let Plan { train, val, dataset, validation, .. } = plan;
        let mut data = TrainData { grader, base, train, val };
        let outcome = trainer.run(&mut data, observer)?;
        if outcome.cancelled {
            return Ok(Outcome::Cancelled { checkpoint: self.checkpoint(), epoch: outcome.checkpoint_epoch });
        }
        let temperature = fit_temperature(&outcome.val_logits, &outcome.val_labels);
        // The last line of defence against a head that would grade nothing.
        let not_finite: Vec<&String> = outcome.tensors.iter().filter(|(_, t)| !crate::model::all_finite(t)).map(|(n, _)| n).collect();
        if !not_finite.is_empty() || !(temperature.is_finite() && temperature > 0.0) {
            return Err(format!(
                "{}: it produced no usable head (non-finite {}); nothing was written. Start again (--restart) with a lower learning rate than {:e}",
                super::trainer::DIVERGED,
                if not_finite.is_empty() { "temperature".to_string() } else { format!("values in {}", not_finite.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) },
                self.config.lr
            ));
        }
        let probs: Vec<Vec<f32>> = outcome.val_logits.iter().map(|r| softmax(r, temperature)).collect();
        let report = EvaluationReport::compute(&outcome.val_labels, &probs);
        // Only for a finished run, after its training: about a second for 6600 films.
        let (train_hashes, val_hashes) = (sidecar::films_sha256(&data.train), sidecar::films_sha256(&data.val));
        let stopped_early = sidecar::stopped_early(&self.config, &outcome.history, outcome.best_epoch);
        let metadata = serde_json::json!({
            "base_model": model_id,
            "base_weights_sha256": base_hash,
            "kneeclip_version": crate::build_info::VERSION,
            "arithmetic": arithmetic,
            "preprocessing": "film model view (gray 0..1) -> Pillow-exact bicubic resize shortest side to 224 -> centre crop 224 -> CLIP mean/std, gray to 3 channels",
            "anchors": anchors,
            "temperature": temperature,
            "config": self.config,
            "class_weights": self.config.class_weighted.then(|| super::trainer::class_weights(&data.train)),
            "run": { "threads": rayon::current_num_threads(), "threads_note": sidecar::THREADS_NOTE },
            "dataset": {
                "train": dataset,
                "validation": validation,
                "split": split,
                "train_film_sha256": train_hashes,
                "validation_film_sha256": val_hashes,
                "film_sha256_note": sidecar::FILM_HASHES_NOTE,
            },
            "best_epoch": outcome.best_epoch,
            "stopped_early": stopped_early.is_some(),
            "stopped_early_why": stopped_early,
            "resumed": outcome.resumed,
            "history": outcome.history,
            "validation_metrics": report,
            "validation_metrics_note": sidecar::VALIDATION_METRICS_NOTE,
        });
        let bytes = safetensors::serialize(outcome.tensors.iter().map(|(k, v)| (k.clone(), TensorView(v.clone()))), None)
            .map_err(|e| e.to_string())?;
        // Ties the sidecar to this head (the head id's hash): a reader refuses a pair not written together.
        let mut metadata = metadata;
        metadata["head_sha256"] = crate::files::short_sha256(&bytes).into();
        let json = serde_json::to_vec_pretty(&metadata).map_err(|e| e.to_string())?;
        // Another run took the files since the last checkpoint (their lock file
        // deleted): the finished head goes beside them, not over that run's.
        let taken = lock.hold().err();
        let head = if taken.is_some() { super::outputs::kept_beside(&self.out) } else { self.out.clone() };
        let sidecar = sidecar_for(&head);
        {
            let _writing = self.files_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            super::outputs::write_head_and_sidecar(&head, &bytes, &sidecar, &json)?;
        }
        if let Some(taken) = taken {
            return Err(format!("{taken}. So as not to write over them, this run's head is written as {} (with its sidecar {})", head.display(), sidecar.display()));
        }
        Ok(Outcome::Written(Written {
            head: self.out.clone(),
            sidecar,
            checkpoint: self.checkpoint(),
            best_epoch: outcome.best_epoch,
            temperature,
            validation_accuracy: report.accuracy.value,
            history: outcome.history,
        }))
    }
}

/// Ends the process at once without cutting a file write in half: waits for a
/// write in progress (they take a second at most), then exits holding the lock.
pub fn exit_between_writes(files_lock: &Mutex<()>, code: i32) -> ! {
    let guard = files_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::forget(guard);
    std::process::exit(code)
}

fn softmax(r: &[f32], t: f64) -> Vec<f32> {
    let m = r.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = r.iter().map(|&v| ((v as f64 - m) / t).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| (v / s) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(temperature: f64, confusion: crate::metrics::Confusion) -> Written {
        let record = EpochRecord { epoch: 2, lr: 0.0, train_loss: 1.0, train_accuracy: 0.2, val_loss: 1.6, val_accuracy: 0.2, val_confusion: confusion, seconds: 1.0 };
        Written { head: "h.safetensors".into(), sidecar: "h.json".into(), checkpoint: "h.checkpoint.safetensors".into(), best_epoch: 2, temperature, validation_accuracy: 0.2, history: vec![record] }
    }

    fn plan(train: [usize; GRADES], val: [usize; GRADES]) -> Plan {
        let films = |counts: [usize; GRADES], side: &str| -> Vec<Film> {
            counts.iter().enumerate().flat_map(|(grade, &n)| (0..n).map(move |i| Film { path: format!("{side}/{grade}/{i}.png").into(), grade })).collect()
        };
        Plan { train: films(train, "t"), val: films(val, "v"), dataset: DatasetSummary::default(), validation: None, method: SplitMethod::Split { fraction: 0.2, seed: 42 } }
    }

    #[test]
    fn grades_with_few_films_are_cautioned_on_each_side() {
        assert!(plan([40; GRADES], [10; GRADES]).warnings().is_empty());
        let w = plan([40, 40, 40, 40, 2], [10, 10, 10, 10, 0]).warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("no films of grade 4"), "{w:?}");
        assert!(w[1].starts_with("few training films of KL 4 (2): a head cannot learn a grade from so few"), "{w:?}");
        let w = plan([9, 40, 40, 40, 10], [10, 1, 10, 4, 5]).warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("few training films of KL 0 (9):"), "{w:?}");
        assert!(w[1].starts_with("few validation films of KL 1 (1), KL 3 (4):"), "{w:?}");
    }

    #[test]
    fn taking_the_outputs_removes_what_a_killed_run_left_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let partial = |name: &str, pid: u32| dir.path().join(format!(".{name}.{pid}.partial"));
        // Pids above any system's limit: no process has them.
        let stale = [partial("h.safetensors", 999_999_999), partial("h.json", 999_999_998), partial("h.checkpoint.safetensors", 999_999_997)];
        let kept = [partial("h.safetensors", std::process::id()), partial("other.safetensors", 999_999_999), dir.path().join(".h.safetensors.x.partial")];
        stale.iter().chain(&kept).for_each(|p| std::fs::write(p, b"half").unwrap());
        let mut session = Session::new(TrainConfig::default(), dir.path().join("h.safetensors"));
        session.prepare().unwrap();
        let mut removed = session.output_lock.as_ref().unwrap().removed_partials.clone();
        removed.sort();
        let mut expected = stale.to_vec();
        expected.sort();
        assert_eq!(removed, expected);
        assert!(stale.iter().all(|p| !p.exists()) && kept.iter().all(|p| p.exists()));
    }

    #[test]
    fn only_a_run_sure_to_go_on_removes_half_written_files_and_long_names_stay_apart() {
        let dir = tempfile::tempdir().unwrap();
        // Two heads whose names share their first 200 bytes: each run's temporary files are its own.
        let (a, b) = (format!("{}_a.safetensors", "p".repeat(200)), format!("{}_b.safetensors", "p".repeat(200)));
        let other = crate::files::partial_path(&dir.path().join(&b), 999_999_999);
        let mine = crate::files::partial_path(&dir.path().join(&a), 999_999_999);
        assert_ne!(other.file_name(), mine.file_name());
        std::fs::write(&other, b"half").unwrap();
        std::fs::write(&mine, b"half").unwrap();
        let mut session = Session::new(TrainConfig::default(), dir.path().join(&a));
        session.prepare().unwrap();
        assert_eq!(session.output_lock.as_ref().unwrap().removed_partials, [mine.clone()]);
        assert!(other.exists() && !mine.exists());
        drop(session);
        // A run refused (an unfinished run's checkpoint beside the head) removes nothing.
        let head = dir.path().join("h.safetensors");
        // A checkpoint's header alone (its state: epoch 1 of 5) is what the refusal reads.
        let state = crate::training::checkpoint::CheckpointState {
            epoch: 1, step: 1, rng: 1, best_val_loss: 1.0, best_epoch: 1, config: TrainConfig { epochs: 5, ..TrainConfig::default() }, history: Vec::new(), films: None, film_sizes: None, film_heads: None, film_list: None, film_salt: None, resumed: Vec::new(),
        };
        let header = serde_json::json!({"__metadata__": {"state": serde_json::to_string(&state).unwrap()}}).to_string();
        std::fs::write(checkpoint_for(&head), [(header.len() as u64).to_le_bytes().as_slice(), header.as_bytes()].concat()).unwrap();
        let stale = crate::files::partial_path(&head, 999_999_999);
        std::fs::write(&stale, b"half").unwrap();
        assert!(Session::new(TrainConfig::default(), head.clone()).prepare().unwrap_err().contains("holds an unfinished run"));
        assert!(stale.exists());
    }

    #[test]
    fn a_head_at_the_temperature_limit_or_giving_one_grade_is_cautioned() {
        let mut one_grade = [[0u64; GRADES]; GRADES];
        (0..GRADES).for_each(|t| one_grade[t][2] = 3);
        let cautions = written(19.9, one_grade).cautions();
        assert_eq!(cautions.len(), 2, "{cautions:?}");
        assert!(cautions[0].contains("temperature is at its limit (19.9)") && cautions[1].contains("every validation film KL 2"), "{cautions:?}");
        let mut spread = one_grade;
        spread[0] = [3, 0, 0, 0, 0];
        assert!(written(1.2, spread).cautions().is_empty());
    }
}
