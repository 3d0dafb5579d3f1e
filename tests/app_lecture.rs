//! The viewer in front of a class (QA as a teacher on a projector): redo,
//! paging with the arrows, the free-text query, the shortcut window.

mod common;

use std::path::{Path, PathBuf};

use common::viewer::{App, app, harness, open_and_grade, view, wait};
use common::{first_png, model_dir};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// A viewer with no model (nothing but the view and the paging to test) and
/// a folder of four small films, the first open.
fn viewer_on_a_folder(tmp: &Path) -> (Harness<'static, App>, Vec<PathBuf>) {
    let ramp = tmp.join("ramp.png");
    image::GrayImage::from_fn(64, 48, |x, _| image::Luma([(x * 4) as u8])).save(&ramp).unwrap();
    let films = common::viewer::folder_of_copies(tmp, &ramp, 4);
    let empty = tmp.join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let mut h = harness(empty);
    app(&mut h).open(&films[0]);
    wait(&mut h, "the film and its folder", |a| a.view.is_some() && a.has_film_beside(1));
    (h, films)
}

fn ctrl(h: &mut Harness<'static, App>, shift: bool, key: egui::Key) {
    let modifiers = if shift { egui::Modifiers::COMMAND | egui::Modifiers::SHIFT } else { egui::Modifiers::COMMAND };
    h.key_press_modifiers(modifiers, key);
    h.step();
}

/// Ctrl+Shift+Z was a second Ctrl+Z to egui (it ignores the extra Shift) and
/// took a further step away; it and Ctrl+Y now redo what Undo took back.
#[test]
fn ctrl_shift_z_and_ctrl_y_redo_what_undo_took_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut h, _) = viewer_on_a_folder(tmp.path());
    h.key_press(egui::Key::R);
    h.step();
    h.key_press(egui::Key::I);
    h.step();
    ctrl(&mut h, false, egui::Key::Z);
    assert!(!view(&mut h).state.invert && view(&mut h).state.rotation == 1, "the inversion undone");
    assert_eq!(view(&mut h).redo_steps(), 1);
    ctrl(&mut h, true, egui::Key::Z);
    assert!(view(&mut h).state.invert, "Ctrl+Shift+Z inverts again");
    assert_eq!(view(&mut h).state.rotation, 1, "Ctrl+Shift+Z undid no further step");
    // Nothing left to redo: Ctrl+Shift+Z does nothing, and is no Undo either.
    ctrl(&mut h, true, egui::Key::Z);
    assert!(view(&mut h).state.invert && view(&mut h).state.rotation == 1);
    ctrl(&mut h, false, egui::Key::Z);
    ctrl(&mut h, false, egui::Key::Z);
    assert_eq!((view(&mut h).state.rotation, view(&mut h).state.invert), (0, false));
    ctrl(&mut h, false, egui::Key::Y);
    assert_eq!(view(&mut h).state.rotation, 1, "Ctrl+Y redoes the rotation first");
    h.get_by_label("Redo").click();
    h.run_steps(2);
    assert!(view(&mut h).state.invert, "the toolbar's Redo does the same");
    // A new step after an undo: nothing to redo.
    ctrl(&mut h, false, egui::Key::Z);
    h.key_press(egui::Key::H);
    h.step();
    assert_eq!(view(&mut h).redo_steps(), 0);
    ctrl(&mut h, true, egui::Key::Z);
    assert!(view(&mut h).state.flip_h && !view(&mut h).state.invert);
}

/// The arrows page through the folder like Page Down / Page Up, but not
/// while a text box has the focus: there they move the cursor.
#[test]
fn arrow_keys_change_the_film_unless_a_text_box_has_the_focus() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut h, films) = viewer_on_a_folder(tmp.path());
    let opened = |h: &mut Harness<'static, App>, key: egui::Key, film: &Path| {
        h.key_press(key);
        wait(h, "the film", |a| a.path.as_deref() == Some(film) && a.view.is_some() && !a.busy());
    };
    opened(&mut h, egui::Key::ArrowRight, &films[1]);
    opened(&mut h, egui::Key::ArrowDown, &films[2]);
    opened(&mut h, egui::Key::ArrowLeft, &films[1]);
    opened(&mut h, egui::Key::ArrowUp, &films[0]);
    let anchor = app(&mut h).settings.anchors[0].clone();
    h.get_by_role_and_label(Role::MultilineTextInput, "KL 0 (Normal) — the paper's Grade 1").focus();
    h.run();
    for key in [egui::Key::ArrowRight, egui::Key::ArrowDown, egui::Key::ArrowRight] {
        h.key_press(key);
        h.step();
    }
    h.event(egui::Event::Text("x".into()));
    h.run_steps(3);
    assert_eq!(app(&mut h).path.as_deref(), Some(films[0].as_path()), "the arrows stayed in the text");
    assert_eq!(app(&mut h).settings.anchors[0].len(), anchor.len() + 1, "the box kept the focus");
}

/// A viewer of `size` with the tiny model on a folder of three copies of a
/// film, the first graded.
fn graded_folder(tmp: &Path, size: egui::Vec2) -> Option<(Harness<'static, App>, Vec<PathBuf>)> {
    let (model, film) = (model_dir(tmp)?, first_png(2)?);
    let films = common::viewer::folder_of_copies(tmp, &film, 3);
    let mut h = common::viewer::harness_sized(model, size);
    open_and_grade(&mut h, &films[0]);
    wait(&mut h, "the folder's list", |a| a.has_film_beside(1));
    Some((h, films))
}

fn compare(h: &mut Harness<'static, App>, text: &str) {
    app(h).query_text = text.into();
    h.step();
    h.get_by_label("Compare").click();
    h.run_steps(2);
    wait(h, "the query", |a| !a.busy());
}

fn scroll_side_down(h: &mut Harness<'static, App>) {
    for _ in 0..3 {
        h.hover_at(egui::pos2(1000.0, 400.0));
        h.event(egui::Event::MouseWheel { unit: egui::MouseWheelUnit::Point, delta: egui::vec2(0.0, -400.0), phase: egui::TouchPhase::Move, source: egui::MouseWheelSource::Unknown, modifiers: egui::Modifiers::NONE });
        h.run_steps(20);
    }
}

/// Compare on an emptied box kept the table of queries no longer in it.
#[test]
fn compare_with_an_empty_query_box_clears_the_results_and_says_what_to_type() {
    let tmp = tempfile::tempdir().unwrap();
    // Tall enough for the whole side panel.
    let Some((mut h, _)) = graded_folder(tmp.path(), egui::vec2(1400.0, 2400.0)) else { return };
    h.get_by_label("Free-text query").click();
    h.run_steps(2);
    compare(&mut h, "joint space narrowing\nosteophytes");
    assert_eq!(app(&mut h).query_results.len(), 2);
    h.get_by_label("osteophytes");
    assert!(h.query_by_label_contains("Type one query per line").is_none());
    compare(&mut h, " \n");
    assert!(app(&mut h).query_results.is_empty());
    assert!(h.query_by_label("osteophytes").is_none());
    h.get_by_label_contains("Type one query per line");
    // Typing again, the note goes.
    compare(&mut h, "osteophytes");
    assert!(h.query_by_label_contains("Type one query per line").is_none());
}

/// The query section stays open, and the side panel where the teacher left
/// it, from film to film (it jumped back to the top: the panel is shorter
/// while the next film is graded); Compare brings its results into view.
#[test]
fn the_side_panel_keeps_the_query_open_and_its_place_from_film_to_film() {
    let tmp = tempfile::tempdir().unwrap();
    // The projector's size: the query section is below the fold.
    let Some((mut h, films)) = graded_folder(tmp.path(), egui::vec2(1024.0, 768.0)) else { return };
    // Scrolled down to the query section, opened, and down to its button, as a mouse would.
    scroll_side_down(&mut h);
    h.get_by_label("Free-text query").click();
    h.run_steps(2);
    scroll_side_down(&mut h);
    compare(&mut h, "joint space narrowing\nosteophytes");
    h.run_steps(30);
    let panel = h.get_by_label("Free-text query").rect();
    let result = h.get_by_label("osteophytes").rect();
    assert!(result.max.y <= 740.0, "the results were scrolled into view, above the status bar: {result:?}");
    h.key_press(egui::Key::PageDown);
    wait(&mut h, "the next film", |a| a.path.as_deref() == Some(films[1].as_path()) && !a.grades.is_empty() && !a.busy());
    h.run_steps(10);
    h.get_by_label("One query per line:");
    let after = h.get_by_label("Free-text query").rect();
    assert!((after.min.y - panel.min.y).abs() < 1.0, "the panel moved from {panel:?} to {after:?}");
    h.get_by_label("osteophytes");
}

/// The toolbar's grade toggle is named for what a click does.
#[test]
fn the_toolbar_grade_toggle_says_show_grade_while_the_grade_is_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut h, _) = viewer_on_a_folder(tmp.path());
    h.get_by_label("Hide grade").click();
    h.run_steps(2);
    assert!(app(&mut h).hide_grade);
    assert!(h.query_by_label("Hide grade").is_none(), "it still reads as the opposite action");
    h.get_by_label("Show grade").click();
    h.run_steps(2);
    assert!(!app(&mut h).hide_grade);
    h.get_by_label("Hide grade");
}

/// Help → Keyboard shortcuts lists the keys with egui's UI zoom; a UI zoom
/// other than 100 % is shown in the status bar, where a click resets it.
#[test]
fn help_lists_the_keyboard_shortcuts_with_the_ui_zoom_and_the_status_bar_shows_the_zoom() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut h, _) = viewer_on_a_folder(tmp.path());
    assert!(h.query_by_label("Larger text and controls (UI zoom)").is_none());
    h.get_by_label("Help").click();
    h.run_steps(2);
    h.get_by_label("Keyboard shortcuts").click();
    h.run_steps(3);
    h.get_by_label("Larger text and controls (UI zoom)");
    let ctx = h.ctx.clone();
    h.get_by_label(&ctx.format_shortcut(&egui::gui_zoom::kb_shortcuts::ZOOM_RESET));
    h.get_by_label("Ctrl+Shift+Z or Ctrl+Y");
    h.get_by_label_contains(", Right arrow or Down arrow");
    h.key_press(egui::Key::Escape);
    h.run_steps(3);
    assert!(h.query_by_label("Larger text and controls (UI zoom)").is_none(), "Escape closes it");

    assert!(h.query_by_label_contains("UI zoom 1").is_none(), "nothing said at 100%");
    h.ctx.set_zoom_factor(1.5);
    h.run_steps(3);
    h.get_by_label("UI zoom 150%").click();
    h.run_steps(3);
    assert_eq!(h.ctx.zoom_factor(), 1.0);
    assert!(h.query_by_label("UI zoom 150%").is_none());
}

/// At a projector's width an error longer than the status bar is said whole
/// on a line below it, wrapped (it was cut, its remedy shown on hover only).
#[test]
fn a_long_error_is_shown_whole_below_the_status_bar_at_1024_px() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let mut h = common::viewer::harness_sized(empty, egui::vec2(1024.0, 768.0));
    let long = "No file dialog could be shown: this desktop has no file-chooser portal (xdg-desktop-portal) and no zenity. Drop the film on the window, or open it from a terminal: kneeclip view FILE";
    app(&mut h).error = Some(long.into());
    h.run_steps(3);
    let shown = h.get_by_label(long).rect();
    let line = egui::TextStyle::Body.resolve(&h.ctx.global_style()).size;
    assert!(shown.height() > 1.8 * line, "wrapped onto two lines: {shown:?}");
    assert!(shown.max.x <= 1024.0 && shown.max.y <= 768.0, "inside the window: {shown:?}");
    // A short one stays in the row.
    app(&mut h).error = Some("Nothing to export yet".into());
    h.run_steps(3);
    assert!(h.get_by_label("Nothing to export yet").rect().height() < 1.8 * line);
}

/// Recent keeps each path on one line after patient data is shown again (the
/// menu kept the hidden names' width and broke the paths mid-word).
#[test]
fn recent_paths_stay_on_one_line_after_patient_data_is_shown_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut h, films) = viewer_on_a_folder(tmp.path());
    let folder = tmp.path().join("lecture-films/oai-kl/test/2");
    std::fs::create_dir_all(&folder).unwrap();
    let film = folder.join("9076313R.png");
    std::fs::copy(&films[0], &film).unwrap();
    app(&mut h).open(&film);
    wait(&mut h, "the film", |a| a.path.as_deref() == Some(film.as_path()) && !a.busy());
    let recent = |h: &mut Harness<'static, App>| {
        h.get_by_label("Recent").click();
        h.run_steps(3);
    };
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::F12);
    h.run_steps(2);
    recent(&mut h);
    h.get_by_label("1. (name hidden, .png)");
    // Shown again while the menu is open (by keyboard, as a projector's
    // presenter would), then reopened: neither breaks a path.
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::F12);
    h.run_steps(3);
    let path = film.display().to_string();
    let line = egui::TextStyle::Button.resolve(&h.ctx.global_style()).size;
    let entry = h.get_by_label(&path).rect();
    assert!(entry.height() < 2.0 * line, "{path} wrapped in the open menu: {entry:?}");
    recent(&mut h);
    assert!(h.query_by_label(&path).is_none(), "closed");
    recent(&mut h);
    let entry = h.get_by_label(&path).rect();
    assert!(entry.height() < 2.0 * line, "{path} wrapped: {entry:?}");
    recent(&mut h);
    // With the grade hidden for a quiz, the grade folder (test/2/) is too.
    app(&mut h).hide_grade = true;
    h.run_steps(2);
    recent(&mut h);
    h.get_by_label("9076313R.png (folder hidden with the grade)");
    assert!(h.query_by_label(&path).is_none(), "the folder gives the answer away");
}
