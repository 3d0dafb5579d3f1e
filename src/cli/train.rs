//! `kneeclip train`: fine-tune a head (last two vision blocks + adapter +
//! logit scale) on a labelled dataset and write it with its JSON sidecar.
//!
//! Checkpoint each epoch at `<out>.checkpoint.safetensors` (atomic); resume
//! with `--resume`. There is no Ctrl-C handler (no signal crate among the
//! dependencies): an interrupted run resumes from the last checkpoint.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE, ModelArgs};
use crate::metrics::EvaluationReport;
use crate::training::trainer::{EpochRecord, TensorView, TrainConfig, TrainData, Trainer, TrainingObserver, fit_temperature};
use crate::training::{Dataset, stratified_split};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Validation folder (default: a stratified, patient-grouped 20% split of DATASET).
    #[arg(long, value_name = "DIR")]
    pub val: Option<PathBuf>,
    /// Where to write the head (safetensors); its metadata goes to the same name with .json.
    #[arg(long, value_name = "HEAD")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Weight the loss by inverse grade frequency.
    #[arg(long)]
    pub class_weighted: bool,
    /// Stratified, patient-grouped k-fold: number of folds (needs --fold; ignores --val).
    #[arg(long, value_name = "K", requires = "fold")]
    pub folds: Option<usize>,
    /// Which fold (0-based) is the validation set with --folds.
    #[arg(long, value_name = "I", requires = "folds")]
    pub fold: Option<usize>,
    /// Weight W of the flip-consistency term (0 = off).
    #[arg(long, value_name = "W", default_value_t = 0.0)]
    pub flip_consistency: f64,
    /// Rotation angles (degrees, comma-separated) of the training views, each also
    /// mirrored; the frozen features of every view are cached in memory (f16,
    /// 76.8 KB per view at full size), so fewer angles use less memory.
    #[arg(long, value_delimiter = ',', default_values_t = vec![-10.0f32, -5.0, 0.0, 5.0, 10.0], allow_hyphen_values = true)]
    pub angles: Vec<f32>,
    /// Adapter bottleneck width.
    #[arg(long, default_value_t = 128)]
    pub bottleneck: usize,
    /// Resume from this checkpoint (and keep checkpointing to it).
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// A folder with one subfolder per grade (0..4), or a CSV `path,grade`.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,
}

pub fn run(args: &TrainArgs) -> i32 {
    match train(args) {
        Ok(true) => EXIT_OK,
        Ok(false) => EXIT_SOME_FAILED,
        Err(message) => {
            eprintln!("kneeclip: {message}");
            EXIT_UNUSABLE
        }
    }
}

struct Progress;

impl TrainingObserver for Progress {
    fn epoch_started(&mut self, epoch: usize, epochs: usize) {
        eprintln!("epoch {epoch}/{epochs}");
    }
    fn batch_done(&mut self, batch: usize, batches: usize, loss: f64) {
        let width = 30;
        let done = batch * width / batches.max(1);
        eprint!("\r  [{}{}] {batch}/{batches} loss {loss:.4}", "#".repeat(done), "-".repeat(width - done));
        if batch == batches {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    }
    fn epoch_finished(&mut self, r: &EpochRecord) {
        eprintln!(
            "epoch {}: train loss {:.4} acc {:.3} | val loss {:.4} acc {:.3} | lr {:.2e} | {:.1} s",
            r.epoch, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.lr, r.seconds
        );
    }
    fn message(&mut self, text: &str) {
        eprintln!("kneeclip: {text}");
    }
}

fn train(args: &TrainArgs) -> Result<bool, String> {
    let full = Dataset::open(&args.dataset, true).map_err(|e| e.to_string())?;
    for (file, why) in &full.summary.unreadable {
        eprintln!("kneeclip: skipped unreadable {file}: {why}");
    }
    let (train, val, val_summary) = match (&args.val, args.folds.zip(args.fold)) {
        (_, Some((k, fold))) => {
            if k < 2 || fold >= k {
                return Err(format!("--folds {k} --fold {fold}: need k >= 2 and 0 <= fold < k"));
            }
            let paths: Vec<&Path> = full.films.iter().map(|f| f.path.as_path()).collect();
            let folds = crate::training::stratified_k_fold(&paths, &full.grades(), k, args.seed);
            let (v, t): (Vec<_>, Vec<_>) = full.films.iter().cloned().zip(folds).partition(|(_, f)| *f == fold);
            (t.into_iter().map(|x| x.0).collect(), v.into_iter().map(|x| x.0).collect(), None)
        }
        (Some(dir), None) => {
            let v = Dataset::open(dir, true).map_err(|e| e.to_string())?;
            (full.films.clone(), v.films, Some(v.summary))
        }
        (None, None) => {
            let paths: Vec<&Path> = full.films.iter().map(|f| f.path.as_path()).collect();
            let (t, v) = stratified_split(&paths, &full.grades(), 0.2, args.seed);
            let pick = |ix: &[usize]| ix.iter().map(|&i| full.films[i].clone()).collect::<Vec<_>>();
            (pick(&t), pick(&v), None)
        }
    };
    if val.is_empty() {
        return Err("the validation set is empty; pass --val DIR or use a larger dataset".into());
    }
    eprintln!("kneeclip: {} training films, {} validation films; films per grade {:?}", train.len(), val.len(), full.summary.films_per_grade);
    let files = resolve(&args.model)?;
    let grader = super::load_base_grader(&args.model)?;
    let base_bytes = std::fs::read(&files.weights).map_err(|e| format!("{}: {e}", files.weights.display()))?;
    let base_hash = crate::files::short_sha256(&base_bytes);
    let base: HashMap<String, candle_core::Tensor> =
        candle_core::safetensors::load_buffer(&base_bytes, grader.device()).map_err(|e| e.to_string())?;
    drop(base_bytes);
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        class_weighted: args.class_weighted,
        bottleneck: args.bottleneck,
        flip_consistency: args.flip_consistency,
        angles: args.angles.clone(),
        ..Default::default()
    };
    let mut trainer = Trainer::new(config.clone());
    trainer.checkpoint = Some(args.resume.clone().unwrap_or_else(|| args.out.with_extension("checkpoint.safetensors")));
    trainer.resume = args.resume.is_some();
    let model_id = grader.model_id().to_string();
    let anchors = grader.anchors().anchors.clone();
    let mut data = TrainData { grader, base, train, val };
    let outcome = trainer.run(&mut data, &mut Progress)?;
    if outcome.cancelled {
        eprintln!("kneeclip: cancelled; resume with --resume {}", trainer.checkpoint.unwrap().display());
        return Ok(false);
    }
    let temperature = fit_temperature(&outcome.val_logits, &outcome.val_labels);
    let probs: Vec<Vec<f32>> = outcome.val_logits.iter().map(|r| softmax(r, temperature)).collect();
    let report = EvaluationReport::compute(&outcome.val_labels, &probs);
    let metadata = serde_json::json!({
        "base_model": model_id,
        "base_weights_sha256": base_hash,
        "preprocessing": "film model view (gray 0..1) -> Pillow-exact bicubic resize shortest side to 224 -> centre crop 224 -> CLIP mean/std, gray to 3 channels",
        "anchors": anchors,
        "temperature": temperature,
        "config": config,
        "dataset": { "train": full.summary, "validation": val_summary },
        "best_epoch": outcome.best_epoch,
        "history": outcome.history,
        "validation_metrics": report,
    });
    let json = serde_json::to_vec_pretty(&metadata).map_err(|e| e.to_string())?;
    let sidecar = args.out.with_extension("json");
    crate::files::write_atomically(&sidecar, &json).map_err(|e| format!("{}: {e}", sidecar.display()))?;
    let bytes = safetensors::serialize(outcome.tensors.iter().map(|(k, v)| (k.clone(), TensorView(v.clone()))), None)
        .map_err(|e| e.to_string())?;
    crate::files::write_atomically(&args.out, &bytes).map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!(
        "kneeclip: wrote {} (best epoch {}, temperature {temperature:.3}, validation accuracy {:.3})",
        args.out.display(),
        outcome.best_epoch,
        report.accuracy.value
    );
    Ok(true)
}

fn softmax(r: &[f32], t: f64) -> Vec<f32> {
    let m = r.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = r.iter().map(|&v| ((v as f64 - m) / t).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| (v / s) as f32).collect()
}

fn resolve(args: &ModelArgs) -> Result<crate::weights::ModelFiles, String> {
    use crate::weights::{ResolveOptions, StderrProgress, resolve};
    let options = ResolveOptions { model_dir: args.model_dir.clone(), allow_download: !args.offline, endpoint: None, cache_dir: None };
    resolve(&options, &mut StderrProgress::default()).map_err(|e| e.to_string())
}
