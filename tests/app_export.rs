//! Export report from the viewer: the reader's length measurements go into
//! every form of the report (QA R2), the patient-data choice says why it is
//! off (R4), and the typed path saves on Enter where the last report went,
//! named after the film unless patient data is hidden (R5). A film turned or
//! flipped on screen is reported as shown.

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

    // The next report is proposed beside it, after the film only when patient data goes in
    // (privacy QA: a de-identified report was named after the film); never while hidden.
    assert_eq!(app(&mut h).suggested_report_path("pdf"), tmp.path().join("kneeclip-report.pdf"));
    app(&mut h).export.include_patient_data = true;
    assert_eq!(app(&mut h).suggested_report_path("pdf"), tmp.path().join("RG3_UNC-kneeclip.pdf"));
    // A proposal after the film is proposed again without it once patient data is hidden.
    let named = tmp.path().join("RG3_UNC-kneeclip.pdf").display().to_string();
    (app(&mut h).export.typed_path, app(&mut h).export.typed_suggested) = (Some(named.clone()), Some(named));
    app(&mut h).export.open = true;
    app(&mut h).hide_patient = true;
    assert_eq!(app(&mut h).suggested_report_path("png"), tmp.path().join("kneeclip-report.png"));
    h.step();
    assert_eq!(app(&mut h).export.typed_path.as_deref(), Some(tmp.path().join("kneeclip-report.pdf").to_str().unwrap()));
    // What the reader typed stays.
    app(&mut h).export.typed_path = Some(tmp.path().join("RG3_UNC-mine.pdf").display().to_string());
    h.step();
    assert_eq!(app(&mut h).export.typed_path.as_deref(), Some(tmp.path().join("RG3_UNC-mine.pdf").to_str().unwrap()));
    app(&mut h).export.typed_path = None;

    // And in the next session: the folder is remembered in the settings.
    h.step();
    let settings = app(&mut h).settings.clone();
    assert_eq!(settings.report_folder.as_deref(), Some(tmp.path()));
    drop(h);
    let mut h = common::viewer::harness_with_cache(settings, Some(model), tmp.path().join("cache"));
    open_and_grade(&mut h, &film);
    app(&mut h).hide_patient = false;
    app(&mut h).export.include_patient_data = true;
    assert_eq!(app(&mut h).suggested_report_path("pdf"), tmp.path().join("RG3_UNC-kneeclip.pdf"));
}

/// The report's page laid out from what the viewer would export now, and the
/// film's box on it in PNG pixels (150 dpi): where to look in the PNG.
fn laid_out(h: &mut Harness<'static, App>) -> (Vec<kneeclip::report::layout::Page>, [f32; 4]) {
    use kneeclip::report::{Report, ReportInput, film, layout};
    let job = app(h).export_job().expect("graded");
    let mut input = ReportInput::new(&job.film, &job.results, &job.anchors);
    (input.window, input.invert, input.view, input.measurements, input.heatmaps) = (job.window, job.invert, job.view, &job.measurements, &job.heatmaps);
    (input.mirror_grades, input.warnings) = (&job.mirror_grades, &job.warnings);
    let pages = layout::pages(&Report::new(&input).unwrap(), &film::displayed(&input, film::MAX_SIDE));
    let scale = kneeclip::report::raster::DPI / 72.0;
    let rect = pages[0].items.iter().find_map(|i| if let layout::Item::Film { x, y, w, h } = i { Some([x * scale, y * scale, w * scale, h * scale]) } else { None }).unwrap();
    (pages, rect)
}

fn key(h: &mut Harness<'static, App>, key: egui::Key) {
    h.key_press(key);
    h.step();
    h.step();
}

/// The viewer's edge letters: left, right, top, bottom (each nearest its edge of the film).
fn viewer_letters(h: &mut Harness<'static, App>) -> [String; 4] {
    let film = view(h).rect().expect("the film was drawn");
    let mut at = [String::new(), String::new(), String::new(), String::new()];
    for text in ["L", "R", "H", "F"] {
        let d = h.get_by_label(text).rect().center() - film.center();
        at[if d.x.abs() > d.y.abs() { usize::from(d.x > 0.0) } else { 2 + usize::from(d.y > 0.0) }] = text.to_string();
    }
    at
}

#[test]
fn a_film_flipped_and_turned_on_screen_is_reported_as_shown() {
    // RG3_UNC: Patient Orientation R\F, stored mirrored from the usual display.
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG3_UNC") else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let json = |h: &mut Harness<'static, App>, name: &str| -> serde_json::Value {
        let out = tmp.path().join(name);
        export(h, &out);
        serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
    };
    let png = |h: &mut Harness<'static, App>, name: &str| {
        let out = tmp.path().join(name);
        export(h, &out);
        image::open(out).unwrap().to_rgb8()
    };
    let plain = json(&mut h, "plain.json");
    assert_eq!(plain["film"].get("view_transform"), None, "as stored, as before: {}", plain["film"]);
    let plain_png = png(&mut h, "plain.png");
    let (_, [fx, fy, fw, fh]) = laid_out(&mut h);

    // Flip H: the film's pixels are mirrored in the report (rows clear of the edge letters; the
    // sentence under it shrinks the film a little to keep one page, so compared where the box puts them).
    key(&mut h, egui::Key::H);
    let flipped = json(&mut h, "flipped.json");
    assert_eq!(flipped["film"]["view_transform"], serde_json::json!({"rotation_degrees": 0, "flip_horizontal": true, "flip_vertical": false}));
    assert_eq!(flipped["film"]["patient_orientation"], "R\\F", "the stored value");
    let flipped_png = png(&mut h, "flipped.png");
    let (_, [gx, gy, gw, gh]) = laid_out(&mut h);
    assert!((gw / gh - fw / fh).abs() < 0.01, "the same shape");
    let (mut mirrored, mut same, mut n) = (0.0, 0.0, 0.0);
    for v in [0.25, 0.3, 0.35, 0.65, 0.7, 0.75] {
        for i in 0..200 {
            let u = 0.03 + 0.94 * i as f32 / 199.0;
            let plain = plain_png.get_pixel((fx + u * fw) as u32, (fy + v * fh) as u32).0[0] as f32;
            let at = |u: f32| flipped_png.get_pixel((gx + u * gw) as u32, (gy + v * gh) as u32).0[0] as f32;
            (mirrored, same, n) = (mirrored + (plain - at(1.0 - u)).abs(), same + (plain - at(u)).abs(), n + 1.0);
        }
    }
    let (mirrored, same) = (mirrored / n, same / n);
    assert!(mirrored < 4.0 && same > 4.0 * mirrored, "the flipped report's film is the plain one's mirror: mean difference {mirrored} mirrored, {same} unmirrored");

    // Then a quarter turn, and a line: the report's letters are the viewer's, the line on the same anatomy.
    key(&mut h, egui::Key::R);
    let (w, ht) = (view(&mut h).film.width() as f32, view(&mut h).film.height() as f32);
    let line = Measurement { from: egui::pos2(w * 0.2, ht * 0.25), to: egui::pos2(w * 0.6, ht * 0.4) };
    view(&mut h).measurements.push(line);
    h.step();
    let letters = viewer_letters(&mut h);
    assert_eq!(letters, ["F", "H", "R", "L"]);
    let turned = json(&mut h, "turned.json");
    assert_eq!(turned["film"]["view_transform"], serde_json::json!({"rotation_degrees": 90, "flip_horizontal": true, "flip_vertical": false}));
    assert_eq!(turned["measurements"][0]["from"][0].as_f64().unwrap() as f32, line.from.x, "stored pixels in the JSON");

    let (pages, [fx, fy, fw, fh]) = laid_out(&mut h);
    let scale = kneeclip::report::raster::DPI / 72.0;
    let texts: Vec<(String, f32, f32)> = pages[0].items.iter().filter_map(|i| if let kneeclip::report::layout::Item::Text { text, x, y, .. } = i { Some((text.clone(), x * scale, y * scale)) } else { None }).collect();
    let at = |t: &str| texts.iter().find(|(text, ..)| text == t).map(|(_, x, y)| (*x - fx - fw / 2.0, *y - fy - fh / 2.0)).unwrap();
    let report_letters: Vec<String> = ["L", "R", "H", "F"]
        .iter()
        .map(|t| (t, at(t)))
        .fold(vec![String::new(); 4], |mut edges, (t, (dx, dy))| {
            edges[if dx.abs() / fw > dy.abs() / fh { usize::from(dx > 0.0) } else { 2 + usize::from(dy > 0.0) }] = t.to_string();
            edges
        });
    assert_eq!(report_letters, letters, "the report letters its film as the viewer does");
    // The line's ends, as fractions of the film's box, where the viewer draws them on its film.
    let rect = view(&mut h).rect().unwrap();
    let corners = [egui::pos2(0.0, 0.0), egui::pos2(w, ht)].map(|p| view(&mut h).to_screen(rect, p));
    let shown = egui::Rect::from_two_pos(corners[0], corners[1]);
    let on_screen = [line.from, line.to].map(|p| {
        let s = view(&mut h).to_screen(rect, p);
        [(s.x - shown.left()) / shown.width(), (s.y - shown.top()) / shown.height()]
    });
    let drawn = pages[0].items.iter().find_map(|i| if let kneeclip::report::layout::Item::Line { x0, y0, x1, y1, .. } = i { Some([[*x0, *y0], [*x1, *y1]]) } else { None }).unwrap();
    for (end, want) in drawn.iter().zip(on_screen) {
        let got = [(end[0] * scale - fx) / fw, (end[1] * scale - fy) / fh];
        assert!((got[0] - want[0]).abs() < 1e-3 && (got[1] - want[1]).abs() < 1e-3, "report {got:?}, viewer {want:?}");
    }

    // Said in words in every form; the DICOM's Patient Orientation is the page's, as shown.
    let pdf = tmp.path().join("turned.pdf");
    export(&mut h, &pdf);
    let out = Command::new("pdftotext").args([pdf.to_str().unwrap(), "-"]).output().expect("pdftotext runs");
    let text = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    assert!(text.contains("Shown flipped left–right, then turned 90° clockwise from the stored film"), "{text}");
    let dcm = tmp.path().join("turned.dcm");
    export(&mut h, &dcm);
    let object = dicom_object::open_file(&dcm).unwrap();
    let orientation = object.element(dicom_dictionary_std::tags::PATIENT_ORIENTATION).unwrap().to_str().unwrap().into_owned();
    assert_eq!(orientation, format!("{}\\{}", letters[1], letters[3]), "toward the right edge, toward the bottom");
    let comments = object.element(dicom_dictionary_std::tags::IMAGE_COMMENTS).unwrap().to_str().unwrap().into_owned();
    assert!(comments.contains("turned 90° clockwise"), "{comments}");
    png(&mut h, "turned.png");

    // Flipped both ways and turned back half way round: the film as stored, reported as such.
    for k in [egui::Key::R, egui::Key::V] {
        key(&mut h, k);
    }
    assert_eq!(json(&mut h, "round.json")["film"].get("view_transform"), None);
}
