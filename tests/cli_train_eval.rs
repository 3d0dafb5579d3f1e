//! `kneeclip eval` end to end with the tiny fixture model and real OAI films.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{data_dir, kneeclip, model_dir};

/// `per_grade` real OAI training films per grade, copied into `root/data/<g>/`.
fn dataset(root: &Path, per_grade: usize) -> Option<PathBuf> {
    common::oai_dataset(&root.join("data"), "train", per_grade)
}

#[test]
fn eval_json_table_and_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 6) else { return }; // oai_dataset says why
    let (m, d) = (model.to_str().unwrap(), data.to_str().unwrap());
    let preds = tmp.path().join("pred.csv");
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--json", "--predictions", preds.to_str().unwrap(), d]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cm: Vec<Vec<u64>> = serde_json::from_value(v["confusion_matrix"].clone()).unwrap();
    assert_eq!(cm.len(), 5);
    assert_eq!(cm.iter().flatten().sum::<u64>(), 30);
    for (g, row) in cm.iter().enumerate() {
        assert_eq!(row.iter().sum::<u64>(), 6, "row {g} = true grade {g}");
    }
    for key in ["accuracy", "macro_f1", "qwk"] {
        assert!(v[key]["value"].is_number(), "{key}: {v}");
    }
    let csv = std::fs::read_to_string(&preds).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "file,true_grade,predicted_grade,p0,p1,p2,p3,p4,head,anchors_hash");
    assert_eq!(lines.len(), 31);
    assert_eq!(lines[1].split(',').count(), 10);
    // Which anchors made each row, and the probabilities to full f32 precision (6 decimals had tied films: QA).
    let anchors_hash = v["anchors_hash"].as_str().unwrap();
    assert!(lines[1..].iter().all(|l| l.ends_with(&format!(",,{anchors_hash}"))), "no head, these anchors: {}", lines[1]);
    let decimals = |l: &&str| l.split(',').skip(3).take(5).map(|p| p.split('.').nth(1).map_or(0, str::len)).max().unwrap_or(0);
    assert!(lines[1..].iter().map(decimals).max().unwrap() > 6, "{}", lines[1]);
    // The anchors' texts travel with the figures (QA: only their hash did).
    assert_eq!(v["anchors"].as_array().map(Vec::len), Some(5), "{}", v["anchors"]);
    assert!(v["anchors"][0].as_str().is_some_and(|a| !a.is_empty()));
    assert!(v["base_weights_sha256"].as_str().is_some_and(|h| h.len() == 64), "{}", v["base_weights_sha256"]);

    assert!(v["flip_agreement"].is_null(), "no flip check unless asked: {}", v["flip_agreement"]);
    assert_eq!(v["anchors_edited"], false);

    // The probabilities are those `grade` prints for the same films (eval grades in batches).
    let first: Vec<&str> = lines[1..4].iter().map(|l| l.split(',').next().unwrap()).collect();
    let mut args = vec!["grade", "--offline", "--json", "--no-mirror-check", "--model-dir", m];
    args.extend(&first);
    let graded = kneeclip(&args);
    for (line, row) in String::from_utf8(graded.stdout).unwrap().lines().zip(&lines[1..4]) {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(line["file"], fields[0]);
        for g in 0..5 {
            let p: f64 = fields[3 + g].parse().unwrap();
            assert!((p - line["probabilities"][g].as_f64().unwrap()).abs() < 1e-6, "{row} against {line}");
        }
    }

    let out = kneeclip(&["eval", "--offline", "--model-dir", m, d]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).unwrap();
    for word in ["Accuracy", "Macro F1", "Macro AUC", "Quadratic weighted kappa", "AUC", "Confusion matrix", "KL4"] {
        assert!(table.contains(word), "{word} missing:\n{table}");
    }
    assert!(!table.contains("Flip agreement") && !table.contains("Anchors edited"), "{table}");
}

/// `--mirror-check` reports the flip agreement, which is the share of the
/// predictions file's rows whose mirrored grade is the predicted one;
/// `--anchors` grades with edited anchors and says so.
#[test]
fn eval_flip_agreement_and_edited_anchors() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 4) else { return }; // oai_dataset says why
    let (m, d) = (model.to_str().unwrap(), data.to_str().unwrap());
    let preds = tmp.path().join("pred.csv");
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--json", "--mirror-check", "--predictions", preds.to_str().unwrap(), d]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let csv = std::fs::read_to_string(&preds).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0][8], "mirrored_grade");
    assert_eq!(rows.len(), 21);
    let same = rows[1..].iter().filter(|r| r[2] == r[8]).count();
    let agreement = v["flip_agreement"]["value"].as_f64().unwrap();
    assert!((agreement - same as f64 / 20.0).abs() < 1e-12, "{agreement} against {same} of 20");
    let (lower, upper) = (v["flip_agreement"]["lower"].as_f64().unwrap(), v["flip_agreement"]["upper"].as_f64().unwrap());
    assert!(lower <= agreement && agreement <= upper, "{}", v["flip_agreement"]);

    let anchors = tmp.path().join("anchors.txt");
    std::fs::write(&anchors, "no narrowing\nsome narrowing\nosteophytes\nnarrowing and osteophytes\nbone on bone\n").unwrap();
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--json", "--anchors", anchors.to_str().unwrap(), d]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let edited: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(edited["anchors_edited"], true);
    assert_ne!(edited["anchors_hash"], v["anchors_hash"]);
    assert_ne!(edited["ece"]["value"], v["ece"]["value"], "other anchors, other probabilities");
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--anchors", anchors.to_str().unwrap(), d]);
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("Anchors edited (hash "));
}

#[test]
fn eval_refuses_a_bad_layout_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(bad.join("normal")).unwrap();
    let out = kneeclip(&["eval", "--offline", "--model-dir", model.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no grade folders") && err.contains("normal"), "{err}");
}

#[test]
fn train_two_epochs_then_grade_and_eval_with_the_head() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 6) else { return };
    let (m, d) = (model.to_str().unwrap(), data.to_str().unwrap());
    let head = tmp.path().join("head.safetensors");
    let h = head.to_str().unwrap();
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "2", "--batch-size", "8", "--bottleneck", "8", "--class-weighted", "--flip-consistency", "0.5", d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("epoch 2:"), "{err}");
    // Stderr is a pipe here, as in a log: plain progress lines, no bar redrawn with carriage returns.
    assert!(!err.contains('\r') && err.lines().any(|l| l.starts_with("  batch ") && l.contains(" loss ")), "{err:?}");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("head.json")).unwrap()).unwrap();
    assert_eq!(meta["history"].as_array().unwrap().len(), 2);
    assert_eq!(meta["config"]["angles"], serde_json::json!([-10.0, -5.0, 0.0, 5.0, 10.0]), "the default angles, given in the help's form");
    assert!(meta["temperature"].as_f64().unwrap() > 0.0);
    assert!(meta["base_weights_sha256"].is_string());
    assert_eq!(meta["head_sha256"], kneeclip::files::short_sha256(&std::fs::read(&head).unwrap()), "the sidecar names its head");
    let cpu = kneeclip::model::arithmetic_label(&candle_core::Device::Cpu);
    assert_eq!(meta["arithmetic"], cpu, "the head records the arithmetic it was trained in");
    assert_eq!(meta["kneeclip_version"], kneeclip::build_info::VERSION);
    assert!(tmp.path().join("head.checkpoint.safetensors").is_file());
    // The checkpoint is as readable as the head (safetensors' own temporary file is 0600).
    let mode = |name: &str| std::fs::metadata(tmp.path().join(name)).unwrap().permissions();
    assert_eq!(mode("head.checkpoint.safetensors"), mode("head.safetensors"));

    let png = std::fs::read_dir(data.join("3")).unwrap().next().unwrap().unwrap().path();
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--head", h, png.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kneeclip(&["eval", "--offline", "--json", "--model-dir", m, "--head", h, d]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cm: Vec<Vec<u64>> = serde_json::from_value(v["confusion_matrix"].clone()).unwrap();
    assert_eq!(cm.iter().flatten().sum::<u64>(), 30);
    assert_eq!(v["arithmetic"], cpu);

    // The head's sidecar anchors travel with it: graded with them, not edited.
    let graded: serde_json::Value = serde_json::from_slice(&kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--head", h, png.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(graded["anchors_edited"], false, "{graded}");

    // Resuming another run's checkpoint is refused, saying what differs:
    // another seed (another split) or another adapter, and another dataset.
    let ck = tmp.path().join("head.checkpoint.safetensors");
    let before = std::fs::read(&ck).unwrap();
    let resume = |extra: &[&str], dataset: &str| {
        let mut args = vec!["train", "--offline", "--model-dir", m, "--out", h, "--batch-size", "8", "--class-weighted", "--flip-consistency", "0.5", "--resume", ck.to_str().unwrap()];
        args.extend(extra);
        args.push(dataset);
        kneeclip(&args)
    };
    for (extra, says) in [(&["--epochs", "3", "--bottleneck", "8", "--seed", "7"][..], "--seed 7"), (&["--epochs", "3", "--bottleneck", "16"][..], "--bottleneck 16")] {
        let out = resume(extra, d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("this checkpoint is from another run") && err.contains(says), "{err}");
        assert!(!err.contains("epoch 3"), "refused before training: {err}");
    }
    let fewer = tmp.path().join("fewer");
    for g in 0..5 {
        let files: Vec<PathBuf> = std::fs::read_dir(data.join(g.to_string())).unwrap().map(|e| e.unwrap().path()).collect();
        std::fs::create_dir_all(fewer.join(g.to_string())).unwrap();
        for f in files.iter().take(5) {
            std::fs::copy(f, fewer.join(g.to_string()).join(f.file_name().unwrap())).unwrap();
        }
    }
    let out = resume(&["--epochs", "3", "--bottleneck", "8"], fewer.to_str().unwrap());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("training or validation films"), "{err}");
    assert_eq!(std::fs::read(&ck).unwrap(), before, "a refused resume leaves the checkpoint as it was");
    // The same names with another film's content in one of them (a film
    // replaced since): refused too. A copy of the dataset elsewhere is not.
    let changed = tmp.path().join("changed");
    let copied = tmp.path().join("copied");
    for g in 0..5 {
        for to in [&changed, &copied] {
            std::fs::create_dir_all(to.join(g.to_string())).unwrap();
            for f in std::fs::read_dir(data.join(g.to_string())).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, to.join(g.to_string()).join(f.file_name().unwrap())).unwrap();
            }
        }
    }
    // Another film from outside the dataset (one from inside would be a copy
    // across the split, refused for that).
    let mut grade_0: Vec<PathBuf> = std::fs::read_dir(changed.join("0")).unwrap().map(|e| e.unwrap().path()).collect();
    grade_0.sort();
    let mut outside: Vec<PathBuf> = std::fs::read_dir(data_dir().join("oai-kl/val/0")).unwrap().map(|e| e.unwrap().path()).collect();
    outside.sort();
    let size = |f: &Path| std::fs::metadata(f).unwrap().len();
    let other = outside.iter().find(|f| size(f) != size(&grade_0[0])).expect("films of other sizes");
    std::fs::copy(other, &grade_0[0]).unwrap();
    let out = resume(&["--epochs", "3", "--bottleneck", "8"], changed.to_str().unwrap());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the content of some films") && !err.contains("training or validation films"), "{err}");
    assert_eq!(std::fs::read(&ck).unwrap(), before);
    // Replaced by another film of the very same size (crops of one size
    // often compress to equal lengths): refused as well.
    std::fs::copy(copied.join("0").join(grade_0[0].file_name().unwrap()), &grade_0[0]).unwrap();
    let films: Vec<PathBuf> = (0..5).flat_map(|g| std::fs::read_dir(changed.join(g.to_string())).unwrap().map(|e| e.unwrap().path())).collect();
    let test_films: Vec<PathBuf> = (0..5).flat_map(|g| std::fs::read_dir(data_dir().join(format!("oai-kl/test/{g}"))).unwrap().map(|e| e.unwrap().path())).collect();
    let (film, twin) = films.iter().find_map(|f| test_films.iter().find(|t| size(t) == size(f)).map(|t| (f, t))).expect("a test film of the size of one of the dataset's");
    assert_ne!(std::fs::read(film).unwrap(), std::fs::read(twin).unwrap());
    std::fs::copy(twin, film).unwrap();
    let out = resume(&["--epochs", "3", "--bottleneck", "8"], changed.to_str().unwrap());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("names and sizes, but other bytes"), "{err}");
    assert_eq!(std::fs::read(&ck).unwrap(), before);

    // The same run resumed for one more epoch, from the dataset's copy.
    let out = resume(&["--epochs", "3", "--bottleneck", "8"], copied.to_str().unwrap());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("resumed") && err.contains("epoch 3:") && !err.contains("epoch 1:"), "{err}");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("head.json")).unwrap()).unwrap();
    assert_eq!(meta["history"].as_array().unwrap().len(), 3);
    // The resumed run's checkpoint records the epochs it asked for, not the first run's 2.
    assert_eq!(kneeclip::training::checkpoint::checkpoint_summary(&ck).unwrap().config.epochs, 3);
    // Resumed for no more epochs than it has done (as after a head whose
    // write failed): the head is written from it, the best epoch's, without
    // training more (it was refused, asking for more epochs).
    let written = std::fs::read(&head).unwrap();
    std::fs::remove_file(&head).unwrap();
    std::fs::remove_file(tmp.path().join("head.json")).unwrap();
    let out = resume(&["--epochs", "3", "--bottleneck", "8"], d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("has done its 3 epochs") && err.contains("without training more") && !err.contains("epoch 4") && !err.contains("epoch 3:") && !err.contains("frozen-feature cache"), "{err}");
    assert_eq!(std::fs::read(&head).unwrap(), written, "the best epoch's parameters, as the run's own end wrote them");
    let again: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("head.json")).unwrap()).unwrap();
    assert_eq!((again["history"].as_array().unwrap().len(), &again["best_epoch"]), (3, &meta["best_epoch"]));
}

#[test]
fn train_refuses_an_empty_grade() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 2) else { return };
    for f in std::fs::read_dir(data.join("4")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let head = tmp.path().join("h.safetensors");
    let out = kneeclip(&["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap(), data.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("grade 4 has no readable films"));
    assert!(!head.exists());
}

#[test]
fn train_refuses_a_feature_cache_that_is_not_a_size() {
    let tmp = tempfile::tempdir().unwrap();
    let head = tmp.path().join("h.safetensors");
    for size in ["nan", "inf", "-1"] {
        let out = kneeclip(&["train", "--offline", "--out", head.to_str().unwrap(), &format!("--feature-cache-gb={size}"), tmp.path().to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{size}: {err}");
        assert!(err.to_lowercase().contains(&format!("--feature-cache-gb {size}")) && err.contains("0 or more"), "{size}: {err}");
    }
    assert!(!head.exists());
}

#[test]
fn k_fold_training_and_model_dir_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 5) else { return };
    let head = tmp.path().join("fold.safetensors");
    let out = Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["train", "--offline", "--out", head.to_str().unwrap(), "--epochs", "1", "--batch-size", "8", "--bottleneck", "8"])
        .args(["--folds", "5", "--fold", "2", "--angles", "-10,0,10", data.to_str().unwrap()])
        .env("KNEECLIP_MODEL_DIR", &model)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("20 training films, 5 validation films"), "{err}");
    let out = kneeclip(&["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap(), "--folds", "5", "--fold", "5", data.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
}

/// Files in `dir` whose names say they are temporary (write_atomically's `.partial`).
fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".probe"))
        .collect()
}

/// `kneeclip train` on `data` for a practically endless number of epochs,
/// its stderr lines forwarded to a channel as they come.
fn endless_training(model: &Path, data: &Path, head: &Path) -> (std::process::Child, std::sync::mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    endless_training_under(None, model, data, head)
}

/// The same, started through `launcher` (e.g. `nohup`) when given.
fn endless_training_under(launcher: Option<&str>, model: &Path, data: &Path, head: &Path) -> (std::process::Child, std::sync::mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    use std::io::BufRead;
    let bin = env!("CARGO_BIN_EXE_kneeclip");
    let mut command = Command::new(launcher.unwrap_or(bin));
    if launcher.is_some() {
        command.arg(bin);
    }
    let mut child = command
        .args(["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap()])
        .args(["--epochs", "100000", "--patience", "100000", "--batch-size", "4", "--bottleneck", "8", "--angles", "0", "--restart"])
        .arg(data)
        .env_remove("KNEECLIP_MODEL_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx, reader)
}

/// Reads lines until one starts with `prefix`; every line read so far.
fn read_until(rx: &std::sync::mpsc::Receiver<String>, prefix: &str, seen: &mut Vec<String>) {
    while let Ok(line) = rx.recv() {
        let found = line.trim_start_matches('\r').starts_with(prefix);
        seen.push(line);
        if found {
            return;
        }
    }
    panic!("the run ended before a line starting with {prefix:?}:\n{}", seen.join("\n"));
}

fn interrupt(child: &std::process::Child) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_stops_cleanly_keeps_the_checkpoint_and_says_how_to_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 2) else { return };
    let head = tmp.path().join("out/head.safetensors");
    let (mut child, rx, reader) = endless_training(&model, &data, &head);
    let mut seen = Vec::new();
    // "epoch 2:" is printed after epoch 2's checkpoint is written.
    read_until(&rx, "epoch 2:", &mut seen);
    interrupt(&child);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    let err = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("stopping:") && err.contains("no head was written"), "{err}");
    let checkpoint = tmp.path().join("out/head.checkpoint.safetensors");
    assert!(err.contains(&format!("--resume {}", checkpoint.display())), "{err}");
    let resume_line = err.lines().find(|l| l.contains("--resume")).unwrap();
    assert!(!resume_line.contains("--restart"), "the printed command must run: --restart and --resume do not go together: {resume_line}");
    assert!(!head.exists() && !head.with_extension("json").exists(), "no head after a cancelled run");
    assert!(temporary_files(&tmp.path().join("out")).is_empty(), "{:?}", temporary_files(&tmp.path().join("out")));

    // A new run to the same head without --resume would replace the
    // unfinished run's checkpoint: refused, the checkpoint untouched.
    let before = std::fs::read(&checkpoint).unwrap();
    let fresh = kneeclip(&["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap(), "--epochs", "1", "--batch-size", "4", "--bottleneck", "8", "--angles", "0", data.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&fresh.stderr);
    assert_eq!(fresh.status.code(), Some(2), "{said}");
    assert!(said.contains("holds an unfinished run") && said.contains("--restart") && said.contains(&format!("--resume {}", checkpoint.display())), "{said}");
    assert!(!said.contains("training films"), "refused before the dataset is read: {said}");
    assert_eq!(std::fs::read(&checkpoint).unwrap(), before);

    // The kept checkpoint is whole: resuming it finishes the run.
    let kept = err.split("last complete epoch (").nth(1).and_then(|s| s.split(')').next()).and_then(|s| s.parse::<usize>().ok()).expect("epoch in the message");
    assert!(kept >= 2, "{err}");
    let epochs = (kept + 1).to_string();
    let out = kneeclip(&["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap(), "--epochs", &epochs, "--batch-size", "4", "--bottleneck", "8", "--angles", "0", "--resume", checkpoint.to_str().unwrap(), data.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("after epoch {kept}")) && err.contains(&format!("epoch {epochs}:")), "{err}");
    assert!(head.is_file());
}

#[test]
fn a_second_ctrl_c_quits_without_leaving_a_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 2) else { return };
    let head = tmp.path().join("out/head.safetensors");
    let (mut child, rx, reader) = endless_training(&model, &data, &head);
    let mut seen = Vec::new();
    read_until(&rx, "epoch 1:", &mut seen);
    interrupt(&child);
    read_until(&rx, "kneeclip: stopping:", &mut seen);
    // The run may already be winding down by itself; either way it ends with 130,
    // no head and no temporary file.
    interrupt(&child);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    let err = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("quitting at once") || err.contains("no head was written"), "{err}");
    assert!(!head.exists());
    assert!(temporary_files(&tmp.path().join("out")).is_empty(), "{:?}", temporary_files(&tmp.path().join("out")));
}

#[test]
fn train_lists_unreadable_films_per_side_and_early_stops_on_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 4) else { return };
    std::fs::write(data.join("2/broken.png"), b"not a png").unwrap();
    // A film of both knees: said as eval says it (train said nothing).
    let Some(both) = common::both_knees() else { return };
    both.save(data.join("3/both.png")).unwrap();
    let head = tmp.path().join("acc.safetensors");
    let out = kneeclip(&["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap(), "--epochs", "2", "--batch-size", "8", "--bottleneck", "8", "--angles", "0", "--early-stop-on", "accuracy", data.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("skipped unreadable") && err.contains("broken.png"), "{err}");
    assert!(err.contains("films per grade (KL 0-4): training ["), "{err}");
    assert!(err.contains("knee sides per grade: left ["), "{err}");
    assert!(err.contains("warning: 1 film is wide enough to show both knees; it is trained on whole against its one label") && err.contains("both.png"), "{err}");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(head.with_extension("json")).unwrap()).unwrap();
    assert_eq!(meta["config"]["early_stop_on"], "accuracy");
    // Counts only: film names can name patients, and a head is passed on (privacy QA P10).
    assert_eq!(meta["dataset"]["train"]["unreadable"], 1);
    assert_eq!(meta["dataset"]["train"]["wide"], 1);
    let sidecar = std::fs::read_to_string(head.with_extension("json")).unwrap();
    let checkpoint = std::fs::read(tmp.path().join("acc.checkpoint.safetensors")).unwrap();
    let films: Vec<String> = std::fs::read_dir(data.join("0")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).chain(["broken.png".into(), "both.png".into()]).collect();
    for name in &films {
        assert!(!sidecar.contains(name.as_str()), "the sidecar names the film {name}");
        assert!(!checkpoint.windows(name.len()).any(|w| w == name.as_bytes()), "the checkpoint names the film {name}");
    }
    let sides = &meta["dataset"]["train"]["knee_sides"];
    let count = |k: &str| sides[k].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum::<u64>();
    assert_eq!(count("left") + count("right") + count("unknown"), 21);

    // A grade whose only file is unreadable is refused, and the message says why.
    for f in std::fs::read_dir(data.join("4")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    std::fs::write(data.join("4/9999999L.png"), b"truncated").unwrap();
    let out = kneeclip(&["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap(), "--overwrite", data.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("grade 4 has no readable films") && err.contains("2 unreadable files skipped"), "{err}");
}

#[test]
fn train_refuses_an_unwritable_head_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 1) else { return };
    // A file where the head's folder should be.
    std::fs::write(tmp.path().join("blocker"), b"").unwrap();
    let head = tmp.path().join("blocker/head.safetensors");
    let out = kneeclip(&["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap(), data.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("blocker") && err.contains("cannot create the folder for the head"), "{err}");
    assert!(!err.contains("epoch 1"), "refused before training: {err}");
}

/// Under `nohup` (SIGHUP ignored) a hang-up does not stop the run; SIGTERM
/// stops it as Ctrl-C does, keeping the last complete epoch.
#[test]
fn a_hang_up_under_nohup_is_ignored_and_sigterm_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 2) else { return };
    let head = tmp.path().join("out/head.safetensors");
    let (mut child, rx, reader) = endless_training_under(Some("nohup"), &model, &data, &head);
    let mut seen = Vec::new();
    read_until(&rx, "epoch 1:", &mut seen);
    assert!(Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap().success());
    read_until(&rx, "epoch 3:", &mut seen); // still training
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    let err = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("stopping:") && err.contains("--resume"), "{err}");
    assert!(tmp.path().join("out/head.checkpoint.safetensors").is_file());
}
