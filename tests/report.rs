//! `kneeclip grade FILE --report OUT.{pdf,png,json,dcm}` end to end, with the
//! tiny fixture model and real films; the DICOM report also through the library. PDFs are read back with poppler's `pdftoppm`,
//! `pdftotext` and `pdfinfo` (Debian: poppler-utils; `.ci/run` installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{both_knees, dicom_film, first_png, gray8_dicom, kneeclip, model_dir};
use kneeclip::imaging::Radiograph;

fn run(args: &[&str]) -> std::process::Output {
    let out = kneeclip(args);
    eprintln!("kneeclip {}\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    out
}

/// `grade --offline --model-dir MODEL EXTRA... FILM`, expected to succeed.
fn report(model: &Path, film: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["grade", "--offline", "--model-dir", model.to_str().unwrap(), "--report", out.to_str().unwrap()];
    args.extend(extra);
    args.push(film.to_str().unwrap());
    let output = run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(out.is_file(), "{} was not written", out.display());
    output
}

/// Poppler is present, or the test says it is skipped.
fn poppler() -> bool {
    let found = Command::new("pdftoppm").arg("-v").output().is_ok();
    if !found {
        eprintln!("skipped: pdftoppm is not installed (apt install poppler-utils)");
    }
    found
}

fn pdf_text(pdf: &Path) -> String {
    let out = Command::new("pdftotext").args([pdf.to_str().unwrap(), "-"]).output().expect("pdftotext runs");
    assert!(out.status.success(), "pdftotext failed on {}", pdf.display());
    String::from_utf8(out.stdout).unwrap()
}

/// The PDF's first page rendered at 72 dpi (one pixel per point).
fn pdf_page(pdf: &Path, tmp: &Path) -> image::RgbImage {
    let prefix = tmp.join("page");
    let status = Command::new("pdftoppm")
        .args(["-r", "72", "-png", "-singlefile", pdf.to_str().unwrap(), prefix.to_str().unwrap()])
        .status()
        .expect("pdftoppm runs");
    assert!(status.success(), "pdftoppm failed on {}", pdf.display());
    image::open(prefix.with_extension("png")).unwrap().to_rgb8()
}

/// Share of pixels that are not (near) white, and of those that are coloured.
fn ink(image: &image::RgbImage) -> (f64, f64) {
    let n = image.pixels().len() as f64;
    let inked = image.pixels().filter(|p| p.0.iter().any(|&c| c < 200)).count() as f64;
    let coloured = image.pixels().filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 60).count() as f64;
    (inked / n, coloured / n)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Five numbers as f32: the report writes f32 in its shortest form, the
/// `--json` lines write the same f32 widened to f64.
fn five(value: &serde_json::Value) -> Vec<f32> {
    let numbers: Vec<f32> = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(numbers.len(), 5, "{value}");
    numbers
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn pdf_png_and_json_of_one_film() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(3) else { return };
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let (pdf, png, json_path) = (out_dir.join("knee.pdf"), out_dir.join("knee.png"), out_dir.join("knee.json"));

    // JSON first: the grade the other two must show.
    let printed = report(&model, &film, &json_path, &["--json"]);
    let line: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
    let r = json(&json_path);
    assert_eq!(r["report"], "kneeclip-report/1");
    assert_eq!(r["statement"], "Decision aid, not a diagnosis.");
    assert_eq!(r["disclaimer"], kneeclip::build_info::DECISION_AID);
    assert_eq!(r["kneeclip_version"], kneeclip::build_info::VERSION);
    assert!(r["created"].as_str().unwrap().ends_with('Z'), "{}", r["created"]);
    assert_eq!(r["model"], line["model"]);
    assert_eq!(r["head"], serde_json::Value::Null);
    assert_eq!(r["arithmetic"], line["arithmetic"]);
    assert!(r["arithmetic"].as_str().unwrap().starts_with("CPU ("), "{}", r["arithmetic"]);
    let regions = r["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0]["region"], "whole-film", "as grade's CSV names it");
    assert_eq!(regions[0]["grade"], line["grade"], "the report's grade is the one printed");
    assert_eq!(regions[0]["grade_name"], line["grade_name"]);
    assert_eq!(five(&regions[0]["probabilities"]), five(&line["probabilities"]));
    assert_eq!(five(&regions[0]["similarities"]), five(&line["similarities"]));
    assert!(line["mirrored_grade"].is_u64(), "the flip check ran: {line}");
    assert_eq!(regions[0]["mirrored_grade"], line["mirrored_grade"], "the report's flip check is the one printed");
    let default_anchors = kneeclip::grading::TextAnchors::default();
    assert_eq!(r["anchors"]["texts"], serde_json::json!(default_anchors.anchors));
    assert_eq!(r["anchors"]["hash"], default_anchors.hash());
    assert_eq!(r["anchors"]["edited"], false);
    let film_bytes = std::fs::read(&film).unwrap();
    assert_eq!(r["film"]["sha256"], kneeclip::files::short_sha256(&film_bytes));
    let shown = Radiograph::open(&film).unwrap();
    assert_eq!((r["film"]["width"].as_u64(), r["film"]["height"].as_u64()), (Some(shown.width() as u64), Some(shown.height() as u64)));
    assert_eq!(r["film"]["window"]["width"], shown.default_window().width);
    assert_eq!(r["film"]["heatmap_opacity"], serde_json::Value::Null);
    assert!(r.get("patient").is_none() && r["film"].get("file").is_none(), "no patient data unless asked: {r}");

    // PNG: one A4 page at 150 dpi, with text, bars and the heatmap's colours.
    report(&model, &film, &png, &["--heatmap"]);
    let page = image::open(&png).unwrap().to_rgb8();
    assert_eq!(page.dimensions(), (1240, 1754));
    let (inked, coloured) = ink(&page);
    assert!(inked > 0.05, "the PNG report is nearly blank ({inked:.3} inked)");
    assert!(coloured > 0.005, "no coloured bars or heatmap ({coloured:.4})");

    // PDF: one A4 page that renders, and whose text says what the JSON says.
    report(&model, &film, &pdf, &["--heatmap"]);
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    if !poppler() {
        return;
    }
    let info = Command::new("pdfinfo").arg(&pdf).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("Page size:       595.28 x 841.89 pts (A4)"), "{info}");
    assert!(info.contains("Pages:           1"), "{info}");
    let rendered = pdf_page(&pdf, tmp.path());
    assert!((595..=596).contains(&rendered.width()) && (842..=843).contains(&rendered.height()), "{:?}", rendered.dimensions());
    let (inked, coloured) = ink(&rendered);
    assert!(inked > 0.05 && coloured > 0.005, "the PDF renders nearly blank ({inked:.3}, {coloured:.4})");
    let text = pdf_text(&pdf);
    let grade = line["grade"].as_u64().unwrap();
    let grade_name = line["grade_name"].as_str().unwrap();
    for expected in [
        format!("KL {grade} — {grade_name}"),
        "Decision aid, not a diagnosis.".into(),
        kneeclip::build_info::VERSION.into(),
        default_anchors.anchors[4].clone(),
        format!("hash {}", default_anchors.hash()),
        line["model"].as_str().unwrap().into(),
        line["arithmetic"].as_str().unwrap().into(),
        "attention heatmap at 50%".into(),
        "Attention (relative, per knee):".into(),
        if line["mirrored_grade"] == line["grade"] { "Flip check: mirrored left–right, the same grade.".into() } else { format!("this knee grades KL {}", line["mirrored_grade"]) },
        format!("{:.3}", line["probabilities"][grade as usize].as_f64().unwrap()),
    ] {
        assert!(text.contains(&expected), "the PDF text lacks {expected:?}:\n{text}");
    }
    // Written atomically: nothing but the three reports in the folder.
    let mut names: Vec<String> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["knee.json", "knee.pdf", "knee.png"]);
}

/// The patient's name, ID and the file name appear only with --include-patient-data.
#[test]
fn patient_data_only_when_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = dicom_film("RG2_JPLL") else { return };
    let tags = Radiograph::open(&film).unwrap();
    let tag = |t: (u16, u16)| tags.dicom_tags().iter().find(|d| d.tag == t).map(|d| d.value.clone()).expect("RG2_JPLL names its patient");
    let (raw_name, id) = (tag((0x0010, 0x0010)), tag((0x0010, 0x0020)));
    // Reports name the patient as a person ("Family, Given"), not the DICOM PN ("Family^Given").
    let name = kneeclip::imaging::person_name(&raw_name);
    assert!(raw_name.contains('^') && !name.contains('^') && !name.is_empty(), "{raw_name:?} → {name:?}");
    let secrets = [name.as_str(), id.as_str(), "RG2_JPLL"];

    let withheld: Vec<PathBuf> = ["pdf", "png", "json", "dcm"].iter().map(|ext| tmp.path().join(format!("withheld.{ext}"))).collect();
    for out in &withheld {
        report(&model, &film, out, &[]);
        let bytes = std::fs::read(out).unwrap();
        for secret in secrets.iter().chain([&raw_name.as_str()]) {
            assert!(!contains(&bytes, secret), "{secret:?} appears in {}", out.display());
        }
    }
    let included: Vec<PathBuf> = ["pdf", "png", "json", "dcm"].iter().map(|ext| tmp.path().join(format!("included.{ext}"))).collect();
    for out in &included {
        report(&model, &film, out, &["--include-patient-data"]);
    }
    let r = json(&included[2]);
    assert_eq!(r["patient"]["name"], name.as_str());
    assert_eq!(r["patient"]["id"], id.as_str());
    assert_eq!(r["film"]["file"], "RG2_JPLL");
    // The study's date and accession number tie a printout to the examination.
    let study_date = kneeclip::imaging::dicom_date(&tag((0x0008, 0x0020)));
    assert_eq!(r["patient"]["study_date"], study_date.as_str());
    let accession = tags.tag_value((0x0008, 0x0050));
    assert_eq!(r["patient"].get("accession_number").and_then(|a| a.as_str()), accession.as_deref(), "{r}");
    assert!(json(&withheld[2]).get("patient").is_none());
    let header = std::fs::read(&included[3]).unwrap();
    assert!(contains(&header, &raw_name), "the DICOM report's header names the patient when asked (its PN as the film's)");
    // The caution's quotation marks are not ASCII: the file says UTF-8.
    assert!(contains(&header, "ISO_IR 192"), "no UTF-8 character set");
    // RG2_JPLL's header says HIP: every report carries the caution, with or without patient data.
    for r in [&r, &json(&withheld[2])] {
        let cautions: Vec<String> = serde_json::from_value(r["film"]["cautions"].clone()).unwrap();
        assert!(cautions.len() == 1 && cautions[0].contains("Body Part Examined") && cautions[0].contains("HIP"), "{cautions:?}");
    }
    // The PNG shows the patient line only when asked.
    let (a, b) = (image::open(&withheld[1]).unwrap().to_rgb8(), image::open(&included[1]).unwrap().to_rgb8());
    assert_eq!(a.dimensions(), b.dimensions());
    assert_ne!(a, b, "the PNG with patient data should differ from the one without");

    if !poppler() {
        return;
    }
    let (hidden, shown) = (pdf_text(&withheld[0]), pdf_text(&included[0]));
    for secret in secrets {
        assert!(!hidden.contains(secret), "{secret:?} is in the PDF text without --include-patient-data");
        assert!(shown.contains(secret), "{secret:?} is missing from the PDF text with --include-patient-data:\n{shown}");
    }
    assert!(!shown.contains(&raw_name), "the PDF shows the raw PN:\n{shown}");
    assert!(shown.contains(&format!("study {study_date}")) && !hidden.contains(&study_date), "{shown}");
    assert!(hidden.contains("Patient data not included in this report"));
    assert!(hidden.contains("Caution: DICOM Body Part Examined"), "{hidden}");
}

/// Privacy QA: a report without patient data set Burned In Annotation to NO
/// and said "Patient data not included" over a film whose own pixels carry a
/// burned-in label (vpop_jpeg-baseline.dcm says YES). The source's YES goes
/// through, NO is kept only where the source says NO, and the page and the
/// command line say what leaving out the patient data does not remove.
#[test]
fn a_films_burned_in_annotation_is_not_claimed_away() {
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(yes), Some(no), Some(unsaid)) = (dicom_film("vpop_jpeg-baseline.dcm"), dicom_film("966_fixed.dcm"), dicom_film("RG3_UNC")) else { return };
    for (film, burned, sc) in [(&yes, Some(true), "YES"), (&no, Some(false), "NO"), (&unsaid, None, "YES")] {
        let name = film.file_name().unwrap().to_string_lossy().into_owned();
        let dcm = tmp.path().join(format!("{name}.dcm"));
        let out = report(&model, film, &dcm, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.contains("carries burned-in annotation"), burned == Some(true), "{name}: {stderr}");
        let obj = dicom_object::open_file(&dcm).unwrap();
        assert_eq!(dicom_text(&obj, tags::BURNED_IN_ANNOTATION), sc, "{name}");
        let js = tmp.path().join(format!("{name}.json"));
        report(&model, film, &js, &[]);
        assert_eq!(json(&js)["film"].get("burned_in_annotation").and_then(|b| b.as_bool()), burned, "{name}");
        // With patient data the page prints it: YES whatever the film says.
        let named = tmp.path().join(format!("{name}-named.dcm"));
        report(&model, film, &named, &["--include-patient-data"]);
        assert_eq!(dicom_text(&dicom_object::open_file(&named).unwrap(), tags::BURNED_IN_ANNOTATION), "YES", "{name}");
        if poppler() {
            let pdf = tmp.path().join(format!("{name}.pdf"));
            report(&model, film, &pdf, &[]);
            let text = pdf_text(&pdf).split_whitespace().collect::<Vec<_>>().join(" ");
            let says = match burned {
                Some(true) => "the film itself carries burned-in annotation (its Burned In Annotation is YES), which may identify the patient.",
                Some(false) => "Patient data not included in this report.",
                None => "the film's pixels may still show burned-in text (its file does not say it has none).",
            };
            assert!(text.contains(says), "{name}: {text}");
        }
    }
}

/// A film with both knees side by side reports each half.
#[test]
fn a_wide_film_reports_both_knees() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(left), Some(right)) = (first_png(0), first_png(4)) else { return };
    let (left, right) = (image::open(&left).unwrap().to_luma8(), image::open(&right).unwrap().to_luma8());
    let height = left.height().min(right.height());
    let mut both = image::GrayImage::new(left.width() + right.width(), height);
    image::imageops::replace(&mut both, &left, 0, 0);
    image::imageops::replace(&mut both, &right, left.width() as i64, 0);
    let film = tmp.path().join("both-knees.png");
    both.save(&film).unwrap();

    let json_path = tmp.path().join("both.json");
    let printed = report(&model, &film, &json_path, &["--json", "--heatmap"]);
    let lines: Vec<serde_json::Value> = printed.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    let r = json(&json_path);
    let regions = r["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2);
    assert_eq!(lines.len(), 2);
    for (region, (line, name)) in regions.iter().zip(lines.iter().zip(["image-left", "image-right"])) {
        assert_eq!(region["region"], name);
        assert_eq!(line["region"], name);
        assert_eq!(region["grade"], line["grade"]);
        assert_eq!(five(&region["probabilities"]), five(&line["probabilities"]));
    }
    assert_eq!(r["film"]["heatmap_opacity"], 0.5);

    let pdf = tmp.path().join("both.pdf");
    report(&model, &film, &pdf, &["--heatmap"]);
    if !poppler() {
        return;
    }
    let info = Command::new("pdfinfo").arg(&pdf).output().unwrap();
    assert!(String::from_utf8_lossy(&info.stdout).contains("Pages:           1"), "both knees fit on one page");
    let text = pdf_text(&pdf);
    for (region, title) in regions.iter().zip(["Left half of the image", "Right half of the image"]) {
        let expected = format!("{title}: KL {} — {}", region["grade"], region["grade_name"].as_str().unwrap());
        assert!(text.contains(&expected), "the PDF lacks {expected:?}:\n{text}");
    }
}

#[test]
fn the_report_says_each_knees_side_and_the_view() {
    // QA: the viewer showed "Right · AP"; reports said neither.
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(png), Some(both)) = (first_png(3), both_knees()) else { return };
    let one = tmp.path().join("one.dcm");
    std::fs::write(&one, gray8_dicom(&image::open(&png).unwrap().to_luma8(), &[(tags::LATERALITY, VR::CS, "R"), (tags::VIEW_POSITION, VR::CS, "AP")])).unwrap();
    let out = tmp.path().join("one.json");
    report(&model, &one, &out, &[]);
    let r = json(&out);
    assert_eq!((&r["film"]["side"], &r["film"]["side_source"], &r["film"]["view"]), (&"right".into(), &"Laterality (0020,0060)".into(), &"AP".into()), "{}", r["film"]);
    assert_eq!(r["regions"][0]["side"], "right");

    let two = tmp.path().join("two.dcm");
    std::fs::write(&two, gray8_dicom(&both, &[(tags::IMAGE_LATERALITY, VR::CS, "B"), (tags::VIEW_POSITION, VR::CS, "PA")])).unwrap();
    let out = tmp.path().join("two.json");
    report(&model, &two, &out, &[]);
    let r = json(&out);
    assert!(r["film"]["side"].is_null(), "no one side for a film of both knees: {}", r["film"]);
    assert_eq!((&r["regions"][0]["side"], &r["regions"][1]["side"]), (&"right".into(), &"left".into()));
    // One side stated for a film graded as two halves (here by its name): the
    // film gets none, as the printed title (review: it said "left" for both knees).
    let named = tmp.path().join("9001695L.png");
    both.save(&named).unwrap();
    let out = tmp.path().join("named.json");
    report(&model, &named, &out, &[]);
    let r = json(&out);
    assert_eq!(r["regions"].as_array().map(Vec::len), Some(2));
    assert!(r["film"]["side"].is_null() && r["regions"][0]["side"].is_null() && r["regions"][1]["side"].is_null(), "{}", r);

    let pdf = tmp.path().join("one.pdf");
    report(&model, &one, &pdf, &[]);
    let png_report = tmp.path().join("two.png");
    report(&model, &two, &png_report, &[]);
    assert!(image::open(&png_report).is_ok_and(|i| i.width() > 400), "the PNG report of both knees is an image");
    if !poppler() {
        return;
    }
    let text = pdf_text(&pdf);
    assert!(text.contains("Right knee, AP — Kellgren–Lawrence grade"), "{text}");
    assert!(text.contains("right knee, from Laterality (0020,0060); AP, from View Position (0018,5101)"), "{text}");
    let pdf = tmp.path().join("two.pdf");
    report(&model, &two, &pdf, &[]);
    let text = pdf_text(&pdf);
    assert!(text.contains("PA — Kellgren–Lawrence grade") && text.contains("Left half of the image (right knee): KL"), "{text}");
}

#[test]
fn a_report_run_whose_lines_cannot_be_printed_fails() {
    // Review: with --report, a full standard output still exited 0.
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(1) else { return };
    let out = tmp.path().join("r.json");
    let full = std::fs::File::create("/dev/full").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["grade", "--offline", "--model-dir", model.to_str().unwrap(), "--report", out.to_str().unwrap(), film.to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write the results to standard output"), "{err}");
}

#[test]
fn bad_report_options_are_refused_before_grading() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(1) else { return };
    let (model, film) = (model.to_str().unwrap(), film.to_str().unwrap());
    let base = ["grade", "--offline", "--model-dir", model];

    let txt = tmp.path().join("report.txt");
    let out = run(&[&base[..], &["--report", txt.to_str().unwrap(), film]].concat());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("report.txt") && err.contains(".pdf, .png, .json or .dcm"), "{err}");
    assert!(!txt.exists());

    let nowhere = tmp.path().join("no-such-folder/report.pdf");
    let out = run(&[&base[..], &["--report", nowhere.to_str().unwrap(), film]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-folder"));

    let pdf = tmp.path().join("two.pdf");
    let out = run(&[&base[..], &["--report", pdf.to_str().unwrap(), film, film]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one film; 2 films were given"));
    assert!(!pdf.exists());

    let copy = tmp.path().join("film.png");
    std::fs::copy(film, &copy).unwrap();
    let out = run(&[&base[..], &["--report", copy.to_str().unwrap(), copy.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("would overwrite the film"));
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(film).unwrap(), "the film is untouched");

    let out = run(&[&base[..], &["--heatmap", film]].concat());
    assert_eq!(out.status.code(), Some(2), "--heatmap needs --report");

    // A film that cannot be read: exit 1, its name in the message, no report.
    let broken = tmp.path().join("broken.dcm");
    std::fs::write(&broken, b"not a film").unwrap();
    let out = run(&[&base[..], &["--report", pdf.to_str().unwrap(), broken.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.dcm"));
    assert!(!pdf.exists());
}

/// A top-level text attribute of a DICOM file, padding trimmed; "" when absent.
fn dicom_text(obj: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag).ok().and_then(|e| e.to_str().ok()).map(|s| s.trim_end_matches(['\0', ' ']).to_string()).unwrap_or_default()
}

/// The `.dcm` report is the PNG report's pixels under a Secondary Capture
/// header: in the film's study (same patient, study UID, a pointer back at
/// the film) with patient data, in a study of its own and nameless without.
#[test]
fn a_dicom_report_is_the_png_filed_into_the_films_study() {
    use dicom_dictionary_std::tags;
    use kneeclip::grading::{Assessment, Provenance, Region, TextAnchors};
    use kneeclip::report::{self, ReportFormat, ReportInput};

    let Some(path) = dicom_film("RG3_JPLL") else { return };
    let film = Radiograph::open(&path).unwrap();
    let source = dicom_object::open_file(&path).unwrap();
    let provenance = Provenance { model: "m".into(), head: None, anchors_hash: "h".into(), anchors_edited: false, arithmetic: "CPU".into() };
    let results = vec![(Region::Whole, Assessment { grade: 3, probabilities: [0.02, 0.08, 0.2, 0.6, 0.1], similarities: [0.2, 0.21, 0.24, 0.27, 0.22], provenance })];
    let anchors = TextAnchors::default();
    let tmp = tempfile::tempdir().unwrap();
    let mut instances = Vec::new();
    for include in [true, false] {
        let mut input = ReportInput::new(&film, &results, &anchors);
        input.include_patient_data = include;
        let png = report::render(&input, ReportFormat::Png, Path::new("r.png")).unwrap();
        let out = tmp.path().join(format!("r-{include}.dcm"));
        std::fs::write(&out, report::render(&input, ReportFormat::Dicom, &out).unwrap()).unwrap();
        let obj = dicom_object::open_file(&out).unwrap();
        let text = |tag| dicom_text(&obj, tag);
        let film_text = |tag| dicom_text(&source, tag);

        assert_eq!(text(tags::SOP_CLASS_UID), "1.2.840.10008.5.1.4.1.1.7");
        assert_eq!(obj.meta().media_storage_sop_instance_uid().trim_end_matches('\0'), text(tags::SOP_INSTANCE_UID));
        assert_eq!((text(tags::MODALITY), text(tags::CONVERSION_TYPE), text(tags::PHOTOMETRIC_INTERPRETATION)), ("OT".into(), "WSD".into(), "RGB".into()));
        assert!(text(tags::IMAGE_COMMENTS).starts_with("KL 3 (Moderate), p = 0.60"), "{}", text(tags::IMAGE_COMMENTS));
        assert_eq!(text(tags::LATERALITY), "R", "RG3 states its right side");
        for uid in [text(tags::SOP_INSTANCE_UID), text(tags::SERIES_INSTANCE_UID)] {
            assert!(uid.starts_with("2.25.") && uid.len() <= 64, "{uid}");
            assert_ne!(uid, film_text(tags::SOP_INSTANCE_UID));
            assert_ne!(uid, film_text(tags::SERIES_INSTANCE_UID));
        }
        instances.push(text(tags::SOP_INSTANCE_UID));

        // The pixels are the PNG report's, byte for byte.
        let expected = image::load_from_memory(&png).unwrap().to_rgb8();
        let rows = obj.element(tags::ROWS).unwrap().to_int::<u32>().unwrap();
        let columns = obj.element(tags::COLUMNS).unwrap().to_int::<u32>().unwrap();
        assert_eq!((columns, rows), expected.dimensions());
        assert!(obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap().as_ref() == expected.as_raw().as_slice(), "pixel data differs from the PNG report");

        // The Study Description too, so that the study's objects agree (QA: it was dropped);
        // without patient data it must not appear anywhere, not even quoted in a caution.
        let copied = [tags::PATIENT_NAME, tags::PATIENT_ID, tags::PATIENT_BIRTH_DATE, tags::STUDY_INSTANCE_UID, tags::ACCESSION_NUMBER, tags::STUDY_DESCRIPTION];
        if include {
            for tag in copied {
                assert!(!film_text(tag).is_empty(), "RG3_JPLL has {tag}");
                assert_eq!(text(tag), film_text(tag), "{tag}");
            }
            assert_eq!(text(tags::BURNED_IN_ANNOTATION), "YES");
            let items = obj.element(tags::SOURCE_IMAGE_SEQUENCE).unwrap().items().unwrap();
            assert_eq!(dicom_text(&items[0], tags::REFERENCED_SOP_INSTANCE_UID), film_text(tags::SOP_INSTANCE_UID));
        } else {
            for tag in [tags::PATIENT_NAME, tags::PATIENT_ID, tags::PATIENT_BIRTH_DATE, tags::ACCESSION_NUMBER] {
                assert_eq!(text(tag), "", "{tag} without patient data");
            }
            assert!(text(tags::STUDY_INSTANCE_UID).starts_with("2.25."), "a study of its own");
            // RG3_JPLL does not say whether its pixels carry text: not claimed away (a_films_burned_in_annotation_is_not_claimed_away).
            assert_eq!(text(tags::BURNED_IN_ANNOTATION), "YES");
            assert!(obj.element(tags::SOURCE_IMAGE_SEQUENCE).is_err(), "no pointer back at the film");
            let bytes = std::fs::read(&out).unwrap();
            for tag in copied {
                assert!(!contains(&bytes, &film_text(tag)), "{tag} appears in the file");
            }
        }
    }
    assert_ne!(instances[0], instances[1], "each export is a new instance");
}

/// The film as stored (no turn, or one that comes back to it: flipped both
/// ways and turned half way round) gives the same report, byte for byte; a
/// flip changes the film drawn, and the DICOM's Patient Orientation is the
/// film's as drawn, never the file's stale value.
#[test]
fn a_film_shown_as_stored_is_reported_as_before_and_a_flipped_one_as_shown() {
    use dicom_dictionary_std::tags;
    use kneeclip::grading::{Assessment, Provenance, Region, TextAnchors};
    use kneeclip::report::{self, Line, ReportFormat, ReportInput, ViewTransform};

    let Some(path) = dicom_film("RG3_UNC") else { return };
    let film = Radiograph::open(&path).unwrap();
    let provenance = Provenance { model: "m".into(), head: None, anchors_hash: "h".into(), anchors_edited: false, arithmetic: "CPU".into() };
    let results = vec![(Region::Whole, Assessment { grade: 3, probabilities: [0.02, 0.08, 0.2, 0.6, 0.1], similarities: [0.2, 0.21, 0.24, 0.27, 0.22], provenance })];
    let anchors = TextAnchors::default();
    let lines = [Line { from: [200.0, 300.0], to: [900.0, 1200.0] }];
    let render = |view: ViewTransform, format: ReportFormat| {
        let mut input = ReportInput::new(&film, &results, &anchors);
        (input.view, input.measurements, input.created) = (view, &lines, std::time::UNIX_EPOCH);
        report::render(&input, format, Path::new("r")).unwrap()
    };
    let tmp = tempfile::tempdir().unwrap();
    let orientation = |view: ViewTransform| {
        let out = tmp.path().join("r.dcm");
        std::fs::write(&out, render(view, ReportFormat::Dicom)).unwrap();
        dicom_text(&dicom_object::open_file(&out).unwrap(), tags::PATIENT_ORIENTATION)
    };
    for format in [ReportFormat::Png, ReportFormat::Pdf, ReportFormat::Json] {
        let stored = render(ViewTransform::default(), format);
        assert!(render(ViewTransform::new(2, true, true), format) == stored, "{format:?}: flipped both ways and turned back is the film as stored");
        assert!(render(ViewTransform::new(0, true, false), format) != stored, "{format:?}: a flip shows");
    }
    assert_eq!(orientation(ViewTransform::default()), "R\\F", "RG3_UNC's own, drawn as stored");
    assert_eq!(orientation(ViewTransform::new(0, true, false)), "L\\F", "flipped left–right");
    assert_eq!(orientation(ViewTransform::new(1, false, false)), "H\\R", "turned clockwise: the head toward the right edge, the patient's right down");
}

/// A report of a multi-frame file says which frame it shows (the JSON's
/// `film.frame` and `film.frames`; the page under "Read as"); single-frame
/// reports carry neither.
#[test]
fn a_multi_frame_report_names_its_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(many), Some(one)) = (dicom_film("HasFragmentSequence.dcm"), dicom_film("RG3_UNC")) else { return };
    let js = tmp.path().join("frame.json");
    report(&model, &many, &js, &["--frame", "3"]);
    let film = &json(&js)["film"];
    assert_eq!((film["frame"].as_u64(), film["frames"].as_u64()), (Some(3), Some(96)), "{film}");
    assert!(film["notes"].to_string().contains("frame 3 of 96"), "{film}");
    report(&model, &one, &js, &[]);
    let film = &json(&js)["film"];
    assert!(film.get("frame").is_none() && film.get("frames").is_none(), "{film}");
}
