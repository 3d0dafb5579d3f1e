//! Orientation in the viewer: the edge letters from Patient Orientation,
//! turned and flipped with the view, the notice for a film shown mirrored,
//! and a right-drag window in whole numbers.

mod common;

use common::viewer::{App, app, harness, open_and_grade, view};
use common::{dicom_film, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

const MIRRORED: &str = "Stored mirrored left–right from the usual display (Patient Orientation R\\F: the patient's right is on your right); Flip H shows it the usual way";

/// Where the edge letter `text` is, relative to the film's centre.
fn offset(h: &Harness<'static, App>, film: egui::Rect, text: &str) -> egui::Vec2 {
    h.get_by_label(text).rect().center() - film.center()
}

/// The letters at the left, right, top and bottom edges: each nearest its edge.
fn edges(h: &mut Harness<'static, App>) -> [String; 4] {
    let film = view(h).rect().expect("the film was drawn");
    let mut at = [String::new(), String::new(), String::new(), String::new()];
    for text in ["L", "R", "H", "F"] {
        let d = offset(h, film, text);
        let edge = if d.x.abs() > d.y.abs() { usize::from(d.x > 0.0) } else { 2 + usize::from(d.y > 0.0) };
        assert!(at[edge].is_empty(), "{text} and {} on one edge", at[edge]);
        at[edge] = text.to_string();
    }
    at
}

#[test]
fn a_film_stored_mirrored_shows_its_edge_letters_and_says_so_until_flipped() {
    // RG3_UNC: Patient Orientation R\F (the patient's right toward the image's right), View Position AP.
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG3_UNC") else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    assert_eq!(edges(&mut h), ["L", "R", "H", "F"]);
    h.get_by_label(MIRRORED);
    // Flip H: the usual display, the patient's right on the reader's left; no notice.
    h.key_press(egui::Key::H);
    h.step();
    h.step();
    assert_eq!(edges(&mut h), ["R", "L", "H", "F"]);
    assert!(h.query_by_label_contains("from the usual display").is_none(), "shown the usual way, nothing to say");
    // A quarter turn: the head to the right edge.
    h.key_press(egui::Key::R);
    h.step();
    h.step();
    assert_eq!(edges(&mut h), ["F", "H", "R", "L"]);
    // Back, and flipped top–bottom as well: upside down, and said so with the way back.
    for key in [egui::Key::R, egui::Key::R, egui::Key::R, egui::Key::V] {
        h.key_press(key);
        h.step();
    }
    h.step();
    assert_eq!(edges(&mut h), ["R", "L", "F", "H"]);
    h.get_by_label_contains("Shown mirrored top–bottom from the usual display");
    h.get_by_label_contains("Flip V shows it the usual way");
    // Not identifying: they stay with patient data hidden.
    h.key_press(egui::Key::Space);
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::F12);
    h.step();
    h.step();
    assert!(h.query_by_label_contains("RG3_UNC").is_none(), "the file name is hidden");
    assert_eq!(edges(&mut h), ["L", "R", "H", "F"]);
    h.get_by_label(MIRRORED);
}

#[test]
fn a_film_without_patient_orientation_gets_no_letters() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let film = tmp.path().join("knee.png");
    image::GrayImage::from_fn(64, 48, |x, _| image::Luma([(x * 4) as u8])).save(&film).unwrap();
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    for text in ["L", "R", "H", "F"] {
        assert!(h.query_by_label(text).is_none(), "{text}: nothing to go by, nothing guessed");
    }
    assert!(h.query_by_label_contains("from the usual display").is_none());
}

#[test]
fn a_right_drag_window_lands_on_whole_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG3_UNC") else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let (lo, hi) = app(&mut h).view.as_ref().unwrap().film.value_range();
    assert!((hi - lo) / 500.0 % 1.0 != 0.0, "a step of a fraction, so an unrounded drag would leave decimals");
    let centre = view(&mut h).rect().unwrap().center();
    let to = centre + egui::vec2(37.0, 23.0);
    let right = egui::PointerButton::Secondary;
    h.event(egui::Event::PointerMoved(centre));
    h.event(egui::Event::PointerButton { pos: centre, button: right, pressed: true, modifiers: egui::Modifiers::NONE });
    h.step();
    for i in 1..=5 {
        h.event(egui::Event::PointerMoved(centre + (to - centre) * (i as f32 / 5.0)));
        h.step();
    }
    h.event(egui::Event::PointerButton { pos: to, button: right, pressed: false, modifiers: egui::Modifiers::NONE });
    h.step();
    h.step();
    let w = view(&mut h).state.window;
    assert!(w.width.fract() == 0.0 && w.center.fract() == 0.0, "{w:?}");
    h.get_by_label_contains(&format!("W {}  L {}", w.width, w.center));
}
