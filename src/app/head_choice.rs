//! Which fine-tuned head the viewer grades with: a file chosen in the Model
//! section (typed where no dialog can be shown), the Training tab's "Use this
//! head in the viewer", or `view --head` for one session. The reader's choice
//! is remembered, so a clinic's retrained head is there the next morning
//! (clinic QA: a head could only be used in the session that trained it, and
//! one trained with `kneeclip train` not at all).

use std::path::{Path, PathBuf};

use egui::RichText;

use super::model_panel::Typed;
use super::{KneeclipApp, dialogs};
use super::worker::Request;

/// Who asked for the head being loaded: what a success or failure changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HeadOrigin {
    /// Chosen in the window: remembered once it loads.
    Reader,
    /// Remembered from an earlier session: forgotten if it no longer loads.
    Saved,
    /// `view --head`: this session only.
    CommandLine,
}

pub(super) struct HeadRequest {
    pub path: Option<PathBuf>,
    pub origin: HeadOrigin,
}

impl KneeclipApp {
    /// Grades with the head at `path` from now on (None: the base model; the
    /// worker loads it). The reader's choice: remembered once it loads.
    pub fn use_head(&mut self, path: Option<&Path>) {
        self.cli_head = None;
        self.request_head(path.map(Path::to_path_buf), HeadOrigin::Reader);
    }

    /// `view --head FILE`: graded with from the model's loading on, this session only.
    pub fn set_cli_head(&mut self, path: PathBuf) {
        self.cli_head = Some(path);
    }

    /// The file of the head in use, if any.
    pub fn head_path(&self) -> Option<&Path> {
        self.head_path.as_deref()
    }

    fn request_head(&mut self, path: Option<PathBuf>, origin: HeadOrigin) {
        self.pending.head = Some(self.worker.send(Request::LoadHead(path.clone())));
        self.head_request = Some(HeadRequest { path, origin });
    }

    /// A model has loaded (without a head): asks for the session's head, else
    /// the remembered one. False when there is none to load.
    pub(super) fn reload_head(&mut self) -> bool {
        let (path, origin) = match (&self.cli_head, &self.settings.head) {
            (Some(path), _) => (path.clone(), HeadOrigin::CommandLine),
            (None, Some(path)) => (path.clone(), HeadOrigin::Saved),
            (None, None) => return false,
        };
        self.request_head(Some(path), origin);
        true
    }

    /// The head asked for is in use.
    pub(super) fn head_loaded(&mut self) {
        if let Some(request) = self.head_request.take() {
            self.head_path = request.path.clone();
            if request.origin == HeadOrigin::Reader {
                self.settings.head = request.path;
            }
        }
    }

    /// The head asked for could not be loaded: the message to show. A head
    /// remembered or named on the command line is let go of, so that the base
    /// model grades and the reader is told once, not at every start.
    pub(super) fn head_failed(&mut self, msg: &str) -> String {
        let Some(HeadRequest { path: Some(path), origin }) = self.head_request.take() else { return msg.to_owned() };
        // The loader's message names the file as a rule: not twice.
        let named = if msg.contains(&path.display().to_string()) { msg.to_owned() } else { format!("{}: {msg}", path.display()) };
        match origin {
            HeadOrigin::Reader => msg.to_owned(),
            HeadOrigin::Saved => {
                self.settings.head = None;
                format!("The head used last time could not be loaded, so the base model grades: {named}")
            }
            HeadOrigin::CommandLine => {
                self.cli_head = None;
                format!("--head {named}; the base model grades")
            }
        }
    }
}

/// The Model section's head row: the head in use and its file, Load head…,
/// and the way back to the base model.
pub(super) fn head_row(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    if let Some(head) = app.head.clone() {
        ui.label(format!("Fine-tuned head: {head}"));
        if let Some(path) = app.head_path() {
            ui.add(egui::Label::new(RichText::new(path.display().to_string()).weak().small()).wrap());
        }
    }
    ui.horizontal(|ui| {
        let hint = "A head written by kneeclip train or the Training tab (NAME.safetensors, its NAME.json beside it); remembered for the next session";
        if ui.button("Load head…").on_hover_text(hint).clicked() {
            match dialogs::choose(|| rfd::FileDialog::new().add_filter("kneeclip head", &["safetensors"]).pick_file()) {
                dialogs::Chosen::Path(path) => app.use_head(Some(&path)),
                dialogs::Chosen::Unavailable => app.head_typed = Some(app.head_typed.take().unwrap_or_default()),
                dialogs::Chosen::Cancelled => {}
            }
        }
        if app.head.is_some() && ui.button("Use the base model").on_hover_text("Grade without the fine-tuned head (and forget it for the next session)").clicked() {
            app.use_head(None);
        }
    });
    typed_head_row(app, ui);
}

/// The head's file typed where no file dialog can be shown.
fn typed_head_row(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    let Some(typed) = app.head_typed.as_mut() else { return };
    ui.add(egui::Label::new("No file dialog can be shown on this desktop: type the head's file (NAME.safetensors).").wrap());
    match super::model_panel::typed_path_row(ui, typed, "viewer-head-path", "Head", Path::is_file, "is not a file") {
        Typed::Use(file) => {
            app.head_typed = None;
            app.use_head(Some(&file));
        }
        Typed::Cancel => app.head_typed = None,
        Typed::Editing => {}
    }
}
