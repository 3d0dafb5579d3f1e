//! The side panel's text sections: the five anchors (the classifier, edited
//! in place and re-scored as they change) and free-text queries.

use egui::Color32;

use super::KneeclipApp;
use crate::grading::{GRADE_NAMES, Region};

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
        let label = ui.label(anchor_label(g, &app.settings.anchors[g]));
        let edit = egui::TextEdit::multiline(&mut app.settings.anchors[g]).id(egui::Id::unique(("anchor-text", g))).desired_rows(2).desired_width(f32::INFINITY);
        // Undo Reset / Load stays through edits (QA: typing once lost the
        // texts from before a Reset): the next Reset or Load replaces it.
        if ui.add(edit).labelled_by(label.id).changed() {
            changed = true;
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
            if ui.button(format!("Undo {how}")).on_hover_text(format!("Back to the texts as they were before the {how} (edits made since are replaced)")).clicked() {
                app.settings.anchors = before;
                app.anchors_before_replace = None;
                changed = true;
            }
        }
        if ui.button("Save…").on_hover_text(format!("Save the five texts as JSON (e.g. {})", super::anchors_file::SUGGESTED_NAME)).clicked() {
            super::anchors_file::save_clicked(app);
        }
        if ui.button("Load…").on_hover_text("Load five texts: a JSON file, or a text file of five lines").clicked() {
            if let Some(a) = super::anchors_file::load_clicked(app) {
                changed |= replace(app, "Load", a.anchors);
            }
        }
    });
    if let Some(a) = super::anchors_file::typed_row(app, ui) {
        changed |= replace(app, "Load", a.anchors);
    }
    match app.anchors() {
        None => {
            ui.colored_label(Color32::from_rgb(240, 90, 90), "Every anchor needs some text.");
        }
        Some(a) if a.anchors != app.calibration_anchors() => {
            ui.colored_label(Color32::from_rgb(240, 180, 60), format!("Edited: the probabilities were calibrated for {}.", super::panels::calibrated_for(app)));
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

/// "KL 0 (Normal) — the paper's Grade 1" over a text in the paper's 1–5
/// numbering ("KL 2" above "Grade 3 (mild)" read as a slip on a lecture slide), else "KL 0 (Normal) anchor".
fn anchor_label(grade: usize, text: &str) -> String {
    let papers = format!("Grade {}", grade + 1);
    let numbered = text.trim_start().strip_prefix(&papers).is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()));
    if numbered { format!("KL {grade} ({}) — the paper's {papers}", GRADE_NAMES[grade]) } else { format!("KL {grade} ({}) anchor", GRADE_NAMES[grade]) }
}

pub(super) fn query(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    let label = ui.label("One query per line:");
    ui.add(egui::TextEdit::multiline(&mut app.query_text).id(egui::Id::unique("query-text")).desired_rows(2).desired_width(f32::INFINITY)).labelled_by(label.id);
    // Said under the button until the box has text again; the results
    // of a Compare are scrolled into view once they come (they landed below the fold).
    let (empty_compare, reveal) = (egui::Id::unique("query-compare-empty"), egui::Id::unique("query-reveal-results"));
    if ui.button("Compare").clicked() {
        let empty = app.query_text.trim().is_empty();
        ui.data_mut(|d| {
            d.insert_temp(empty_compare, empty);
            d.insert_temp(reveal, !empty);
        });
        app.run_query();
    }
    if ui.data(|d| d.get_temp(empty_compare).unwrap_or(false)) {
        if app.query_text.trim().is_empty() {
            ui.colored_label(Color32::from_rgb(240, 180, 60), "Type one query per line, then Compare.");
        } else {
            ui.data_mut(|d| d.remove::<bool>(empty_compare));
        }
    }
    if app.query_results.is_empty() {
        return;
    }
    let shown = ui.scope(|ui| results(app, ui)).response.rect;
    if !app.busy() && ui.data_mut(|d| d.remove_temp::<bool>(reveal).unwrap_or(false)) {
        ui.scroll_to_rect(shown, None);
    }
}

/// The similarity of the film to each query, a row each.
fn results(app: &KneeclipApp, ui: &mut egui::Ui) {
    let Some(first) = app.query_results.first() else { return };
    // One column per region: a film with both knees gets a value for each half.
    let regions: Vec<Region> = first.similarities.iter().map(|(r, _)| *r).collect();
    ui.label("Cosine similarity of the film to each query:");
    // Values in fixed columns first, each query's text wrapped in what is
    // left of the row: a grid sized from the panel's width fed back into
    // it, and one long query widened the panel over the film.
    const VALUE_WIDTH: f32 = 72.0;
    let header = |r: &Region| match r {
        Region::Whole => "similarity",
        Region::ImageLeft => "left half",
        Region::ImageRight => "right half",
    };
    ui.horizontal(|ui| {
        for r in &regions {
            ui.add_sized([VALUE_WIDTH, 18.0], egui::Label::new(egui::RichText::new(header(r)).strong()));
        }
        ui.strong("query");
    });
    for result in &app.query_results {
        ui.separator();
        ui.horizontal_top(|ui| {
            for (_, sim) in &result.similarities {
                ui.add_sized([VALUE_WIDTH, 18.0], egui::Label::new(format!("{sim:.3}")));
            }
            ui.vertical(|ui| {
                ui.add(egui::Label::new(&result.text).wrap());
                if result.tokens_ignored > 0 {
                    let warning = format!("Only its first 77 tokens count: the last {} are ignored.", result.tokens_ignored);
                    ui.add(egui::Label::new(egui::RichText::new(warning).color(Color32::from_rgb(240, 180, 60))).wrap());
                }
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::anchor_label;
    use crate::grading::TextAnchors;

    #[test]
    fn the_label_names_the_papers_grade_over_the_papers_numbering_only() {
        let paper = TextAnchors::default().anchors;
        assert_eq!(anchor_label(0, &paper[0]), "KL 0 (Normal) — the paper's Grade 1");
        assert_eq!(anchor_label(4, &paper[4]), "KL 4 (Severe) — the paper's Grade 5");
        assert_eq!(anchor_label(1, "Grade 10 of something"), "KL 1 (Doubtful) anchor");
        assert_eq!(anchor_label(2, "mild joint space narrowing"), "KL 2 (Mild) anchor");
    }
}
