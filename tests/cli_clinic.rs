//! A clinic's retraining, as its technician meets it (QA, clinic round):
//! resuming a run killed before its first checkpoint, resuming without the
//! run's own --patience, a checkpoint given to grade, a head on another
//! base, which model and head graded, and no lock files left by a refused run.

mod common;

use std::path::{Path, PathBuf};

use common::{kneeclip, model_dir};

/// The tiny model, two OAI films a grade, and where a head would go.
fn setup() -> Option<(tempfile::TempDir, PathBuf, PathBuf, PathBuf)> {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path())?;
    let data = common::oai_dataset(&tmp.path().join("data"), "val", 2)?;
    let head = tmp.path().join("heads").join("h1.safetensors");
    Some((tmp, model, data, head))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn train(model: &Path, data: &Path, head: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "--offline", "--model-dir", model.to_str().unwrap(), "--out", head.to_str().unwrap(), "--bottleneck", "8"];
    args.extend_from_slice(extra);
    args.push(data.to_str().unwrap());
    kneeclip(&args)
}

/// Hidden files in `dir` (lock files, half-written files).
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with('.')).collect()
}

#[test]
fn resuming_a_run_killed_before_its_first_checkpoint_says_nothing_was_saved_and_cleans_up() {
    let Some((_tmp, model, data, head)) = setup() else { return };
    let dir = head.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    // What SIGKILL during the first checkpoint's write leaves: only its temporary file.
    let checkpoint = dir.join("h1.checkpoint.safetensors");
    let partial = dir.join(".h1.checkpoint.safetensors.999999999.partial");
    std::fs::write(&partial, b"half a checkpoint").unwrap();
    let out = train(&model, &data, &head, &["--epochs", "1", "--resume", checkpoint.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nothing was saved yet") && err.contains("start the run again without --resume") && err.contains("is removed"), "{err}");
    assert!(!partial.exists() && hidden(dir).is_empty(), "{:?}", hidden(dir));
    // Without any such file: the plain refusal.
    let out = train(&model, &data, &head, &["--epochs", "1", "--resume", checkpoint.to_str().unwrap()]);
    assert!(stderr(&out).contains("no such checkpoint to resume from"), "{}", stderr(&out));
}

#[test]
fn a_run_refused_in_its_dataset_check_leaves_no_lock_files() {
    let Some((_tmp, model, data, head)) = setup() else { return };
    for f in std::fs::read_dir(data.join("4")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let out = train(&model, &data, &head, &["--epochs", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("grade 4"), "{}", stderr(&out));
    assert!(hidden(head.parent().unwrap()).is_empty(), "{:?}", hidden(head.parent().unwrap()));
}

#[test]
fn resuming_without_patience_keeps_the_runs_own() {
    let Some((_tmp, model, data, head)) = setup() else { return };
    let out = train(&model, &data, &head, &["--epochs", "2", "--patience", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(hidden(head.parent().unwrap()).is_empty(), "a finished run leaves no lock file: {:?}", hidden(head.parent().unwrap()));
    let checkpoint = head.with_extension("checkpoint.safetensors");
    let out = train(&model, &data, &head, &["--epochs", "3", "--resume", checkpoint.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(head.with_extension("json")).unwrap()).unwrap();
    assert_eq!(meta["config"]["patience"], 1000, "the checkpoint's patience, not the default 5");
    assert_eq!(meta["history"].as_array().unwrap().len(), 3);
}

#[test]
fn grading_names_model_and_head_and_refuses_a_checkpoint_or_another_base_usefully() {
    let Some((_tmp, model, data, head)) = setup() else { return };
    let out = train(&model, &data, &head, &["--epochs", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = model.to_str().unwrap();
    let film = std::fs::read_dir(data.join("2")).unwrap().next().unwrap().unwrap().path();
    let f = film.to_str().unwrap();
    let id = format!("h1@{}", kneeclip::files::short_sha256(&std::fs::read(&head).unwrap()));

    // A checkpoint given as the head: the head its run wrote is named.
    let checkpoint = head.with_extension("checkpoint.safetensors");
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--head", checkpoint.to_str().unwrap(), f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("this is a training checkpoint") && err.contains(&format!("--head {}", head.display())) && !err.contains("adapter.down.weight"), "{err}");

    // Text output names model and head once, on stderr; stdout keeps its one line per film.
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--head", head.to_str().unwrap(), f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("grading with model {m}, head {id}")), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("grading with"));
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--json", "--head", head.to_str().unwrap(), f]);
    let json: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(json["head"], id.as_str());

    // Eval: the table's top says it; the JSON has grade's id beside the path it had.
    let d = data.to_str().unwrap();
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--head", head.to_str().unwrap(), d]);
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.starts_with(&format!("Graded with model {m}, head {id}\n")), "{table}");
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--json", "--head", head.to_str().unwrap(), d]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["head_id"].as_str(), json["head"].as_str()), (Some(id.as_str()), head.to_str()));

    // A head on other base weights: the base folder its sidecar records is named.
    let sidecar = head.with_extension("json");
    let mut meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    assert_eq!(meta["base_model"], m);
    meta["base_weights_sha256"] = "0123456789ab".into();
    std::fs::write(&sidecar, serde_json::to_vec(&meta).unwrap()).unwrap();
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--head", head.to_str().unwrap(), f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("records the base model {m}")) && err.contains("--model-dir"), "{err}");

    // A checkpoint whose run wrote no head yet: how to finish it.
    std::fs::remove_file(&head).unwrap();
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--head", checkpoint.to_str().unwrap(), f]);
    assert!(stderr(&out).contains("finish its run") && stderr(&out).contains("--resume"), "{}", stderr(&out));
}
