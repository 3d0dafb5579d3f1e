//! "Hide patient data" and what the viewer remembers (privacy officer QA P3,
//! P4, P5): the tags panel hides the confidentiality profile's free text and
//! order numbers and does not search them, the grade's caution quotes no
//! hidden word, the hidden state is remembered for the next start, films
//! opened while hidden stay out of Recent, and Recent can be cleared.

mod common;

use common::viewer::{app, harness, harness_sized, harness_with_cache, open_and_grade, App};
use common::{dicom_film, first_png, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use kneeclip::app::settings;

/// The labels on screen that contain `needle`.
fn labels_with(h: &Harness<'static, App>, needle: &str) -> Vec<String> {
    h.query_all_by_label_contains(needle).map(|n| n.accesskit_node().label().unwrap_or_default()).collect()
}

/// RG3_UNC's Study Description "Non-ossifying fibroma of distal tibia" is
/// hidden in the tags panel, not found by the search, and not quoted by the
/// caution, while patient data is hidden; shown again with them.
#[test]
fn hidden_patient_data_hides_and_does_not_search_the_study_description() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), dicom_film("RG3_UNC")) else { return };
    // Tall enough that the tags' table is on screen (it draws only the rows in sight).
    let mut h = harness_sized(model, egui::vec2(1400.0, 2400.0));
    open_and_grade(&mut h, &film);
    h.get_by_label("DICOM tags").click_accesskit();
    // The table draws only the rows in its 300 px: the one row searched for by name.
    app(&mut h).tag_filter = "StudyDescription".into();
    h.run_steps(3);
    h.get_by_label("Non-ossifying fibroma of distal tibia");
    h.get_by_label("Hide patient data").click_accesskit();
    h.run_steps(3);
    assert!(app(&mut h).hide_patient);
    h.get_by_label("StudyDescription");
    h.get_by_label("(hidden)");
    assert_eq!(labels_with(&h, "fibroma"), Vec::<String>::new(), "the value is on screen");
    // Searched, the hidden value matches nothing (a match would confirm a guess).
    app(&mut h).tag_filter = "fibroma".into();
    h.run_steps(3);
    h.get_by_label("No tag matches \"fibroma\".");
    // The caution says another region, not the description's words.
    assert_eq!(labels_with(&h, "tibia"), Vec::<String>::new());
    h.get_by_label_contains("DICOM Study Description names another region, not the knee");
    // Shown again: the quote is back, and the search finds the value.
    h.get_by_label("Show patient data").click_accesskit();
    h.run_steps(3);
    h.get_by_label_contains("names “distal tibia”");
    h.get_by_label("Non-ossifying fibroma of distal tibia");
    assert!(h.query_by_label_contains("No tag matches").is_none());
}

/// Every film's order numbers, requested procedure, location and history
/// are hidden (the QA's crafted file had them shown and searchable).
#[test]
fn the_profiles_order_numbers_and_free_text_are_identifying() {
    let Some(film) = dicom_film("RG3_UNC") else { return };
    let radiograph = kneeclip::imaging::Radiograph::open(&film).unwrap();
    for (tag, name) in [((0x0008, 0x1030), "StudyDescription"), ((0x0010, 0x0040), "PatientSex"), ((0x0020, 0x0010), "StudyID")] {
        let t = radiograph.dicom_tags().iter().find(|t| t.tag == tag).unwrap_or_else(|| panic!("RG3_UNC has {name}"));
        assert!(t.identifying, "{name} is shown with patient data hidden");
    }
    for (tag, name) in [((0x0018, 0x5101), "ViewPosition"), ((0x0020, 0x0020), "PatientOrientation"), ((0x0028, 0x0010), "Rows"), ((0x0028, 0x1050), "WindowCenter")] {
        let t = radiograph.dicom_tags().iter().find(|t| t.tag == tag).unwrap_or_else(|| panic!("RG3_UNC has {name}"));
        assert!(!t.identifying, "{name} is hidden");
    }
}

/// An in-memory eframe store, as the window's app.ron.
#[derive(Default)]
struct Store(std::collections::HashMap<String, String>);

impl eframe::Storage for Store {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.into(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

/// Closed with patient data hidden, the viewer opens hidden the next time.
#[test]
fn hidden_patient_data_is_remembered_for_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let mut h = harness(model.clone());
    h.get_by_label("Hide patient data").click_accesskit();
    h.run_steps(2);
    let mut store = Store::default();
    eframe::App::save(app(&mut h), &mut store);
    let (saved, problem) = settings::read_stored(&store.0[settings::STORAGE_KEY]);
    assert_eq!((saved.hide_patient, problem), (true, None));
    let mut next = harness_with_cache(saved, Some(model), tmp.path().join("cache"));
    assert!(app(&mut next).hide_patient, "the next start shows patient data");
    next.get_by_label("Show patient data");
}

/// A film opened while patient data is hidden is not added to Recent (its
/// name may be the patient's); "Clear recent" forgets the list.
#[test]
fn recent_keeps_no_film_opened_hidden_and_can_be_cleared() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let hidden_film = tmp.path().join("SMITH_JOHN_knee.png");
    std::fs::copy(&film, &hidden_film).unwrap();
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    assert_eq!(app(&mut h).settings.recent, [film.clone()]);
    app(&mut h).hide_patient = true;
    open_and_grade(&mut h, &hidden_film);
    assert_eq!(app(&mut h).settings.recent, [film.clone()], "opened while hidden");
    app(&mut h).hide_patient = false;
    h.get_by_label("Recent").click();
    h.run_steps(2);
    h.get_by_label("Clear recent").click();
    h.run_steps(2);
    assert!(app(&mut h).settings.recent.is_empty());
    h.get_by_label("Recent").click();
    h.run_steps(2);
    h.get_by_label("No recent files");
    assert!(h.get_by_label("Clear recent").accesskit_node().is_disabled(), "nothing left to clear");
}
