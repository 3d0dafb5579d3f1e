//! Anchors saved to and loaded from a file: by the desktop's dialog, else by
//! a typed path (as Export report), with what became of it in the status bar.

use std::path::{Path, PathBuf};

use super::KneeclipApp;
use super::dialogs;
use crate::grading::TextAnchors;

/// The name the Save dialog and the typed path suggest.
pub const SUGGESTED_NAME: &str = "anchors.json";

/// Save or Load, for the typed-path row shown where no dialog can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Save,
    Load,
}

/// The typed-path row: which way, and the path so far.
#[derive(Clone, Debug)]
pub struct Typed {
    pub direction: Direction,
    pub path: String,
}

/// Writes `anchors` to `path` as JSON; the error names the file and says
/// what kept it from being written (the texts themselves are fine).
pub fn save(anchors: &TextAnchors, path: &Path) -> Result<(), String> {
    let cannot = |why: String| format!("cannot save the anchors to {}: {why}", path.display());
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder.filter(|f| !f.is_dir()) {
        return Err(cannot(format!("the folder {} does not exist", folder.display())));
    }
    if path.is_dir() {
        return Err(cannot("that is a folder".into()));
    }
    let json = serde_json::to_string_pretty(anchors).expect("strings serialise");
    crate::files::write_atomically(path, json.as_bytes()).map_err(|e| cannot(e.to_string()))
}

/// Save…: the dialog (with a suggested name), else the typed-path row.
pub fn save_clicked(app: &mut KneeclipApp) {
    let Some(anchors) = app.anchors() else {
        said(app, Err("cannot save the anchors: every anchor needs some text".into()));
        return;
    };
    let dialog = || rfd::FileDialog::new().set_title("Save the anchors").set_file_name(SUGGESTED_NAME).add_filter("JSON", &["json"]).save_file();
    match dialogs::choose(dialog) {
        dialogs::Chosen::Path(path) => said(app, save(&anchors, &path).map(|()| format!("Anchors saved to {}", path.display()))),
        dialogs::Chosen::Unavailable => app.anchors_typed = Some(Typed { direction: Direction::Save, path: suggested_path() }),
        dialogs::Chosen::Cancelled => {}
    }
}

/// Load…: the chosen file, else the typed-path row; `None` until a file is read.
pub fn load_clicked(app: &mut KneeclipApp) -> Option<TextAnchors> {
    match dialogs::choose(|| rfd::FileDialog::new().set_title("Load anchors").add_filter("Anchors", &["json", "txt"]).pick_file()) {
        dialogs::Chosen::Path(path) => load(app, &path),
        dialogs::Chosen::Unavailable => {
            app.anchors_typed = Some(Typed { direction: Direction::Load, path: suggested_path() });
            None
        }
        dialogs::Chosen::Cancelled => None,
    }
}

/// Reads `path`, saying how it went in the status bar.
pub fn load(app: &mut KneeclipApp, path: &Path) -> Option<TextAnchors> {
    match TextAnchors::load(path) {
        Ok(a) => {
            said(app, Ok(format!("Anchors loaded from {}", path.display())));
            Some(a)
        }
        Err(e) => {
            said(app, Err(e.to_string()));
            None
        }
    }
}

fn suggested_path() -> String {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(SUGGESTED_NAME).display().to_string()
}

/// The typed-path row under the anchors' buttons; the anchors read when Load is pressed.
pub fn typed_row(app: &mut KneeclipApp, ui: &mut egui::Ui) -> Option<TextAnchors> {
    let typed = app.anchors_typed.as_mut()?;
    // An existing file is said before Save writes over it, as Export report's typed path does.
    let replaces = typed.direction == Direction::Save && Path::new(typed.path.trim()).is_file();
    let (verb, action) = match typed.direction {
        Direction::Save => ("save the anchors to", if replaces { "Replace" } else { "Save" }),
        Direction::Load => ("load the anchors from", "Load"),
    };
    ui.add(egui::Label::new(format!("No file dialog can be shown on this desktop (no xdg portal, no zenity): type the file to {verb}.")).wrap());
    let mut go = None;
    let mut close = false;
    ui.horizontal(|ui| {
        let label = ui.label("File");
        let width = (ui.available_width() - 120.0).max(80.0);
        ui.add(egui::TextEdit::singleline(&mut typed.path).id(egui::Id::unique("anchors-path")).desired_width(width)).labelled_by(label.id);
        if ui.add_enabled(!typed.path.trim().is_empty(), egui::Button::new(action)).clicked() {
            go = Some((typed.direction, PathBuf::from(typed.path.trim())));
        }
        close = ui.button("Cancel").clicked();
    });
    if replaces {
        ui.colored_label(egui::Color32::from_rgb(240, 180, 60), format!("{} exists: Replace writes the anchors over it.", typed.path.trim()));
    }
    if close {
        app.anchors_typed = None;
    }
    let (direction, path) = go?;
    match direction {
        Direction::Save => {
            let Some(anchors) = app.anchors() else {
                said(app, Err("cannot save the anchors: every anchor needs some text".into()));
                return None;
            };
            let outcome = save(&anchors, &path);
            // Kept open after a failure, to correct the path.
            if outcome.is_ok() {
                app.anchors_typed = None;
            }
            said(app, outcome.map(|()| format!("Anchors saved to {}", path.display())));
            None
        }
        Direction::Load => {
            let loaded = load(app, &path);
            if loaded.is_some() {
                app.anchors_typed = None;
            }
            loaded
        }
    }
}

/// Puts a Save or Load outcome in the status bar, as new even when worded as the last one.
fn said(app: &mut KneeclipApp, outcome: Result<String, String>) {
    app.anchors_file_status = Some(outcome);
    app.anchors_file_generation += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_that_fails_names_the_file_not_the_anchors() {
        let tmp = tempfile::tempdir().unwrap();
        let anchors = TextAnchors::default();
        let e = save(&anchors, Path::new("/nonexist/dir/x.json")).unwrap_err();
        assert_eq!(e, "cannot save the anchors to /nonexist/dir/x.json: the folder /nonexist/dir does not exist");
        let e = save(&anchors, tmp.path()).unwrap_err();
        assert!(e.starts_with("cannot save the anchors to ") && e.ends_with("that is a folder"), "{e}");
        let out = tmp.path().join("a.json");
        save(&anchors, &out).unwrap();
        assert_eq!(TextAnchors::load(&out).unwrap().anchors, anchors.anchors);
    }
}
