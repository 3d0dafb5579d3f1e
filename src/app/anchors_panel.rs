//! The side panel's text sections: the five anchors (the classifier, edited
//! in place and re-scored as they change) and free-text queries.

use egui::Color32;

use super::KneeclipApp;
use super::dialogs;
use crate::grading::{GRADE_NAMES, Region, TextAnchors};

pub(super) fn anchors(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    let mut changed = false;
    if app.anchors().is_some_and(|a| a.is_default()) {
        // The paper's Table 1 numbers the grades 1-5; students read "Grade 1" under "KL 0".
        ui.small("The paper's own texts (its Table 1 numbers the grades 1–5: its Grade 1 is KL 0).");
    }
    // Text boxes get fixed ids: the lines above them (this hint, the grade's
    // notes) come and go as each re-grade lands, and an automatic id would
    // move with them and drop the focus mid-word, sending the next letters
    // to the view's shortcuts.
    for g in 0..5 {
        let label = ui.label(format!("KL {g} ({}) anchor", GRADE_NAMES[g]));
        let edit = egui::TextEdit::multiline(&mut app.settings.anchors[g]).id(egui::Id::unique(("anchor-text", g))).desired_rows(2).desired_width(f32::INFINITY);
        if ui.add(edit).labelled_by(label.id).changed() {
            changed = true;
            app.anchors_before_replace = None;
        }
    }
    // Reset and Load replace every text at once; what they replaced can be had back.
    let replace = |app: &mut KneeclipApp, how: &'static str, anchors: [String; 5]| {
        let differ = anchors != app.settings.anchors;
        if differ {
            app.anchors_before_replace = Some((how, std::mem::replace(&mut app.settings.anchors, anchors)));
        }
        differ
    };
    ui.horizontal(|ui| {
        if let Some(mine) = app.anchors_before_head.clone() {
            if ui.button("My anchors").on_hover_text("Back to the anchors in the editor before the head replaced them (not calibrated for the head)").clicked() {
                app.settings.anchors = mine;
                app.anchors_before_head = None;
                app.anchors_before_replace = None;
                changed = true;
            }
        }
        if ui.button("Reset").on_hover_text("Back to the anchors the model was calibrated with (the head's own, else the paper's)").clicked() {
            let calibrated = app.calibration_anchors();
            changed |= replace(app, "Reset", calibrated);
        }
        if let Some((how, before)) = app.anchors_before_replace.clone() {
            if ui.button(format!("Undo {how}")).on_hover_text("Back to the texts as they were before").clicked() {
                app.settings.anchors = before;
                app.anchors_before_replace = None;
                changed = true;
            }
        }
        if ui.button("Save…").clicked() {
            match (dialogs::choose(|| rfd::FileDialog::new().add_filter("JSON", &["json"]).save_file()), app.anchors()) {
                (dialogs::Chosen::Path(path), Some(a)) => {
                    if let Err(e) = a.save(&path) {
                        app.error = Some(e.to_string());
                    }
                }
                (dialogs::Chosen::Unavailable, _) => app.error = Some(dialogs::unavailable("Copy the anchors' texts by hand instead.")),
                _ => {}
            }
        }
        if ui.button("Load…").clicked() {
            let picked = match dialogs::choose(|| rfd::FileDialog::new().pick_file()) {
                dialogs::Chosen::Path(path) => Some(path),
                dialogs::Chosen::Unavailable => {
                    app.error = Some(dialogs::unavailable("Type or paste the anchors into the boxes instead."));
                    None
                }
                dialogs::Chosen::Cancelled => None,
            };
            if let Some(path) = picked {
                match TextAnchors::load(&path) {
                    Ok(a) => changed |= replace(app, "Load", a.anchors),
                    Err(e) => app.error = Some(e.to_string()),
                }
            }
        }
    });
    match app.anchors() {
        None => {
            ui.colored_label(Color32::from_rgb(240, 90, 90), "Every anchor needs some text.");
        }
        Some(a) if a.anchors != app.calibration_anchors() => {
            ui.colored_label(Color32::from_rgb(240, 180, 60), "Edited: the probabilities were calibrated for the training anchors.");
        }
        _ => {}
    }
    for warning in &app.anchor_warnings {
        ui.colored_label(Color32::from_rgb(240, 180, 60), format!("{warning}."));
    }
    if changed {
        app.anchors_changed();
    }
}

pub(super) fn query(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    let label = ui.label("One query per line:");
    ui.add(egui::TextEdit::multiline(&mut app.query_text).id(egui::Id::unique("query-text")).desired_rows(2).desired_width(f32::INFINITY)).labelled_by(label.id);
    if ui.button("Compare").clicked() {
        app.run_query();
    }
    let Some(first) = app.query_results.first() else { return };
    // One column per region: a film with both knees gets a value for each half.
    let regions: Vec<Region> = first.similarities.iter().map(|(r, _)| *r).collect();
    ui.label("Cosine similarity of the film to each query:");
    // The query column takes the panel's width left by the values: a
    // wrapping label in a grid otherwise shrinks to a word or two.
    let text_width = (ui.available_width() - regions.len() as f32 * 80.0 - 24.0).max(120.0);
    egui::Grid::new("queries").striped(true).show(ui, |ui| {
        ui.strong("query");
        for r in &regions {
            ui.strong(match r {
                Region::Whole => "similarity",
                Region::ImageLeft => "left half",
                Region::ImageRight => "right half",
            });
        }
        ui.end_row();
        for result in &app.query_results {
            ui.scope(|ui| {
                ui.set_width(text_width);
                ui.add(egui::Label::new(&result.text).wrap());
                if result.tokens_ignored > 0 {
                    ui.colored_label(Color32::from_rgb(240, 180, 60), format!("Only its first 77 tokens count: the last {} are ignored.", result.tokens_ignored));
                }
            });
            for (_, sim) in &result.similarities {
                ui.label(format!("{sim:.3}"));
            }
            ui.end_row();
        }
    });
}
