//! Export report from the viewer: the reader's length measurements go into
//! every form of the report (QA R2), the patient-data choice says why it is
//! off (R4), and the typed path saves on Enter where the last report went,
//! named after the film unless patient data is hidden (R5).

mod common;

use std::path::Path;
use std::process::Command;

use common::viewer::{App, app, harness, open_and_grade, view};
use common::{dicom_film, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use kneeclip::app::measure::Measurement;

fn export(h: &mut Harness<'static, App>, out: &Path) {
    let ctx = h.ctx.clone();
    app(h).export_report(&ctx, out.to_path_buf());
    app(h).export.wait();
    assert_eq!(app(h).export.last.as_ref().map(|r| r.as_ref().map_err(String::as_str)), Some(Ok(&out.to_path_buf())));
    h.step();
}

/// Pixels of the viewer's measurement green (90, 235, 140) in a PNG report.
fn green_pixels(png: &Path) -> usize {
    let image = image::open(png).unwrap().to_rgb8();
    image.pixels().filter(|p| p.0[1] > 200 && p.0[0] < 140 && p.0[2] < 190 && p.0[2] > 90).count()
}

#[test]
fn a_measured_length_is_drawn_and_listed_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("966_fixed.dcm") else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let spacing = view(&mut h).film.pixel_spacing().expect("966_fixed.dcm has Pixel Spacing");
    let (w, height) = (view(&mut h).film.width() as f32, view(&mut h).film.height() as f32);
    export(&mut h, &tmp.path().join("plain.png"));
    let plain: serde_json::Value = {
        export(&mut h, &tmp.path().join("plain.json"));
        serde_json::from_slice(&std::fs::read(tmp.path().join("plain.json")).unwrap()).unwrap()
    };
    assert_eq!(plain["measurements"], serde_json::json!([]), "{plain}");
    // A line across the middle, as the length tool leaves it (film pixels).
    let line = Measurement { from: egui::pos2(w * 0.2, height * 0.5), to: egui::pos2(w * 0.8, height * 0.5) };
    view(&mut h).measurements.push(line);
    let mm = spacing.length_mm((line.from.x as f64, line.from.y as f64), (line.to.x as f64, line.to.y as f64));
    let expected = format!("Length 1: {mm:.1} mm (Pixel Spacing (0028,0030))");

    let json = tmp.path().join("measured.json");
    export(&mut h, &json);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let m = &r["measurements"][0];
    assert_eq!((m["label"].as_str(), m["unit"].as_str(), m["spacing_source"].as_str()), (Some("Length 1"), Some("mm"), Some("Pixel Spacing (0028,0030)")), "{r}");
    assert!((m["length"].as_f64().unwrap() - mm).abs() < 1e-6, "{m}");
    assert_eq!(m["from"][0].as_f64().unwrap() as f32, line.from.x);

    let pdf = tmp.path().join("measured.pdf");
    export(&mut h, &pdf);
    let out = Command::new("pdftotext").args([pdf.to_str().unwrap(), "-"]).output().expect("pdftotext runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&expected), "{expected} not in the PDF:\n{text}");

    let png = tmp.path().join("measured.png");
    export(&mut h, &png);
    assert_eq!(green_pixels(&tmp.path().join("plain.png")), 0, "no line without a measurement");
    assert!(green_pixels(&png) > 200, "the line is drawn on the PNG's film: {}", green_pixels(&png));

    // The DICOM form is the PNG's page: the line is burned into its pixels.
    let dcm = tmp.path().join("measured.dcm");
    export(&mut h, &dcm);
    let object = dicom_object::open_file(&dcm).unwrap();
    let pixels = object.element(dicom_dictionary_std::tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    let green = pixels.chunks_exact(3).filter(|p| p[1] > 200 && p[0] < 140 && p[2] < 190 && p[2] > 90).count();
    assert!(green > 200, "the line is burned into the DICOM report: {green}");
    let comments = object.element(dicom_dictionary_std::tags::IMAGE_COMMENTS).unwrap().to_str().unwrap().into_owned();
    assert!(comments.contains(&expected), "{comments}");
}

#[test]
fn the_export_window_says_why_patient_data_is_off_and_saves_on_enter_beside_the_last_report() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG3_UNC") else { return };
    let mut h = harness(model.clone());
    open_and_grade(&mut h, &film);
    app(&mut h).export.open = true;
    for _ in 0..4 {
        h.step();
    }
    let reason = "Patient data is hidden: Show patient data (Shift+F12) to include it.";
    assert!(h.query_by_label(reason).is_none());
    h.get_by_label_contains("Without patient data, a DICOM report gets a new patient and study");
    app(&mut h).hide_patient = true;
    h.step();
    h.get_by_label(reason);

    // Enter in the typed path saves, as the button does.
    app(&mut h).hide_patient = false;
    let first = tmp.path().join("first.pdf");
    app(&mut h).export.typed_path = Some(first.display().to_string());
    h.step();
    let field = h.query_all_by_label("Save to").find(|n| n.accesskit_node().role() == egui::accesskit::Role::TextInput).expect("the typed path's field");
    field.click();
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    app(&mut h).export.wait();
    assert_eq!(app(&mut h).export.last.as_ref().map(|r| r.as_ref().map_err(String::as_str)), Some(Ok(&first)), "Enter saves");
    assert!(std::fs::read(&first).unwrap().starts_with(b"%PDF"));

    // The next report is proposed beside it, after the film; never the film's name while hidden.
    assert_eq!(app(&mut h).suggested_report_path("pdf"), tmp.path().join("RG3_UNC-kneeclip.pdf"));
    app(&mut h).hide_patient = true;
    assert_eq!(app(&mut h).suggested_report_path("png"), tmp.path().join("kneeclip-report.png"));

    // And in the next session: the folder is remembered in the settings.
    h.step();
    let settings = app(&mut h).settings.clone();
    assert_eq!(settings.report_folder.as_deref(), Some(tmp.path()));
    drop(h);
    let mut h = common::viewer::harness_with_cache(settings, Some(model), tmp.path().join("cache"));
    open_and_grade(&mut h, &film);
    assert_eq!(app(&mut h).suggested_report_path("pdf"), tmp.path().join("RG3_UNC-kneeclip.pdf"));
}
