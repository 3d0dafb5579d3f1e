//! A reader's ways through films with the viewer (egui_kittest, the tiny
//! fixture model, real films): stepping through a folder, keeping the grade
//! back for teaching, exporting the report of what is on screen.

mod common;

use std::path::Path;

use common::viewer::{App, app, harness, open_and_grade, view, wait};
use common::{dicom_film, first_png, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

/// Export report: the button opens the window; the report written from the
/// viewer carries its window/level and the grades on screen, and patient data
/// only when the box is ticked and the data is not hidden.
#[test]
fn the_viewer_exports_the_report_of_the_film_on_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG2_JPLL") else { return };
    let name = kneeclip::imaging::Radiograph::open(&film).unwrap().patient_label().expect("RG2_JPLL names its patient");
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    h.get_by_label("Export report…").click();
    h.step();
    h.step();
    assert!(app(&mut h).export.open, "the button opens the export window");
    // A new window is measured on its first frame and shown on the next.
    h.step();
    h.step();
    h.get_by_label("Include patient data (name, ID, birth date, file name)");
    // The grade hidden on screen (a quiz): the window says the report shows it.
    assert!(h.query_by_label("The grade is hidden on screen, but the report shows it.").is_none());
    app(&mut h).hide_grade = true;
    h.step();
    h.get_by_label("The grade is hidden on screen, but the report shows it.");
    app(&mut h).hide_grade = false;
    h.step();
    // Where no file dialog can be shown, a typed path saves the report. One
    // that cannot be written keeps the window open, the path as typed and the
    // reason in the window, whole.
    let unwritable = tmp.path().join("no-such-folder/typed.pdf");
    save_typed(&mut h, &unwritable);
    h.step();
    assert!(app(&mut h).export.open, "a failed export keeps its window");
    assert_eq!(app(&mut h).export.typed_path.as_deref(), Some(unwritable.to_str().unwrap()));
    let said = h.get_by_label_contains("Not written: ").accesskit_node().value().unwrap_or_default(); // a label keeps its text as its value
    assert!(said.contains("no-such-folder"), "{said}");
    let typed = tmp.path().join("typed.pdf");
    save_typed(&mut h, &typed);
    assert_eq!(app(&mut h).export.last.as_ref().map(|r| r.as_ref().map_err(String::as_str)), Some(Ok(&typed)));
    assert!(std::fs::read(&typed).unwrap().starts_with(b"%PDF"));
    h.step();
    assert!(!app(&mut h).export.open, "a written report closes the window");
    // Never over the film itself.
    let ctx = h.ctx.clone();
    app(&mut h).export_report(&ctx, film.clone());
    let refused = app(&mut h).export.last.clone().unwrap().unwrap_err();
    assert!(refused.contains("would overwrite the film"), "{refused}");
    app(&mut h).export.typed_path = None;
    app(&mut h).export.open = true;
    h.step();
    h.step();
    // The reader changes the window before exporting: the report shows it.
    view(&mut h).command(kneeclip::app::commands::Command::FullRange);
    let window = view(&mut h).state.window;
    assert_ne!(window, view(&mut h).film.default_window(), "full range differs from the file's window");
    let export = |h: &mut Harness<'static, App>, out: &Path, with_patient: bool| -> serde_json::Value {
        let ctx = h.ctx.clone();
        let a = app(h);
        a.export.include_patient_data = with_patient;
        a.export_report(&ctx, out.to_path_buf());
        a.export.wait();
        assert_eq!(a.export.last.as_ref().map(|r| r.as_ref().map_err(String::as_str)), Some(Ok(&out.to_path_buf())));
        h.step();
        serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
    };
    let plain = export(&mut h, &tmp.path().join("plain.json"), false);
    h.get_by_label_contains("Report written to");
    let grade = app(&mut h).grades[0].assessment.grade;
    assert_eq!(plain["regions"][0]["grade"], grade, "{plain}");
    assert_eq!(plain["film"]["window"]["width"].as_f64().unwrap(), window.width, "{plain}");
    assert!(plain.get("patient").is_none(), "no patient data unless asked: {plain}");
    let asked = export(&mut h, &tmp.path().join("asked.json"), true);
    let exported = asked["patient"]["name"].as_str().unwrap_or_default();
    assert!(!exported.is_empty() && name.contains(exported), "{exported:?} is not the patient of {name:?}");
    // Hidden patient data stays out even when the box is ticked.
    app(&mut h).hide_patient = true;
    let hidden = export(&mut h, &tmp.path().join("hidden.json"), true);
    assert!(hidden.get("patient").is_none(), "hidden patient data was exported: {hidden}");
    // The PDF form opens as a PDF.
    let pdf = tmp.path().join("report.pdf");
    let ctx = h.ctx.clone();
    app(&mut h).export_report(&ctx, pdf.clone());
    app(&mut h).export.wait();
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    // The DICOM form is a DICOM file (its header and pixels: tests/report.rs).
    let dcm = tmp.path().join("report.dcm");
    app(&mut h).export_report(&ctx, dcm.clone());
    app(&mut h).export.wait();
    assert_eq!(&std::fs::read(&dcm).unwrap()[128..132], b"DICM");
    // A destination that cannot be written: a message, no file.
    let bad = tmp.path().join("missing-folder/report.pdf");
    app(&mut h).export_report(&ctx, bad.clone());
    app(&mut h).export.wait();
    let err = app(&mut h).export.last.clone().unwrap().unwrap_err();
    assert!(err.contains("missing-folder"), "{err}");
    h.step();
    h.get_by_label_contains("Report not written");
    assert!(!bad.exists());
}

/// Types `out` in the Export window's path field, presses Save and waits for the export.
fn save_typed(h: &mut Harness<'static, App>, out: &Path) {
    app(h).export.typed_path = Some(out.display().to_string());
    h.step();
    h.get_by_label("Save").click();
    h.step();
    app(h).export.wait();
}

/// Page Down / Page Up open the next / previous film of the folder by name
/// (knee2 before knee10), go on past a file that fails to open (and step
/// over it the next time, until it changes), and stop at the ends.
#[test]
fn page_down_and_page_up_step_through_the_films_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(a), Some(b), Some(c)) = (first_png(0), first_png(2), first_png(4)) else { return };
    let folder = tmp.path().join("films");
    std::fs::create_dir(&folder).unwrap();
    let place = |name: &str, from: &Path| {
        let to = folder.join(name);
        std::fs::copy(from, &to).unwrap();
        to
    };
    let (knee1, knee2, knee10) = (place("knee1.png", &a), place("knee2.png", &b), place("knee10.png", &c));
    let broken = folder.join("knee3.png");
    std::fs::write(&broken, b"not a PNG").unwrap();
    std::fs::write(folder.join("notes.txt"), b"not a film").unwrap();

    let mut h = harness(model);
    open_and_grade(&mut h, &knee1);
    h.get_by_label("Film 1 of 4 in this folder");
    assert!(!app(&mut h).has_film_beside(-1) && app(&mut h).has_film_beside(1));
    let opened = |h: &mut Harness<'static, App>, key: egui::Key, film: &Path| {
        h.key_press(key);
        wait(h, "the film", |a| a.path.as_deref() == Some(film) && !a.grades.is_empty() && !a.busy());
    };
    opened(&mut h, egui::Key::PageDown, &knee2);
    h.get_by_label("Film 2 of 4 in this folder");
    // The broken file: said in the film's place, once, with its path; the
    // film before and its grade go (they would pass for this file's), and
    // the next key goes on past it.
    h.key_press(egui::Key::PageDown);
    wait(&mut h, "the failure", |a| a.failed_path.as_deref() == Some(broken.as_path()) && !a.busy());
    let error = app(&mut h).error.clone().unwrap_or_default();
    assert!(error.starts_with("Could not open") && error.matches("knee3.png").count() == 1, "{error}");
    assert!(app(&mut h).path.is_none() && app(&mut h).view.is_none() && app(&mut h).grades.is_empty());
    h.get_by_label_contains("Could not open");
    assert!(app(&mut h).has_film_beside(1) && app(&mut h).has_film_beside(-1), "Next and Previous stay on at the broken file");
    opened(&mut h, egui::Key::PageDown, &knee10);
    h.get_by_label("Film 4 of 4 in this folder");
    assert!(!app(&mut h).has_film_beside(1));
    h.key_press(egui::Key::PageDown);
    h.step();
    assert_eq!(app(&mut h).error.as_deref(), Some("No next film in this folder"));
    assert_eq!(app(&mut h).path.as_deref(), Some(knee10.as_path()));
    // And back: the broken file, seen once, is stepped over to knee2, and said so.
    opened(&mut h, egui::Key::PageUp, &knee2);
    assert_eq!(app(&mut h).notice.as_deref(), Some("Stepped over 1 file that could not be opened"));
    assert!(app(&mut h).error.is_none());
    // Put right, it opens again.
    std::fs::copy(&a, &broken).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options().write(true).open(&broken).unwrap().set_modified(later).unwrap();
    opened(&mut h, egui::Key::PageDown, &broken);
    assert!(app(&mut h).notice.is_none());
}

/// Each press counts, even several in one frame, and past the end stops at
/// the last film; paging through a folder fills one Recent entry, not all ten.
#[test]
fn several_page_downs_in_one_frame_each_count_and_stepping_keeps_recent_files() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(a) = first_png(1) else { return };
    let films = common::viewer::folder_of_copies(tmp.path(), &a, 6);
    let elsewhere = tmp.path().join("other.png");
    std::fs::copy(&a, &elsewhere).unwrap();
    let mut h = harness(model);
    open_and_grade(&mut h, &elsewhere);
    open_and_grade(&mut h, &films[0]);
    wait(&mut h, "the folder's list", |a| a.has_film_beside(1));
    let presses = |h: &mut Harness<'static, App>, n: usize, film: &Path| {
        // Into one frame's input (the harness's queue would give each event a frame).
        for _ in 0..n {
            for pressed in [true, false] {
                h.input_mut().events.push(egui::Event::Key { key: egui::Key::PageDown, physical_key: None, pressed, repeat: false, modifiers: egui::Modifiers::NONE });
            }
        }
        h.step();
        wait(h, "the film", |a| a.path.as_deref() == Some(film) && !a.grades.is_empty() && !a.busy());
    };
    presses(&mut h, 3, &films[3]);
    presses(&mut h, 1, &films[4]);
    assert_eq!(app(&mut h).settings.recent, [films[4].clone(), films[0].clone(), elsewhere.clone()], "one entry for the paging");
    // Five presses with one film to go: the last film, without an error.
    presses(&mut h, 5, &films[5]);
    assert!(app(&mut h).error.is_none(), "{:?}", app(&mut h).error);
    assert_eq!(app(&mut h).settings.recent, [films[5].clone(), films[0].clone(), elsewhere.clone()]);
    // A film opened by hand gets an entry of its own again.
    open_and_grade(&mut h, &elsewhere);
    assert_eq!(app(&mut h).settings.recent, [elsewhere.clone(), films[5].clone(), films[0].clone()]);
    // Paged away from, back to and away from again, a film opened by hand keeps its entry.
    open_and_grade(&mut h, &films[1]);
    wait(&mut h, "the folder's list", |a| a.has_film_beside(1));
    presses(&mut h, 1, &films[2]);
    h.key_press(egui::Key::PageUp);
    wait(&mut h, "the film", |a| a.path.as_deref() == Some(films[1].as_path()) && !a.grades.is_empty() && !a.busy());
    presses(&mut h, 1, &films[2]);
    assert_eq!(app(&mut h).settings.recent, [films[2].clone(), films[1].clone(), elsewhere.clone(), films[5].clone(), films[0].clone()]);
}

/// Several presses that would land past the last film, which failed to open
/// before: the nearest film short of it (review: "No next film" with films between).
#[test]
fn a_jump_onto_a_file_that_failed_stops_at_the_film_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(a) = first_png(3) else { return };
    let films = common::viewer::folder_of_copies(tmp.path(), &a, 3);
    let folder = films[0].parent().unwrap();
    let broken = folder.join("knee4.png");
    std::fs::write(&broken, b"not a PNG").unwrap();
    let mut h = harness(model);
    app(&mut h).open(&broken);
    wait(&mut h, "the failure", |a| a.failed_path.as_deref() == Some(broken.as_path()) && !a.busy());
    open_and_grade(&mut h, &films[0]);
    wait(&mut h, "the folder's list", |a| a.has_film_beside(1));
    for _ in 0..5 {
        for pressed in [true, false] {
            h.input_mut().events.push(egui::Event::Key { key: egui::Key::PageDown, physical_key: None, pressed, repeat: false, modifiers: egui::Modifiers::NONE });
        }
    }
    h.step();
    wait(&mut h, "the film", |a| a.path.as_deref() == Some(films[2].as_path()) && !a.grades.is_empty() && !a.busy());
    assert!(app(&mut h).error.is_none(), "{:?}", app(&mut h).error);
}

/// The folder is listed on a thread of its own (a network share's PACS export
/// may be slow to read): Page Down pressed before the list is in still opens
/// the next film once it is.
#[test]
fn page_down_before_the_folder_is_listed_opens_the_next_film_when_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(a), Some(b)) = (first_png(1), first_png(3)) else { return };
    let (first, second) = (tmp.path().join("IM0001.png"), tmp.path().join("IM0002.png"));
    std::fs::copy(&a, &first).unwrap();
    std::fs::copy(&b, &second).unwrap();

    let mut h = harness(model);
    app(&mut h).open(&first);
    // Before the first film (and so its folder's list, asked for only then)
    // is in: the key is kept until the list comes. (That the list is made off
    // the UI thread is folder.rs's unit test; here it may be in by the time
    // the key's frame ends.)
    h.key_press(egui::Key::PageDown);
    wait(&mut h, "the second film", |a| a.path.as_deref() == Some(second.as_path()) && !a.grades.is_empty() && !a.busy());
    assert_eq!(app(&mut h).error, None);
    h.get_by_label("Film 2 of 2 in this folder");
}

/// Teaching: G hides the model's grade, probabilities and similarities, and
/// they stay hidden on the next film until shown again.
#[test]
fn the_grade_can_be_kept_back_until_the_reader_has_graded() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(a), Some(b)) = (first_png(0), first_png(4)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &a);
    let title = |h: &mut Harness<'static, App>| {
        let g = app(h).grades[0].assessment.grade;
        format!("KL {g} — {}", kneeclip::grading::GRADE_NAMES[g])
    };
    let shown = title(&mut h);
    h.get_by_label(&shown);
    h.key_press(egui::Key::G);
    h.step();
    assert!(app(&mut h).hide_grade);
    assert!(h.query_by_label(&shown).is_none(), "the grade is still on screen");
    assert!(h.query_by_label("Anchor similarity (cosine)").is_none(), "the similarities give it away");
    h.get_by_label_contains("grade the film yourself first");
    open_and_grade(&mut h, &b);
    let next = title(&mut h);
    assert!(h.query_by_label(&next).is_none(), "hidden on the next film too");
    h.get_by_label("Show the grade (G)").click();
    h.step();
    h.step();
    assert!(!app(&mut h).hide_grade);
    h.get_by_label(&next);
}

/// The tiny fixture's head as `dir/NAME.safetensors`, with `sidecar` beside it.
fn fixture_head(dir: &std::path::Path, name: &str, sidecar: serde_json::Value) -> std::path::PathBuf {
    let head = dir.join(format!("{name}.safetensors"));
    std::fs::copy(common::fixture_dir("tiny-clip").join("head.safetensors"), &head).unwrap();
    std::fs::write(head.with_extension("json"), sidecar.to_string()).unwrap();
    head
}

/// A head that records its anchors brings them into the editor (it was
/// calibrated with them), says so, and the reader can go back to their own.
#[test]
fn a_heads_anchors_come_into_the_editor_and_the_readers_own_can_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let theirs = ["no change", "maybe a spur", "a spur", "spurs and narrowing", "bone on bone"].map(String::from);
    let head = fixture_head(tmp.path(), "clinic", serde_json::json!({ "anchors": theirs }));
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let mine = app(&mut h).settings.anchors.clone();
    app(&mut h).use_head(Some(&head));
    wait(&mut h, "the head", |a| a.head.is_some() && !a.busy());
    assert_eq!(app(&mut h).settings.anchors, theirs);
    h.get_by_label_contains("The head's own anchors are now in the editor");
    assert!(!app(&mut h).grades[0].assessment.provenance.anchors_edited, "graded with the head's own anchors");
    assert!(h.query_by_label_contains("Edited: the probabilities").is_none());
    h.get_by_label("My anchors").click();
    h.step();
    wait(&mut h, "the regrade", |a| !a.busy());
    assert_eq!(app(&mut h).settings.anchors, mine);
    assert!(app(&mut h).grades[0].assessment.provenance.anchors_edited, "the reader's anchors are not the head's");
    h.get_by_label_contains("Edited: the probabilities");
    assert!(h.query_by_label("My anchors").is_none(), "offered once");
    assert!(h.query_by_label_contains("fitted at its limit").is_none(), "its sidecar records no temperature");
}

/// A head whose temperature was fitted at its limit is said to be nearly flat
/// above its grades, as long as they are its grades.
#[test]
fn a_head_fitted_at_its_temperature_limit_is_cautioned_above_the_grade() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let head = fixture_head(tmp.path(), "flat", serde_json::json!({ "temperature": 20.0 }));
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    assert!(h.query_by_label_contains("fitted at its limit").is_none());
    app(&mut h).use_head(Some(&head));
    wait(&mut h, "the head", |a| a.head.is_some() && !a.busy());
    h.get_by_label_contains("fitted at its limit (20.0): its probabilities are nearly flat");
    app(&mut h).use_head(None);
    wait(&mut h, "base CLIP", |a| a.head.is_none() && !a.busy());
    assert!(h.query_by_label_contains("fitted at its limit").is_none(), "gone with the head");
}

/// The overlay names the patient as a person and dates the study as the birth
/// date beside it (it showed "CompressedSamples^RG3" and "20040826"); the
/// DICOM tags panel keeps the raw values.
#[test]
fn the_overlay_shows_a_persons_name_and_iso_dates() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG3_UNC") else { return };
    let tags = kneeclip::imaging::Radiograph::open(&film).unwrap();
    let (Some(name), Some(date)) = (tags.tag_value((0x0010, 0x0010)), tags.tag_value((0x0008, 0x0020))) else { panic!("RG3_UNC names its patient and study date") };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let overlay = h.get_by_label_contains(&kneeclip::imaging::person_name(&name)).value().unwrap_or_default();
    assert!(!overlay.contains('^'), "{overlay}");
    let iso = kneeclip::imaging::dicom_date(&date);
    assert!(iso.len() == 10 && iso.as_bytes()[4] == b'-', "{date} → {iso}");
    h.get_by_label_contains(&format!("study {iso}"));
    assert!(h.query_by_label_contains(&date).is_none(), "the raw study date {date} is shown");
    if let Some(born) = tags.tag_value((0x0010, 0x0030)) {
        h.get_by_label_contains(&format!("born {}", kneeclip::imaging::dicom_date(&born)));
    }
}
