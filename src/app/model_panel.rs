//! The Grade section without a model: what happened, and what a reader can
//! do from the window first (a folder, a download), the command line after.

use std::path::{Path, PathBuf};

use egui::{Color32, RichText};

use super::{KneeclipApp, dialogs};

/// Why there is no model, headlined by what happened (a folder the user
/// named, a failed download, damaged weights), and what can be done from here.
pub(super) fn no_model(app: &mut KneeclipApp, ui: &mut egui::Ui, msg: &str) {
    ui.colored_label(Color32::from_rgb(230, 150, 60), RichText::new(app.model_headline).strong());
    let folder_in_effect = app.model_dir().is_some();
    let env_folder = std::env::var_os(crate::weights::MODEL_DIR_ENV).is_some_and(|v| !v.is_empty());
    // A broken system-wide folder stops the search before a download: offering one would fail the same way.
    let system_broken = app.model_headline == super::worker::SYSTEM_FOLDER_UNUSABLE;
    // --offline, or KNEECLIP_OFFLINE / HF_HUB_OFFLINE set: no download offered, and why said.
    let offline = crate::weights::offline_reason(app.offline);
    if folder_in_effect || env_folder {
        // A folder was named: its own message (what is missing there) is the news.
        ui.label(format!("Model folder: {}", super::panels::model_folder(app)));
        ui.add(egui::Label::new(msg).wrap());
    } else if system_broken {
        ui.add(egui::Label::new(msg).wrap());
    } else if let Some(why) = &offline {
        let started = if why == "--offline" { "Started with --offline".to_string() } else { format!("With {why} in the environment") };
        ui.add(egui::Label::new(format!(
            "{started}, kneeclip does not download the weights. Choose a folder holding config.json, \
             model.safetensors and tokenizer.json of CLIP ViT-B/32 (Choose folder… here or in the Model section)."
        )).wrap());
    } else {
        // Read at normal size, the window's way first (it once said only
        // `--model-dir` / KNEECLIP_MODEL_DIR, in 8 px type).
        ui.add(egui::Label::new(
            "Choose a folder holding config.json, model.safetensors and tokenizer.json of CLIP ViT-B/32 \
             (Choose folder… here or in the Model section), or download them when online.",
        ).wrap());
    }
    typed_folder_row(app, ui);
    ui.horizontal_wrapped(|ui| {
        choose_folder_button(app, ui);
        if folder_in_effect {
            let hover = if offline.is_some() { "Forget this folder: KNEECLIP_MODEL_DIR, else the cache, else the system-wide folder" } else { "Forget this folder: KNEECLIP_MODEL_DIR, else the cache, else the system-wide folder (and a download)" };
            if ui.button("Use the environment / the cache instead").on_hover_text(hover).clicked() {
                app.set_model_dir(None);
            }
        } else if !env_folder && !system_broken && offline.is_none() && ui.button("Download the base model (about 600 MB)").on_hover_text("From the Hugging Face hub, checked against models/manifest; cancel from the status bar").clicked() {
            // Only offered where a download is what loading would do: with a folder named it did nothing.
            app.request_model(true);
        }
    });
    let weak = |ui: &mut egui::Ui, text: String| ui.add(egui::Label::new(RichText::new(text).weak()).wrap());
    if env_folder && !folder_in_effect {
        weak(ui, format!("Unset {} to use the cache or download the weights.", crate::weights::MODEL_DIR_ENV));
    }
    if folder_in_effect || env_folder || system_broken {
        return;
    }
    // The exact folder: files put anywhere else under the cache are not found.
    if let Some(root) = app.cache_dir.clone().or_else(crate::weights::default_cache_dir) {
        let cache = crate::weights::model_cache_dir(&root, &crate::weights::Manifest::base());
        weak(ui, format!("Or place the three files in the folder {}.", cache.display()));
    }
    if let Some(system) = crate::weights::system_model_dirs(&crate::weights::data_dirs(), &crate::weights::Manifest::base()).first() {
        weak(ui, format!("An administrator can place them for every user of this computer in {}.", system.display()));
    }
    let download = if offline.is_some() { "" } else { "; `kneeclip grade` downloads them on first use" };
    weak(ui, format!("From a terminal: `kneeclip view --model-dir FOLDER`, or set {}=FOLDER{download}.", crate::weights::MODEL_DIR_ENV));
    // The lines above say what the message says (offline, a failed download): kept out of the way.
    egui::CollapsingHeader::new("Details").default_open(app.model_headline != super::worker::NO_WEIGHTS_OFFLINE && app.model_headline != "The weights could not be downloaded").show(ui, |ui| {
        ui.add(egui::Label::new(msg).wrap());
    });
}

/// Choose folder…: the model folder picked in a dialog (saved in the settings);
/// where the desktop can show none, typed in a row under the button.
pub(super) fn choose_folder_button(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    if ui.button("Choose folder…").on_hover_text("A folder with config.json, model.safetensors and tokenizer.json").clicked() {
        match dialogs::choose(|| rfd::FileDialog::new().pick_folder()) {
            dialogs::Chosen::Path(dir) => app.set_model_dir(Some(dir)),
            // A locked-down clinic desktop has no portal and no zenity, and
            // perhaps no terminal: the folder is typed here (install QA: only
            // a command line was offered, its advice cut off in the status bar).
            dialogs::Chosen::Unavailable => app.model_dir_typed = Some(app.model_dir_typed.take().unwrap_or_default()),
            dialogs::Chosen::Cancelled => {}
        }
    }
}

/// The model folder typed where no file dialog can be shown.
pub(super) fn typed_folder_row(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    let Some(typed) = app.model_dir_typed.as_mut() else { return };
    ui.add(egui::Label::new("No file dialog can be shown on this desktop (no xdg portal, no zenity): type the folder holding config.json, model.safetensors and tokenizer.json.").wrap());
    match typed_path_row(ui, typed, "model-folder-path", "Folder", Path::is_dir, "is not a folder") {
        Typed::Use(folder) => {
            app.model_dir_typed = None;
            app.set_model_dir(Some(folder));
        }
        Typed::Cancel => app.model_dir_typed = None,
        Typed::Editing => {}
    }
}

/// What a typed-path row came to this frame.
pub(super) enum Typed {
    Editing,
    Use(PathBuf),
    Cancel,
}

/// A path typed where no file dialog can be shown: its box (Enter uses it),
/// Use (for a path `usable` accepts) and Cancel, and what is wrong with the
/// text ("… is not a folder") while it is not usable.
pub(super) fn typed_path_row(ui: &mut egui::Ui, typed: &mut String, id: &str, label: &str, usable: impl Fn(&Path) -> bool, not_usable: &str) -> Typed {
    let path = PathBuf::from(typed.trim());
    let ok = usable(&path);
    let (mut use_it, mut close) = (false, false);
    ui.horizontal(|ui| {
        let label = ui.label(label);
        let width = (ui.available_width() - 120.0).max(80.0);
        let text = ui.add(egui::TextEdit::singleline(typed).id(egui::Id::unique(id)).desired_width(width)).labelled_by(label.id);
        let entered = text.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        use_it = ui.add_enabled(ok, egui::Button::new("Use")).clicked() || (ok && entered);
        close = ui.button("Cancel").clicked();
    });
    if !typed.trim().is_empty() && !ok {
        ui.colored_label(Color32::from_rgb(240, 180, 60), format!("{} {not_usable}", typed.trim()));
    }
    if use_it {
        Typed::Use(path)
    } else if close {
        Typed::Cancel
    } else {
        Typed::Editing
    }
}
