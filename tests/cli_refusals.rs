//! What the command line refuses, and how: settings no training run can use,
//! heads that would grade nothing, outputs that cannot be written, and the
//! figures kept when only the predictions file fails. Each refusal exits
//! with 2 (1 where some films were graded and some could not be read) and
//! says what and where, before any long work where it can.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use common::{data_dir, first_png, fixture_dir, kneeclip, model_dir};

/// `per_grade` real OAI validation films per grade, copied into `root/<name>/<g>/`.
fn dataset(root: &Path, name: &str, per_grade: usize) -> Option<PathBuf> {
    common::oai_dataset(&root.join(name), "val", per_grade)
}

/// A temporary folder with the tiny model, two films a grade, and where a head would go.
fn training_setup() -> Option<(tempfile::TempDir, PathBuf, PathBuf, PathBuf)> {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path())?;
    let data = dataset(tmp.path(), "data", 2)?;
    let head = tmp.path().join("h.safetensors");
    Some((tmp, model, data, head))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn train_refuses_settings_and_outputs_no_run_can_use_before_training() {
    let Some((tmp, model, data, head)) = training_setup() else { return };
    let (m, d, h) = (model.to_str().unwrap(), data.to_str().unwrap(), head.to_str().unwrap());
    for (setting, says) in [
        (vec!["--lr", "nan"], "learning rate NaN"),
        (vec!["--lr", "0"], "learning rate 0"),
        (vec!["--lr", "1e30"], "learning rate 1000000"),
        (vec!["--epochs", "0"], "the epochs must be at least 1"),
        (vec!["--batch-size", "0"], "the batch size must be at least 1"),
        (vec!["--bottleneck", "0"], "the adapter bottleneck must be at least 1"),
        (vec!["--patience", "0"], "the patience must be at least 1"),
        (vec!["--weight-decay=-1"], "weight decay -1"),
        // Negative values apart from their option: kneeclip's own word, not clap's "unexpected argument".
        (vec!["--weight-decay", "-1"], "weight decay -1"),
        (vec!["--lr", "-1"], "learning rate -1"),
        (vec!["--flip-consistency", "-2"], "flip-consistency weight -2"),
        (vec!["--feature-cache-gb", "-1"], "--feature-cache-gb -1"),
    ] {
        let mut args = vec!["train", "--offline", "--model-dir", m, "--out", h];
        args.extend(&setting);
        args.push(d);
        let out = kneeclip(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{setting:?}: {err}");
        assert!(err.contains(says), "{setting:?}: {err}");
        assert!(!err.contains("training films"), "{setting:?}: refused before the dataset is read: {err}");
    }
    // The default angles are shown as they are given (commas), and parse so.
    let help = String::from_utf8_lossy(&kneeclip(&["train", "--help"]).stdout).into_owned();
    assert!(help.contains("[default: -10,-5,0,5,10]"), "{help}");
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--angles", "-10,-5,0,5,10", "--epochs", "0", d]);
    assert!(stderr(&out).contains("the epochs must be at least 1"), "{}", stderr(&out));
    // A head named .json would overwrite its own sidecar (where case is not
    // told apart, .JSON too); one named `clinic` or `clinic/` the sidecar and
    // checkpoint of the head clinic.safetensors beside it.
    let other = tmp.path().join("clinic.json");
    std::fs::write(&other, b"{\"another head's\": \"sidecar\"}").unwrap();
    let clinic = format!("{}/clinic", tmp.path().display());
    for name in ["h.json", "h.JSON", "clinic", "clinic/", "clinic.checkpoint.safetensors", "clinic.SAFETENSORS"] {
        let out_path = format!("{}/{name}", tmp.path().display());
        let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", &out_path, d]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        let said = stderr(&out);
        let expected = if name.ends_with('/') { "the head must be a file name" } else { "name the head something.safetensors" };
        assert!(said.contains(expected), "{name}: {said}");
    }
    assert_eq!(std::fs::read(&other).unwrap(), b"{\"another head's\": \"sidecar\"}", "the other head's sidecar is untouched");
    assert!(!Path::new(&clinic).exists());
    // A folder where the sidecar goes.
    std::fs::create_dir(tmp.path().join("h.json")).unwrap();
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, d]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("a folder is in the way of the run's sidecar"), "{}", stderr(&out));
    assert!(!head.exists());
    // --out naming an existing folder is told as a folder, not as a bad name.
    let folder = tmp.path().join("dir.safetensors");
    std::fs::create_dir(&folder).unwrap();
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", folder.to_str().unwrap(), d]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("dir.safetensors: that is a folder") && !stderr(&out).contains("must be a file name"), "{}", stderr(&out));
}

/// A file at --out (even one kneeclip did not write) was replaced without a word.
#[test]
fn train_refuses_to_replace_an_existing_head_unless_told_to() {
    let Some((_tmp, model, data, head)) = training_setup() else { return };
    let (m, d, h) = (model.to_str().unwrap(), data.to_str().unwrap(), head.to_str().unwrap());
    let sidecar = head.with_extension("json");
    for file in [&head, &sidecar] {
        std::fs::write(file, b"my precious head").unwrap();
        let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "1", "--bottleneck", "8", "--angles", "0", d]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("{}: exists", file.display())) && err.contains("--overwrite"), "{err}");
        assert!(!err.contains("training films"), "refused before the dataset is read: {err}");
        assert_eq!(std::fs::read(file).unwrap(), b"my precious head");
        std::fs::remove_file(file).unwrap();
    }
    std::fs::write(&head, b"my precious head").unwrap();
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "1", "--bottleneck", "8", "--angles", "0", "--overwrite", d]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(std::fs::read(&head).unwrap(), b"my precious head");
}

#[test]
fn train_refuses_validation_on_training_films_and_a_fold_without_a_grade() {
    let Some((tmp, model, data, head)) = training_setup() else { return };
    let (m, d, h) = (model.to_str().unwrap(), data.to_str().unwrap(), head.to_str().unwrap());
    // The same films, through another path.
    let link = tmp.path().join("same");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "1", "--val", link.to_str().unwrap(), d]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("10 of the 10 validation films are also training films"), "{err}");
    // Copies, one renamed, among films of their own: found by content when
    // the run starts, before any epoch.
    let Some(val) = dataset(tmp.path(), "val", 3) else { return };
    for g in 0..5 {
        let mut files: Vec<PathBuf> = std::fs::read_dir(val.join(g.to_string())).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files[..2].iter().for_each(|f| std::fs::remove_file(f).unwrap()); // those are the training films
    }
    let trained = std::fs::read_dir(data.join("3")).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&trained, val.join("3/renamed.png")).unwrap();
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "1", "--val", val.to_str().unwrap(), d]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("1 of the 6 validation films are copies of training films") && err.contains("renamed.png") && !err.contains("epoch 1"), "{err}");
    assert!(!head.exists());
    // Two films a grade (one of grade 4) in two patient-grouped folds: a
    // fold's training side is left without some grade.
    let Some(one_of_4) = dataset(tmp.path(), "few", 2) else { return };
    let fours: Vec<PathBuf> = std::fs::read_dir(one_of_4.join("4")).unwrap().map(|e| e.unwrap().path()).collect();
    std::fs::remove_file(&fours[0]).unwrap();
    let refused = (0..2).any(|fold| {
        let fold = fold.to_string();
        let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "1", "--folds", "2", "--fold", &fold, one_of_4.to_str().unwrap()]);
        out.status.code() == Some(2) && stderr(&out).contains("the training side of this split has no films of grade")
    });
    assert!(refused, "a fold whose training side lacks a grade is refused");
    assert!(!head.exists());
}

/// The tiny fixture's head with its tensors changed by `edit`, and a sidecar.
fn head_with(dir: &Path, name: &str, edit: impl Fn(&mut HashMap<String, Tensor>), sidecar: serde_json::Value) -> PathBuf {
    let mut tensors = candle_core::safetensors::load(fixture_dir("tiny-clip").join("head.safetensors"), &Device::Cpu).unwrap();
    edit(&mut tensors);
    let path = dir.join(format!("{name}.safetensors"));
    candle_core::safetensors::save(&tensors, &path).unwrap();
    std::fs::write(path.with_extension("json"), sidecar.to_string()).unwrap();
    path
}

#[test]
fn grade_refuses_a_head_that_would_grade_nothing_and_uses_the_anchors_it_records() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(2) else { return };
    let (m, f) = (model.to_str().unwrap(), film.to_str().unwrap());
    let nan = head_with(tmp.path(), "nan", |t| {
        let shape = t["adapter.up.weight"].dims().to_vec();
        t.insert("adapter.up.weight".into(), Tensor::full(f32::NAN, shape, &Device::Cpu).unwrap());
    }, serde_json::json!({}));
    let cold = head_with(tmp.path(), "cold", |_| {}, serde_json::json!({"temperature": 0.0}));
    let other_base = head_with(tmp.path(), "other", |_| {}, serde_json::json!({"base_weights_sha256": "0123456789ab"}));
    for (head, says) in [(&nan, "adapter.up.weight hold values that are not numbers"), (&cold, "temperature 0 is not a positive number"), (&other_base, "trained on other base weights (SHA-256 0123456789ab…)")] {
        for command in ["grade", "eval"] {
            let target = if command == "grade" { f.to_string() } else { data_dir().join("oai-kl/val").display().to_string() };
            let out = kneeclip(&[command, "--offline", "--model-dir", m, "--head", head.to_str().unwrap(), &target]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{command} {}: {err}", head.display());
            assert!(err.contains(says) && err.contains(head.to_str().unwrap()), "{command}: {err}");
        }
    }
    // The base the fixture head was trained on, by its hash: accepted, and
    // graded with the anchors its sidecar records (not reported as edited).
    let hash = kneeclip::weights::sha256_file(&model.join("model.safetensors")).unwrap();
    let anchors = ["no change", "maybe a spur", "a spur", "spurs and narrowing", "bone on bone"];
    let own = head_with(tmp.path(), "own", |_| {}, serde_json::json!({"base_weights_sha256": &hash[..12], "anchors": anchors, "temperature": 1.5}));
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--head", own.to_str().unwrap(), f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let with_own: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(with_own["anchors_edited"], false, "{with_own}");
    let text = tmp.path().join("anchors.txt");
    std::fs::write(&text, anchors.join("\n")).unwrap();
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--head", own.to_str().unwrap(), "--anchors", text.to_str().unwrap(), f]);
    let same: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(same["anchors_hash"], with_own["anchors_hash"], "the head's anchors are the ones graded with");
    assert_eq!(same["probabilities"], with_own["probabilities"]);
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, f]);
    let base: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(base["anchors_hash"], with_own["anchors_hash"]);
    // A head whose temperature was fitted at its limit grades, and says each
    // time that its probabilities are nearly flat; the head at 1.5 does not.
    let flat = head_with(tmp.path(), "flat", |_| {}, serde_json::json!({"base_weights_sha256": &hash[..12], "temperature": 20.0}));
    for command in ["grade", "eval"] {
        let target = if command == "grade" { f.to_string() } else { data_dir().join("oai-kl/val").display().to_string() };
        let out = kneeclip(&[command, "--offline", "--json", "--model-dir", m, "--head", flat.to_str().unwrap(), &target]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{command}: {err}");
        assert!(err.contains("warning: head flat@") && err.contains("fitted at its limit (20.0): its probabilities are nearly flat"), "{command}: {err}");
    }
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--head", own.to_str().unwrap(), f]);
    assert!(!stderr(&out).contains("at its limit") && !stderr(&out).contains("no sidecar"), "{}", stderr(&out));
    // The same head copied without its sidecar grades differently (no
    // temperature, no anchors of its own): said each time, and still graded.
    let bare = tmp.path().join("bare.safetensors");
    std::fs::copy(&own, &bare).unwrap();
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--head", bare.to_str().unwrap(), f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("warning: head bare@")) && err.contains("no sidecar bare.json beside it") && err.contains("not calibrated"), "{err}");
    // So does every JSON line and CSV row, for a log that keeps stdout only (they had said nothing).
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings: Vec<String> = serde_json::from_value(line["warnings"].clone()).unwrap();
    assert!(warnings.len() == 1 && warnings[0].contains("no sidecar bare.json beside it"), "{line}");
    let out = kneeclip(&["grade", "--offline", "--csv", "--model-dir", m, "--head", bare.to_str().unwrap(), f]);
    let csv = String::from_utf8(out.stdout).unwrap();
    let (header, row) = csv.split_once('\n').unwrap();
    let field = if warnings[0].contains([',', '"']) { format!("\"{}\"", warnings[0].replace('"', "\"\"")) } else { warnings[0].clone() };
    assert!(header.ends_with(",warnings") && row.trim_end().ends_with(&format!(",{field}")), "{csv}");
    let own_line: serde_json::Value = serde_json::from_slice(&kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--head", own.to_str().unwrap(), f]).stdout).unwrap();
    assert_eq!(own_line["warnings"], serde_json::json!([]), "the head with its sidecar: none");
    // eval's JSON record carries it too (it had been on stderr only).
    let val = data_dir().join("oai-kl/val");
    let out = kneeclip(&["eval", "--offline", "--json", "--model-dir", m, "--head", bare.to_str().unwrap(), val.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    let warnings: Vec<String> = serde_json::from_value(v["warnings"].clone()).unwrap();
    assert!(warnings.len() == 1 && warnings[0].contains("no sidecar bare.json beside it"), "{warnings:?}");
    let out = kneeclip(&["eval", "--offline", "--json", "--model-dir", m, "--head", own.to_str().unwrap(), val.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["warnings"], serde_json::json!([]));
}

/// A head beside a sidecar written for another head (a run stopped between
/// writing the two) was graded with that head's temperature and anchors.
#[test]
fn a_sidecar_that_belongs_to_another_head_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(2) else { return };
    let (m, f) = (model.to_str().unwrap(), film.to_str().unwrap());
    let head = head_with(tmp.path(), "h", |_| {}, serde_json::json!({"temperature": 1.5, "head_sha256": "0123456789ab"}));
    let own = kneeclip::files::short_sha256(&std::fs::read(&head).unwrap());
    for command in ["grade", "eval"] {
        let target = if command == "grade" { f.to_string() } else { data_dir().join("oai-kl/val").display().to_string() };
        let out = kneeclip(&[command, "--offline", "--model-dir", m, "--head", head.to_str().unwrap(), &target]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(err.contains("h.json belongs to another head") && err.contains("0123456789ab") && err.contains(&own), "{command}: {err}");
    }
    // Its own sidecar, by the hash: graded.
    std::fs::write(head.with_extension("json"), serde_json::json!({"temperature": 1.5, "head_sha256": own}).to_string()).unwrap();
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--head", head.to_str().unwrap(), f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A head of another base model was refused with "adapter.down.weight has
/// shape [12, 12]; the base model needs [_, 24]", and its sidecar given as the
/// head with "not a safetensors file: header too large".
#[test]
fn a_head_of_another_base_model_and_a_sidecar_given_as_the_head_are_said_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(2) else { return };
    let (m, f) = (model.to_str().unwrap(), film.to_str().unwrap());
    // The gelu fixture's head: embedding size 12, the tiny model's is 24.
    let other = tmp.path().join("gelu.safetensors");
    std::fs::copy(fixture_dir("tiny-clip-gelu").join("head.safetensors"), &other).unwrap();
    std::fs::write(other.with_extension("json"), serde_json::json!({"base_model": "tiny-clip-gelu", "base_weights_sha256": "0123456789ab"}).to_string()).unwrap();
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--head", other.to_str().unwrap(), f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("this head cannot be used: it was trained on another base model (embedding size 12; these weights have 24)") && err.contains(other.to_str().unwrap()), "{err}");
    assert!(err.contains("base model tiny-clip-gelu") && err.contains("0123456789ab") && !err.contains("adapter.down.weight"), "{err}");
    // Its sidecar given for the head: named as the sidecar, with the head beside it.
    let sidecar = other.with_extension("json");
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--head", sidecar.to_str().unwrap(), f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("this is the head's JSON sidecar") && err.contains(&format!("--head {}", other.display())) && !err.contains("header too large"), "{err}");
}

#[test]
fn equal_scores_give_the_lowest_grade_everywhere_and_overlong_anchors_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(3) else { return };
    let m = model.to_str().unwrap();
    let same = tmp.path().join("same.txt");
    std::fs::write(&same, "knee\nknee\nknee\nknee\nknee\n").unwrap();
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--anchors", same.to_str().unwrap(), film.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["grade"], 0, "ties go to the first grade, as eval's metrics count them: {v}");
    assert_eq!(v["borderline"], serde_json::json!([0, 1]));
    // eval predicts the same grade for every film.
    let Some(data) = dataset(tmp.path(), "data", 1) else { return };
    let predictions = tmp.path().join("p.csv");
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--anchors", same.to_str().unwrap(), "--predictions", predictions.to_str().unwrap(), data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let csv = std::fs::read_to_string(&predictions).unwrap();
    assert!(csv.lines().skip(1).all(|row| row.split(',').nth(2) == Some("0")), "{csv}");
    // The predictions file never replaces the labels it is measured against.
    let labels = tmp.path().join("labels.csv");
    std::fs::write(&labels, format!("{},3\n", film.display())).unwrap();
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--predictions", labels.to_str().unwrap(), labels.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("would overwrite the dataset's labels"), "{}", stderr(&out));
    // Past CLIP's 77 tokens the text is cut: anchors that differ only there score alike.
    let long = "knee joint space ".repeat(30);
    let overlong = tmp.path().join("long.txt");
    std::fs::write(&overlong, format!("{long}none\n{long}doubtful\nmild\nmoderate\nsevere\n")).unwrap();
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--anchors", overlong.to_str().unwrap(), film.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: anchor KL 0 is") && err.contains("warning: anchor KL 1 is") && !err.contains("anchor KL 2"), "{err}");
    assert!(err.contains("tokens longer than the 77 CLIP reads"), "{err}");
    // Edited anchors: text output says the probabilities were calibrated with others.
    assert!(err.contains(&format!("note: the anchors of {} are not the default anchors", overlong.display())), "{err}");
    // A report carries the warnings beside the grade (they had been left out).
    let report = tmp.path().join("r.json");
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--anchors", overlong.to_str().unwrap(), "--report", report.to_str().unwrap(), film.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let warnings: Vec<String> = serde_json::from_value(r["warnings"].clone()).unwrap();
    assert!(warnings.len() == 2 && warnings[0].starts_with("anchor KL 0 is") && warnings[1].starts_with("anchor KL 1 is"), "{warnings:?}");
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--report", report.to_str().unwrap(), film.to_str().unwrap()]);
    assert!(!stderr(&out).contains("note: the anchors"), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(r.get("warnings").is_none(), "none to report: {r}");
}

#[test]
fn eval_checks_its_predictions_file_first_and_keeps_the_figures_when_films_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), "data", 2) else { return };
    let (m, d) = (model.to_str().unwrap(), data.to_str().unwrap());
    let folder = tmp.path().join("preds");
    std::fs::create_dir(&folder).unwrap();
    let missing = tmp.path().join("nowhere/p.csv");
    let film = std::fs::read_dir(data.join("0")).unwrap().next().unwrap().unwrap().path();
    for (path, says) in [(&folder, "needs a file name"), (&missing, "no folder"), (&film, "name it FILE.csv")] {
        let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--predictions", path.to_str().unwrap(), d]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says) && err.contains(path.to_str().unwrap()), "{err}");
        assert!(out.stdout.is_empty(), "refused before grading");
    }
    // A film that cannot be read: the others' figures are printed, and the exit says not all were.
    std::fs::write(data.join("2/broken.png"), b"not a png").unwrap();
    let preds = tmp.path().join("p.csv");
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--json", "--predictions", preds.to_str().unwrap(), d]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["films"], 10);
    assert_eq!(v["skipped"], 1);
    assert!(err.contains("broken.png") && err.contains("1 of 11 films could not be read"), "{err}");
    assert_eq!(std::fs::read_to_string(&preds).unwrap().lines().count(), 11);
}

/// Asked for CUDA in a build without it: an error, not the CPU's results
/// passed off as the GPU's.
#[test]
fn device_cuda_without_cuda_is_refused() {
    if cfg!(feature = "cuda") {
        eprintln!("skipped: this build has CUDA");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(1) else { return };
    let out = kneeclip(&["grade", "--offline", "--device", "cuda", "--model-dir", model.to_str().unwrap(), film.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--device cuda: this build has no CUDA support") && out.stdout.is_empty(), "{err}");
    let out = kneeclip(&["grade", "--offline", "--device", "auto", "--model-dir", model.to_str().unwrap(), film.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // train says so before the dataset is checked (minutes, on a large one):
    // here the dataset is not even there, and the device is what is named.
    let out = kneeclip(&["train", "--offline", "--device", "cuda", "--model-dir", model.to_str().unwrap(), "--out", tmp.path().join("h.safetensors").to_str().unwrap(), tmp.path().join("no-such-set").to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--device cuda: this build has no CUDA support") && !err.contains("no-such-set"), "{err}");
}

#[test]
fn outputs_models_and_inputs_that_cannot_work_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(2) else { return };
    let (m, f) = (model.to_str().unwrap(), film.to_str().unwrap());
    // A report onto a folder: refused before grading, exit 2.
    let folder = tmp.path().join("report.pdf");
    std::fs::create_dir(&folder).unwrap();
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--report", folder.to_str().unwrap(), f]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("that is a folder") && out.stdout.is_empty(), "{}", stderr(&out));

    // A config.json with fewer layers than the weights hold.
    let fewer = tmp.path().join("fewer-layers");
    std::fs::create_dir(&fewer).unwrap();
    for file in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(model.join(file), fewer.join(file)).unwrap();
    }
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    let layers = config["vision_config"]["num_hidden_layers"].as_u64().unwrap();
    config["vision_config"]["num_hidden_layers"] = (layers - 1).into();
    std::fs::write(fewer.join("config.json"), config.to_string()).unwrap();
    let out = kneeclip(&["grade", "--offline", "--model-dir", fewer.to_str().unwrap(), f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("more vision_model layers than the {}", layers - 1)) && err.matches("model.safetensors").count() == 1, "{err}");

    // A film given where a dataset goes.
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, f]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("this is a film, not a dataset"), "{}", stderr(&out));

    // A blank film is graded with a caution; a link to a deleted film in a folder is reported, not left out.
    let films = tmp.path().join("films");
    std::fs::create_dir(&films).unwrap();
    image::GrayImage::from_pixel(300, 300, image::Luma([128])).save(films.join("blank.png")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("deleted.png"), films.join("gone.png")).unwrap();
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, films.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0]["cautions"].to_string().contains("it is blank"), "{}", lines[0]);
    assert!(lines[1]["file"].as_str().unwrap().ends_with("gone.png") && lines[1]["error"].is_string(), "{}", lines[1]);
}

/// A film whose name is not UTF-8 is graded, and JSON (which is text) shows
/// its name with U+FFFD: the user is told, so a script does not look for it.
#[test]
fn a_name_that_is_not_utf8_is_graded_and_said() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(1) else { return };
    let folder = tmp.path().join("films");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(&film, folder.join(std::ffi::OsStr::from_bytes(b"knee\xff.png"))).unwrap();
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", model.to_str().unwrap(), folder.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(line["file"].as_str().unwrap().ends_with("knee\u{fffd}.png") && line["grade"].is_u64(), "{line}");
    assert!(err.contains("is not UTF-8"), "{err}");
    // Text output prints the name as the terminal would, without the warning.
    let out = kneeclip(&["grade", "--offline", "--model-dir", model.to_str().unwrap(), folder.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains("is not UTF-8"));
}

/// One run at a time per head: a second one (another window, another
/// command) is refused while the first holds the head's lock, before its
/// dataset is read; once the lock is let go, a run goes ahead.
#[test]
fn a_second_run_to_the_same_head_is_refused_while_the_first_runs() {
    let Some((_tmp, model, data, head)) = training_setup() else { return };
    let (m, d, h) = (model.to_str().unwrap(), data.to_str().unwrap(), head.to_str().unwrap());
    let tmp_head = |h: &Path| h.with_file_name("other.safetensors");
    use kneeclip::training::session::{OutputLock, checkpoint_for};
    let held = OutputLock::take(&[&head]).expect("the first run's lock");
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "1", "--bottleneck", "8", d]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("another run is training with it now") && !err.contains("training films"), "{err}");
    assert!(OutputLock::take(&[&head]).is_err(), "held within this process too");
    drop(held);
    // The checkpoint a run resumes is locked too: another head resuming it is refused.
    let checkpoint = checkpoint_for(&head);
    let held = OutputLock::take(&[&checkpoint]).unwrap();
    assert!(OutputLock::take(&[&tmp_head(&head), &checkpoint]).is_err());
    std::fs::write(&checkpoint, b"").unwrap();
    let link = head.with_file_name("alias.checkpoint.safetensors");
    std::os::unix::fs::symlink(&checkpoint, &link).unwrap();
    assert!(OutputLock::take(&[&link]).is_err(), "a link to the checkpoint is the same checkpoint");
    drop(held);
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_file(&checkpoint).unwrap();
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "1", "--bottleneck", "8", d]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(head.is_file());
    // Finished, its checkpoint is no unfinished run: a new run may replace it.
    assert!(kneeclip::training::session::unfinished_run(&head).is_none());
}

/// A loss that stops being a number ends the run: exit 2, no head, no
/// checkpoint of NaN, and the advice names the setting that is likelier at fault.
#[test]
fn a_run_whose_loss_diverges_stops_and_writes_nothing() {
    let Some((tmp, model, data, head)) = training_setup() else { return };
    let out = kneeclip(&["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap(), "--epochs", "2", "--bottleneck", "8", "--flip-consistency", "1e39", data.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("training diverged in epoch 1") && err.contains("a flip-consistency weight below 1e39"), "{err}");
    assert!(!head.exists() && !head.with_extension("json").exists() && !kneeclip::training::session::checkpoint_for(&head).exists());
    assert!(!err.contains("resume with"), "a diverged run is not to be resumed: {err}");
    drop(tmp);
}

/// Without a display the viewer said winit's "EventLoopError: os error at
/// /root/.cargo/registry/…/linux/mod.rs:765: …": now what to do instead, exit 2.
#[test]
fn without_a_display_the_viewer_says_what_to_do_instead() {
    let film = first_png(2).map(|f| f.display().to_string());
    let mut runs = vec![vec![]];
    runs.extend(film.map(|f| vec!["view".to_string(), f]));
    for args in runs {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kneeclip"))
            .args(&args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("WAYLAND_SOCKET")
            .env_remove("KNEECLIP_MODEL_DIR")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("no graphical display found (neither DISPLAY nor WAYLAND_DISPLAY is set)") && err.contains("kneeclip grade FILE"), "{args:?}: {err}");
        assert!(!err.contains(".cargo") && !err.contains("winit"), "{args:?}: {err}");
    }
}
