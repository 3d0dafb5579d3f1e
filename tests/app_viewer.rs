//! The viewer driven headless with egui_kittest, the tiny fixture model and real films.

mod common;

use std::path::{Path, PathBuf};

use common::viewer::{App, app, harness, open_and_grade, view, wait};
use common::{dicom_film, first_png, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

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
    assert!(h.query_by_label_contains("Caution:").is_none(), "a knee film whose file states nothing gets no caution");
}

#[test]
fn the_overlay_shows_the_side_and_view_the_header_states_even_with_patient_data_hidden() {
    // RG3_UNC states Laterality R and View Position AP; its Study Description
    // names the distal tibia, so the side is not called a knee's.
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG3_UNC") else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    h.get_by_label_contains("Right side, AP");
    assert!(h.query_by_label_contains("Right knee").is_none());
    h.get_by_label_contains("RG3_UNC");
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::F12);
    h.step();
    h.run();
    assert!(h.query_by_label_contains("RG3_UNC").is_none(), "the file name is hidden");
    h.get_by_label_contains("Right side, AP");
    // An OAI-style name gives the side, as on the command line and in reports.
    let Some(png) = first_png(2) else { return };
    let named = tmp.path().join("9001695L.png");
    std::fs::copy(png, &named).unwrap();
    open_and_grade(&mut h, &named);
    h.get_by_label_contains("Left knee");
    assert!(h.query_by_label_contains("Right knee").is_none());
}

#[test]
fn a_window_preset_from_the_file_is_applied_from_the_presets_menu() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG3_UNC") else { return };
    let presets = kneeclip::imaging::Radiograph::open(&film).unwrap().window_presets().to_vec();
    assert!(!presets.is_empty(), "RG3_UNC states window presets");
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    app(&mut h).view.as_mut().unwrap().state.window.width += 123.0;
    h.get_by_label("Presets").click();
    h.run();
    let last = presets.last().unwrap();
    h.get_by_label_contains(&format!("{} ({})", last.name, last.window.label())).click();
    h.run();
    assert_eq!(app(&mut h).view.as_ref().unwrap().state.window, last.window);
    // Opened again, then the reader windows by dragging on the film: the
    // menu closes (egui closes it on a click elsewhere, not on a drag).
    h.get_by_label("Presets").click();
    h.run();
    assert!(egui::Popup::is_any_open(&h.ctx), "the menu is open");
    let centre = film_centre(&mut h);
    drag(&mut h, egui::PointerButton::Secondary, centre, centre + egui::vec2(40.0, 20.0));
    assert!(!egui::Popup::is_any_open(&h.ctx), "a drag on the film closes the menu");
    assert_ne!(app(&mut h).view.as_ref().unwrap().state.window, last.window, "and windows the film");
}

#[test]
fn a_film_whose_header_names_the_hip_shows_a_caution_above_its_grade() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG2_JPLL") else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    h.get_by_label_contains("Caution: DICOM Body Part Examined is “HIP”");
    let a = app(&mut h).grades[0].assessment.clone();
    h.get_by_label(&format!("KL {} — {}", a.grade, kneeclip::grading::GRADE_NAMES[a.grade]));
}

#[test]
/// The film before goes with its grade: a grade left on screen beside
/// "could not open" would pass for the new file's.
fn a_broken_file_shows_an_error_in_the_films_place() {
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
    assert_eq!(app(&mut h).path, None, "the previous film is gone");
    assert!(app(&mut h).view.is_none() && app(&mut h).grades.is_empty());
    assert_eq!(h.query_all_by_label_contains("Could not open").count(), 1, "said once, in the film's place");
    // An anchor edited now does not bring the film before's grade back.
    app(&mut h).settings.anchors[2].push_str(" and sclerosis");
    app(&mut h).anchors_changed();
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        h.step();
    }
    assert!(app(&mut h).grades.is_empty() && !app(&mut h).busy(), "no grade without a film");
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
    let Some(film) = dicom_film("RG2_JPLL") else { return };
    let name = kneeclip::imaging::Radiograph::open(&film).unwrap().patient_label().expect("RG2_JPLL names its patient");
    let first = name.split_whitespace().next().unwrap().to_string();
    // Tall enough for the DICOM tags panel below the anchors.
    let mut h = common::viewer::harness_sized(model, egui::vec2(1400.0, 2600.0));
    open_and_grade(&mut h, &film);
    h.get_by_label_contains(&first);
    h.get_by_label_contains("RG2_JPLL");
    h.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::F12);
    h.step();
    h.step();
    assert!(app(&mut h).hide_patient);
    assert!(h.query_by_label_contains(&first).is_none(), "the patient's name is hidden");
    assert!(h.query_by_label_contains("RG2_JPLL").is_none(), "the file name is hidden");
    // The tag search does not confirm a guessed name either.
    h.get_by_label("DICOM tags").click();
    app(&mut h).tag_filter = first.clone();
    h.step();
    h.step();
    h.get_by_label(&format!("No tag matches \"{first}\"."));
    app(&mut h).tag_filter = "PatientName".into();
    h.step();
    h.step();
    assert!(h.query_all_by_label("(hidden)").count() >= 1, "searched by name, the row shows with its value hidden");
    app(&mut h).tag_filter.clear();
    // The toolbar toggle, named for what it does now, shows it again.
    h.get_by_label("Show patient data").click();
    h.step();
    h.step();
    h.get_by_label_contains(&first);
}

#[test]
fn a_wide_film_shows_both_halves_and_the_heatmap_covers_each() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let wide = common::viewer::wide_film(tmp.path());
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
    let v = app(&mut h).view.as_ref().unwrap().state;
    assert!(v.invert && v.flip_h && v.flip_v);
    assert_eq!(v.rotation, 1);
    assert!(v.zoom.is_some(), "zoomed in from fit");
    h.get_by_label_contains("rot 90°");
    h.get_by_label_contains("inverted");
    h.key_press(egui::Key::F);
    h.step();
    let full = app(&mut h).view.as_ref().unwrap().state.window;
    assert_eq!((full.lower(), full.upper()), (0.0, 255.0));
    // Auto: darkest to brightest value (the ramp runs 0..252).
    h.key_press(egui::Key::A);
    h.step();
    let auto = app(&mut h).view.as_ref().unwrap().state.window;
    assert_eq!((auto.lower(), auto.upper()), (0.0, 252.0));
    h.key_press(egui::Key::Space);
    h.step();
    let v = app(&mut h).view.as_ref().unwrap().state;
    assert!(!v.invert && !v.flip_h && !v.flip_v && v.rotation == 0 && v.zoom.is_none());
    h.get_by_label_contains("W 255  L 127.5");
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

/// A viewer with no model showing `film` (nothing but the view to test).
fn viewer_with_film(tmp: &Path, film: &Path) -> Harness<'static, App> {
    let empty = tmp.join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let mut h = harness(empty);
    app(&mut h).open(film);
    wait(&mut h, "the film", |a| a.view.is_some());
    h
}

fn ramp_film(tmp: &Path) -> PathBuf {
    let film = tmp.join("ramp.png");
    image::GrayImage::from_fn(64, 48, |x, _| image::Luma([(x * 4) as u8])).save(&film).unwrap();
    film
}

fn film_centre(h: &mut Harness<'static, App>) -> egui::Pos2 {
    view(h).rect().expect("the film was drawn").center()
}

fn press(h: &mut Harness<'static, App>, button: egui::PointerButton, at: egui::Pos2) {
    h.event(egui::Event::PointerMoved(at));
    h.event(egui::Event::PointerButton { pos: at, button, pressed: true, modifiers: egui::Modifiers::NONE });
    h.step();
}

/// Moves the pressed pointer to `to` in a few frames.
fn move_to(h: &mut Harness<'static, App>, from: egui::Pos2, to: egui::Pos2) {
    for i in 1..=5 {
        h.event(egui::Event::PointerMoved(from + (to - from) * (i as f32 / 5.0)));
    }
    h.step();
}

fn release(h: &mut Harness<'static, App>, button: egui::PointerButton, at: egui::Pos2) {
    h.event(egui::Event::PointerButton { pos: at, button, pressed: false, modifiers: egui::Modifiers::NONE });
    h.step();
    h.step();
}

fn drag(h: &mut Harness<'static, App>, button: egui::PointerButton, from: egui::Pos2, to: egui::Pos2) {
    press(h, button, from);
    move_to(h, from, to);
    release(h, button, to);
}

fn undo(h: &mut Harness<'static, App>) {
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.step();
}

#[test]
fn ctrl_z_undoes_view_changes_one_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = viewer_with_film(tmp.path(), &ramp_film(tmp.path()));
    let start = view(&mut h).state;
    for key in [egui::Key::R, egui::Key::I, egui::Key::Plus] {
        h.key_press(key);
        h.step();
    }
    let c = film_centre(&mut h);
    drag(&mut h, egui::PointerButton::Primary, c, c + egui::vec2(40.0, 30.0));
    let s = view(&mut h).state;
    assert_eq!(s.pan, egui::vec2(40.0, 30.0), "left-drag pans");
    assert_eq!(view(&mut h).undo_steps(), 4, "rotate, invert, zoom, pan: one drag is one step");
    undo(&mut h);
    assert_eq!(view(&mut h).state.pan, egui::Vec2::ZERO);
    assert!(view(&mut h).state.zoom.is_some());
    undo(&mut h);
    assert_eq!(view(&mut h).state.zoom, None);
    assert!(view(&mut h).state.invert);
    h.get_by_label_contains("inverted");
    undo(&mut h);
    assert!(!view(&mut h).state.invert);
    assert!(h.query_by_label_contains("inverted").is_none());
    h.get_by_label_contains("rot 90°");
    undo(&mut h);
    assert_eq!(view(&mut h).state, start);
    // Reset is undone like any other change.
    h.key_press(egui::Key::H);
    h.step();
    h.key_press(egui::Key::Space);
    h.step();
    assert!(!view(&mut h).state.flip_h);
    undo(&mut h);
    assert!(view(&mut h).state.flip_h, "the flip is back after undoing the reset");
    // The toolbar's Undo does the same.
    h.get_by_label("Undo").click();
    h.step();
    h.step();
    assert_eq!(view(&mut h).state, start);
}

#[test]
fn escape_cancels_a_window_drag_and_ctrl_z_undoes_a_finished_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = viewer_with_film(tmp.path(), &ramp_film(tmp.path()));
    let before = view(&mut h).state.window;
    let c = film_centre(&mut h);
    let right = egui::PointerButton::Secondary;
    press(&mut h, right, c);
    move_to(&mut h, c, c + egui::vec2(60.0, -40.0));
    assert_ne!(view(&mut h).state.window, before, "right-drag changes the window");
    h.key_press(egui::Key::Escape);
    h.step();
    assert_eq!(view(&mut h).state.window, before, "Escape puts it back");
    move_to(&mut h, c + egui::vec2(60.0, -40.0), c + egui::vec2(100.0, 0.0));
    release(&mut h, right, c + egui::vec2(100.0, 0.0));
    assert_eq!(view(&mut h).state.window, before, "the rest of the cancelled drag does nothing");
    assert_eq!(view(&mut h).undo_steps(), 0);

    drag(&mut h, right, c, c + egui::vec2(50.0, 20.0));
    let after = view(&mut h).state.window;
    assert!(after.width > before.width && after.center < before.center, "wider to the right, lower level downwards");
    h.get_by_label_contains(&after.label().replace(" L ", "  L "));
    // The render thread catches up with the new window.
    wait(&mut h, "the new window rendered", |a| a.view.as_ref().is_some_and(|v| v.is_rendered()));
    undo(&mut h);
    assert_eq!(view(&mut h).state.window, before);
    h.get_by_label_contains(&before.label().replace(" L ", "  L "));
}

#[test]
fn the_length_tool_measures_in_mm_from_the_dicom_spacing() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(film) = dicom_film("RG2_JPLL") else { return };
    let mut h = viewer_with_film(tmp.path(), &film);
    let spacing = view(&mut h).film.pixel_spacing().expect("RG2_JPLL has a pixel spacing");
    assert_eq!((spacing.row_mm, spacing.column_mm), (0.2, 0.2));
    h.key_press(egui::Key::L);
    h.step();
    assert_eq!(view(&mut h).tool, kneeclip::app::film_view::Tool::Length);
    let c = film_centre(&mut h);
    let scale = view(&mut h).scale();
    let left = egui::PointerButton::Primary;
    drag(&mut h, left, c, c + egui::vec2(120.0, 0.0));
    let v = view(&mut h);
    assert_eq!(v.state.pan, egui::Vec2::ZERO, "the length tool does not pan");
    assert_eq!(v.scale(), scale, "the film did not move while measuring");
    assert_eq!(v.measurements.len(), 1);
    let line = v.measurements[0];
    // 120 screen points at the fitted scale, 0.2 mm per pixel.
    let pixels = 120.0 / scale;
    assert!(((line.to - line.from).length() - pixels).abs() < 0.01, "{line:?} vs {pixels} px");
    let mm = pixels as f64 * 0.2;
    let label = format!("{mm:.1} mm");
    assert_eq!(line.length(Some(spacing)).label(), label);
    h.get_by_label(&label);

    // The line stays on the film: rotating moves it with the film.
    h.key_press(egui::Key::R);
    h.step();
    h.get_by_label(&label);
    assert_eq!(view(&mut h).measurements, vec![line]);

    // Escape drops a line being drawn, and the tool stays.
    press(&mut h, left, c);
    move_to(&mut h, c, c + egui::vec2(0.0, 80.0));
    assert!(view(&mut h).drawing().is_some());
    h.key_press(egui::Key::Escape);
    h.step();
    release(&mut h, left, c + egui::vec2(0.0, 80.0));
    assert_eq!(view(&mut h).measurements.len(), 1);
    assert_eq!(view(&mut h).tool, kneeclip::app::film_view::Tool::Length);

    // A second line; clearing removes both, Ctrl+Z brings them back, and removes the last line.
    drag(&mut h, left, c, c + egui::vec2(-60.0, 60.0));
    assert_eq!(view(&mut h).measurements.len(), 2);
    h.get_by_label("Clear measurements").click();
    h.step();
    h.step();
    assert!(view(&mut h).measurements.is_empty());
    assert!(h.query_by_label(&label).is_none());
    undo(&mut h);
    assert_eq!(view(&mut h).measurements.len(), 2);
    undo(&mut h);
    assert_eq!(view(&mut h).measurements, vec![line]);
    h.get_by_label(&label);

    // Escape with no line under way leaves the tool: left-drag pans again.
    h.key_press(egui::Key::Escape);
    h.step();
    assert_eq!(view(&mut h).tool, kneeclip::app::film_view::Tool::Pan);
    drag(&mut h, left, c, c + egui::vec2(30.0, 0.0));
    assert_eq!(view(&mut h).state.pan, egui::vec2(30.0, 0.0));
    assert_eq!(view(&mut h).measurements.len(), 1);
}

#[test]
fn each_half_of_a_film_of_both_knees_names_its_knee_where_the_file_says() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(both)) = (model_dir(tmp.path()), common::both_knees()) else { return };
    let film = tmp.path().join("both.dcm");
    std::fs::write(&film, common::gray8_dicom(&both, &[(tags::IMAGE_LATERALITY, VR::CS, "B"), (tags::VIEW_POSITION, VR::CS, "PA")])).unwrap();
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    h.get_by_label("left half of the image (right knee)");
    h.get_by_label("right half of the image (left knee)");
    h.get_by_label_contains("Both knees, PA");
}

#[test]
fn a_film_is_drawn_in_the_frame_it_opens_in() {
    let tmp = tempfile::tempdir().unwrap();
    // viewer_with_film waits for the frame in which the view appears.
    let mut h = viewer_with_film(tmp.path(), &ramp_film(tmp.path()));
    assert!(view(&mut h).is_rendered(), "a blank frame before the render thread's first image");
}

#[test]
fn zoom_in_on_a_film_of_a_few_pixels_zooms_in() {
    let tmp = tempfile::tempdir().unwrap();
    let tiny = tmp.path().join("tiny.png");
    image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(x * 80 + y * 20) as u8])).save(&tiny).unwrap();
    let mut h = viewer_with_film(tmp.path(), &tiny);
    h.run_steps(2);
    let fit = view(&mut h).scale();
    assert!(fit > 64.0, "fits above 6400 %: {fit}");
    h.key_press(egui::Key::Plus);
    h.step();
    assert!(view(&mut h).scale() > fit, "+ from fit zoomed out: {} after {fit}", view(&mut h).scale());
}

#[test]
fn without_a_pixel_spacing_lengths_are_in_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = viewer_with_film(tmp.path(), &ramp_film(tmp.path()));
    assert!(view(&mut h).film.pixel_spacing().is_none());
    h.get_by_label("Length").click();
    h.step();
    let c = film_centre(&mut h);
    drag(&mut h, egui::PointerButton::Primary, c - egui::vec2(100.0, 0.0), c + egui::vec2(100.0, 0.0));
    let v = view(&mut h);
    let pixels = 200.0 / v.scale();
    let label = format!("{pixels:.0} px");
    assert_eq!(v.measurements[0].length(None).label(), label);
    h.get_by_label(&label);
    assert!(h.query_by_label_contains(" mm").is_none());
}

#[test]
fn help_about_shows_version_licences_and_what_kneeclip_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let mut h = harness(empty);
    assert!(h.query_by_label_contains("not a medical device").is_none());
    h.get_by_label("Help").click();
    h.step();
    h.step();
    h.get_by_label("About kneeclip").click();
    h.run_steps(5);
    assert!(app(&mut h).show_about);
    h.get_by_label(&format!("Version {}", kneeclip::build_info::VERSION));
    assert!(kneeclip::build_info::VERSION.contains(env!("CARGO_PKG_VERSION")));
    h.get_by_label_contains("commit ");
    h.get_by_label_contains("features: ");
    h.get_by_label(kneeclip::build_info::DECISION_AID);
    let expected = [
        ("kneeclip", "MIT OR Apache-2.0"),
        ("OpenAI CLIP ViT-B/32 weights", "MIT"),
        ("egui / eframe (user interface)", "MIT OR Apache-2.0"),
        ("candle (neural network inference)", "MIT OR Apache-2.0"),
        ("dicom-rs (DICOM reading)", "MIT OR Apache-2.0"),
        ("image (PNG, JPEG, TIFF, BMP)", "MIT OR Apache-2.0"),
        ("tokenizers (CLIP's text tokenizer)", "Apache-2.0"),
        ("hf-hub (weights download)", "Apache-2.0"),
    ];
    assert_eq!(kneeclip::app::about::LICENCES, expected);
    for (what, _) in expected.iter().skip(1) {
        h.get_by_label(what);
    }
    assert_eq!(h.query_all_by_label("MIT OR Apache-2.0").count(), 5);
    assert_eq!(h.query_all_by_label("Apache-2.0").count(), 2);
    assert_eq!(h.query_all_by_label("MIT").count(), 1);
    h.get_by_label_contains("under its own licence");
    // Escape closes it.
    h.key_press(egui::Key::Escape);
    h.run_steps(5);
    assert!(!app(&mut h).show_about);
    assert!(h.query_by_label_contains("not a medical device").is_none());
}



/// The toolbar wraps whole widgets: at any window width the heatmap's
/// opacity slider keeps its label inside the window (at 900 px its label
/// was cut off at the edge), and every toolbar button stays on screen.
#[test]
fn the_toolbar_keeps_every_label_inside_narrow_windows() {
    use egui_kittest::kittest::NodeT;
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    for width in [700.0, 800.0, 900.0, 1000.0, 1100.0, 1200.0, 1400.0] {
        let mut h = common::viewer::harness_sized(model.clone(), egui::vec2(width, 700.0));
        h.step();
        h.step();
        for label in ["opacity", "Export report…", "Help", "Presets"] {
            let nodes: Vec<_> = h.query_all_by_label(label).collect();
            assert!(!nodes.is_empty(), "{label} at {width} px");
            for node in nodes {
                let b = node.accesskit_node().bounding_box().expect("laid out");
                assert!(b.x0 >= 0.0 && b.x1 <= width as f64 + 0.5, "{label} at {width} px: {b:?}");
            }
        }
    }
}

#[test]
fn the_heatmap_legend_is_shown_with_the_heatmap_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let legend = "Attention (relative, per knee)";
    assert!(h.query_by_label(legend).is_none(), "no legend without the heatmap");
    h.key_press(egui::Key::M);
    h.step();
    wait(&mut h, "the heatmap", |a| !a.heatmaps.is_empty() && !a.busy());
    let title = h.get_by_label(legend).rect();
    let (least, most) = (h.get_by_label("least").rect(), h.get_by_label("most").rect());
    assert!(least.center().x < most.center().x, "low on the left");
    // In the film view's bottom-right corner, above its zoom line, not over the knee.
    let zoom = h.get_by_label_contains("%  ").rect(); // "Zoom 55%  700×700"
    let view = view(&mut h).rect().unwrap();
    assert!(title.min.x > view.center().x && least.max.y <= zoom.min.y, "{title:?} {least:?} {zoom:?}");
    assert!(view.contains_rect(title) && view.contains_rect(most), "inside the view");
    // The peak is ringed (on white bone the map's lightest colour hardly shows), and the ring follows a flip.
    let rings = common::viewer::view(&mut h).peak_rings(view);
    assert_eq!(rings.len(), 1, "one knee, one ring");
    let (ring, radius) = rings[0];
    assert!(view.contains(ring) && radius >= 6.0, "{ring:?} {radius} in {view:?}");
    h.key_press(egui::Key::H);
    h.run();
    let flipped = common::viewer::view(&mut h).peak_rings(view)[0].0;
    assert!((flipped.x - (2.0 * view.center().x - ring.x)).abs() < 1.0 && (flipped.y - ring.y).abs() < 1.0, "{ring:?} flipped to {flipped:?}");
    h.key_press(egui::Key::H);
    h.run();
    // Accessibility QA: at a large UI zoom the legend grew with the text over 40 % of the film.
    h.ctx.set_zoom_factor(1.8);
    h.run();
    let (title, area) = (h.get_by_label(legend).rect(), common::viewer::view(&mut h).rect().unwrap());
    assert!(title.width() <= area.width() / 3.0 + 1.0, "{title:?} in {area:?}");
    h.ctx.set_zoom_factor(1.0);
    h.run();
    // At opacity 0 nothing is tinted, so nothing is explained.
    app(&mut h).settings.heatmap_opacity = 0.0;
    h.run();
    assert!(h.query_by_label(legend).is_none(), "hidden at opacity 0");
    app(&mut h).settings.heatmap_opacity = 0.5;
    h.run();
    h.get_by_label(legend);
    h.key_press(egui::Key::M);
    h.step();
    h.run();
    assert!(h.query_by_label(legend).is_none(), "hidden with the heatmap");
}

/// QA: a typed export path replaced an existing file without a word (the
/// dialog asks): the window says so and its button reads Replace.
#[test]
fn export_to_a_typed_path_says_an_existing_file_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    app(&mut h).push(kneeclip::app::commands::Command::ExportReport);
    let out = tmp.path().join("slide.png");
    app(&mut h).export.typed_path = Some(out.display().to_string());
    h.run_steps(4);
    h.get_by_label("Save");
    assert!(h.query_by_label_contains("exists: Replace writes over it").is_none());
    std::fs::write(&out, b"an earlier slide").unwrap();
    h.run_steps(2);
    h.get_by_label_contains(&format!("{} exists: Replace writes over it.", out.display()));
    h.get_by_label("Replace").click();
    h.step();
    app(&mut h).export.wait();
    assert!(std::fs::read(&out).unwrap().starts_with(b"\x89PNG"), "replaced once asked");
}
