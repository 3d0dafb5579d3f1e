//! The desktop viewer (UI only). The model, decoding and file I/O live on the
//! [`worker`] thread; this module keeps the state the frame draws from.

pub mod about;
mod anchors_panel;
pub mod anchors_file;
mod navigation;
pub mod commands;
pub mod export;
pub mod film_view;
mod focus_scroll;
mod head_choice;
mod heatmap_legend;
pub mod dialogs;
pub mod folder;
pub mod history;
pub mod measure;
mod legend_place;
mod model_panel;
pub mod render;
mod panels;
mod shortcuts;
mod similarity_chart;
mod status_messages;
pub mod settings;
mod training_charts;
mod training_form;
pub mod training_jobs;
pub mod training_tab;
pub mod worker;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::explain::Heatmap;
use crate::grading::{Region, TextAnchors};
use crate::imaging::Radiograph;
use commands::Command;
use film_view::FilmView;
use settings::Settings;
use worker::{Answer, Request, RequestId, RegionGrade, Worker};

/// Where the model stands.
pub enum ModelStatus {
    Loading,
    Ready { model: String, device: String, dir: PathBuf },
    /// No usable weights: the message says why (and where to put them);
    /// [`KneeclipApp::model_headline`] says it in a few words.
    Missing(String),
}

/// Ids of the latest request of each kind; answers to older ones are dropped.
#[derive(Default)]
struct Pending {
    model: Option<RequestId>,
    open: Option<(RequestId, PathBuf)>,
    grade: Option<RequestId>,
    query: Option<RequestId>,
    heatmap: Option<RequestId>,
    head: Option<RequestId>,
    /// Another frame of the open film ([`frames`]).
    frame: Option<RequestId>,
}

/// The two tabs of the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tab {
    #[default]
    Viewer,
    Training,
}

pub struct KneeclipApp {
    pub settings: Settings,
    /// `kneeclip view --model-dir DIR`: for this session only (it once stuck in
    /// the saved settings, over a later KNEECLIP_MODEL_DIR).
    pub cli_model_dir: Option<PathBuf>,
    /// The cache root the model is looked for in (None: the user's cache; tests).
    pub cache_dir: Option<PathBuf>,
    /// `kneeclip view --offline`: no download is offered or started.
    pub offline: bool,
    /// What went wrong with the model, in a few words, while it is missing.
    pub model_headline: &'static str,
    worker: Worker,
    pending: Pending,
    pub model: ModelStatus,
    pub view: Option<FilmView>,
    pub path: Option<PathBuf>,
    pub grades: Vec<RegionGrade>,
    pub heatmaps: Vec<(Region, Heatmap)>,
    pub show_heatmap: bool,
    pub hide_patient: bool,
    /// Teaching: the grade panel keeps the model's verdict back until shown.
    pub hide_grade: bool,
    pub error: Option<String>,
    /// Why the open film has no grade (damaged weights): shown in the grade's place.
    pub grade_error: Option<String>,
    /// Something the reader should know that is not an error (until the next film).
    pub notice: Option<String>,
    /// Why the model runs elsewhere than chosen (no CUDA), while it is loaded.
    pub device_note: Option<String>,
    /// The file whose opening failed last (masked when patient data is hidden).
    pub failed_path: Option<PathBuf>,
    /// Files that failed to open, with their [`file_state`] then: Next /
    /// Previous step over them until they change.
    unopenable: HashMap<PathBuf, Option<(u64, SystemTime, i64)>>,
    /// What the last Next / Previous stepped over, to say with the film it opens.
    stepped_over: Option<String>,
    /// The film being opened was reached with Page Down / Page Up.
    opening_by_step: bool,
    /// The Recent entry the last step added (a film not in the list
    /// before): the next step takes its place, so paging through a folder
    /// fills one entry, not all ten, and never removes a film opened by hand.
    recent_by_step: Option<PathBuf>,
    /// The films in the open film's folder (Next / Previous film).
    pub folder: folder::FolderListing,
    /// Next / Previous asked for while the folder was still being listed.
    step_after_listing: Option<isize>,
    /// The file last asked for, opened or not: where Next / Previous step from,
    /// so a film that fails to open does not stop the way through its folder.
    folder_cursor: Option<PathBuf>,
    /// Anchors too long for the text model (its end ignored), from the last grade.
    pub anchor_warnings: Vec<String>,
    /// What to doubt about the head the grades were made with (a temperature
    /// fitted at its limit): shown with the grade.
    pub head_warnings: Vec<String>,
    pub query_text: String,
    pub query_results: Vec<worker::QueryResult>,
    pub tag_filter: String,
    pub show_about: bool,
    pub export: export::Export,
    commands: Vec<Command>,
    screenshot: Option<screenshot::Screenshot>,
    frame_log: Option<frame_log::FrameLog>,
    pub tab: Tab,
    pub training: training_tab::TrainingTab,
    /// The fine-tuned head the viewer grades with (its id), if any.
    pub head: Option<String>,
    /// That head's file.
    head_path: Option<PathBuf>,
    /// `view --head FILE`: loaded with the model, this session only.
    cli_head: Option<PathBuf>,
    /// The head being loaded, and who asked for it ([`head_choice`]).
    head_request: Option<head_choice::HeadRequest>,
    /// Where no file dialog can be shown: the head's typed-path row.
    pub head_typed: Option<String>,
    /// The anchors the head was trained and calibrated with, when it records
    /// them: what "edited" is measured against, and what Reset goes back to.
    pub head_anchors: Option<[String; 5]>,
    /// The reader's own anchors that a head's replaced, to go back to.
    pub anchors_before_head: Option<[String; 5]>,
    /// The texts before Reset or Load replaced them all, and which did: one
    /// click brings them back (through later edits, until the next Reset or Load).
    pub anchors_before_replace: Option<(&'static str, [String; 5])>,
    /// How the last anchors Save or Load ended (its message, or why not):
    /// each outcome replaces the one before in the status bar.
    pub anchors_file_status: Option<Result<String, String>>,
    /// Counts Saves and Loads, so that the same message twice running is new.
    pub anchors_file_generation: u64,
    /// Which outcome messages are new, for the status bar.
    status_recency: status_messages::Recency,
    /// Where no file dialog can be shown: the anchors' typed-path row.
    pub anchors_typed: Option<anchors_file::Typed>,
    /// Where no file dialog can be shown: the model folder's typed-path row.
    pub model_dir_typed: Option<String>,
    /// Saved settings that could not all be read: what was lost (the status
    /// bar says it), and the text as saved, kept beside the new settings.
    pub settings_problem: Option<String>,
    unreadable_settings: Option<String>,
    /// Closing the window while training: asked, and confirmed (stopping the run first).
    pub quit: QuitWhileTraining,
}

pub mod frame_log;
mod frames;
mod quit;
pub mod screenshot;
pub use quit::QuitWhileTraining;

impl KneeclipApp {
    /// A viewer with no film; the model starts loading on the worker at once.
    pub fn new(ctx: &egui::Context, settings: Settings, model_dir: Option<PathBuf>) -> KneeclipApp {
        Self::with_cache_dir(ctx, settings, model_dir, None)
    }

    /// [`new`](Self::new) looking for the model in the cache root `cache_dir` (None: the user's).
    pub fn with_cache_dir(ctx: &egui::Context, settings: Settings, model_dir: Option<PathBuf>, cache_dir: Option<PathBuf>) -> KneeclipApp {
        let hide_patient = settings.hide_patient;
        let mut app = KneeclipApp {
            settings,
            cli_model_dir: model_dir,
            cache_dir,
            offline: false,
            model_headline: worker::NO_WEIGHTS_OFFLINE,
            worker: Worker::spawn(ctx.clone()),
            pending: Pending::default(),
            model: ModelStatus::Loading,
            view: None,
            path: None,
            grades: Vec::new(),
            heatmaps: Vec::new(),
            show_heatmap: false,
            hide_patient,
            hide_grade: false,
            error: None,
            grade_error: None,
            notice: None,
            device_note: None,
            failed_path: None,
            unopenable: HashMap::new(),
            stepped_over: None,
            opening_by_step: false,
            recent_by_step: None,
            folder: folder::FolderListing::new(ctx.clone()),
            step_after_listing: None,
            folder_cursor: None,
            anchor_warnings: Vec::new(),
            head_warnings: Vec::new(),
            query_text: String::new(),
            query_results: Vec::new(),
            tag_filter: String::new(),
            show_about: false,
            export: export::Export::default(),
            commands: Vec::new(),
            screenshot: None,
            frame_log: frame_log::FrameLog::from_env(),
            tab: Tab::Viewer,
            training: training_tab::TrainingTab::default(),
            head: None,
            head_path: None,
            cli_head: None,
            head_request: None,
            head_typed: None,
            head_anchors: None,
            anchors_before_head: None,
            anchors_before_replace: None,
            anchors_file_status: None,
            anchors_file_generation: 0,
            status_recency: status_messages::Recency::default(),
            settings_problem: None,
            unreadable_settings: None,
            anchors_typed: None,
            model_dir_typed: None,
            quit: QuitWhileTraining::default(),
        };
        settings::readable_small_text(ctx);
        app.load_model();
        app
    }

    /// The eframe entry: settings from storage.
    pub fn from_creation(cc: &eframe::CreationContext<'_>, model_dir: Option<PathBuf>, file: Option<PathBuf>) -> Self {
        let stored = cc.storage.and_then(|s| s.get_string(settings::STORAGE_KEY));
        let (settings, problem) = stored.as_deref().map_or((Settings::default(), None), settings::read_stored);
        let mut app = Self::new(&cc.egui_ctx, settings, model_dir);
        if problem.is_some() {
            app.settings_problem = problem;
            app.unreadable_settings = stored;
        }
        if let Some(form) = cc.storage.and_then(|s| eframe::get_value::<training_tab::SavedForm>(s, training_tab::FORM_STORAGE_KEY)) {
            app.training.restore(form);
        }
        if let Some(file) = file {
            app.open(&file);
        }
        app
    }

    pub fn set_screenshot(&mut self, out: PathBuf) {
        self.screenshot = Some(screenshot::Screenshot::new(out));
    }

    pub fn screenshot_result(&self) -> Option<Result<(), String>> {
        self.screenshot.as_ref().and_then(|s| s.result.clone())
    }

    pub fn load_model(&mut self) {
        self.request_model(false);
    }

    /// Loads the model, downloading the weights (cancelable) when `download`, unless offline.
    pub fn request_model(&mut self, download: bool) {
        self.model = ModelStatus::Loading;
        let download = download && !self.offline;
        let request = Request::LoadModel { dir: self.model_dir(), dir_from_viewer: self.cli_model_dir.is_none(), cache_dir: self.cache_dir.clone(), device: self.settings.device, download };
        self.pending.model = Some(self.worker.send(request));
    }

    /// The model folder in effect: the command line's, else the one chosen in
    /// the viewer; None: `KNEECLIP_MODEL_DIR`, then the cache.
    pub fn model_dir(&self) -> Option<PathBuf> {
        self.cli_model_dir.clone().or_else(|| self.settings.model_dir.clone())
    }

    /// A folder chosen in the viewer (saved), or None: back to the environment / the cache.
    pub fn set_model_dir(&mut self, dir: Option<PathBuf>) {
        self.settings.model_dir = dir;
        self.cli_model_dir = None;
        self.load_model();
    }

    /// Asks the worker to open `path`; the current film stays until it answers.
    pub fn open(&mut self, path: &Path) {
        let id = self.worker.send(Request::Open(path.to_path_buf()));
        self.pending.open = Some((id, path.to_path_buf()));
        self.folder_cursor = Some(path.to_path_buf());
        self.stepped_over = None;
        self.step_after_listing = None;
        self.opening_by_step = false;
    }

    /// Whether a film asked for is still being opened.
    pub fn opening(&self) -> bool {
        self.pending.open.is_some()
    }

    /// The anchors the probabilities were calibrated with: the head's, else the paper's.
    pub fn calibration_anchors(&self) -> [String; 5] {
        self.head_anchors.clone().unwrap_or_else(|| TextAnchors::default().anchors)
    }

    pub fn anchors(&self) -> Option<TextAnchors> {
        TextAnchors::new(self.settings.anchors.clone()).ok()
    }

    /// New anchor texts: the worker encodes them and re-scores the film.
    pub fn anchors_changed(&mut self) {
        if self.view.is_none() {
            return; // graded when a film opens
        }
        if let (Some(anchors), ModelStatus::Ready { .. }) = (self.anchors(), &self.model) {
            self.pending.grade = Some(self.worker.send(Request::EncodeAnchors(anchors)));
        }
    }

    pub fn run_query(&mut self) {
        let texts: Vec<String> = self.query_text.lines().map(str::to_owned).filter(|t| !t.trim().is_empty()).collect();
        if texts.is_empty() {
            (self.query_results, self.pending.query) = (Vec::new(), None); // its table listed queries no longer in the box
        } else if self.view.is_some() {
            self.pending.query = Some(self.worker.send(Request::Query(texts)));
        }
    }

    fn request_grade(&mut self) {
        if self.view.is_none() || !matches!(self.model, ModelStatus::Ready { .. }) {
            return;
        }
        let request = match self.anchors() {
            Some(a) => Request::EncodeAnchors(a),
            None => Request::Grade,
        };
        self.pending.grade = Some(self.worker.send(request));
        self.grade_error = None;
        self.heatmaps.clear();
        if self.show_heatmap {
            self.pending.heatmap = Some(self.worker.send(Request::Heatmap));
        }
        self.run_query();
    }

    pub fn download(&self) -> &worker::DownloadHandle {
        &self.worker.download
    }

    pub fn busy(&self) -> bool {
        let p = &self.pending;
        p.model.is_some() || p.open.is_some() || p.frame.is_some() || p.grade.is_some() || p.query.is_some() || p.heatmap.is_some() || p.head.is_some() || self.export.running() || self.folder.listing()
    }

    /// Drains the worker's answers (once per frame), dropping stale ones.
    fn drain(&mut self, ctx: &egui::Context) {
        if self.folder.poll() {
            if let Some(step) = self.step_after_listing.take() {
                self.step_in_folder(step);
            }
        }
        while let Some(reply) = self.worker.try_recv() {
            let id = Some(reply.id);
            match reply.answer {
                Answer::ModelLoaded { model, device, dir, note } if id == self.pending.model => {
                    self.device_note = note;
                    self.pending.model = None;
                    self.model = ModelStatus::Ready { model, device, dir };
                    self.head = None;
                    self.head_path = None;
                    self.head_anchors = None;
                    // With a head to load, the film is graded once it is in
                    // (or has failed): not by the base model first.
                    if !self.reload_head() {
                        self.request_grade();
                    }
                }
                Answer::NoModel { headline, message } if id == self.pending.model => {
                    self.pending.model = None;
                    self.model_headline = headline;
                    self.model = ModelStatus::Missing(message);
                }
                Answer::Opened(film, first) if id == self.pending.open.as_ref().map(|p| p.0) => {
                    let (_, path) = self.pending.open.take().expect("pending open");
                    self.film_opened(film, first, path);
                }
                Answer::Opened(film, first) if id == self.pending.frame => self.frame_opened(film, first),
                Answer::Graded { grades, anchor_warnings, head_warnings } if id == self.pending.grade => {
                    self.pending.grade = None;
                    self.grades = grades;
                    self.anchor_warnings = anchor_warnings;
                    self.head_warnings = head_warnings;
                }
                Answer::Queried(results) if id == self.pending.query => {
                    self.pending.query = None;
                    self.query_results = results;
                }
                Answer::Heatmap(maps) if id == self.pending.heatmap => {
                    self.pending.heatmap = None;
                    if let Some(view) = &mut self.view {
                        view.set_heatmaps(ctx, &maps);
                    }
                    self.heatmaps = maps;
                }
                Answer::HeadLoaded { id: head, anchors } if id == self.pending.head => {
                    self.pending.head = None;
                    self.head = head;
                    self.head_loaded();
                    // The head's classifier is its anchors: grading it with
                    // other ones would void its calibration. The reader may
                    // still edit them, and is told so as with any edit.
                    self.head_anchors = anchors.clone();
                    if let Some(anchors) = anchors.filter(|a| *a != self.settings.anchors) {
                        self.anchors_before_head = Some(std::mem::replace(&mut self.settings.anchors, anchors));
                        // An undo of an earlier Reset would throw the head's texts away.
                        self.anchors_before_replace = None;
                        self.notice = Some("The head's own anchors are now in the editor: it was trained and calibrated with them".into());
                    }
                    self.request_grade();
                }
                Answer::Failed(msg) => {
                    if let Some((open_id, path)) = &self.pending.open {
                        if id == Some(*open_id) {
                            let named = msg.contains(&path.display().to_string());
                            self.error = Some(if named { format!("Could not open {msg}") } else { format!("Could not open {}: {msg}", path.display()) });
                            self.failed_path = Some(path.clone());
                            self.unopenable.insert(path.clone(), navigation::file_state(path));
                            self.stepped_over = None;
                            // The film before stays no longer: stepping through a
                            // folder, its grade would pass for this file's.
                            self.view = None;
                            self.path = None;
                            self.grades.clear();
                            (self.pending.grade, self.pending.heatmap, self.pending.query) = (None, None, None);
                            self.heatmaps.clear();
                            self.query_results.clear();
                            if let Some((_, path)) = self.pending.open.take() {
                                self.folder.ask(&path); // Next / Previous go on from here
                            }
                            continue;
                        }
                    }
                    if id == self.pending.frame {
                        self.frame_failed(&msg);
                        continue;
                    }
                    if id == self.pending.grade {
                        // No grade rather than the last one: it belongs to other anchors or a model that now fails.
                        self.grades.clear();
                        self.grade_error = Some(msg.clone());
                    }
                    if id == self.pending.head {
                        self.pending.head = None;
                        self.error = Some(self.head_failed(&msg));
                        if self.pending.grade.is_none() {
                            self.request_grade(); // what the model loaded for, without the head
                        }
                        continue;
                    }
                    let p = &mut self.pending;
                    for slot in [&mut p.grade, &mut p.query, &mut p.heatmap] {
                        if *slot == id {
                            *slot = None;
                            self.error = Some(msg.clone());
                        }
                    }
                }
                _ => {} // stale
            }
        }
    }

    fn film_opened(&mut self, film: Arc<Radiograph>, first: Option<render::Rendered>, path: PathBuf) {
        self.settings.remember_opened(&path, self.hide_patient, self.opening_by_step, &mut self.recent_by_step);
        // The reader's tool stays selected from one film to the next.
        let tool = self.view.as_ref().map(|v| v.tool).unwrap_or_default();
        let mut view = FilmView::new(film).with_first_render(first);
        view.tool = tool;
        self.view = Some(view);
        self.folder.ask(&path);
        self.unopenable.remove(&path);
        self.path = Some(path);
        self.error = None;
        self.notice = self.stepped_over.take();
        self.grades.clear();
        self.grade_error = None;
        self.query_results.clear();
        self.request_grade();
    }

    fn run_commands(&mut self, ctx: &egui::Context) {
        self.commands.extend(commands::pressed(ctx));
        // Page Down / Page Up pressed several times in one frame are one step
        // of their sum: past the folder's end it stops at the last film.
        let steps: isize = self.commands.iter().map(|c| match c {
            Command::NextFilm => 1,
            Command::PreviousFilm => -1,
            _ => 0,
        }).sum();
        let mut stepped = false;
        for command in std::mem::take(&mut self.commands) {
            match command {
                Command::Open => self.open_dialog(),
                Command::NextFilm | Command::PreviousFilm => {
                    if !std::mem::replace(&mut stepped, true) && steps != 0 {
                        self.open_beside(steps);
                    }
                }
                Command::TogglePatientData => self.hide_patient = !self.hide_patient,
                Command::ToggleGrade => self.hide_grade = !self.hide_grade,
                Command::About => self.show_about = true,
                Command::Shortcuts => shortcuts::set_open(ctx, !shortcuts::is_open(ctx)),
                // As the title bar's close: a run in training is asked about first (quit.rs).
                Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
                Command::Cancel if self.show_about => self.show_about = false,
                Command::Cancel if shortcuts::is_open(ctx) => shortcuts::set_open(ctx, false),
                Command::ExportReport => {
                    if self.exportable().is_some() {
                        self.export.open = true;
                        // An earlier failure is not this export's (and may have been another film's).
                        self.export.last = self.export.last.take().filter(Result::is_ok);
                    } else {
                        self.error = Some("Nothing to export yet: open a film and wait for its grade".into());
                    }
                }
                Command::Cancel if self.export.open => self.export.open = false,
                Command::ToggleHeatmap => {
                    self.show_heatmap = !self.show_heatmap;
                    if self.show_heatmap && self.heatmaps.is_empty() && self.view.is_some() && self.pending.heatmap.is_none() {
                        self.pending.heatmap = Some(self.worker.send(Request::Heatmap));
                    }
                }
                other => {
                    if let Some(v) = &mut self.view {
                        v.command_at(other, Some(ctx.input(|i| i.time)));
                    }
                }
            }
        }
    }

    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }

    fn open_dialog(&mut self) {
        match dialogs::choose(|| rfd::FileDialog::new().set_title("Open a film").pick_file()) {
            dialogs::Chosen::Path(path) => self.open(&path),
            dialogs::Chosen::Unavailable => {
                self.error = Some(dialogs::unavailable("Drop the film on the window, or open it from a terminal: kneeclip view FILE"));
            }
            dialogs::Chosen::Cancelled => {}
        }
    }

    /// The whole UI, one frame (also driven by the egui_kittest tests).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let started = Instant::now();
        self.drain(&ctx);
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        if let Some(path) = dropped.first() {
            self.open(path);
        }
        egui::Panel::top("tabs").show(ui, |ui| self.tab_bar(ui));
        self.confirm_quit_while_training(&ctx);
        match self.tab {
            Tab::Viewer => {
                self.run_commands(&ctx);
                panels::show(self, ui);
                self.read_frame_asked_for();
            }
            Tab::Training => self.training_tab(ui),
        }
        // Progress of a run keeps arriving while the viewer is shown.
        self.training.poll();
        self.export.poll();
        // Kept for the next session: a reader files the day's reports in one folder.
        if self.export.last_folder.is_some() && self.export.last_folder != self.settings.report_folder {
            self.settings.report_folder = self.export.last_folder.clone();
        }
        if self.busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        let busy = self.busy();
        if let Some(log) = &mut self.frame_log {
            log.frame(&ctx, started.elapsed(), busy);
        }
        if self.screenshot.is_some() {
            let (ready, error) = (self.screenshot_ready(), self.screenshot_blocker());
            if let Some(shot) = &mut self.screenshot {
                shot.step(&ctx, ready, error.as_deref());
            }
        }
    }
}

impl KneeclipApp {
    fn tab_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, Tab::Viewer, "Viewer");
            ui.selectable_value(&mut self.tab, Tab::Training, "Training");
            let p = &self.training.progress;
            if self.tab == Tab::Viewer && self.training.running() {
                ui.small(format!("(training: epoch {}/{})", p.epoch, p.total_epochs));
            } else if self.tab == Tab::Viewer && self.training.unseen_end {
                // A run that ended while the reader was here is not missed.
                let (text, colour) = match &p.state {
                    training_tab::RunState::Finished(_) => ("(training finished: see the Training tab)", egui::Color32::from_rgb(120, 200, 120)),
                    training_tab::RunState::Cancelled { .. } => ("(training cancelled)", egui::Color32::from_rgb(240, 180, 60)),
                    _ => ("(training failed: see the Training tab)", egui::Color32::from_rgb(240, 90, 90)),
                };
                ui.colored_label(colour, text);
            }
        });
    }

    /// The training tab, with the viewer's model folder and device.
    fn training_tab(&mut self, ui: &mut egui::Ui) {
        let model = matches!(self.model, ModelStatus::Ready { .. })
            .then(|| training_jobs::ModelChoice { model_dir: self.model_dir(), device: self.settings.device });
        self.training.hide_patient = self.hide_patient;
        if let Some(training_tab::TrainingAction::UseHead(path)) = self.training.show(ui, model) {
            self.use_head(Some(&path));
            self.tab = Tab::Viewer;
        }
    }
}

impl eframe::App for KneeclipApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.hide_patient = self.hide_patient;
        eframe::set_value(storage, settings::STORAGE_KEY, &self.settings);
        if let Some(text) = &self.unreadable_settings {
            storage.set_string(settings::UNREADABLE_KEY, text.clone());
        }
        eframe::set_value(storage, training_tab::FORM_STORAGE_KEY, &self.training.saved_form());
    }
}
