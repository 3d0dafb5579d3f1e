//! The Export report window: what goes in, the patient-data choice, then a
//! save dialog per format (or a typed path where none can be shown).

use std::path::PathBuf;

use egui::{Color32, RichText};

use crate::app::{KneeclipApp, dialogs};

const AMBER: Color32 = Color32::from_rgb(240, 180, 60);

pub fn show(app: &mut KneeclipApp, ctx: &egui::Context) {
    let mut open = app.export.open;
    let mut chosen: Option<PathBuf> = None;
    egui::Window::new("Export report").open(&mut open).collapsible(false).resizable(false).default_width(420.0).show(ctx, |ui| {
        ui.label("The whole film as shown (window, inversion, rotation and flips, and the heatmap when it is on) with your length measurements, the grade and the five probabilities and similarities of each knee, the anchors, the model and head, the date, and the decision-aid statement.");
        if app.hide_grade {
            // A teacher hiding the grade for a quiz would otherwise put it on the slide unawares.
            ui.colored_label(AMBER, "The grade is hidden on screen, but the report shows it.");
        }
        ui.add_space(4.0);
        ui.add_enabled_ui(!app.hide_patient, |ui| {
            ui.checkbox(&mut app.export.include_patient_data, "Include patient data (name, ID, birth date, file name)")
                .on_disabled_hover_text("Patient data is hidden: show it first (Shift+F12) to put it in a report");
        });
        // Said, not only on hover (QA: greyed out with no reason given).
        if app.hide_patient {
            ui.colored_label(AMBER, "Patient data is hidden: Show patient data (Shift+F12) to include it.");
        }
        if app.hide_patient || !app.export.include_patient_data {
            ui.label(RichText::new("Without patient data, a DICOM report gets a new patient and study: it will not file with the original case in PACS.").small());
            if app.view.as_ref().and_then(|v| crate::report::content::burned_in_annotation(&v.film)) == Some(true) {
                ui.colored_label(AMBER, "This film carries burned-in annotation (its Burned In Annotation is YES): the report shows the film, so it may still identify the patient.");
            }
        }
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            let formats = [
                ("Save PDF…", "pdf", "PDF", "A printable page"),
                ("Save PNG…", "png", "PNG image", "The same page as an image"),
                ("Save JSON…", "json", "JSON", "The figures, for other programs"),
                ("Save DICOM…", "dcm", "DICOM", "The page as a DICOM Secondary Capture for a PACS; with patient data it joins the film's study"),
            ];
            for (label, ext, kind, tip) in formats {
                if ui.add_enabled(!app.export.running(), egui::Button::new(label)).on_hover_text(tip).clicked() {
                    let suggested = app.suggested_report_path(ext);
                    let dialog = || {
                        let mut d = rfd::FileDialog::new().set_title("Export report").add_filter(kind, &[ext]);
                        if let Some(folder) = suggested.parent() {
                            d = d.set_directory(folder);
                        }
                        d.set_file_name(suggested.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).save_file()
                    };
                    match dialogs::choose(dialog) {
                        dialogs::Chosen::Path(path) => chosen = Some(path),
                        // Offer a typed path in the window instead.
                        dialogs::Chosen::Unavailable => {
                            app.export.typed_path = Some(suggested.display().to_string());
                            app.export.typed_suggested = app.export.typed_path.clone();
                        }
                        dialogs::Chosen::Cancelled => {}
                    }
                }
            }
        });
        // A proposal after the film's name is proposed again without it once
        // patient data is left out (hidden, or unticked); what the reader typed stays.
        if let Some(proposed) = app.export.typed_suggested.clone().filter(|p| app.export.typed_path.as_ref() == Some(p)) {
            let ext = std::path::Path::new(&proposed).extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "pdf".into());
            let now = app.suggested_report_path(&ext).display().to_string();
            if now != proposed {
                (app.export.typed_path, app.export.typed_suggested) = (Some(now.clone()), Some(now));
            }
        }
        let running = app.export.running();
        if let Some(typed) = &mut app.export.typed_path {
            ui.add_space(4.0);
            ui.label("No file dialog can be shown on this desktop (no xdg portal, no zenity): type where to save; the name's ending (.pdf, .png, .json, .dcm) picks the format.");
            ui.horizontal(|ui| {
                let label = ui.label("Save to");
                let field = ui.add(egui::TextEdit::singleline(typed).id(egui::Id::unique("export-path")).desired_width(300.0)).labelled_by(label.id);
                // Enter in the field saves, as the button does (QA: it did nothing).
                let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                // An existing file is said before it is written over (the dialog asks; QA: this replaced it silently).
                let exists = std::path::Path::new(typed.trim()).is_file();
                let clicked = ui.add_enabled(!typed.trim().is_empty(), egui::Button::new(if exists { "Replace" } else { "Save" })).clicked();
                if (clicked || entered) && !typed.trim().is_empty() && !running {
                    chosen = Some(PathBuf::from(typed.trim()));
                }
            });
            if std::path::Path::new(typed.trim()).is_file() {
                ui.colored_label(AMBER, format!("{} exists: Replace writes over it.", typed.trim()));
            }
        }
        if app.export.running() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Writing the report…");
            });
        } else if let Some(Err(e)) = &app.export.last {
            // Whole, wrapped: the status bar cuts a long path off.
            ui.add_space(4.0);
            ui.add(egui::Label::new(RichText::new(format!("Not written: {e}")).color(Color32::from_rgb(240, 90, 90))).wrap());
        }
    });
    // Closed by hand, or (in `Export::poll`) once the report is written.
    app.export.open = open;
    if let Some(out) = chosen {
        app.export_report(ctx, out);
    }
}
