//! The viewer driven headless with egui_kittest, the tiny fixture model and real films.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{data_dir, first_png, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kneeclip::app::KneeclipApp;
use kneeclip::app::settings::Settings;

type App = Option<KneeclipApp>;

/// A viewer with the tiny model; the app is built on the first frame so its
/// worker wakes the harness's own context.
fn harness(model: PathBuf) -> Harness<'static, App> {
    let mut model = Some(model);
    let mut h = Harness::builder().with_size(egui::vec2(1400.0, 900.0)).build_ui_state(
        move |ui, app: &mut App| {
            let app = app.get_or_insert_with(|| KneeclipApp::new(ui.ctx(), Settings::default(), model.take()));
            app.show(ui);
        },
        None,
    );
    h.step();
    h
}

fn app<'h>(h: &'h mut Harness<'static, App>) -> &'h mut KneeclipApp {
    h.state_mut().as_mut().expect("built on the first frame")
}

/// Steps the UI until `done` holds (the worker answers on its own thread).
fn wait(h: &mut Harness<'static, App>, what: &str, done: impl Fn(&KneeclipApp) -> bool) {
    let start = Instant::now();
    while !done(h.state().as_ref().unwrap()) {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
    h.step();
    h.step();
}

fn open_and_grade(h: &mut Harness<'static, App>, film: &Path) {
    app(h).open(film);
    wait(h, "the grade", |a| !a.grades.is_empty() && !a.busy());
}

#[test]
fn opening_a_film_shows_the_grade_and_five_similarities() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = harness(model);
    h.get_by_label_contains("Open a knee film");
    open_and_grade(&mut h, &film);
    let a = app(&mut h).grades[0].assessment.clone();
    let title = format!("KL {} — {}", a.grade, kneeclip::grading::GRADE_NAMES[a.grade]);
    h.get_by_label(&title);
    for s in a.similarities {
        h.get_by_label(&format!("{s:.3}"));
    }
    assert!((a.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    h.get_by_label("Anchor similarity (cosine)");
    h.get_by_label("Decision aid, not a diagnosis.");
    h.get_by_label_contains(&format!("anchors {}", a.provenance.anchors_hash));
    h.get_by_label_contains("on CPU");
}

#[test]
fn editing_an_anchor_changes_the_similarities() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(3)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let before = app(&mut h).grades[0].assessment.clone();
    assert!(!before.provenance.anchors_edited);
    assert!(h.query_by_label_contains("calibrated for the training anchors").is_none());
    app(&mut h).settings.anchors[2] = "a photograph of a cat".into();
    app(&mut h).anchors_changed();
    wait(&mut h, "new similarities", |a| a.grades.first().is_some_and(|g| g.assessment.provenance.anchors_edited));
    let after = app(&mut h).grades[0].assessment.clone();
    assert_ne!(after.similarities[2], before.similarities[2]);
    assert_eq!(after.similarities[0], before.similarities[0], "the other anchors are unchanged");
    assert_ne!(after.provenance.anchors_hash, before.provenance.anchors_hash);
    assert!(h.query_all_by_label_contains("calibrated for the training anchors").count() >= 2, "noted in the grade and the anchors");
}

#[test]
fn a_broken_file_shows_an_error_and_keeps_the_film() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(0)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let broken = tmp.path().join("broken.dcm");
    std::fs::write(&broken, b"DICM but not really a film").unwrap();
    app(&mut h).open(&broken);
    wait(&mut h, "the error", |a| a.error.is_some());
    h.get_by_label_contains("Could not open");
    h.get_by_label_contains("broken.dcm");
    assert_eq!(app(&mut h).path.as_deref(), Some(film.as_path()), "the previous film stays");
    assert!(app(&mut h).view.is_some());
    assert!(!app(&mut h).grades.is_empty());
    // Hiding patient data masks the path in the message too.
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::F12);
    h.step();
    h.step();
    assert!(h.query_by_label_contains("broken.dcm").is_none());
    h.get_by_label_contains("(file name hidden)");
}

#[test]
fn hiding_patient_data_hides_the_name() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let film = data_dir().join("dicom/RG2_JPLL");
    if !film.is_file() {
        eprintln!("skipped: {} is missing", film.display());
        return;
    }
    let name = kneeclip::imaging::Radiograph::open(&film).unwrap().patient_label().expect("RG2_JPLL names its patient");
    let first = name.split_whitespace().next().unwrap().to_string();
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    h.get_by_label_contains(&first);
    h.get_by_label_contains("RG2_JPLL");
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::F12);
    h.step();
    h.step();
    assert!(app(&mut h).hide_patient);
    assert!(h.query_by_label_contains(&first).is_none(), "the patient's name is hidden");
    assert!(h.query_by_label_contains("RG2_JPLL").is_none(), "the file name is hidden");
    // The toolbar toggle shows it again.
    h.get_by_label("Hide patient data").click();
    h.step();
    h.step();
    h.get_by_label_contains(&first);
}

#[test]
fn without_weights_the_viewer_says_where_to_put_them() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let mut h = harness(empty);
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    h.get_by_label("No model weights available offline");
    h.get_by_label_contains("kneeclip view --model-dir FOLDER");
    h.get_by_label_contains("Download the base model");
    h.get_by_label("Open a knee film (Ctrl+O) or drop one on the window");
}

#[test]
fn a_wide_film_shows_both_halves_and_the_heatmap_covers_each() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    // Two different "knees" side by side, 2.5 times wider than tall.
    let wide = tmp.path().join("both-knees.png");
    image::GrayImage::from_fn(500, 200, |x, y| image::Luma([if x < 250 { (y % 256) as u8 } else { ((x * 7) % 256) as u8 }]))
        .save(&wide)
        .unwrap();
    let mut h = harness(model);
    open_and_grade(&mut h, &wide);
    assert_eq!(app(&mut h).grades.len(), 2);
    h.get_by_label("left half of the image");
    h.get_by_label("right half of the image");
    let titles: Vec<String> = app(&mut h)
        .grades
        .iter()
        .map(|g| format!("KL {} — {}", g.assessment.grade, kneeclip::grading::GRADE_NAMES[g.assessment.grade]))
        .collect();
    let shown = |t: &String| h.query_all_by_label(t).count();
    assert_eq!(titles.iter().map(shown).sum::<usize>(), if titles[0] == titles[1] { 4 } else { 2 }, "one grade per half");
    // The heatmap key asks the worker for one map per half.
    h.key_press(egui::Key::M);
    h.step();
    wait(&mut h, "the heatmaps", |a| a.heatmaps.len() == 2 && !a.busy());
    for (_, map) in &app(&mut h).heatmaps {
        assert_eq!(map.values.len(), map.grid * map.grid);
        assert!(map.values.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(map.values.iter().any(|&v| v == 1.0), "scaled to its maximum");
    }
    assert!(app(&mut h).view.as_ref().unwrap().has_heatmap());
    assert!(h.query_all_by_label("opacity").count() >= 1, "the opacity slider is shown");
}

#[test]
fn view_keys_rotate_flip_invert_window_and_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let film = tmp.path().join("ramp.png");
    image::GrayImage::from_fn(64, 48, |x, _| image::Luma([(x * 4) as u8])).save(&film).unwrap();
    let mut h = harness(empty);
    app(&mut h).open(&film);
    wait(&mut h, "the film", |a| a.view.is_some());
    for key in [egui::Key::I, egui::Key::R, egui::Key::H, egui::Key::V, egui::Key::Plus] {
        h.key_press(key);
        h.step();
    }
    let v = app(&mut h).view.as_ref().unwrap();
    assert!(v.invert && v.flip_h && v.flip_v);
    assert_eq!(v.rotation, 1);
    assert!(v.zoom.is_some(), "zoomed in from fit");
    h.get_by_label_contains("rot 90°");
    h.get_by_label_contains("inverted");
    h.key_press(egui::Key::F);
    h.step();
    let full = app(&mut h).view.as_ref().unwrap().window;
    assert_eq!((full.lower(), full.upper()), (0.0, 255.0));
    h.key_press(egui::Key::Space);
    h.step();
    let v = app(&mut h).view.as_ref().unwrap();
    assert!(!v.invert && !v.flip_h && !v.flip_v && v.rotation == 0 && v.zoom.is_none());
    h.get_by_label_contains("W 255  L 128");
}

#[test]
fn the_worker_grades_the_mirrored_knee_too() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    // An asymmetric film and the same film mirrored left–right.
    let ramp = |x: u32, y: u32| image::Luma([((x * 3 + (x * y) % 50) % 256) as u8]);
    let film = tmp.path().join("film.png");
    let mirrored = tmp.path().join("mirrored.png");
    image::GrayImage::from_fn(90, 80, ramp).save(&film).unwrap();
    image::GrayImage::from_fn(90, 80, |x, y| ramp(89 - x, y)).save(&mirrored).unwrap();
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let first = app(&mut h).grades[0].clone();
    open_and_grade(&mut h, &mirrored);
    let second = app(&mut h).grades[0].clone();
    for g in 0..5 {
        assert!((first.mirrored.similarities[g] - second.assessment.similarities[g]).abs() < 1e-5, "KL {g}");
        assert!((second.mirrored.similarities[g] - first.assessment.similarities[g]).abs() < 1e-5, "KL {g}");
    }
    assert_ne!(first.assessment.similarities, first.mirrored.similarities);
}

#[test]
fn a_different_grade_for_the_mirrored_film_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    // Symmetric left–right: its mirror image is the same film, so the same grade.
    let film = tmp.path().join("symmetric.png");
    image::GrayImage::from_fn(64, 64, |x, y| image::Luma([(x.min(63 - x) * 6 + y) as u8])).save(&film).unwrap();
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    assert_eq!(app(&mut h).grades[0].mirror_disagreement(), None);
    assert!(h.query_by_label_contains("Mirrored film grades").is_none());
    h.get_by_label("Mirrored film: same grade");
    // A mirrored grade that differs (injected: the tiny model rarely disagrees).
    let grades = &mut app(&mut h).grades;
    let other = (grades[0].assessment.grade + 2) % 5;
    grades[0].mirrored.grade = other;
    h.step();
    h.get_by_label(&format!("Mirrored film grades KL {other} — the model is unsure"));
    assert!(h.query_by_label("Mirrored film: same grade").is_none());
}
