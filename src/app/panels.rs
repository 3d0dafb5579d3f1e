//! The panels around the film: toolbar, status bar, grade, anchors, queries, tags.

use egui::{Color32, RichText};
use egui_extras::{Column, TableBuilder};

use super::commands::{self, Command};
use crate::grading::grader::BORDERLINE_MARGIN;
use super::film_view::{Overlay, Tool};
use super::status_messages::Message;
use super::{KneeclipApp, ModelStatus};
use crate::grading::GRADE_NAMES;

pub fn show(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    egui::Panel::top("toolbar").show(ui, |ui| toolbar(app, ui));
    egui::Panel::bottom("status").show(ui, |ui| status(app, ui));
    // The film keeps at least half the window: a panel widened by its
    // contents (or a width saved so) once left the film a strip, restart after restart.
    let most = side_panel_max(ui.available_width());
    egui::Panel::right("side").default_size(380.0_f32.min(most)).max_size(most).show(ui, |ui| {
        // A scroll bar beside the contents, not over them (it hid the anchor boxes' right border).
        ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
        egui::ScrollArea::vertical().show(ui, |ui| {
            side_keeping_height(app, ui);
            super::focus_scroll::keep_focus_in_sight(ui);
        });
    });
    egui::CentralPanel::default().show(ui, |ui| centre(app, ui));
    super::about::window(ui.ctx(), &mut app.show_about);
    super::shortcuts::window(ui.ctx());
    super::export::window(app, ui.ctx());
}

/// The side panel's widest, for a window `width` wide: half of it (a
/// saved width beyond is clamped when the panel is next drawn).
pub fn side_panel_max(width: f32) -> f32 {
    (width * 0.5).max(240.0)
}

fn button(app: &mut KneeclipApp, ui: &mut egui::Ui, command: Command, selected: bool) {
    enabled_button(app, ui, command, selected, true);
}

/// A toolbar button added straight into the wrapping row (not inside a child
/// ui, whose width is what is left of the row: a label there wrapped onto two
/// lines instead of the button moving to the next row).
fn enabled_button(app: &mut KneeclipApp, ui: &mut egui::Ui, command: Command, selected: bool, enabled: bool) {
    let info = commands::info(command);
    let tip = commands::tooltip(ui.ctx(), command);
    if ui.add_enabled(enabled, egui::Button::selectable(selected, info.label)).on_hover_text(tip.clone()).on_disabled_hover_text(tip).clicked() {
        app.push(command);
    }
}

/// A hide / show button, highlighted while hidden and named for what a
/// click does (QA: it read "Hide grade" while the grade was hidden).
fn toggle(app: &mut KneeclipApp, ui: &mut egui::Ui, command: Command, hidden: bool, show: &str) {
    let label = if hidden { show } else { commands::info(command).label };
    if ui.add(egui::Button::selectable(hidden, label)).on_hover_text(commands::tooltip(ui.ctx(), command)).clicked() {
        app.push(command);
    }
}

fn toolbar(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        button(app, ui, Command::Open, false);
        ui.menu_button("Recent", |ui| {
            // One line a path, the menu as wide as they are: it kept the width
            // of the hidden names' entries and broke paths mid-word (QA).
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
            if app.settings.recent.is_empty() {
                ui.label("No recent files");
            }
            for (i, path) in app.settings.recent.clone().into_iter().enumerate() {
                // Hidden names still need telling apart: by place and type.
                let kind = path.extension().map(|e| format!(", .{}", e.to_string_lossy().to_lowercase())).unwrap_or_default();
                let name = if app.hide_patient {
                    format!("{}. (name hidden{kind})", i + 1)
                } else if app.hide_grade {
                    // A quiz: a dataset's folders (oai-kl/test/2/) are the answer (teacher QA).
                    format!("{} (folder hidden with the grade)", path.file_name().unwrap_or_default().to_string_lossy())
                } else {
                    path.display().to_string()
                };
                if ui.button(name).clicked() {
                    app.open(&path);
                    ui.close();
                }
            }
            // The list is kept in the settings file (docs/PRIVACY.md): one click forgets it.
            ui.separator();
            let clear = ui.add_enabled(!app.settings.recent.is_empty(), egui::Button::new("Clear recent"));
            if clear.on_hover_text("Forget every film in this list (the files stay where they are)").clicked() {
                app.settings.recent.clear();
                ui.close();
            }
        });
        let (before, after) = (app.has_film_beside(-1), app.has_film_beside(1));
        enabled_button(app, ui, Command::PreviousFilm, false, before);
        enabled_button(app, ui, Command::NextFilm, false, after);
        ui.separator();
        // The view's buttons are greyed out with no film to act on.
        let film = app.view.is_some();
        for c in [Command::Fit, Command::ZoomIn, Command::ZoomOut, Command::Rotate, Command::FlipH, Command::FlipV, Command::Reset] {
            enabled_button(app, ui, c, false, film);
        }
        let inverted = app.view.as_ref().is_some_and(|v| v.state.invert);
        enabled_button(app, ui, Command::Invert, inverted, film);
        enabled_button(app, ui, Command::Undo, false, film);
        let redoable = app.view.as_ref().is_some_and(|v| v.redo_steps() > 0);
        enabled_button(app, ui, Command::Redo, false, redoable);
        ui.separator();
        let measuring = app.view.as_ref().is_some_and(|v| v.tool == Tool::Length);
        enabled_button(app, ui, Command::LengthTool, measuring, film);
        // Always there (greyed out when there is nothing to clear), so the toolbar does not reflow.
        let measured = app.view.as_ref().is_some_and(|v| !v.measurements.is_empty());
        enabled_button(app, ui, Command::ClearMeasurements, false, measured);
        ui.separator();
        for c in [Command::FileWindow, Command::FullRange, Command::AutoWindow] {
            enabled_button(app, ui, c, false, film);
        }
        // Always there, greyed out for a film without presets, so the
        // toolbar does not reflow under the mouse from film to film. A menu,
        // not a combo box: it names no current choice (the window may since
        // have been dragged), and a combo box with no label had no accessible name.
        let presets = app.view.as_ref().map(|v| v.film.window_presets().to_vec()).unwrap_or_default();
        // In its own (enabled or not) Ui the button is laid out in the room
        // left on the row, not wrapped whole like a plain button: at the
        // window's edge its label stood one letter a line and made the row
        // 100 px tall (radiologist QA). Where it does not fit, it starts the next row.
        let label = egui::WidgetText::from("Presets").into_galley(ui, Some(egui::TextWrapMode::Extend), f32::INFINITY, egui::TextStyle::Button);
        if ui.available_size_before_wrap().x < label.size().x + 2.0 * ui.spacing().button_padding.x + ui.spacing().item_spacing.x {
            ui.end_row();
        }
        ui.add_enabled_ui(!presets.is_empty(), |ui| {
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
            ui.menu_button("Presets", |ui| {
                for p in presets {
                    if ui.button(format!("{} ({})", p.name, p.window.label())).clicked() {
                        if let Some(view) = &mut app.view {
                            view.state.window = p.window;
                        }
                        ui.close();
                    }
                }
            })
            .response
            .on_disabled_hover_text("This film's file names no window presets");
        });
        ui.separator();
        let (hide, hide_grade) = (app.hide_patient, app.hide_grade);
        toggle(app, ui, Command::TogglePatientData, hide, "Show patient data");
        toggle(app, ui, Command::ToggleGrade, hide_grade, "Show grade");
        let heat = app.show_heatmap;
        button(app, ui, Command::ToggleHeatmap, heat);
        // The slider lays out its label inside the room left on the row, which
        // cut "opacity" off at the window's edge: where it does not fit whole,
        // it starts the next row.
        let label = egui::WidgetText::from("opacity").into_galley(ui, Some(egui::TextWrapMode::Extend), f32::INFINITY, egui::TextStyle::Body);
        let needed = ui.spacing().slider_width + ui.spacing().interact_size.x + label.size().x + 3.0 * ui.spacing().item_spacing.x;
        if ui.available_size_before_wrap().x < needed {
            ui.end_row();
        }
        ui.add_enabled(app.show_heatmap, egui::Slider::new(&mut app.settings.heatmap_opacity, 0.0..=1.0).fixed_decimals(2).text("opacity"));
        ui.separator();
        let gradable = app.exportable().is_some() && !app.export.running();
        // Greyed out, it says why.
        let why_not = if app.export.running() {
            "A report is being written"
        } else if app.view.is_none() {
            "Open a film first"
        } else if app.anchors().is_none() {
            "Every anchor needs some text before a report can be made"
        } else if !app.grades.is_empty() {
            "Wait for the grade to be updated"
        } else {
            "Wait for the grade"
        };
        let info = commands::info(Command::ExportReport);
        let tip = commands::tooltip(ui.ctx(), Command::ExportReport);
        if ui.add_enabled(gradable, egui::Button::new(info.label)).on_hover_text(tip).on_disabled_hover_text(why_not).clicked() {
            app.push(Command::ExportReport);
        }
        ui.separator();
        ui.menu_button("Help", |ui| {
            for c in [Command::Shortcuts, Command::About] {
                if ui.button(commands::info(c).label).clicked() {
                    app.push(c);
                    ui.close();
                }
            }
        });
    });
}

fn status(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    let whole = ui.horizontal(|ui| {
        match &app.model {
            ModelStatus::Loading => {
                ui.spinner();
                let progress = app.download().state.lock().ok().and_then(|s| s.clone());
                match progress {
                    Some(d) => {
                        let fraction = d.total.map_or(0.0, |t| d.bytes as f32 / t.max(1) as f32);
                        if d.waiting {
                            ui.label(format!("{}{}", d.file[..1].to_uppercase(), &d.file[1..]));
                        } else {
                            ui.label(format!("Downloading {}", d.file));
                            // The total too, when the server gave it (install QA: "1 MB" said nothing of how far).
                            let total = d.total.map(|t| format!(" of {:.0}", t as f64 / 1e6)).unwrap_or_default();
                            ui.add(egui::ProgressBar::new(fraction).desired_width(200.0).text(format!("{:.0}{total} MB", d.bytes as f64 / 1e6)));
                        }
                        if ui.button("Cancel").clicked() {
                            app.download().cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    None => {
                        ui.label("Loading the model…");
                    }
                }
            }
            ModelStatus::Ready { model, device, dir } => {
                ui.label(format!("Model: {model} on {device}")).on_hover_text(dir.display().to_string());
                if let Some(note) = &app.device_note {
                    ui.colored_label(Color32::from_rgb(240, 180, 60), format!("({note})"));
                }
                if let Some(head) = &app.head {
                    ui.label(format!("· head {head}"));
                }
            }
            ModelStatus::Missing(_) => {
                ui.colored_label(Color32::from_rgb(230, 150, 60), format!("No model: {}", app.model_headline));
            }
        }
        if let Some(place) = app.folder_place() {
            ui.label(place).on_hover_text("Page Down / Page Up (or the arrows): the next / previous film, by name");
        }
        if app.busy() {
            ui.spinner();
            ui.label("working…");
        }
        super::shortcuts::zoom_status(ui);
        // Each kind of outcome keeps only its latest message (a new one
        // replaces it), and each is elided to its share of the row, whole
        // on hover: messages ran together and off the window's edge.
        let red = Color32::from_rgb(240, 90, 90);
        let mut messages: Vec<Message> = Vec::new();
        let mut say = |kind: &'static str, text: String, error: bool, generation: u64| messages.push(Message { kind, text, error, generation });
        let exported = app.export.generation;
        match &app.export.last {
            Some(Ok(path)) => say("export", format!("Report written to {}", path.display()), false, exported),
            Some(Err(e)) => say("export", format!("Report not written: {e}"), true, exported),
            None => {}
        }
        match &app.anchors_file_status {
            Some(Ok(done)) => say("anchors", done.clone(), false, app.anchors_file_generation),
            Some(Err(e)) => say("anchors", capitalised(e), true, app.anchors_file_generation),
            None => {}
        }
        if let Some(notice) = &app.notice {
            say("notice", notice.clone(), false, 0);
        }
        if let Some(problem) = &app.settings_problem {
            say("settings", problem.clone(), true, 0);
        }
        // A failed open is said in the film's place instead.
        if let Some(shown) = shown_error(app).filter(|_| app.view.is_some() || app.failed_path.is_none()) {
            say("error", shown, true, 0);
        }
        // Newest first; a success is dropped once anything came after it
        // (ordered before masking, so that hiding patient data is no new message).
        let mut messages = app.status_recency.shown(messages);
        if app.hide_patient {
            for m in &mut messages {
                // The report's own name may be the patient's.
                m.text = if m.kind == "export" && !m.error { "Report written".into() } else { mask_paths(app, &m.text) };
            }
        }
        // The newest error that its share would cut goes whole on a line of
        // its own below: at a projector's width the remedy was lost, and only
        // a mouse could hover it.
        let fits = |ui: &egui::Ui, text: &str, width: f32| egui::WidgetText::from(text).into_galley(ui, Some(egui::TextWrapMode::Extend), f32::INFINITY, egui::TextStyle::Body).size().x <= width;
        let room = ui.available_width();
        let whole = messages.iter().position(|m| m.error && !fits(ui, &m.text, room / messages.len() as f32 - ui.spacing().item_spacing.x)).map(|i| messages.remove(i).text);
        let share = (ui.available_width() / messages.len().max(1) as f32 - ui.spacing().item_spacing.x).max(60.0);
        for Message { text, error, .. } in messages {
            let rich = if error { RichText::new(&text).color(red) } else { RichText::new(&text) };
            ui.scope(|ui| {
                ui.set_max_width(share);
                ui.add(egui::Label::new(rich).truncate()).on_hover_text(&text);
            });
        }
        whole
    })
    .inner;
    if let Some(text) = whole {
        ui.add(egui::Label::new(RichText::new(text).color(Color32::from_rgb(240, 90, 90))).wrap());
    }
}

/// The last error, with every path we know of masked while patient data is
/// hidden (file names can carry patient names).
fn shown_error(app: &KneeclipApp) -> Option<String> {
    let shown = app.error.clone()?;
    Some(if app.hide_patient { mask_paths(app, &shown) } else { shown })
}

fn mask_paths(app: &KneeclipApp, text: &str) -> String {
    let mut shown = text.to_string();
    // The open film too: opened while hidden, it is not in Recent.
    for p in app.settings.recent.iter().chain(app.failed_path.iter()).chain(app.path.iter()) {
        shown = shown.replace(&p.display().to_string(), "(file name hidden)");
    }
    shown
}

/// A message that may start lower-case (an error's own words) as a sentence.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn centre(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    let hide = app.hide_patient;
    let opacity = (app.show_heatmap).then_some(app.settings.heatmap_opacity);
    let Some(view) = &mut app.view else {
        let failed = app.failed_path.is_some().then(|| shown_error(app)).flatten();
        ui.centered_and_justified(|ui| match failed {
            // A film that failed to open: said where the film would be, whole.
            Some(message) => {
                ui.label(RichText::new(format!("{message}\n\nPage Down / Page Up (or the arrows): the next / previous film · Ctrl+O: open another")).size(16.0).color(Color32::from_rgb(240, 120, 120)));
            }
            None if app.opening() => {
                ui.label(RichText::new("Opening the film…").size(18.0));
            }
            None => {
                ui.label(RichText::new("Open a knee film (Ctrl+O) or drop one on the window").size(18.0));
            }
        });
        return;
    };
    let name = match (&app.path, hide) {
        (Some(p), false) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
        _ => None,
    };
    // Side and view are not identifying: shown with the patient data hidden too.
    let top_left = name.into_iter().chain(side_and_view(view)).collect::<Vec<_>>().join("\n");
    let top_right = if hide { String::new() } else { patient_text(view) };
    view.show(ui, &Overlay { top_left: &top_left, top_right: &top_right }, opacity);
}

/// "Right knee, PA": the side and view the command line and reports give
/// ([`crate::grading::side_and_view`]: Image Laterality, else Laterality,
/// else an OAI-style file name; View Position), "Both knees" for a stated B;
/// `None` when nothing says. kneeclip grades each knee it sees and does not
/// guess the side from the pixels.
fn side_and_view(view: &super::FilmView) -> Option<String> {
    let said = crate::grading::side_and_view(&view.film, crate::grading::Region::Whole);
    let side = match said.side {
        Some(side) => Some(crate::grading::side::capitalised(&crate::grading::side::side_words(side, said.other_region))),
        None => crate::grading::side::both_knees_stated(&view.film).then(|| if said.other_region { "Both sides" } else { "Both knees" }.to_string()),
    };
    // Worded as the reports' title: "Right knee, AP".
    let parts: Vec<String> = side.into_iter().chain(said.view).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Patient and study, from the film's identifying tags.
fn patient_text(view: &super::FilmView) -> String {
    let mut lines: Vec<String> = view.film.patient_label().into_iter().collect();
    for tag in view.film.dicom_tags() {
        if matches!(tag.tag, (0x0008, 0x0020) | (0x0008, 0x1030)) && !tag.value.trim().is_empty() {
            // Dates as the birth date above them, labelled so the two are not
            // confused (the tag panel keeps the raw value).
            lines.push(if tag.vr == "DA" { format!("study {}", crate::imaging::dicom_date(&tag.value)) } else { tag.value.clone() });
        }
    }
    lines.join("\n")
}

/// The side panel's sections, as tall as they last were while the next
/// film is graded: its Grade section is a line until then, and the scroll
/// area pulled its offset back up to fit (QA: the panel jumped to the top
/// on every film, away from the query results).
fn side_keeping_height(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    let last = egui::Id::unique("side-panel-height");
    let grading = app.view.is_some() && app.grades.is_empty() && app.grade_error.is_none() && app.busy();
    if let Some(height) = ui.data(|d| d.get_temp::<f32>(last)).filter(|_| grading) {
        ui.set_min_height(height);
    }
    side(app, ui);
    if !grading {
        let height = ui.min_rect().height();
        ui.data_mut(|d| d.insert_temp(last, height));
    }
}

fn side(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    egui::CollapsingHeader::new(RichText::new("Grade").strong()).default_open(true).show(ui, |ui| grade(app, ui));
    egui::CollapsingHeader::new("Anchors").default_open(true).show(ui, |ui| super::anchors_panel::anchors(app, ui));
    egui::CollapsingHeader::new("Free-text query").default_open(false).show(ui, |ui| super::anchors_panel::query(app, ui));
    egui::CollapsingHeader::new("Model").default_open(false).show(ui, |ui| model(app, ui));
    egui::CollapsingHeader::new("DICOM tags").default_open(false).show(ui, |ui| tags(app, ui));
}

fn grade(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    if let ModelStatus::Missing(msg) = &app.model {
        let msg = msg.clone();
        super::model_panel::no_model(app, ui, &msg);
        return;
    }
    if let Some(view) = &app.view {
        // The file's own header says this is not a knee radiograph: said
        // before the grade, which the model gives whatever it is shown.
        for caution in view.film.cautions() {
            // Without the hidden fields' words while patient data is hidden.
            let caution = if app.hide_patient { crate::imaging::confidentiality::caution_while_hidden(caution) } else { caution.clone() };
            ui.colored_label(Color32::from_rgb(240, 180, 60), RichText::new(format!("Caution: {caution}.")).strong());
        }
        if !app.grades.is_empty() {
            for warning in &app.head_warnings {
                ui.colored_label(Color32::from_rgb(240, 180, 60), RichText::new(format!("Caution: {warning}.")).strong());
            }
        }
    }
    if let (Some(e), Some(_)) = (&app.grade_error, &app.view) {
        ui.colored_label(Color32::from_rgb(240, 90, 90), RichText::new("No grade").strong());
        ui.add(egui::Label::new(RichText::new(e).color(Color32::from_rgb(240, 90, 90))).wrap());
        return;
    }
    if app.grades.is_empty() || app.view.is_none() {
        let downloading = || app.download().state.lock().ok().is_some_and(|s| s.as_ref().is_some_and(|d| !d.waiting));
        let waiting = if app.view.is_some() && matches!(app.model, ModelStatus::Loading) {
            // The film waits for the model: "Grading…" was shown through a 600 MB download.
            if downloading() { "Downloading the model…" } else { "Loading the model…" }
        } else if app.view.is_some() {
            "Grading…"
        } else if !app.opening() {
            "No film open."
        } else if matches!(app.model, ModelStatus::Loading) {
            // The worker loads the model before it opens the film.
            "Loading the model, then the film…"
        } else {
            "Opening the film…"
        };
        ui.label(waiting);
        return;
    }
    if app.anchors().is_none() {
        // The grade on screen would belong to anchors no longer in the editor.
        ui.colored_label(Color32::from_rgb(240, 90, 90), "No grade while an anchor is empty: every grade needs its description (see Anchors below).");
        return;
    }
    if app.hide_grade {
        ui.label("The model's grade is hidden: grade the film yourself first.");
        let shortcut = commands::shortcut_text(ui.ctx(), Command::ToggleGrade);
        if ui.button(format!("Show the grade ({shortcut})")).clicked() {
            app.push(Command::ToggleGrade);
        }
        return;
    }
    for (i, rg) in app.grades.iter().enumerate() {
        let a = &rg.assessment;
        ui.push_id(i, |ui| {
            if app.grades.len() > 1 {
                // Each half's knee where the file says it, as in the reports.
                let side = app.view.as_ref().and_then(|v| crate::grading::side_and_view(&v.film, rg.region).side);
                ui.label(RichText::new(crate::grading::side::with_side(rg.region.label(), side)).italics());
            }
            ui.label(RichText::new(format!("KL {} — {}", a.grade, GRADE_NAMES[a.grade])).size(22.0).strong());
            if let Some((lo, hi)) = a.borderline(BORDERLINE_MARGIN) {
                ui.colored_label(Color32::from_rgb(240, 180, 60), format!("borderline KL {lo}/{hi}"));
            }
            if let Some((lo, hi)) = a.uncertain(BORDERLINE_MARGIN) {
                ui.colored_label(Color32::from_rgb(240, 180, 60), format!("uncertain: KL {lo} and KL {hi} score alike, {} grades apart", hi - lo));
            }
            mirror_check(ui, rg);
            egui::Grid::new("probs").striped(true).show(ui, |ui| {
                ui.label("KL");
                ui.label("probability");
                ui.label("similarity");
                ui.end_row();
                for g in 0..5 {
                    ui.label(format!("{g} {}", GRADE_NAMES[g]));
                    ui.add(egui::ProgressBar::new(a.probabilities[g]).text(format!("{:.1}%", a.probabilities[g] * 100.0)).desired_width(110.0));
                    ui.label(format!("{:.3}", a.similarities[g]));
                    ui.end_row();
                }
            });
            super::similarity_chart::show(ui, a);
            let p = &a.provenance;
            ui.small(format!("model {} · head {} · anchors {}", p.model, p.head.as_deref().unwrap_or("none"), p.anchors_hash))
                .on_hover_text(format!("Computed on {}", p.arithmetic));
            if p.anchors_edited {
                ui.colored_label(Color32::from_rgb(240, 180, 60), format!("Anchors edited: the probabilities were calibrated for {}.", calibrated_for(app)));
            }
            ui.separator();
        });
    }
    if let Some(view) = &app.view {
        for note in view.film.notes() {
            ui.small(format!("File: {note}.")).on_hover_text("How the file was read: what is shown and graded is this.");
        }
    }
    ui.label(RichText::new("Decision aid, not a diagnosis.").strong());
}

/// Whose anchors the probabilities were calibrated with, as the state is:
/// "the training anchors" read as a trained head with none loaded (QA).
pub(super) fn calibrated_for(app: &KneeclipApp) -> &'static str {
    if app.head_anchors.is_some() { "the head's own anchors, those it was trained with" } else { "the paper's anchors (Reset brings them back)" }
}

/// The flip check: a warning when the mirrored knee gets another grade.
fn mirror_check(ui: &mut egui::Ui, rg: &super::worker::RegionGrade) {
    match rg.mirror_disagreement() {
        Some(other) => {
            ui.colored_label(Color32::from_rgb(240, 180, 60), RichText::new(format!("Mirrored film grades KL {other} — the model is unsure")).strong())
                .on_hover_text("The same knee mirrored left–right should get the same grade; this one does not.");
        }
        None => {
            ui.small("Mirrored film: same grade").on_hover_text("The knee mirrored left–right gets the same grade.");
        }
    }
}

/// Where the model folder in effect comes from, for the Model section and the no-model panel.
pub(super) fn model_folder(app: &KneeclipApp) -> String {
    match (&app.cli_model_dir, &app.settings.model_dir) {
        (Some(dir), _) => format!("{} (from --model-dir, this session only)", dir.display()),
        (None, Some(dir)) => format!("{} (chosen in the viewer)", dir.display()),
        (None, None) => match std::env::var_os(crate::weights::MODEL_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(dir) => format!("{} (from {})", std::path::Path::new(&dir).display(), crate::weights::MODEL_DIR_ENV),
            None => match &app.model {
                ModelStatus::Ready { dir, .. } if crate::weights::system_model_dirs(&crate::weights::data_dirs(), &crate::weights::Manifest::base()).contains(dir) => {
                    format!("{} (system-wide, for every user of this computer)", dir.display())
                }
                _ if app.offline => "the cache, else the system-wide folder (no download: --offline)".into(),
                _ => "the cache, else the system-wide folder (else downloaded on request)".into(),
            },
        },
    }
}

fn model(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    ui.label(format!("Model folder: {}", model_folder(app)));
    if app.model_dir().is_some() && ui.button("Use the environment / the cache").on_hover_text("Forget this folder: KNEECLIP_MODEL_DIR, else the cache, else the system-wide folder").clicked() {
        app.set_model_dir(None);
    }
    super::head_choice::head_row(app, ui);
    ui.horizontal(|ui| {
        super::model_panel::choose_folder_button(app, ui);
        use crate::model::DevicePreference as D;
        let before = app.settings.device;
        egui::ComboBox::from_id_salt("device").selected_text(format!("{:?}", app.settings.device)).show_ui(ui, |ui| {
            for d in [D::Auto, D::Cpu, D::Cuda] {
                ui.selectable_value(&mut app.settings.device, d, format!("{d:?}"));
            }
        });
        if before != app.settings.device {
            app.load_model();
        }
    });
    // Without a model, the Grade section shows the row (once: its text box has one id).
    if !matches!(app.model, ModelStatus::Missing(_)) {
        super::model_panel::typed_folder_row(app, ui);
    }
}

fn tags(app: &mut KneeclipApp, ui: &mut egui::Ui) {
    let Some(view) = &app.view else {
        ui.label("No film open.");
        return;
    };
    ui.horizontal(|ui| {
        let label = ui.label("Search");
        ui.add(egui::TextEdit::singleline(&mut app.tag_filter).id(egui::Id::unique("tag-filter")).hint_text("name or value")).labelled_by(label.id);
    });
    if view.film.dicom_tags().is_empty() {
        ui.label("Not a DICOM file: no tags.");
        return;
    }
    let needle = app.tag_filter.to_lowercase();
    let hide = app.hide_patient;
    // A hidden value is not searched either: a match would confirm a guessed name.
    let searchable = |t: &&crate::imaging::DicomTag| !(hide && t.identifying);
    let rows: Vec<_> = view
        .film
        .dicom_tags()
        .iter()
        .filter(|t| needle.is_empty() || t.name.to_lowercase().contains(&needle) || (searchable(t) && t.value.to_lowercase().contains(&needle)))
        .collect();
    if rows.is_empty() {
        ui.label(format!("No tag matches \"{}\".", app.tag_filter));
        return;
    }
    // The names' column as wide as its longest name, up to half the panel
    // (an auto column of truncated labels sized itself to a few letters:
    // "MediaStora…", radiologist QA); the reader may drag it either way.
    // Laid out once a frame: the longest name, not every row's.
    let longest = rows.iter().map(|t| t.name.as_str()).max_by_key(|n| n.chars().count()).unwrap_or_default();
    let widest = egui::WidgetText::from(longest).into_galley(ui, Some(egui::TextWrapMode::Extend), f32::INFINITY, egui::TextStyle::Body).size().x;
    let names = (widest + 2.0 * ui.spacing().item_spacing.x).min(ui.available_width() * 0.5).max(60.0);
    TableBuilder::new(ui)
        .striped(true)
        .column(Column::auto())
        .column(Column::initial(names).at_least(40.0).resizable(true).clip(true))
        .column(Column::remainder().clip(true))
        .max_scroll_height(300.0)
        .header(18.0, |mut h| {
            h.col(|ui| { ui.strong("Tag"); });
            h.col(|ui| { ui.strong("Name"); });
            h.col(|ui| { ui.strong("Value"); });
        })
        .body(|body| {
            body.rows(18.0, rows.len(), |mut row| {
                let t = rows[row.index()];
                row.col(|ui| { ui.monospace(format!("({:04X},{:04X})", t.tag.0, t.tag.1)); });
                // One line a row (the stripes are one line high); the whole text on hover.
                row.col(|ui| { ui.add(egui::Label::new(&t.name).truncate()).on_hover_text(&t.name); });
                let value = if hide && t.identifying { "(hidden)" } else { t.value.as_str() };
                row.col(|ui| { ui.add(egui::Label::new(value).truncate()).on_hover_text(value); });
            });
        });
}
