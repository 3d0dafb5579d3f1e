//! What a radiologist reading a session met in the window's frame rather
//! than the film (radiologist QA R3, R8, R9): the toolbar's Presets menu at
//! the row's end, the folder count at a file that failed to open, and the
//! DICOM tags' names.

mod common;

use common::viewer::{app, folder_of_copies, harness, harness_sized, open_and_grade, wait};
use common::{dicom_film, first_png, model_dir};
use egui_kittest::kittest::Queryable;

/// Wherever the first row ends, the Presets menu is one line high: at the
/// row's end it stood one letter a line, and made that row 100 px tall.
#[test]
fn the_presets_menu_is_one_line_high_at_the_toolbars_end() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), dicom_film("RG3_UNC")) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    // Window widths around the one where the row ends at Presets (the QA's 1400 px).
    for width in (1100..=1600).step_by(10) {
        h.set_size(egui::vec2(width as f32, 900.0));
        h.run_steps(2);
        let (open, presets) = (h.get_by_label("Open…").rect(), h.get_by_label("Presets").rect());
        assert!(presets.height() <= open.height() + 1.0, "{width} px: Presets {presets:?}, Open… {open:?}");
        assert!(presets.width() >= 2.0 * open.height(), "{width} px: the word on one line: {presets:?}");
    }
}

/// Stepping onto a file that fails to open keeps the reader's place in the
/// folder in the status bar (it vanished there).
#[test]
fn the_folder_count_stays_at_a_file_that_failed_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let films = folder_of_copies(tmp.path(), &film, 2);
    let broken = films[0].parent().unwrap().join("knee3.png");
    std::fs::write(&broken, b"not a PNG").unwrap();
    let mut h = harness(model);
    open_and_grade(&mut h, &films[0]);
    wait(&mut h, "the folder's list", |a| a.has_film_beside(1));
    h.get_by_label("Film 1 of 3 in this folder");
    app(&mut h).open(&broken);
    wait(&mut h, "the failure", |a| a.failed_path.as_deref() == Some(broken.as_path()) && !a.busy());
    h.get_by_label("Film 3 of 3 in this folder (this one could not be opened)");
}

/// The tags' names are shown whole where the panel has room ("MediaStora…").
#[test]
fn dicom_tag_names_are_shown_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), dicom_film("RG3_UNC")) else { return };
    // Tall enough that the tags' table is on screen (it draws only the rows in sight).
    let mut h = harness_sized(model, egui::vec2(1400.0, 2400.0));
    open_and_grade(&mut h, &film);
    h.get_by_label("DICOM tags").click_accesskit();
    h.run_steps(3);
    let name = h.get_by_label("MediaStorageSOPClassUID").rect();
    let value_column = h.get_by_label("Value").rect();
    assert!(name.width() > 140.0, "the name is cut short: {name:?}");
    assert!(value_column.left() >= name.right(), "values start after the names: {name:?}, {value_column:?}");
}
