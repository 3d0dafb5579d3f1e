//! The "Training" tab: choose a dataset (and optionally a validation folder),
//! see what it holds, set the options, train a head on a background thread
//! with live loss/accuracy curves and the validation confusion matrix, cancel
//! at any moment, and hand the finished head to the viewer.

use std::path::{Path, PathBuf};

use egui::{Color32, RichText};

use super::training_charts::{accuracy_plot, confusion, loss_plot};
use super::training_form::{check_summary, folder_field, options, split_summary, typed_path};
use super::training_jobs::{ModelChoice, RunEvent, RunJob, ScanJob, Scanned, default_head_path};
use crate::training::session::{Outcome, Plan, Session, Validation, Written, checkpoint_for};

mod start_confirm;
use crate::training::eta::RunClock;
use crate::training::trainer::{EpochRecord, TrainConfig};

pub(super) const RED: Color32 = Color32::from_rgb(240, 90, 90);
pub(super) const AMBER: Color32 = Color32::from_rgb(240, 180, 60);

/// What the tab asks of the rest of the app.
pub enum TrainingAction {
    /// Grade with this head in the viewer.
    UseHead(PathBuf),
}

/// A dataset folder and the state of its check.
#[derive(Default)]
pub(super) enum Check {
    #[default]
    None,
    Running(ScanJob),
    Done { path: PathBuf, scanned: Scanned },
}

impl Check {
    fn path(&self) -> Option<&Path> {
        match self {
            Check::None => None,
            Check::Running(job) => Some(&job.path),
            Check::Done { path, .. } => Some(path),
        }
    }

    /// The dataset when it was checked and can be used.
    fn usable(&self) -> Option<&crate::training::Dataset> {
        match self {
            Check::Done { scanned: Scanned { dataset: Some(d), refusal: None }, .. } => Some(d),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub enum RunState {
    #[default]
    Idle,
    /// The run's own copy of the model is loading.
    Loading,
    Training,
    /// Cancel was pressed; the run stops at the next film or batch.
    Cancelling,
    Finished(Written),
    /// No head written; `epoch` is the last complete epoch in `checkpoint`.
    Cancelled { checkpoint: PathBuf, epoch: Option<usize> },
    Failed(String),
}

impl RunState {
    pub fn running(&self) -> bool {
        matches!(self, RunState::Loading | RunState::Training | RunState::Cancelling)
    }
}

/// Everything the curves and the status line draw from.
#[derive(Default)]
pub struct Progress {
    pub state: RunState,
    pub epochs: Vec<EpochRecord>,
    /// (fractional epoch, training loss) of every batch.
    pub batch_losses: Vec<[f64; 2]>,
    pub epoch: usize,
    pub total_epochs: usize,
    pub batch: usize,
    pub batches: usize,
    pub messages: Vec<String>,
    /// For the time left.
    pub clock: RunClock,
}

pub struct TrainingTab {
    /// The viewer's Hide patient data, followed here: the dataset's lists name
    /// films (names are often patient IDs) and quote header texts.
    pub hide_patient: bool,
    pub dataset_text: String,
    pub validation_text: String,
    pub head_text: String,
    pub config: TrainConfig,
    /// Continue from the checkpoint beside the head instead of starting afresh.
    pub resume: bool,
    dataset: Check,
    validation: Check,
    /// The train/validation split of the checked datasets, for the seed it was made with.
    plan: Option<(u64, Result<Plan, String>)>,
    run: Option<RunJob>,
    /// The head the run in progress (or the last one) writes, and when it started.
    run_head: Option<(PathBuf, std::time::SystemTime)>,
    pub progress: Progress,
    /// A run ended and the Training tab has not been shown since (the
    /// Viewer tab says so).
    pub unseen_end: bool,
    /// Messages from the form's buttons (no file dialog could be shown).
    form_note: Option<String>,
    /// [`crate::training::session::unfinished_run`] of a head, by its and its checkpoint's times:
    /// asked every frame, and the checkpoint's header need not be read each time.
    unfinished_memo: Option<(PathBuf, [Option<std::time::SystemTime>; 2], Option<(usize, usize)>)>,
    /// The form came from an earlier session and its folders are not checked yet.
    restored: bool,
    /// Start was pressed beside an unfinished run: asking whether to replace it.
    confirm_start: bool,
    /// Start was pressed with a finished head at the head's path: asking whether to replace it.
    confirm_overwrite: bool,
}

impl Default for TrainingTab {
    fn default() -> Self {
        TrainingTab {
            dataset_text: String::new(),
            validation_text: String::new(),
            head_text: String::new(),
            config: TrainConfig::default(),
            resume: false,
            dataset: Check::None,
            validation: Check::None,
            plan: None,
            run: None,
            run_head: None,
            progress: Progress::default(),
            unseen_end: false,
            form_note: None,
            unfinished_memo: None,
            restored: false,
            hide_patient: false,
            confirm_start: false,
            confirm_overwrite: false,
        }
    }
}

/// What the form keeps from one session of the viewer to the next: where the
/// data is, where the head goes, and the options. Reopened after a crash or a
/// close, the form finds the head again, and its checkpoint to resume.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SavedForm {
    pub dataset: String,
    pub validation: String,
    pub head: String,
    pub config: Option<TrainConfig>,
}

/// The eframe storage key of [`SavedForm`].
pub const FORM_STORAGE_KEY: &str = "kneeclip-training-form";

impl TrainingTab {
    pub fn saved_form(&self) -> SavedForm {
        SavedForm { dataset: self.dataset_text.clone(), validation: self.validation_text.clone(), head: self.head_text.clone(), config: Some(self.config.clone()) }
    }

    /// Fills the form from an earlier session; its folders are checked when
    /// the tab is first shown (not at start-up: a dataset may be large).
    pub fn restore(&mut self, form: SavedForm) {
        (self.dataset_text, self.validation_text, self.head_text) = (form.dataset, form.validation, form.head);
        if let Some(config) = form.config.filter(|c| c.check().is_ok()) {
            self.config = config;
        }
        self.restored = true;
    }

    /// Chooses the training dataset and starts checking it (off the UI thread).
    pub fn set_dataset(&mut self, ctx: &egui::Context, path: &Path) {
        if std::mem::take(&mut self.restored) {
            // Chosen before the tab was shown (`kneeclip view --train-dataset`): a fresh form.
            (self.validation_text, self.head_text) = (String::new(), String::new());
        }
        // The head follows the dataset unless the reader chose one: another
        // dataset's head (and its checkpoint, offered for resuming) is not this one's.
        let previous_default = self.dataset.path().map(|p| default_head_path(p).display().to_string());
        if self.head_text.trim().is_empty() || previous_default.as_deref() == Some(self.head_text.trim()) {
            self.head_text = default_head_path(path).display().to_string();
            self.resume = false;
        }
        self.dataset_text = path.display().to_string();
        self.dataset = Check::Running(ScanJob::start(ctx, path.to_path_buf()));
        self.plan = None;
    }

    /// Chooses a separate validation dataset (None: a split of the training dataset).
    pub fn set_validation(&mut self, ctx: &egui::Context, path: Option<&Path>) {
        self.validation_text = path.map(|p| p.display().to_string()).unwrap_or_default();
        self.validation = match path {
            Some(p) => Check::Running(ScanJob::start(ctx, p.to_path_buf())),
            None => Check::None,
        };
        self.plan = None;
    }

    /// No check running and no run in progress (what a screenshot waits for).
    pub fn settled(&self) -> bool {
        !matches!(self.dataset, Check::Running(_)) && !matches!(self.validation, Check::Running(_)) && !self.progress.state.running()
    }

    /// The training dataset's check is done (usable or refused).
    pub fn dataset_checked(&self) -> bool {
        matches!(self.dataset, Check::Done { .. })
    }

    pub fn running(&self) -> bool {
        self.progress.state.running()
    }

    /// Takes what the background jobs reported since the last frame.
    pub fn poll(&mut self) {
        for check in [&mut self.dataset, &mut self.validation] {
            if let Check::Running(job) = check {
                if let Some(scanned) = job.poll() {
                    *check = Check::Done { path: job.path.clone(), scanned };
                    self.plan = None;
                }
            }
        }
        let Some(run) = &self.run else { return };
        let p = &mut self.progress;
        while let Some(event) = run.try_recv() {
            match event {
                RunEvent::Started => {
                    if matches!(p.state, RunState::Loading) {
                        p.state = RunState::Training;
                    }
                }
                RunEvent::EpochStarted { epoch, epochs } => {
                    (p.epoch, p.total_epochs, p.batch) = (epoch, epochs, 0);
                    p.clock.epoch_started(epoch, epochs);
                }
                RunEvent::Batch { batch, batches, loss } => {
                    (p.batch, p.batches) = (batch, batches);
                    let x = (p.epoch.max(1) - 1) as f64 + batch as f64 / batches.max(1) as f64;
                    p.batch_losses.push([x, loss]);
                }
                RunEvent::Epoch(record) => {
                    p.clock.epoch_finished(record.epoch, record.seconds);
                    p.epochs.push(record);
                }
                RunEvent::Resumed(history) => {
                    // Only the per-epoch points survive a restart; the batch curve starts here.
                    history.iter().for_each(|r| p.clock.epoch_finished(r.epoch, r.seconds));
                    p.epochs = history;
                }
                RunEvent::Message(text) => p.messages.push(text),
                RunEvent::Finished(result) => {
                    // The checkpoint now belongs to this run; resuming is a new choice.
                    self.resume = false;
                    self.unseen_end = true;
                    p.state = match result {
                        Ok(Outcome::Written(w)) => RunState::Finished(w),
                        Ok(Outcome::Cancelled { checkpoint, epoch }) => RunState::Cancelled { checkpoint, epoch },
                        Err(e) => RunState::Failed(match self.run_head.as_ref().and_then(|(head, started)| kept_epochs(head, *started, &e)) {
                            Some(kept) => format!("{e}\n{kept}"),
                            None => e,
                        }),
                    };
                }
            }
        }
    }

    /// [`unfinished_run`](crate::training::session::unfinished_run), remembered
    /// while the head and its checkpoint stay the same.
    fn unfinished(&mut self, head: &Path) -> Option<(usize, usize)> {
        let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let written = [time(&checkpoint_for(head)), time(head)];
        match &self.unfinished_memo {
            Some((h, w, answer)) if h == head && *w == written => *answer,
            _ => {
                let answer = crate::training::session::unfinished_run(head);
                self.unfinished_memo = Some((head.to_path_buf(), written, answer));
                answer
            }
        }
    }

    fn ensure_plan(&mut self) {
        let seed = self.config.seed;
        if self.plan.as_ref().is_some_and(|(s, _)| *s == seed) {
            return;
        }
        let Some(full) = self.dataset.usable() else { return };
        let validation = if self.validation_text.trim().is_empty() {
            Validation::Split { fraction: 0.2 }
        } else {
            match self.validation.usable() {
                Some(v) => Validation::Folder(v.clone()),
                None => return,
            }
        };
        self.plan = Some((seed, Plan::new(full, validation, seed)));
    }

    /// Why Start is not possible now, if it is not.
    fn blocker(&self, model: Option<&ModelChoice>) -> Option<String> {
        if self.running() {
            return Some("A run is in progress.".into());
        }
        if model.is_none() {
            return Some("The viewer's model is not loaded yet (see the Viewer tab).".into());
        }
        match &self.dataset {
            Check::None => return Some("Choose a dataset folder.".into()),
            Check::Running(_) => return Some("Checking the dataset…".into()),
            Check::Done { scanned: Scanned { refusal: Some(_), .. }, .. } => return Some("The dataset cannot be used (see above).".into()),
            Check::Done { .. } => {}
        }
        if !self.validation_text.trim().is_empty() {
            match &self.validation {
                Check::Running(_) => return Some("Checking the validation folder…".into()),
                Check::Done { scanned: Scanned { refusal: None, .. }, .. } => {}
                _ => return Some("The validation folder cannot be used (see above).".into()),
            }
        }
        if let Some((_, Err(e))) = &self.plan {
            return Some(e.clone());
        }
        if self.head_text.trim().is_empty() {
            return Some("Choose where to write the head.".into());
        }
        None
    }

    /// Starts a run with the current options (see [`Self::show`] for the button).
    pub fn start(&mut self, ctx: &egui::Context, model: ModelChoice) {
        self.ensure_plan();
        if let Some(why) = self.blocker(Some(&model)) {
            self.progress.state = RunState::Failed(why);
            return;
        }
        let Some((_, Ok(plan))) = &self.plan else { return };
        let head = typed_path(&self.head_text);
        let resume = (self.resume && checkpoint_for(&head).is_file()).then(|| checkpoint_for(&head));
        // The form says when Start replaces an unfinished run's checkpoint.
        let mut session = Session { resume, restart: true, ..Session::new(self.config.clone(), head) };
        if let Err(e) = session.prepare() {
            self.progress = Progress { state: RunState::Failed(e), ..Progress::default() };
            return;
        }
        self.run_head = Some((session.out.clone(), std::time::SystemTime::now()));
        let batches = plan.train.len().div_ceil(self.config.batch_size.max(1));
        self.progress = Progress { state: RunState::Loading, total_epochs: self.config.epochs, batches, ..Progress::default() };
        self.progress.messages.extend(session.output_lock.as_ref().and_then(|l| crate::training::outputs::removed_partials_message(&l.removed_partials)));
        self.run = Some(RunJob::start(ctx, model, plan.clone(), session));
    }

    pub fn cancel(&mut self) {
        if let Some(run) = &self.run {
            if self.progress.state.running() {
                run.cancel();
                self.progress.state = RunState::Cancelling;
            }
        }
    }

    /// The whole tab. `model`: the viewer's model, once it has loaded.
    pub fn show(&mut self, ui: &mut egui::Ui, model: Option<ModelChoice>) -> Option<TrainingAction> {
        if std::mem::take(&mut self.restored) {
            let ctx = ui.ctx().clone();
            let (dataset, validation, head) = (typed_path(&self.dataset_text), typed_path(&self.validation_text), self.head_text.clone());
            if !self.dataset_text.trim().is_empty() {
                self.set_dataset(&ctx, &dataset);
                self.head_text = head; // the saved head, not the dataset's default
            }
            if !self.validation_text.trim().is_empty() {
                self.set_validation(&ctx, Some(&validation));
            }
        }
        self.poll();
        self.ensure_plan();
        self.unseen_end = false;
        // Start and Cancel stay in sight whatever the form's length and the window's size.
        egui::Panel::bottom("training-start").show(ui, |ui| {
            ui.add_space(4.0);
            self.start_row(ui, model.as_ref());
            ui.add_space(2.0);
        });
        egui::Panel::left("training-setup").default_size(430.0).resizable(true).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                self.setup(ui);
                super::focus_scroll::keep_focus_in_sight(ui);
            });
        });
        let mut action = None;
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| action = self.results(ui));
        });
        if self.running() || !self.settled() {
            // The jobs wake the UI themselves; this only keeps spinners turning.
            ui.ctx().request_repaint_after(std::time::Duration::from_millis(250));
        }
        action
    }

    fn setup(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let idle = !self.running();
        ui.heading("Data");
        ui.small("A folder with one subfolder per grade (0 … 4, or names starting with the digit such as 0Normal, perhaps after KL or grade: KL2, grade_2), or a CSV of path,grade.");
        if let Some(note) = &self.form_note {
            ui.add(egui::Label::new(RichText::new(note).color(AMBER)).wrap());
        }
        if let Some(path) = folder_field(ui, "Dataset folder", &mut self.dataset_text, self.dataset.path(), idle, true, &mut self.form_note) {
            if path.as_os_str().is_empty() {
                (self.dataset, self.plan) = (Check::None, None);
            } else {
                self.set_dataset(&ctx, &path);
            }
        }
        check_summary(ui, &self.dataset, "dataset", self.hide_patient);
        ui.add_space(6.0);
        let chosen = folder_field(ui, "Validation folder (optional)", &mut self.validation_text, self.validation.path(), idle, true, &mut self.form_note);
        if let Some(path) = chosen {
            let path = (!path.as_os_str().is_empty()).then_some(path);
            self.set_validation(&ctx, path.as_deref());
        }
        if self.validation_text.trim().is_empty() {
            ui.small(format!("Empty: 20% of each grade's patients (seed {}) validate.", self.config.seed));
        } else {
            check_summary(ui, &self.validation, "validation", self.hide_patient);
        }
        if let Some((_, plan)) = &self.plan {
            match plan {
                Ok(plan) => split_summary(ui, plan),
                Err(e) => {
                    ui.colored_label(RED, e);
                }
            }
        }
        ui.separator();
        ui.heading("Options");
        ui.add_enabled_ui(idle, |ui| options(ui, &mut self.config));
        ui.separator();
        ui.heading("Output");
        ui.add_enabled_ui(idle, |ui| {
            ui.horizontal(|ui| {
                let label = ui.label("Head file");
                ui.add(egui::TextEdit::singleline(&mut self.head_text).id(egui::Id::unique("head-path")).desired_width(250.0)).labelled_by(label.id);
                if ui.button("Save as…").clicked() {
                    match super::dialogs::choose(|| rfd::FileDialog::new().add_filter("safetensors", &["safetensors"]).set_file_name("head.safetensors").save_file()) {
                        super::dialogs::Chosen::Path(path) => self.head_text = path.display().to_string(),
                        super::dialogs::Chosen::Unavailable => self.form_note = Some(super::dialogs::unavailable("Type the head's path in the field instead.")),
                        super::dialogs::Chosen::Cancelled => {}
                    }
                }
            });
            let head = typed_path(&self.head_text);
            if !self.head_text.trim().is_empty() {
                ui.small(format!("Its settings and validation metrics go to {}.", head.with_extension("json").display()));
                if head.is_file() {
                    ui.colored_label(AMBER, "This file exists; a finished run replaces it.");
                }
                // Start without Resume would replace an unfinished run's checkpoint: say so first.
                if let (false, Some((done, asked))) = (self.resume || !idle, self.unfinished(&head)) {
                    ui.add(egui::Label::new(RichText::new(format!(
                        "An unfinished run's checkpoint is beside it ({done} of {asked} epochs): Start asks before replacing it with this run's. Tick Resume to go on with it instead."
                    )).color(AMBER)).wrap());
                }
                // Offered only between runs: a run rewrites that checkpoint every epoch.
                // Always there (greyed out during a run or without a
                // checkpoint), so Start and Cancel below do not move under the mouse.
                let checkpoint = checkpoint_for(&head);
                let resumable = checkpoint.is_file();
                if idle && !resumable {
                    self.resume = false;
                }
                let ticked = ui
                    .add_enabled(idle && resumable, egui::Checkbox::new(&mut self.resume, "Resume from its checkpoint"))
                    .on_hover_text(format!("{} — continue the run that wrote it, with its options (filled in below)", checkpoint.display()))
                    .on_disabled_hover_text(if resumable { "Not while a run is going" } else { "No checkpoint of this head yet" })
                    .changed();
                // The run goes on with the options it was started with (the form
                // may hold another run's); it may run longer.
                if ticked && self.resume {
                    self.choose_resume();
                }
                if self.resume && idle && self.unfinished(&head).is_none() {
                    ui.add(egui::Label::new(RichText::new(
                        "Its run finished: resuming trains the epochs past those it did (set Epochs above) and replaces the head."
                    ).small()).wrap());
                }
            }
        });
    }

    /// Start, Cancel and why Start is greyed out (wrapped: a long reason
    /// widened the form's panel and kept it wide).
    fn start_row(&mut self, ui: &mut egui::Ui, model: Option<&ModelChoice>) {
        let ctx = ui.ctx().clone();
        ui.horizontal(|ui| {
            let blocker = self.blocker(model);
            let start = ui.add_enabled(blocker.is_none(), egui::Button::new(RichText::new("Start").strong()));
            if start.clicked() {
                if let Some(model) = model {
                    self.start_clicked(&ctx, model.clone());
                }
            }
            let cancellable = matches!(self.progress.state, RunState::Loading | RunState::Training);
            if ui.add_enabled(cancellable, egui::Button::new("Cancel")).on_hover_text("Stop now; the last complete epoch's checkpoint is kept and no head is written").clicked() {
                self.cancel();
            }
            if let Some(why) = blocker.filter(|_| !self.running()) {
                ui.add(egui::Label::new(RichText::new(why).small()).wrap());
            } else if let Some((done, asked)) = self.would_replace() {
                // Beside Start, which is always in sight (the form's warning may be below the fold).
                ui.add(egui::Label::new(RichText::new(format!("An unfinished run ({done} of {asked} epochs) is beside the head: Start asks before replacing it.")).color(AMBER)).wrap());
            }
        });
        self.confirm_start_modal(&ctx, model);
        self.confirm_overwrite_modal(&ctx, model);
    }

    /// The unfinished run beside the head in the form, resumed or not.
    fn unfinished_beside_head(&mut self) -> Option<(usize, usize)> {
        if self.head_text.trim().is_empty() {
            return None;
        }
        self.unfinished(&typed_path(&self.head_text))
    }

    fn results(&mut self, ui: &mut egui::Ui) -> Option<TrainingAction> {
        let unfinished = matches!(self.progress.state, RunState::Idle).then(|| self.unfinished_beside_head()).flatten();
        let mut action = None;
        let p = &self.progress;
        match &p.state {
            RunState::Idle => match unfinished {
                // Reopened after a run was stopped: said up front, not only below the form's fold.
                Some((done, asked)) => {
                    ui.add(egui::Label::new(RichText::new(format!(
                        "An unfinished run is beside the head: {done} of {asked} epochs done. Tick \"Resume from its checkpoint\" (or press Start and choose Resume it) to go on with it."
                    )).color(AMBER).strong()).wrap());
                }
                None => {
                    ui.label("No run yet. Choose a dataset, set the options and press Start.");
                }
            },
            RunState::Loading => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Loading the model for training…");
                });
            }
            RunState::Training | RunState::Cancelling => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    let loss = p.batch_losses.last().map(|b| format!(" · loss {:.4}", b[1])).unwrap_or_default();
                    ui.label(format!("Epoch {}/{} · batch {}/{}{loss}", p.epoch, p.total_epochs, p.batch, p.batches));
                    if matches!(p.state, RunState::Cancelling) {
                        ui.colored_label(AMBER, "Cancelling…");
                    }
                });
                if p.batch == 0 && p.epochs.is_empty() {
                    ui.small("The first batches also run the frozen part of the model on each film once; later epochs reuse it.");
                }
                let done = (p.epoch.max(1) - 1) as f32 + p.batch as f32 / p.batches.max(1) as f32;
                ui.add(egui::ProgressBar::new(done / p.total_epochs.max(1) as f32).desired_width(ui.available_width().min(400.0)));
                if let Some(left) = p.clock.remaining(p.batch, p.batches) {
                    ui.small(left.describe());
                }
            }
            RunState::Finished(w) => {
                ui.label(RichText::new(format!(
                    "Finished: wrote {} (best epoch {}, validation accuracy {:.3}, temperature {:.3})",
                    w.head.display(),
                    w.best_epoch,
                    w.validation_accuracy,
                    w.temperature
                )).strong());
                for caution in w.cautions() {
                    ui.add(egui::Label::new(RichText::new(format!("Caution: {caution}.")).color(AMBER)).wrap());
                }
                if ui.button(RichText::new("Use this head in the viewer").strong()).clicked() {
                    action = Some(TrainingAction::UseHead(w.head.clone()));
                }
            }
            RunState::Cancelled { checkpoint, epoch } => {
                let text = match epoch {
                    Some(e) => format!(
                        "Cancelled: no head was written. {} keeps the last complete epoch ({e}); tick \"Resume from its checkpoint\" and Start to continue.",
                        checkpoint.display()
                    ),
                    None => "Cancelled before the first epoch finished: no checkpoint or head was written.".to_string(),
                };
                ui.colored_label(AMBER, text);
            }
            RunState::Failed(e) => {
                ui.add(egui::Label::new(RichText::new(format!("Training failed: {e}")).color(RED)).wrap());
            }
        }
        for m in &p.messages {
            ui.small(m);
        }
        if p.epochs.is_empty() && p.batch_losses.is_empty() {
            return action;
        }
        let best = match &p.state {
            RunState::Finished(w) => Some(w.best_epoch),
            _ => None,
        };
        // Side by side where both fit at a readable width; else one above the
        // other (at 800 px the accuracy chart was cut off at the right).
        let width = ui.available_width();
        let loss = |ui: &mut egui::Ui| {
            ui.label(RichText::new("Loss").strong());
            loss_plot(ui, p, best);
        };
        let accuracy = |ui: &mut egui::Ui| {
            ui.label(RichText::new("Accuracy").strong());
            accuracy_plot(ui, p, best);
        };
        if width >= 2.0 * 260.0 + 16.0 {
            let half = width / 2.0 - 8.0;
            ui.horizontal(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(half);
                    loss(ui);
                });
                ui.vertical(|ui| {
                    ui.set_width(half);
                    accuracy(ui);
                });
            });
        } else {
            loss(ui);
            accuracy(ui);
        }
        // While training the latest epoch; once finished, the epoch the head was taken from.
        let shown = match best {
            Some(b) => p.epochs.iter().find(|r| r.epoch == b),
            None => p.epochs.last(),
        };
        if let Some(r) = shown {
            ui.add_space(8.0);
            let which = if best.is_some() { " (the head's epoch)" } else { "" };
            ui.label(RichText::new(format!("Validation confusion matrix, epoch {}{which} (rows: true grade, columns: predicted)", r.epoch)).strong());
            confusion(ui, &r.val_confusion);
            ui.small(format!(
                "Epoch {}: train loss {:.4}, accuracy {:.3} · validation loss {:.4}, accuracy {:.3} · {:.1} s",
                r.epoch, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.seconds
            ));
        }
        action
    }
}

/// After a run failed: the epoch its checkpoint keeps and how to go on,
/// when the run wrote that checkpoint.
fn kept_epochs(head: &Path, started: std::time::SystemTime, error: &str) -> Option<String> {
    let checkpoint = checkpoint_for(head);
    let epoch = crate::training::outputs::kept_by_failed_run(&checkpoint, started, error)?;
    Some(format!("{} keeps epoch {epoch} of this run: once that is put right, tick \"Resume from its checkpoint\" and Start to go on from it.", checkpoint.display()))
}
