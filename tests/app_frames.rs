//! Stepping a multi-frame film in the viewer (radiologist QA R6): "Frame k
//! of N" over the film, the keys and the bar's buttons step it, the view
//! keeps its window, zoom and rotation, and the grade is the frame's own.

mod common;

use common::viewer::{app, harness, open_and_grade, view, wait};
use common::{dicom_film, first_png, model_dir};
use egui_kittest::kittest::Queryable;

#[test]
fn stepping_a_frame_shows_it_and_grades_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), dicom_film("HasFragmentSequence.dcm")) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    h.get_by_label("Frame 1 of 96");
    let first_grade = app(&mut h).grades[0].assessment.probabilities.clone();
    let first_pixels = view(&mut h).film.pixels().clone();
    // The reader's view, kept from frame to frame.
    view(&mut h).command(kneeclip::app::commands::Command::Rotate);
    view(&mut h).command(kneeclip::app::commands::Command::ZoomIn);
    view(&mut h).command(kneeclip::app::commands::Command::Invert);
    let state = view(&mut h).state;

    h.key_press(egui::Key::Period);
    h.step();
    // Until frame 2 is graded, no grade is shown with it.
    let start = std::time::Instant::now();
    loop {
        let a = app(&mut h);
        let shown = a.view.as_ref().unwrap().film.frame();
        assert!(shown == 1 || a.grades.is_empty() || !a.busy(), "frame {shown} shown with a grade while grading");
        if shown == 2 && !a.grades.is_empty() && !a.busy() {
            break;
        }
        assert!(start.elapsed().as_secs() < 120, "frame 2 was not graded");
        std::thread::sleep(std::time::Duration::from_millis(5));
        h.step();
    }
    h.run_steps(2);
    h.get_by_label("Frame 2 of 96");
    assert!(h.query_by_label("Frame 1 of 96").is_none());
    assert_ne!(view(&mut h).film.pixels(), &first_pixels, "frame 2's pixels");
    assert_ne!(app(&mut h).grades[0].assessment.probabilities, first_grade, "frame 2's own grade");
    let grade_of_2 = kneeclip::imaging::Radiograph::open_frame(&film, 2).unwrap();
    assert_eq!(view(&mut h).film.pixels(), grade_of_2.pixels());
    assert_eq!(view(&mut h).state, state, "window, zoom, rotation and inversion kept");

    // The bar's buttons: ⏵ twice, ⏴ once: frame 3; Comma: frame 2 again.
    h.get_by_label("Next frame").click();
    h.run_steps(2);
    h.get_by_label("Next frame").click();
    h.run_steps(2);
    h.get_by_label("Previous frame").click();
    wait(&mut h, "frame 3's grade", |a| a.view.as_ref().unwrap().film.frame() == 3 && !a.grades.is_empty() && !a.busy());
    h.get_by_label("Frame 3 of 96");
    h.key_press(egui::Key::Comma);
    wait(&mut h, "frame 2's grade", |a| a.view.as_ref().unwrap().film.frame() == 2 && !a.grades.is_empty() && !a.busy());
    h.get_by_label("Frame 2 of 96");
    // At the first frame, a step back stays there.
    h.key_press(egui::Key::Comma);
    wait(&mut h, "frame 1", |a| a.view.as_ref().unwrap().film.frame() == 1 && !a.grades.is_empty() && !a.busy());
    h.key_press(egui::Key::Comma);
    h.run_steps(3);
    assert_eq!(view(&mut h).frame_target(), 1);
    assert!(!app(&mut h).busy());
}

#[test]
fn a_single_frame_film_has_no_frame_bar_and_its_keys_do_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(1)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    assert!(h.query_by_label("Next frame").is_none());
    let grade = app(&mut h).grades[0].assessment.probabilities.clone();
    h.key_press(egui::Key::Period);
    h.run_steps(3);
    assert!(!app(&mut h).busy(), "nothing to read");
    assert_eq!(app(&mut h).grades[0].assessment.probabilities, grade);
}

#[test]
fn the_frame_keys_are_in_the_shortcut_help() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let mut h = harness(model);
    app(&mut h).push(kneeclip::app::commands::Command::Shortcuts);
    h.run_steps(3);
    h.get_by_label("Next frame");
    h.get_by_label("Previous frame");
    h.get_by_label(". (Period)");
    h.get_by_label(", (Comma)");
}
