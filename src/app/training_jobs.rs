//! The training tab's background work, off the UI thread and apart from the
//! viewer's worker: checking a dataset folder ([`ScanJob`]) and a training run
//! ([`RunJob`], which loads its own copy of the model). Each reports over a
//! channel and wakes the UI with `request_repaint`; the tab polls once a frame.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::grading::Grader;
use crate::model::DevicePreference;
use crate::training::session::{Outcome, Plan, Session};
use crate::training::trainer::{EpochRecord, TrainingObserver};
use crate::training::{Dataset, DatasetError};

/// What checking a dataset found: the films (when they could be listed) and
/// why the dataset cannot be used as it is (a missing folder, a wrong layout,
/// a grade without films).
pub struct Scanned {
    pub dataset: Option<Dataset>,
    pub refusal: Option<String>,
}

enum ScanEvent {
    Progress { checked: usize, listed: usize },
    Done(Scanned),
}

/// Lists and opens every film of a dataset on its own thread.
pub struct ScanJob {
    pub path: PathBuf,
    rx: Receiver<ScanEvent>,
    stop: Arc<AtomicBool>,
    /// Films checked so far and films listed.
    pub progress: (usize, usize),
}

impl ScanJob {
    pub fn start(ctx: &egui::Context, path: PathBuf) -> ScanJob {
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (ctx, dir, stopped) = (ctx.clone(), path.clone(), stop.clone());
        std::thread::Builder::new()
            .name("kneeclip-dataset-check".into())
            .spawn(move || {
                let mut report = |checked: usize, listed: usize| {
                    // A message every 25 films is enough for a progress bar.
                    if checked % 25 == 0 || checked == listed {
                        let _ = tx.send(ScanEvent::Progress { checked, listed });
                        ctx.request_repaint();
                    }
                    !stopped.load(Ordering::Relaxed)
                };
                let scanned = match Dataset::scan(&dir, true, &mut report) {
                    Ok(dataset) => Scanned { refusal: dataset.refusal().map(|r| r.to_string()), dataset: Some(dataset) },
                    Err(DatasetError::Stopped(_)) => return,
                    Err(e) => Scanned { dataset: None, refusal: Some(e.to_string()) },
                };
                let _ = tx.send(ScanEvent::Done(scanned));
                ctx.request_repaint();
            })
            .expect("spawn the dataset check thread");
        ScanJob { path, rx, stop, progress: (0, 0) }
    }

    /// The result once the check is done.
    pub fn poll(&mut self) -> Option<Scanned> {
        while let Ok(event) = self.rx.try_recv() {
            match event {
                ScanEvent::Progress { checked, listed } => self.progress = (checked, listed),
                ScanEvent::Done(scanned) => return Some(scanned),
            }
        }
        None
    }
}

impl Drop for ScanJob {
    /// A check nobody waits for any more (another folder was chosen) stops.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What a training run tells the tab.
pub enum RunEvent {
    /// The model is loaded; training starts.
    Started,
    EpochStarted { epoch: usize, epochs: usize },
    Batch { batch: usize, batches: usize, loss: f64 },
    Epoch(EpochRecord),
    /// The epochs a resumed run had finished before.
    Resumed(Vec<EpochRecord>),
    Message(String),
    Finished(Result<Outcome, String>),
}

struct ChannelObserver {
    tx: Sender<RunEvent>,
    ctx: egui::Context,
}

impl ChannelObserver {
    fn send(&self, event: RunEvent) {
        let _ = self.tx.send(event);
        self.ctx.request_repaint();
    }
}

impl TrainingObserver for ChannelObserver {
    fn epoch_started(&mut self, epoch: usize, epochs: usize) {
        self.send(RunEvent::EpochStarted { epoch, epochs });
    }
    fn batch_done(&mut self, batch: usize, batches: usize, loss: f64) {
        self.send(RunEvent::Batch { batch, batches, loss });
    }
    fn epoch_finished(&mut self, record: &EpochRecord) {
        self.send(RunEvent::Epoch(record.clone()));
    }
    fn message(&mut self, text: &str) {
        self.send(RunEvent::Message(text.to_owned()));
    }
    fn resumed(&mut self, history: &[EpochRecord]) {
        self.send(RunEvent::Resumed(history.to_vec()));
    }
}

/// Which model a run trains on: the folder the viewer would load.
#[derive(Clone, Debug)]
pub struct ModelChoice {
    pub model_dir: Option<PathBuf>,
    pub device: DevicePreference,
}

/// A training run on its own thread.
pub struct RunJob {
    rx: Receiver<RunEvent>,
    pub cancel: Arc<AtomicBool>,
    files_lock: Arc<Mutex<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RunJob {
    pub fn start(ctx: &egui::Context, model: ModelChoice, plan: Plan, session: Session) -> RunJob {
        let (tx, rx) = channel();
        let (cancel, files_lock) = (session.cancel.clone(), session.files_lock.clone());
        let mut observer = ChannelObserver { tx, ctx: ctx.clone() };
        let thread = std::thread::Builder::new()
            .name("kneeclip-training".into())
            .spawn(move || {
                let result = load_base(&model).and_then(|(grader, weights)| {
                    observer.send(RunEvent::Started);
                    session.run(grader, &weights, plan, &mut observer)
                });
                observer.send(RunEvent::Finished(result));
            })
            .expect("spawn the training thread");
        RunJob { rx, cancel, files_lock, thread: Some(thread) }
    }

    pub fn try_recv(&self) -> Option<RunEvent> {
        self.rx.try_recv().ok()
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Drop for RunJob {
    /// The tab goes away (the window closes) during a run: stop it, and make
    /// sure the process cannot end half-way through writing a checkpoint by
    /// keeping the run's file lock for good (waits for a write in progress).
    fn drop(&mut self) {
        let running = self.thread.as_ref().is_some_and(|t| !t.is_finished());
        if running {
            self.cancel();
            std::mem::forget(self.files_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        }
    }
}

/// The base model (no head) from the viewer's model folder, and its weights file.
fn load_base(model: &ModelChoice) -> Result<(Grader, PathBuf), String> {
    use crate::weights::{NoProgress, ResolveOptions, resolve};
    let options = ResolveOptions { model_dir: model.model_dir.clone(), model_dir_from_viewer: false, allow_download: false, endpoint: None, cache_dir: None, data_dirs: None };
    let files = resolve(&options, &mut NoProgress).map_err(|e| e.to_string())?;
    let (device, _note) = crate::model::select_device(model.device);
    let grader = Grader::load(&files.config, &files.weights, &files.tokenizer, files.model_id.clone(), &device)
        .map_err(|e| format!("{}: {e}", files.dir.display()))?;
    Ok((grader, files.weights))
}

/// The default head path for a dataset: `<user data>/heads/<dataset name>-head.safetensors`.
pub fn default_head_path(dataset: &Path) -> PathBuf {
    let name = dataset.file_stem().and_then(|n| n.to_str()).filter(|n| !n.is_empty()).unwrap_or("kneeclip");
    let dir = directories::ProjectDirs::from("org", "kneeclip", "kneeclip")
        .map(|p| p.data_dir().join("heads"))
        .unwrap_or_else(|| PathBuf::from("heads"));
    dir.join(format!("{name}-head.safetensors"))
}
