//! `kneeclip train`: fine-tune a head (last two vision blocks + adapter +
//! logit scale) on a labelled dataset and write it with its JSON sidecar.
//!
//! Checkpoint each epoch at `<out>.checkpoint.safetensors` (atomic); resume
//! with `--resume`. The first Ctrl-C stops the run cleanly (the unfinished
//! epoch is dropped, the last complete checkpoint kept, exit 130); a second
//! one quits at once, though never in the middle of writing a file.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::Args;

use super::{EXIT_INTERRUPTED, EXIT_OK, EXIT_UNUSABLE, ModelArgs};
use crate::training::session::{Outcome, Plan, Session, Validation, exit_between_writes};
use crate::training::trainer::{EarlyStopOn, EpochRecord, TrainConfig, TrainingObserver};
use crate::training::eta::RunClock;
use crate::training::{Dataset, DatasetError};

/// `train --help`'s closing paragraph.
pub const TRAIN_HELP: &str = "\
Examples:
  kneeclip train ~/knee-films --out clinic-head.safetensors
  kneeclip train ~/knee-films --out clinic-head.safetensors --epochs 20 --batch-size 32
  kneeclip train ~/knee-films --out clinic-head.safetensors --resume clinic-head.checkpoint.safetensors

Exit status: 0 when the head and its .json sidecar are written (films that
could not be read are skipped, named in the dataset summary, and do not change
the status); 2 when the dataset, model or options are unusable, the run is
refused (an existing head without --overwrite, an unfinished run's checkpoint
without --resume or --restart, another run writing the same files), or a write
fails; 130 when stopped with Ctrl-C, SIGTERM or a hang-up (not ignored, as
under nohup): the last complete epoch's checkpoint is kept and the command
that resumes it printed.";


/// Whether the progress bar's line is still open (a message must start a new one).
static PROGRESS_LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// Set once a stop is asked for: the batch in flight is dropped, so its
/// progress is not shown (a batch line after "stopping" read as training on).
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Ends the progress bar's line if one is open, so a message starts on its own.
fn end_progress_line() {
    if PROGRESS_LINE_OPEN.swap(false, Ordering::SeqCst) {
        eprintln!();
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Validation folder (default: a stratified, patient-grouped 20% split of DATASET).
    #[arg(long, value_name = "DIR", conflicts_with = "folds")]
    pub val: Option<PathBuf>,
    /// Where to write the head (safetensors); its metadata goes to the same name with .json.
    #[arg(long, value_name = "HEAD")]
    pub out: PathBuf,
    /// Epochs to train (fewer when early stopping ends the run); the
    /// learning-rate schedule is laid over this many.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Training films per optimiser step (the last batch of an epoch may be smaller).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Peak learning rate of AdamW, annealed per step to 0 by a cosine over
    /// all the run's steps (epochs × batches; no warm-up).
    #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-5, allow_negative_numbers = true)]
    pub weight_decay: f64,
    /// Stop after this many epochs without improvement of the early-stopping
    /// figure [default: 5; resuming: the checkpoint's run's own].
    #[arg(long)]
    pub patience: Option<usize>,
    /// The validation figure that picks the best epoch and drives early stopping.
    #[arg(long, value_enum, default_value_t = EarlyStopOn::Loss)]
    pub early_stop_on: EarlyStopOn,
    /// Seeds every draw of the run: the validation split or folds, the
    /// adapter's initial weights, the order of the films each epoch, and each
    /// training view's flip and angle. The same seed gives the same head only
    /// with the same thread count (RAYON_NUM_THREADS, recorded in the sidecar)
    /// and arithmetic.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Weight the loss by inverse grade frequency.
    #[arg(long)]
    pub class_weighted: bool,
    /// Stratified, patient-grouped k-fold: number of folds (needs --fold; not with --val).
    #[arg(long, value_name = "K", requires = "fold")]
    pub folds: Option<usize>,
    /// Which fold (0-based) is the validation set with --folds.
    #[arg(long, value_name = "I", requires = "folds")]
    pub fold: Option<usize>,
    /// Weight W of the flip-consistency term (0 = off).
    #[arg(long, value_name = "W", default_value_t = 0.0, allow_negative_numbers = true)]
    pub flip_consistency: f64,
    /// Rotation angles (degrees, comma-separated) of the training views, each also
    /// mirrored; the frozen features of every view are cached in memory (f16,
    /// 76.8 KB per view at full size), so fewer angles use less memory.
    #[arg(long, value_delimiter = ',', default_value = "-10,-5,0,5,10", allow_hyphen_values = true)]
    pub angles: Vec<f32>,
    /// Memory for the cached frozen features, in GB (default: half of this
    /// machine's memory; 0 caches nothing). Past it, views are computed again
    /// when next drawn: slower epochs, the same results.
    #[arg(long, value_name = "GB", allow_negative_numbers = true)]
    pub feature_cache_gb: Option<f64>,
    /// Adapter bottleneck width.
    #[arg(long, default_value_t = 128)]
    pub bottleneck: usize,
    /// Resume from this checkpoint (and keep checkpointing to it).
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// Start afresh where the checkpoint beside --out holds an unfinished run
    /// (cancelled or failed): it is replaced, and its epochs lost. Without
    /// this (or --resume) such a checkpoint is not touched.
    #[arg(long, conflicts_with = "resume")]
    pub restart: bool,
    /// Append one JSON object per finished epoch to this file (epoch,
    /// train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds,
    /// best_epoch so far), flushed each epoch: a stopped run keeps its curve.
    #[arg(long, value_name = "FILE.jsonl")]
    pub log: Option<PathBuf>,
    /// Write the validation films as a `path,grade` CSV (absolute paths; on
    /// this machine only: the sidecar names no film), which `kneeclip eval` reads as a dataset.
    #[arg(long, value_name = "FILE.csv")]
    pub split_out: Option<PathBuf>,
    /// Replace an existing head (and its sidecar) at --out; without this a
    /// run to an existing head is refused, unless it resumes the run that wrote it.
    #[arg(long)]
    pub overwrite: bool,
    /// A folder with one subfolder per grade (0..4), or a CSV `path,grade`.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,
}

pub fn run(args: &TrainArgs) -> i32 {
    let cancel = Arc::new(AtomicBool::new(false));
    let files_lock = Arc::new(Mutex::new(()));
    install_ctrl_c(cancel.clone(), files_lock.clone());
    let started = std::time::SystemTime::now();
    let outcome = train(args, cancel.clone(), files_lock);
    end_progress_line();
    match outcome {
        Ok(Outcome::Written(w)) => {
            eprintln!(
                "kneeclip: wrote {} (best epoch {}, temperature {:.3}, validation accuracy {:.3})",
                w.head.display(),
                w.best_epoch,
                w.temperature,
                w.validation_accuracy
            );
            for caution in w.cautions() {
                eprintln!("kneeclip: caution: {caution}");
            }
            EXIT_OK
        }
        Ok(Outcome::Cancelled { checkpoint, epoch }) => {
            match epoch {
                Some(epoch) => eprintln!(
                    "kneeclip: cancelled; no head was written. {} holds the last complete epoch ({epoch}); resume with:\n  {}\n(or add --restart instead of --resume to start over, losing it)",
                    checkpoint.display(),
                    resume_command(&checkpoint)
                ),
                None => eprintln!("kneeclip: cancelled before the first epoch finished; no checkpoint or head was written"),
            }
            EXIT_INTERRUPTED
        }
        Err(message) if cancel.load(Ordering::SeqCst) => {
            eprintln!("kneeclip: {message}");
            // Stopped after an epoch this run completed (even its last, during
            // the final validation): say how to go on from it.
            let checkpoint = args.resume.clone().unwrap_or_else(|| crate::training::session::checkpoint_for(&args.out));
            if let Some(epoch) = crate::training::outputs::kept_by_failed_run(&checkpoint, started, &message) {
                // All the epochs asked for may be done: resuming then writes the head from them.
                eprintln!("kneeclip: {} holds the last complete epoch ({epoch}); no head was written. Resume with:\n  {}", checkpoint.display(), resume_command(&checkpoint));
            }
            EXIT_INTERRUPTED
        }
        Err(message) => {
            eprintln!("kneeclip: {message}");
            // An epoch this run completed is not lost: say how to go on from it.
            let checkpoint = args.resume.clone().unwrap_or_else(|| crate::training::session::checkpoint_for(&args.out));
            if let Some(epoch) = crate::training::outputs::kept_by_failed_run(&checkpoint, started, &message) {
                eprintln!(
                    "kneeclip: {} holds the last complete epoch ({epoch}); once that is put right, resume with:\n  {}",
                    checkpoint.display(),
                    resume_command(&checkpoint)
                );
            }
            EXIT_UNUSABLE
        }
    }
}

/// First Ctrl-C (or SIGTERM, or a hang-up): ask the run to stop. Second:
/// quit now (between file writes). A hang-up that `nohup` ignored stays ignored.
fn install_ctrl_c(cancel: Arc<AtomicBool>, files_lock: Arc<Mutex<()>>) {
    let installed = super::interrupt::on_stop_signal(
        cancel,
        || {
            STOPPING.store(true, Ordering::SeqCst);
            PROGRESS_LINE_OPEN.store(false, Ordering::SeqCst);
            eprintln!("\nkneeclip: stopping: nothing half-done is kept, only complete epochs' checkpoint (a second Ctrl-C or signal quits at once)");
        },
        move || {
            eprintln!("\nkneeclip: quitting at once");
            exit_between_writes(&files_lock, EXIT_INTERRUPTED);
        },
    );
    if let Err(e) = installed {
        eprintln!("kneeclip: Ctrl-C cannot stop the run cleanly ({e}); resume from the last checkpoint after an interruption");
    }
}

/// This command line with `--resume CHECKPOINT` in place of any earlier
/// `--resume` and without `--restart` (the two cannot go together).
fn resume_command(checkpoint: &std::path::Path) -> String {
    // The program as it was started (`./kneeclip`, a full path), so that the line runs as printed.
    let mut args = std::env::args();
    let mut words = vec![args.next().unwrap_or_else(|| "kneeclip".into())];
    while let Some(arg) = args.next() {
        if arg == "--resume" {
            args.next(); // its value
        } else if !arg.starts_with("--resume=") && arg != "--restart" {
            words.push(arg);
        }
    }
    words.push("--resume".into());
    words.push(checkpoint.display().to_string());
    words.iter().map(|w| crate::files::shell_quote(w)).collect::<Vec<_>>().join(" ")
}

/// Progress on stderr: a bar redrawn with `\r` on a terminal; in a log
/// (stderr redirected to a file), a plain line at each tenth of an epoch, as
/// eval's progress does, so the log holds no run of carriage returns.
struct Progress {
    clock: RunClock,
    terminal: bool,
    /// Batches shown so far in this epoch (in a log).
    shown: usize,
    /// --log's file, and the figure that picks the best epoch.
    log: Option<EpochLog>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { clock: RunClock::default(), terminal: std::io::stderr().is_terminal(), shown: 0, log: None }
    }
}

/// `--log FILE.jsonl`: one line per finished epoch, appended and flushed.
struct EpochLog {
    file: std::fs::File,
    path: PathBuf,
    early_stop_on: EarlyStopOn,
    best: Option<EpochRecord>,
    /// A write failed: said once, the run goes on.
    failed: bool,
}

impl EpochLog {
    fn open(path: &std::path::Path, early_stop_on: EarlyStopOn) -> Result<EpochLog, String> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("{}: cannot write the --log file: {e}", path.display()))?;
        Ok(EpochLog { file, path: path.to_path_buf(), early_stop_on, best: None, failed: false })
    }

    /// The best epoch so far, as the trainer picks it.
    fn see(&mut self, r: &EpochRecord) {
        if self.early_stop_on.improves(r, self.best.as_ref()) {
            self.best = Some(r.clone());
        }
    }

    fn write(&mut self, r: &EpochRecord) {
        self.see(r);
        let best = self.best.as_ref();
        let line = serde_json::json!({
            "epoch": r.epoch,
            "train_loss": r.train_loss,
            "train_accuracy": r.train_accuracy,
            "val_loss": r.val_loss,
            "val_accuracy": r.val_accuracy,
            "lr": r.lr,
            "seconds": r.seconds,
            "best_epoch": best.map(|b| b.epoch),
            "best_val_loss": best.map(|b| b.val_loss),
            "best_val_accuracy": best.map(|b| b.val_accuracy),
        });
        let written = writeln!(self.file, "{line}").and_then(|()| self.file.flush());
        if let (Err(e), false) = (written, self.failed) {
            self.failed = true;
            eprintln!("kneeclip: warning: cannot write the --log file {}: {e}; training goes on", self.path.display());
        }
    }
}

impl TrainingObserver for Progress {
    fn epoch_started(&mut self, epoch: usize, epochs: usize) {
        eprintln!("epoch {epoch}/{epochs}");
        self.clock.epoch_started(epoch, epochs);
    }
    fn batch_done(&mut self, batch: usize, batches: usize, loss: f64) {
        if STOPPING.load(Ordering::SeqCst) {
            return;
        }
        let width = 30;
        let done = batch * width / batches.max(1);
        let left = self.clock.remaining(batch, batches).map(|r| format!(" · {}", r.describe())).unwrap_or_default();
        if !self.terminal {
            let tenth = |b: usize| b * 10 / batches.max(1);
            if batch < self.shown {
                self.shown = 0; // a new epoch
            }
            if tenth(batch) > tenth(self.shown) || batch == batches {
                eprintln!("  batch {batch}/{batches} loss {loss:.4}{left}");
                self.shown = batch;
            }
            return;
        }
        // Padded: the line is rewritten in place and the estimate's length varies.
        eprint!("\r  [{}{}] {batch}/{batches} loss {loss:.4}{left:<40}", "#".repeat(done), "-".repeat(width - done));
        PROGRESS_LINE_OPEN.store(true, Ordering::SeqCst);
        if batch == batches {
            end_progress_line();
        }
        let _ = std::io::stderr().flush();
    }
    fn resumed(&mut self, history: &[EpochRecord]) {
        history.iter().for_each(|r| self.clock.epoch_finished(r.epoch, r.seconds));
        if let Some(log) = &mut self.log {
            history.iter().for_each(|r| log.see(r));
        }
    }
    fn epoch_finished(&mut self, r: &EpochRecord) {
        self.clock.epoch_finished(r.epoch, r.seconds);
        if let Some(log) = &mut self.log {
            log.write(r);
        }
        eprintln!(
            "epoch {}: train loss {:.4} acc {:.3} | val loss {:.4} acc {:.3} | lr {:.2e} | {:.1} s",
            r.epoch, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.lr, r.seconds
        );
    }
    fn message(&mut self, text: &str) {
        end_progress_line();
        eprintln!("kneeclip: {text}");
    }
}

/// Lists and checks a dataset's films (stoppable with Ctrl-C), then refuses
/// it when a grade has no films.
fn open_dataset(path: &std::path::Path, cancel: &AtomicBool) -> Result<Dataset, String> {
    let dataset = Dataset::scan(path, true, &mut |_, _| !cancel.load(Ordering::Relaxed)).map_err(|e| match e {
        DatasetError::Stopped(_) => "cancelled while checking the dataset; nothing was written".to_string(),
        e => e.to_string(),
    })?;
    for (file, why) in &dataset.summary.unreadable {
        eprintln!("kneeclip: skipped unreadable {file}: {why}");
    }
    for (folder, why) in dataset.summary.left_out.iter().chain(&dataset.summary.notes) {
        eprintln!("kneeclip: warning: {folder}: {why}");
    }
    for (file, caution) in &dataset.summary.cautioned {
        eprintln!("kneeclip: kept, but check {file}: {caution}");
    }
    if let Some(note) = dataset.summary.not_films_note() {
        eprintln!("kneeclip: warning: {note}");
    }
    if let Some(first) = dataset.summary.wide.first() {
        eprintln!("kneeclip: warning: {} (e.g. {first})", crate::grading::regions::wide_films_note(dataset.summary.wide.len(), "is trained on"));
    }
    match dataset.refusal() {
        Some(refusal) => Err(refusal.to_string()),
        None => Ok(dataset),
    }
}

fn train(args: &TrainArgs, cancel: Arc<AtomicBool>, files_lock: Arc<Mutex<()>>) -> Result<Outcome, String> {
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        weight_decay: args.weight_decay,
        patience: patience(args),
        early_stop_on: args.early_stop_on,
        seed: args.seed,
        class_weighted: args.class_weighted,
        bottleneck: args.bottleneck,
        flip_consistency: args.flip_consistency,
        angles: args.angles.clone(),
        ..Default::default()
    };
    let feature_cache_limit = match args.feature_cache_gb {
        Some(gb) if !(gb.is_finite() && gb >= 0.0) => return Err(format!("--feature-cache-gb {gb}: give a size in GB, 0 or more")),
        gb => gb.map(|gb| (gb * 1e9) as u64),
    };
    let mut session = Session { resume: args.resume.clone(), cancel, files_lock, feature_cache_limit, restart: args.restart, ..Session::new(config, args.out.clone()) };
    // Before the datasets are checked and the model loaded: fail in seconds, not after an epoch.
    // The output's name first, then what it would replace, then its lock (which removes
    // half-written files: only once nothing refuses the run).
    session.check_output()?;
    refuse_to_replace(args)?;
    session.take_outputs()?;
    if let Some(line) = session.output_lock.as_ref().and_then(|l| crate::training::outputs::removed_partials_message(&l.removed_partials)) {
        eprintln!("kneeclip: {line}");
    }
    if session.output_lock.as_ref().is_some_and(|l| l.unlocked) {
        eprintln!("kneeclip: warning: this file system takes no locks: nothing stops another run from writing {} at the same time", args.out.display());
    }
    if args.model.device == super::DeviceArg::Cuda {
        super::device_for(args.model.device)?; // no CUDA: said now, not after the films are checked
    }
    // Opened now: a log that cannot be written is refused before the films are checked.
    let log = args.log.as_deref().map(|path| EpochLog::open(path, args.early_stop_on)).transpose()?;
    let full = open_dataset(&args.dataset, &session.cancel)?;
    let validation = match (&args.val, args.folds.zip(args.fold)) {
        (_, Some((k, fold))) => Validation::Fold { k, fold },
        (Some(dir), None) => Validation::Folder(open_dataset(dir, &session.cancel)?),
        (None, None) => Validation::Split { fraction: 0.2 },
    };
    let plan = Plan::new(&full, validation, args.seed)?;
    if let Some(path) = &args.split_out {
        write_split(path, &plan.val)?;
        eprintln!("kneeclip: wrote the {} validation films to {} (path,grade)", plan.val.len(), path.display());
    }
    let sides = &full.summary.knee_sides;
    eprintln!("kneeclip: {}", plan.describe());
    eprintln!("kneeclip: knee sides per grade: left {:?}, right {:?}, not in the name {:?}", sides.left, sides.right, sides.unknown);
    for warning in plan.warnings() {
        eprintln!("kneeclip: warning: {warning}");
    }
    let files = resolve(&args.model, &session.cancel)?;
    let grader = super::load_base_grader(&args.model)?;
    session.run(grader, &files.weights, plan, &mut Progress { log, ..Progress::default() })
}

/// `--split-out`: the validation films as a `path,grade` CSV that eval reads
/// back (absolute paths, so that it reads from anywhere).
fn write_split(path: &std::path::Path, films: &[crate::training::Film]) -> Result<(), String> {
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        return Err(format!("{}: --split-out writes CSV; name it FILE.csv", path.display()));
    }
    let field = |s: &str| if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
    let mut csv = String::from("path,grade\n");
    for film in films {
        let full = std::fs::canonicalize(&film.path).unwrap_or_else(|_| film.path.clone());
        csv += &format!("{},{}\n", field(&full.display().to_string()), film.grade);
    }
    crate::files::write_atomically(path, csv.as_bytes()).map_err(|e| format!("{}: cannot write the validation films: {e}", path.display()))
}

/// --patience, or resuming without it the checkpoint's run's own: the
/// default 5 would end at once a run that went on waiting longer (QA: a run
/// with --patience 1000 resumed without it wrote its head without training).
fn patience(args: &TrainArgs) -> usize {
    let resumed = || args.resume.as_deref().and_then(|ck| crate::training::checkpoint::checkpoint_config(ck).ok()).map(|c| c.patience);
    args.patience.or_else(resumed).unwrap_or(TrainConfig::default().patience)
}

/// Refuses, before training, a head or sidecar already at --out (perhaps not
/// kneeclip's at all) unless --overwrite says to replace it, or the run
/// resumed is the one that wrote it.
fn refuse_to_replace(args: &TrainArgs) -> Result<(), String> {
    use crate::training::outputs::{head_of_run, sidecar_for};
    if args.overwrite || args.resume.as_ref().is_some_and(|ck| head_of_run(&args.out, ck)) {
        return Ok(());
    }
    let sidecar = sidecar_for(&args.out);
    match [&args.out, &sidecar].into_iter().find(|f| f.symlink_metadata().is_ok()) {
        Some(file) => Err(format!(
            "{}: exists, and this run would replace it{}; give --overwrite to replace it, or choose another --out",
            file.display(),
            match (*file == args.out, sidecar.symlink_metadata().is_ok()) {
                (true, true) => format!(" (and its sidecar {})", sidecar.display()),
                (true, false) => String::new(),
                (false, _) => format!(" (the sidecar of the head {})", args.out.display()),
            }
        )),
        None => Ok(()),
    }
}

/// The model's files, downloading them on a first run; Ctrl-C stops the
/// download as it stops a run (the part received is kept for the next).
fn resolve(args: &ModelArgs, cancel: &Arc<AtomicBool>) -> Result<crate::weights::ModelFiles, String> {
    use crate::weights::{ResolveOptions, StderrProgress, resolve};
    let options = ResolveOptions { model_dir: args.model_dir.clone(), model_dir_from_viewer: false, allow_download: crate::weights::offline_reason(args.offline).is_none(), endpoint: None, cache_dir: None, data_dirs: None };
    resolve(&options, &mut StderrProgress::default().with_cancel_flag(cancel.clone())).map_err(|e| e.to_string())
}
