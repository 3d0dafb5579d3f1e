//! The Training tab's form widgets: path fields with their dialogs, the
//! dataset check's summary, the split, and the options.

use std::path::{Path, PathBuf};

use egui::RichText;

use super::training_tab::{AMBER, Check, RED};
use crate::metrics::GRADES;
use crate::training::session::Plan;
use crate::training::trainer::{EarlyStopOn, TrainConfig};

/// A labelled path field with a Browse… button (and, with `csv`, a CSV…
/// one: a dataset may be a CSV of path,grade). Returns the path to check when
/// the user picked one, or left the field (Enter, click elsewhere) with a
/// path other than the one checked. Where no file dialog can be shown,
/// `note` says so.
pub(super) fn folder_field(ui: &mut egui::Ui, label: &str, text: &mut String, checked: Option<&Path>, enabled: bool, csv: bool, note: &mut Option<String>) -> Option<PathBuf> {
    use super::dialogs::{Chosen, choose, unavailable};
    let mut chosen = None;
    ui.add_enabled_ui(enabled, |ui| {
        let l = ui.label(label);
        ui.horizontal(|ui| {
            let edit = ui.add(egui::TextEdit::singleline(text).id(egui::Id::unique(("path-field", label))).desired_width(300.0)).labelled_by(l.id);
            let typed = typed_path(text);
            if edit.lost_focus() && Some(typed.as_path()) != checked && !(checked.is_none() && text.trim().is_empty()) {
                chosen = Some(typed);
            }
            let mut picked = Chosen::Cancelled;
            if ui.button("Browse…").on_hover_text(format!("Choose the {} (a folder of grade folders)", label.to_lowercase())).clicked() {
                picked = choose(|| rfd::FileDialog::new().set_title(label).pick_folder());
            }
            if csv && ui.button("CSV…").on_hover_text("Choose a CSV of path,grade instead of a folder").clicked() {
                picked = choose(|| rfd::FileDialog::new().set_title(label).add_filter("CSV", &["csv"]).pick_file());
            }
            match picked {
                Chosen::Path(path) => {
                    *note = None;
                    chosen = Some(path);
                }
                Chosen::Unavailable => *note = Some(unavailable("Type the path in the field and press Enter.")),
                Chosen::Cancelled => {}
            }
        });
    });
    chosen
}

/// A path as typed: trimmed, and `~/` as the home folder (as a shell would).
pub(super) fn typed_path(text: &str) -> PathBuf {
    let text = text.trim();
    match (text.strip_prefix("~/").or((text == "~").then_some("")), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if !home.is_empty() => PathBuf::from(home).join(rest),
        _ => PathBuf::from(text),
    }
}

/// Films per grade (with knee sides), unreadable files and the refusal of a checked dataset.
pub(super) fn check_summary(ui: &mut egui::Ui, check: &Check, id: &str, hide_patient: bool) {
    match check {
        Check::None => {}
        Check::Running(job) => {
            ui.horizontal(|ui| {
                ui.spinner();
                let (checked, listed) = job.progress;
                ui.label(if listed > 0 { format!("Checking films… {checked}/{listed}") } else { "Listing films…".into() });
            });
        }
        Check::Done { scanned, .. } => {
            if let Some(d) = &scanned.dataset {
                let s = &d.summary;
                ui.label(format!("{} readable films", s.total()));
                egui::Grid::new(("summary", id)).striped(true).show(ui, |ui| {
                    for h in ["KL", "films", "left knee", "right knee"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for g in 0..GRADES {
                        ui.label(g.to_string());
                        let films = s.films_per_grade[g].to_string();
                        if s.films_per_grade[g] == 0 {
                            ui.colored_label(RED, films);
                        } else {
                            ui.label(films);
                        }
                        ui.label(s.knee_sides.left[g].to_string());
                        ui.label(s.knee_sides.right[g].to_string());
                        ui.end_row();
                    }
                });
                let n = s.unreadable.len();
                file_list(ui, hide_patient, ("unreadable", id), &format!("{n} unreadable {} (skipped)", if n == 1 { "file" } else { "files" }), &s.unreadable);
                let n = s.cautioned.len();
                let what = if n == 1 { "film's header says it is not a knee radiograph (kept: check it)" } else { "films' headers say they are not knee radiographs (kept: check them)" };
                file_list(ui, hide_patient, ("cautioned", id), &format!("{n} {what}"), &s.cautioned);
                let n = s.left_out.len();
                file_list(ui, hide_patient, ("left out", id), &format!("{n} left out (not in a grade folder)"), &s.left_out);
                let n = s.notes.len();
                file_list(ui, hide_patient, ("notes", id), &format!("{n} {} (links not followed, files counted once)", if n == 1 { "note" } else { "notes" }), &s.notes);
            }
            if let Some(refusal) = &scanned.refusal {
                ui.colored_label(RED, format!("Cannot train on this: {refusal}"));
            }
        }
    }
}

pub(super) fn split_summary(ui: &mut egui::Ui, plan: &Plan) {
    let s = plan.split();
    ui.label(format!("{} films train, {} validate", plan.train.len(), plan.val.len()));
    egui::Grid::new("split").striped(true).show(ui, |ui| {
        ui.strong("KL");
        for g in 0..GRADES {
            ui.strong(g.to_string());
        }
        ui.end_row();
        for (name, counts) in [("train", s.train), ("validate", s.validation)] {
            ui.label(name);
            for c in counts {
                ui.label(c.to_string());
            }
            ui.end_row();
        }
    });
    for w in plan.warnings() {
        ui.colored_label(AMBER, w);
    }
}

pub(super) fn options(ui: &mut egui::Ui, c: &mut TrainConfig) {
    egui::Grid::new("training-options").num_columns(2).show(ui, |ui| {
        labelled(ui, "Epochs", |ui| ui.add(egui::DragValue::new(&mut c.epochs).range(1..=1000)));
        labelled(ui, "Batch size", |ui| ui.add(egui::DragValue::new(&mut c.batch_size).range(1..=1024)));
        labelled(ui, "Learning rate", |ui| ui.add(scientific(&mut c.lr)));
        labelled(ui, "Weight decay", |ui| ui.add(scientific(&mut c.weight_decay)));
        labelled(ui, "Patience (epochs)", |ui| ui.add(egui::DragValue::new(&mut c.patience).range(1..=1000)));
        labelled(ui, "Early stopping on", |ui| {
            egui::ComboBox::from_id_salt("early-stop")
                .selected_text(c.early_stop_on.label())
                .show_ui(ui, |ui| {
                    for m in [EarlyStopOn::Loss, EarlyStopOn::Accuracy] {
                        ui.selectable_value(&mut c.early_stop_on, m, m.label());
                    }
                })
                .response
        });
        labelled(ui, "Seed", |ui| ui.add(egui::DragValue::new(&mut c.seed)));
        labelled(ui, "Adapter bottleneck", |ui| ui.add(egui::DragValue::new(&mut c.bottleneck).range(1..=4096)));
        labelled(ui, "Flip-consistency weight", |ui| {
            ui.add(egui::DragValue::new(&mut c.flip_consistency).range(0.0..=10.0).speed(0.05))
                .on_hover_text("CLIP-KOA's term: a mirrored film should get the same probabilities (0 = off; costs a second pass per batch)")
        });
    });
    ui.checkbox(&mut c.class_weighted, "Class-weighted loss").on_hover_text("Weight each grade's loss by its inverse frequency in the training films");
}


/// A collapsed amber line over (file, reason) pairs, at most 200 shown;
/// nothing when there are none.
fn file_list(ui: &mut egui::Ui, hide_patient: bool, id: impl std::hash::Hash + std::fmt::Debug, title: &str, files: &[(String, String)]) {
    if files.is_empty() {
        return;
    }
    egui::CollapsingHeader::new(RichText::new(title).color(AMBER)).id_salt(id).show(ui, |ui| {
        // Film names are often patient IDs, and a caution quotes a header's text (privacy QA).
        if hide_patient {
            ui.small("File names and header texts are hidden with the patient data (Shift+F12 shows them).");
            return;
        }
        for (file, why) in files.iter().take(200) {
            ui.small(format!("{file}: {why}"));
        }
        if files.len() > 200 {
            ui.small(format!("… and {} more", files.len() - 200));
        }
    });
}
fn labelled(ui: &mut egui::Ui, text: &str, widget: impl FnOnce(&mut egui::Ui) -> egui::Response) {
    let label = ui.label(text);
    widget(ui).labelled_by(label.id);
    ui.end_row();
}

/// A drag value for small positive numbers shown as 1.0e-4; type to set it exactly.
fn scientific(value: &mut f64) -> egui::DragValue<'_> {
    egui::DragValue::new(value)
        .range(0.0..=1.0)
        .speed(1e-6)
        .custom_formatter(|v, _| format!("{v:.1e}"))
        .custom_parser(|s| s.trim().parse().ok())
}
