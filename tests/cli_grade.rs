//! `kneeclip grade` end to end, with the tiny fixture model and real films.

mod common;

use common::{both_knees, data_dir, first_png, gray8_dicom, kneeclip, model_dir};

#[test]
fn json_lines_for_good_films_and_an_error_line_for_a_bad_one() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(png0), Some(png4)) = (first_png(0), first_png(4)) else {
        eprintln!("skipped: no OAI films under {}", data_dir().display());
        return;
    };
    let broken = tmp.path().join("not-a-film.dcm");
    std::fs::write(&broken, b"this is not DICOM").unwrap();
    let files = [png0.to_str().unwrap(), broken.to_str().unwrap(), png4.to_str().unwrap()];
    let mut args = vec!["grade", "--offline", "--json", "--model-dir", model.to_str().unwrap()];
    args.extend(files);
    let out = kneeclip(&args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "one film failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, file) in lines.iter().zip(files) {
        assert_eq!(line["file"], file, "the path exactly as given");
    }
    let error = lines[1]["error"].as_str().expect("the broken film has an error line");
    assert!(error.contains("not-a-film.dcm"), "{error}");
    for line in [&lines[0], &lines[2]] {
        let grade = line["grade"].as_u64().unwrap();
        assert!(grade <= 4);
        let p: Vec<f64> = serde_json::from_value(line["probabilities"].clone()).unwrap();
        let s: Vec<f64> = serde_json::from_value(line["similarities"].clone()).unwrap();
        assert_eq!((p.len(), s.len()), (5, 5));
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-4);
        assert!(s.iter().all(|c| (-1.0..=1.0).contains(c)));
        let top = (0..5).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(top as u64, grade);
        assert_eq!(line["anchors_hash"], kneeclip::grading::TextAnchors::default().hash());
        assert!(line["model"].as_str().unwrap().len() > 0);
        assert_eq!(line["arithmetic"], kneeclip::model::arithmetic_label(&candle_core::Device::Cpu));
    }
    // Two different films give different similarities.
    assert_ne!(lines[0]["similarities"], lines[2]["similarities"]);
}

#[test]
fn cli_matches_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(png) = first_png(2) else { return };
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", model.to_str().unwrap(), png.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let mut grader = kneeclip::grading::Grader::load(
        &model.join("config.json"),
        &model.join("model.safetensors"),
        &model.join("tokenizer.json"),
        "fixture",
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let view = kneeclip::imaging::Radiograph::open(&png).unwrap().model_view();
    let a = grader.grade_gray(view.width as usize, view.height as usize, &view.data).unwrap();
    let printed: Vec<f32> = serde_json::from_value(line["probabilities"].clone()).unwrap();
    for (x, y) in printed.iter().zip(a.probabilities) {
        assert!((x - y).abs() < 1e-6);
    }
    assert_eq!(line["grade"].as_u64().unwrap() as usize, a.grade);
}

#[test]
fn edited_anchors_change_similarities_and_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(png) = first_png(3) else { return };
    let anchors = tmp.path().join("anchors.txt");
    std::fs::write(&anchors, "normal knee\ndoubtful osteoarthritis\nmild osteoarthritis\nmoderate osteoarthritis\nsevere knee\n").unwrap();
    let m = model.to_str().unwrap();
    let base = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, png.to_str().unwrap()]);
    let edited_run = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--anchors", anchors.to_str().unwrap(), png.to_str().unwrap()]);
    let base: serde_json::Value = serde_json::from_slice(&base.stdout).unwrap();
    let edited: serde_json::Value = serde_json::from_slice(&edited_run.stdout).unwrap();
    assert_ne!(base["similarities"], edited["similarities"]);
    assert_ne!(base["anchors_hash"], edited["anchors_hash"]);
    assert_eq!(edited["anchors_edited"], true);
    assert_eq!(base["anchors_edited"], false);
    assert!(!String::from_utf8_lossy(&edited_run.stderr).contains("same text"));
    // Two anchors that are one text (to CLIP's tokenizer) tie on every film: said, for grade and eval alike.
    std::fs::write(&anchors, "normal knee\nNormal  Knee\nmild osteoarthritis\nmoderate osteoarthritis\nsevere knee\n").unwrap();
    let repeated = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--anchors", anchors.to_str().unwrap(), png.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&repeated.stderr);
    assert_eq!(repeated.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: anchors KL 0 and KL 1 are the same text"), "{err}");
}

#[test]
fn unusable_model_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let film = tmp.path().join("x.png"); // there (a missing film is said before the model is looked for)
    std::fs::write(&film, b"not looked at").unwrap();
    let out = kneeclip(&["grade", "--offline", "--model-dir", tmp.path().to_str().unwrap(), film.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model.safetensors"), "{stderr}");
    assert!(stderr.contains(tmp.path().to_str().unwrap()), "{stderr}");
}

#[test]
fn help_shows_examples() {
    let out = kneeclip(&["grade", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Examples:") && text.contains("--json"), "{text}");
}

#[test]
fn a_film_showing_both_knees_is_graded_per_half() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(left), Some(right)) = (first_png(0), first_png(4)) else { return };
    // Two real 224×224 knee crops side by side: a 448×224 bilateral film.
    let left = image::open(left).unwrap().to_luma8();
    let right = image::open(right).unwrap().to_luma8();
    let mut both = image::GrayImage::new(448, 224);
    image::imageops::replace(&mut both, &left, 0, 0);
    image::imageops::replace(&mut both, &right, 224, 0);
    let film = tmp.path().join("both-knees.png");
    both.save(&film).unwrap();

    let m = model.to_str().unwrap();
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, film.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["region"], "image-left");
    assert_eq!(lines[1]["region"], "image-right");

    // Each half is graded as the single crop would be (up to float rounding:
    // the halves run as one batch of two).
    for (line, crop) in lines.iter().zip([first_png(0).unwrap(), first_png(4).unwrap()]) {
        let single = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, crop.to_str().unwrap()]);
        let single: serde_json::Value = serde_json::from_slice(&single.stdout).unwrap();
        let a: Vec<f64> = serde_json::from_value(line["similarities"].clone()).unwrap();
        let b: Vec<f64> = serde_json::from_value(single["similarities"].clone()).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }
    assert_ne!(lines[0]["similarities"], lines[1]["similarities"]);
}

#[test]
fn version_names_commit_and_features() {
    let out = kneeclip(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("kneeclip {}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains("commit ") && text.contains("features: cpu"), "{text}");
}

#[test]
fn csv_rows_match_the_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(png) = first_png(2) else {
        eprintln!("skipped: no OAI films under {}", data_dir().display());
        return;
    };
    let (m, f) = (model.to_str().unwrap(), png.to_str().unwrap());
    let csv = kneeclip(&["grade", "--offline", "--csv", "--model-dir", m, f]);
    assert_eq!(csv.status.code(), Some(0), "{}", String::from_utf8_lossy(&csv.stderr));
    let json = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, f]);
    let line: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let stdout = String::from_utf8(csv.stdout).unwrap();
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 2, "a header and one row: {stdout}");
    assert_eq!(rows[0], "file,region,grade,p0,p1,p2,p3,p4,s0,s1,s2,s3,s4,model,head,anchors_hash,arithmetic,mirrored_grade,grade_name,borderline,uncertain,anchors_edited,cautions,notes,error,side,side_source,view,view_source,warnings");
    // The arithmetic ("CPU (avx512, amx-bf16x3)") holds a comma: quoted.
    let arithmetic = line["arithmetic"].as_str().unwrap();
    let quoted = if arithmetic.contains(',') { format!("\"{arithmetic}\"") } else { arithmetic.to_string() };
    let (row, after) = rows[1].split_once(&format!(",{quoted},")).unwrap_or_else(|| panic!("the row holds {quoted}: {}", rows[1]));
    // After it, the fields JSON has too.
    let borderline = line["borderline"].as_array().map(|b| format!("{}/{}", b[0], b[1])).unwrap_or_default();
    let uncertain = line["uncertain"].as_array().map(|b| format!("{}/{}", b[0], b[1])).unwrap_or_default();
    let expected = [line["mirrored_grade"].to_string(), line["grade_name"].as_str().unwrap().to_string(), borderline, uncertain, line["anchors_edited"].to_string(), String::new(), String::new(), String::new(), "right".into(), "file name".into(), String::new(), String::new(), String::new()];
    assert_eq!((line["side"].as_str(), line["side_source"].as_str(), &line["view"]), (Some("right"), Some("file name"), &serde_json::Value::Null), "{f} is an OAI right knee: {line}");
    assert!(line["cautions"].as_array().unwrap().is_empty() && line["notes"].as_array().unwrap().is_empty() && line["warnings"].as_array().unwrap().is_empty(), "{line}");
    assert_eq!(after.split(',').collect::<Vec<_>>(), expected, "{after}");
    let fields: Vec<&str> = row.split(',').collect();
    assert_eq!(fields.len(), 16, "{row}");
    assert_eq!((fields[0], fields[1], fields[2]), (f, "whole-film", line["grade"].to_string().as_str()));
    for g in 0..5 {
        let p: f64 = fields[3 + g].parse().unwrap();
        assert!((p - line["probabilities"][g].as_f64().unwrap()).abs() < 1e-6, "p{g}: {p} against {}", line["probabilities"][g]);
    }
    assert_eq!(fields[15], line["anchors_hash"].as_str().unwrap());

    // A film that cannot be read still has its row, with the reason, so a
    // spreadsheet of a folder lists every film.
    let broken = tmp.path().join("broken, \"one\".png");
    std::fs::write(&broken, b"not a png").unwrap();
    let csv = kneeclip(&["grade", "--offline", "--csv", "--model-dir", m, f, broken.to_str().unwrap()]);
    assert_eq!(csv.status.code(), Some(1), "{}", String::from_utf8_lossy(&csv.stderr));
    let stdout = String::from_utf8(csv.stdout).unwrap();
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 3, "a header, the film and the broken file: {stdout}");
    let quoted_name = format!("\"{}\"", broken.to_str().unwrap().replace('"', "\"\""));
    let rest = rows[2].strip_prefix(&quoted_name).unwrap_or_else(|| panic!("the row starts with the file's name, quoted: {}", rows[2]));
    let (empty, error) = rest.split_at(24);
    assert_eq!(empty, ",".repeat(24), "no grade, no figures: {}", rows[2]);
    let error = error.strip_suffix(",,,,").unwrap_or_else(|| panic!("no side or view for a film not read: {}", rows[2]));
    assert!(error.starts_with('"') && error.contains("broken") && error.len() > 20, "the reason, quoted (it names the file): {error}");
    assert!(String::from_utf8_lossy(&csv.stderr).contains("1 of 2 films could not be graded"));
}

#[test]
fn a_film_whose_header_names_another_body_part_is_graded_with_a_caution() {
    // 966_fixed.dcm states Body Part Examined CHEST; an OAI knee crop states nothing.
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let chest = data_dir().join("dicom/966_fixed.dcm");
    let (true, Some(knee)) = (chest.is_file(), first_png(1)) else {
        eprintln!("skipped: {} or an OAI film is missing", chest.display());
        return;
    };
    let model = model.to_str().unwrap();
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", model, chest.to_str().unwrap(), knee.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "a caution is not a failure: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cautions: Vec<String> = serde_json::from_value(lines[0]["cautions"].clone()).unwrap();
    assert!(cautions.len() == 1 && cautions[0].contains("CHEST"), "{cautions:?}");
    assert!(lines[0]["grade"].as_u64().is_some(), "still graded");
    assert_eq!(lines[1]["cautions"], serde_json::json!([]), "the knee film has none");

    let text = kneeclip(&["grade", "--offline", "--model-dir", model, chest.to_str().unwrap()]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with("  caution: ") && l.contains("CHEST")), "{text}");
    let csv = kneeclip(&["grade", "--offline", "--csv", "--model-dir", model, chest.to_str().unwrap()]);
    assert_eq!(String::from_utf8(csv.stdout).unwrap().lines().count(), 2, "header and one row: the caution is not a column");
    assert!(String::from_utf8_lossy(&csv.stderr).contains("caution: DICOM Body Part Examined"), "{}", String::from_utf8_lossy(&csv.stderr));
}

/// RG3_JPLL says Body Part EXTREMITY but Study Description "Non-ossifying
/// fibroma of distal tibia" (an ankle-region film): graded, with a caution
/// quoting the region's words (not the whole free text); a knee DICOM whose descriptions say "KNEE BIL"
/// and "Knie li." and an OAI crop get none.
#[test]
fn a_film_whose_study_description_names_another_region_is_graded_with_a_caution() {
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(tibia), Some(png)) = (common::dicom_film("RG3_JPLL"), first_png(2)) else { return };
    let knee = tmp.path().join("knee.dcm");
    let extra = [(tags::BODY_PART_EXAMINED, VR::CS, "EXTREMITY"), (tags::STUDY_DESCRIPTION, VR::LO, "KNEE BIL"), (tags::SERIES_DESCRIPTION, VR::LO, "Knie li."), (tags::PROTOCOL_NAME, VR::LO, "Lower leg")];
    std::fs::write(&knee, gray8_dicom(&image::open(&png).unwrap().to_luma8(), &extra)).unwrap();
    let m = model.to_str().unwrap();
    let films = [tibia.to_str().unwrap(), knee.to_str().unwrap(), png.to_str().unwrap()];
    let mut args = vec!["grade", "--offline", "--json", "--no-mirror-check", "--model-dir", m];
    args.extend(films);
    let out = kneeclip(&args);
    assert_eq!(out.status.code(), Some(0), "a caution is not a failure: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cautions: Vec<String> = serde_json::from_value(lines[0]["cautions"].clone()).unwrap();
    assert!(cautions.len() == 1 && cautions[0].contains("Study Description names “distal tibia”") && !cautions[0].contains("fibroma") && cautions[0].contains("may mean nothing"), "{cautions:?}");
    assert!(lines[0]["grade"].as_u64().is_some(), "still graded");
    assert_eq!(lines[1]["cautions"], serde_json::json!([]), "the knee DICOM has none");
    assert_eq!(lines[2]["cautions"], serde_json::json!([]), "the OAI crop has none");

    let text = kneeclip(&["grade", "--offline", "--no-mirror-check", "--model-dir", m, films[0]]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with("  caution: DICOM Study Description") && l.contains("distal tibia")), "{text}");
    // Its stated side is not called a knee's; the knee DICOM's and the crop's are.
    assert!(text.lines().next().is_some_and(|l| l.contains("(right side, AP)") && !l.contains("knee")), "{text}");
    assert_eq!(lines[0]["side"], "right");
    let knees = kneeclip(&["grade", "--offline", "--no-mirror-check", "--model-dir", m, films[2]]);
    let knees = String::from_utf8(knees.stdout).unwrap();
    assert!(knees.lines().next().is_some_and(|l| l.contains("knee)")), "{knees}");
}

/// The flip check: each film's `mirrored_grade` is the grade of the same film
/// mirrored left–right (graded from a mirrored copy), text output flags each
/// film whose two grades differ, and `--no-mirror-check` leaves it out.
#[test]
fn the_flip_check_grades_the_mirrored_film() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let mut films = Vec::new();
    for grade in 0..5 {
        let dir = data_dir().join(format!("oai-kl/test/{grade}"));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("skipped: {} is missing", dir.display());
            return;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        films.extend(paths.into_iter().take(3));
    }
    let mirrored: Vec<_> = films
        .iter()
        .enumerate()
        .map(|(i, film)| {
            let out = tmp.path().join(format!("mirrored-{i}.png"));
            image::open(film).unwrap().fliph().save(&out).unwrap();
            out
        })
        .collect();
    let m = model.to_str().unwrap();
    let grade = |extra: &[&str], files: &[std::path::PathBuf]| -> String {
        let mut args = vec!["grade", "--offline", "--model-dir", m];
        args.extend(extra);
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        let out = kneeclip(&args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let lines = |text: String| -> Vec<serde_json::Value> { text.lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
    let checked = lines(grade(&["--json"], &films));
    let copies = lines(grade(&["--json", "--no-mirror-check"], &mirrored));
    let mut unsure = 0;
    for (film, copy) in checked.iter().zip(&copies) {
        assert_eq!(film["mirrored_grade"], copy["grade"], "{} against its mirrored copy", film["file"]);
        assert!(copy["mirrored_grade"].is_null(), "--no-mirror-check ran the check: {copy}");
        unsure += usize::from(film["mirrored_grade"] != film["grade"]);
    }
    let text = grade(&[], &films);
    assert_eq!(text.matches("flip check: mirrored left–right it grades KL").count(), unsure, "{text}");
    eprintln!("{unsure} of {} films grade differently mirrored", films.len());
}

/// Damaged weights once gave every film "KL 0 (Normal)" with NaN
/// probabilities, exit 0, and wrote its report; eval predicted KL 0 throughout.
#[test]
fn damaged_weights_are_refused_not_graded_normal() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(film) = first_png(2) else { return };
    let film = film.to_str().unwrap();
    // A logit scale whose exp overflows: caught when the model loads.
    let Some(huge) = common::damaged_model_dir(&tmp.path().join("huge"), |t| {
        t.insert("logit_scale".into(), candle_core::Tensor::new(1000f32, &candle_core::Device::Cpu).unwrap());
    }) else { return };
    // A NaN deep in the vision tower: caught when its grades come out.
    let nan = common::damaged_model_dir(&tmp.path().join("nan"), |t| common::with_nan(t, "vision_model.post_layernorm.weight")).unwrap();
    for model in [&huge, &nan] {
        let weights = model.join("model.safetensors").display().to_string();
        let report = tmp.path().join("report.pdf");
        for extra in [&["--json"][..], &[], &["--report", report.to_str().unwrap()]] {
            let mut args = vec!["grade", "--offline", "--model-dir", model.to_str().unwrap()];
            args.extend(extra);
            args.push(film);
            let out = kneeclip(&args);
            let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.code(), Some(2), "{extra:?}: {stdout}\n{stderr}");
            assert!(stderr.contains("non-finite values") && stderr.contains(&weights), "{stderr}");
            assert!(!stdout.contains("KL 0") && !stdout.contains("\"grade\""), "a grade from damaged weights: {stdout}");
            assert!(!report.exists(), "a report of damaged weights was written");
        }
    }
    // eval refuses them too rather than predicting KL 0 for every film.
    let dataset = tmp.path().join("dataset");
    for grade in 0..5 {
        std::fs::create_dir_all(dataset.join(grade.to_string())).unwrap();
        std::fs::copy(film, dataset.join(format!("{grade}/knee.png"))).unwrap();
    }
    let out = kneeclip(&["eval", "--offline", "--model-dir", nan.to_str().unwrap(), dataset.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("non-finite values"), "{stderr}");
}

/// A truncated model.safetensors in the cache failed every later run with
/// "truncated" and no word of what to do.
#[test]
fn a_damaged_cached_copy_says_which_folder_to_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let cache = tmp.path().join("cache");
    let folder = kneeclip::weights::model_cache_dir(&cache, &kneeclip::weights::Manifest::base());
    std::fs::create_dir_all(&folder).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(model.join(f), folder.join(f)).unwrap();
    }
    let weights = std::fs::read(model.join("model.safetensors")).unwrap();
    std::fs::write(folder.join("model.safetensors"), &weights[..weights.len() / 2]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["grade", "--offline", film.to_str().unwrap()])
        .env_remove("KNEECLIP_MODEL_DIR")
        .env("KNEECLIP_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cached copy") && stderr.contains(&format!("Delete the folder\n    {}\n", folder.display())), "{stderr}");
}

/// `grade /nope/knee.png` with an empty cache downloaded the weights (605 MB)
/// before saying the film cannot be read.
#[test]
fn films_that_do_not_exist_are_said_before_the_model_is_looked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // A hub that refuses connections: a download attempt would be an error of its own.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let missing = ["/nope/knee.png", "/nope/other.dcm"];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["grade", "--json"])
        .args(missing)
        .env_remove("KNEECLIP_MODEL_DIR")
        .env("KNEECLIP_CACHE_DIR", &cache)
        .env("HF_ENDPOINT", &endpoint)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "as for any film that cannot be read: {stdout}\n{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["file"].as_str().unwrap()).collect::<Vec<_>>(), missing);
    assert!(lines.iter().all(|l| l["error"].as_str().is_some_and(|e| e.contains("/nope/"))), "{stdout}");
    assert!(!stderr.contains("download") && !cache.exists(), "the model was looked for: {stderr}");
}

#[test]
fn a_16bit_png_of_12bit_data_grades_as_the_8bit_original() {
    // QA: 12-bit data in a 16-bit file was graded as the near-black image
    // W 65535 shows (the probabilities of a blank film), with no word of it.
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(png8) = first_png(2) else { return };
    let gray = image::open(&png8).unwrap().to_luma8();
    let png16 = tmp.path().join("film12.png");
    image::ImageBuffer::<image::Luma<u16>, _>::from_fn(gray.width(), gray.height(), |x, y| image::Luma([gray.get_pixel(x, y)[0] as u16 * 16])).save(&png16).unwrap();
    let m = model.to_str().unwrap();
    let grade = |film: &std::path::Path| -> serde_json::Value {
        let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, film.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (ours, original) = (grade(&png16), grade(&png8));
    let p: Vec<f32> = serde_json::from_value(ours["probabilities"].clone()).unwrap();
    let q: Vec<f32> = serde_json::from_value(original["probabilities"].clone()).unwrap();
    let worst = p.iter().zip(&q).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 2e-3, "probabilities {p:?} against the 8-bit film's {q:?}");
    assert_eq!(ours["grade"], original["grade"]);
    let notes = ours["notes"].to_string();
    assert!(notes.contains("read as 12-bit"), "the reader is told: {notes}");
}

#[test]
fn hot_pixels_in_12bit_data_do_not_grade_it_as_a_black_film() {
    // QA: one pixel above 4095 kept such a film at 16 bits and graded near black.
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(png8) = first_png(2) else { return };
    let gray = image::open(&png8).unwrap().to_luma8();
    let film = |name: &str, hot: bool| {
        let path = tmp.path().join(name);
        let hot_at = |x: u32, y: u32| hot && x == y && x % 20 == 0; // 12 pixels on the diagonal
        image::ImageBuffer::<image::Luma<u16>, _>::from_fn(gray.width(), gray.height(), |x, y| image::Luma([if hot_at(x, y) { 65535 } else { gray.get_pixel(x, y)[0] as u16 * 16 }])).save(&path).unwrap();
        path
    };
    let (clean, hot) = (film("clean.png", false), film("hot.png", true));
    let m = model.to_str().unwrap();
    let out = kneeclip(&["grade", "--offline", "--json", "--no-mirror-check", "--model-dir", m, clean.to_str().unwrap(), hot.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let p: Vec<f32> = serde_json::from_value(lines[1]["probabilities"].clone()).unwrap();
    let q: Vec<f32> = serde_json::from_value(lines[0]["probabilities"].clone()).unwrap();
    let worst = p.iter().zip(&q).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 0.01, "12 white pixels barely move the grade: {p:?} against {q:?}");
    let notes = lines[1]["notes"].to_string();
    assert!(notes.contains("(12 pixels above 4095 clipped): read as 12-bit"), "the reader is told: {notes}");
}

#[test]
fn side_and_view_are_said_with_where_they_came_from() {
    // QA: the viewer showed "Right · AP", but grade's outputs said neither.
    use dicom_core::VR;
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(png), Some(both)) = (first_png(1), both_knees()) else { return };
    let m = model.to_str().unwrap();
    let run = |format: &str, film: &std::path::Path| -> String {
        let out = kneeclip(&["grade", "--offline", format, "--model-dir", m, film.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json = |film: &std::path::Path| -> Vec<serde_json::Value> { run("--json", film).lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
    let said = |line: &serde_json::Value| [&line["side"], &line["side_source"], &line["view"], &line["view_source"]].map(|v| v.as_str().map(str::to_owned));
    let some = |v: &str| Some(v.to_string());

    // An OAI name ends in the side; nothing states the view.
    let name = png.file_stem().unwrap().to_str().unwrap();
    let side = if name.ends_with('L') { "left" } else { "right" };
    assert_eq!(said(&json(&png)[0]), [some(side), some("file name"), None, None]);

    // The header's Image Laterality wins over a name that says otherwise.
    let one = image::open(&png).unwrap().to_luma8();
    let dicom = tmp.path().join("9001695R.dcm");
    std::fs::write(&dicom, gray8_dicom(&one, &[(tags::IMAGE_LATERALITY, VR::CS, "L"), (tags::VIEW_POSITION, VR::CS, "AP")])).unwrap();
    assert_eq!(said(&json(&dicom)[0]), [some("left"), some("Image Laterality (0020,0062)"), some("AP"), some("View Position (0018,5101)")]);
    let text = String::from_utf8(kneeclip(&["grade", "--offline", "--model-dir", m, dicom.to_str().unwrap()]).stdout).unwrap();
    assert!(text.contains("9001695R.dcm (left knee, AP): KL"), "{text}");
    let csv = run("--csv", &dicom);
    assert!(csv.lines().nth(1).unwrap().ends_with(",left,\"Image Laterality (0020,0062)\",AP,\"View Position (0018,5101)\","), "{csv}");

    // Both knees, stated B: the patient's right is on the image's left.
    let bilateral = tmp.path().join("both.dcm");
    std::fs::write(&bilateral, gray8_dicom(&both, &[(tags::IMAGE_LATERALITY, VR::CS, "B"), (tags::VIEW_POSITION, VR::CS, "PA")])).unwrap();
    let lines = json(&bilateral);
    assert_eq!((&lines[0]["region"], &lines[1]["region"]), (&serde_json::json!("image-left"), &serde_json::json!("image-right")));
    assert_eq!((lines[0]["side"].as_str(), lines[1]["side"].as_str()), (Some("right"), Some("left")));
    assert!(lines[0]["side_source"].as_str().unwrap().contains("Image Laterality (0020,0062) B, with the patient's right on the image's left"), "{}", lines[0]);
    assert_eq!(lines[1]["view"], "PA");
    // Patient Orientation says which way the rows run: "R" puts the patient's right on the image's right.
    let flipped = tmp.path().join("flipped.dcm");
    std::fs::write(&flipped, gray8_dicom(&both, &[(tags::PATIENT_ORIENTATION, VR::CS, "R\\F")])).unwrap();
    let lines = json(&flipped);
    assert_eq!(said(&lines[0]), [some("left"), some("Patient Orientation (0020,0020)"), None, None]);
    assert_eq!(lines[1]["side"], "right");
    // Two knees and nothing said: no side is guessed.
    let plain = tmp.path().join("both.png");
    both.save(&plain).unwrap();
    assert!(json(&plain).iter().all(|l| l["side"].is_null() && l["side_source"].is_null()));
}
