//! `kneeclip eval` end to end with the tiny fixture model and real OAI films.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{data_dir, kneeclip, model_dir};

/// `per_grade` real films per grade, copied into `root/data/<g>/`.
fn dataset(root: &Path, per_grade: usize) -> Option<PathBuf> {
    let out = root.join("data");
    for g in 0..5 {
        let src = data_dir().join(format!("oai-kl/train/{g}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&src).ok()?.map(|e| e.unwrap().path()).collect();
        files.sort();
        std::fs::create_dir_all(out.join(g.to_string())).unwrap();
        for f in files.iter().take(per_grade) {
            std::fs::copy(f, out.join(g.to_string()).join(f.file_name().unwrap())).unwrap();
        }
    }
    Some(out)
}

#[test]
fn eval_json_table_and_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 6) else {
        eprintln!("skipped: no OAI films");
        return;
    };
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
    assert_eq!(lines[0], "file,true_grade,predicted_grade,p0,p1,p2,p3,p4");
    assert_eq!(lines.len(), 31);
    assert_eq!(lines[1].split(',').count(), 8);

    let out = kneeclip(&["eval", "--offline", "--model-dir", m, d]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8(out.stdout).unwrap();
    for word in ["Accuracy", "Macro F1", "Quadratic weighted kappa", "AUC", "Confusion matrix", "T4"] {
        assert!(table.contains(word), "{word} missing:\n{table}");
    }
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
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "2", "--batch-size", "8", "--bottleneck", "8", d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("epoch 2:"), "{err}");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("head.json")).unwrap()).unwrap();
    assert_eq!(meta["history"].as_array().unwrap().len(), 2);
    assert!(meta["temperature"].as_f64().unwrap() > 0.0);
    assert!(meta["base_weights_sha256"].is_string());
    assert!(tmp.path().join("head.checkpoint.safetensors").is_file());

    let png = std::fs::read_dir(data.join("3")).unwrap().next().unwrap().unwrap().path();
    let out = kneeclip(&["grade", "--offline", "--json", "--model-dir", m, "--head", h, png.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kneeclip(&["eval", "--offline", "--json", "--model-dir", m, "--head", h, d]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cm: Vec<Vec<u64>> = serde_json::from_value(v["confusion_matrix"].clone()).unwrap();
    assert_eq!(cm.iter().flatten().sum::<u64>(), 30);

    // Resume from the checkpoint for one more epoch.
    let ck = tmp.path().join("head.checkpoint.safetensors");
    let out = kneeclip(&["train", "--offline", "--model-dir", m, "--out", h, "--epochs", "3", "--batch-size", "8", "--bottleneck", "8", "--resume", ck.to_str().unwrap(), "--class-weighted", "--flip-consistency", "0.5", d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("resumed") && err.contains("epoch 3:") && !err.contains("epoch 1:"), "{err}");
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("head.json")).unwrap()).unwrap();
    assert_eq!(meta["history"].as_array().unwrap().len(), 3);
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
