//! What a researcher needs from `train` and `eval` beyond the figures (QA
//! M2–M5, M8–M11): a head evaluated on its own films is warned about, copies
//! within an eval set are said, the sidecar says how the run was made (split,
//! threads, class weights, early stop, a resume that changed its length),
//! `--log` keeps the curve, and files that are no films are counted.

mod common;

use std::path::Path;
use std::process::Command;

use common::{kneeclip, model_dir};

fn train(model: &Path, args: &[&str], threads: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["train", "--offline", "--model-dir", model.to_str().unwrap(), "--batch-size", "8", "--bottleneck", "8", "--angles", "0"])
        .args(args)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_head_on_its_own_films_is_warned_about_and_its_sidecar_says_how_it_was_made() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = common::oai_dataset(&tmp.path().join("data"), "train", 6) else { return };
    // Files in grade folders that are no films: counted, one named (QA: dropped without a word).
    let a_film = std::fs::read_dir(data.join("1")).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&a_film, data.join("1/film.png.bak")).unwrap();
    std::fs::copy(&a_film, data.join("2/Thumbs.db")).unwrap();
    std::fs::write(data.join("2/.DS_Store"), b"hidden").unwrap();
    let d = data.to_str().unwrap();
    let head = tmp.path().join("h.safetensors");
    let (h, log, split) = (head.to_str().unwrap(), tmp.path().join("curve.jsonl"), tmp.path().join("val.csv"));

    // --folds with --val: refused, not silently ignored.
    let out = train(&model, &["--out", h, "--folds", "5", "--fold", "0", "--val", d, d], "2");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!head.exists());

    let out = train(&model, &["--out", h, "--epochs", "2", "--folds", "5", "--fold", "0", "--class-weighted", "--log", log.to_str().unwrap(), "--split-out", split.to_str().unwrap(), d], "2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("2 files in the grade folders are not films and were left out (e.g. "), "{err}");
    let meta = json(&tmp.path().join("h.json"));
    let ds = &meta["dataset"];
    assert_eq!((&ds["split"]["method"], &ds["split"]["folds"], &ds["split"]["fold"], &ds["split"]["seed"]), (&"fold".into(), &5.into(), &0.into(), &42.into()), "{}", ds["split"]);
    assert_eq!(ds["train"]["files_not_films"], 2);
    assert_eq!(meta["run"]["threads"], 2, "{}", meta["run"]);
    let per_grade: Vec<u64> = serde_json::from_value(ds["split"]["train"].clone()).unwrap();
    let n: u64 = per_grade.iter().sum();
    let weights: Vec<f64> = serde_json::from_value(meta["class_weights"].clone()).unwrap();
    assert_eq!(weights.len(), 5);
    for (w, k) in weights.iter().zip(&per_grade) {
        assert!((w - n as f64 / (5.0 * *k as f64)).abs() < 1e-5, "{weights:?} for {per_grade:?}");
    }
    // Two epochs cannot stop early at the default patience (5).
    let history = meta["history"].as_array().unwrap().len();
    assert_eq!((history, &meta["stopped_early"]), (2, &false.into()), "{}", meta["stopped_early"]);
    assert!(meta["validation_metrics_note"].as_str().unwrap().contains("optimistic"));
    // Content hashes only: 12 hex digits each, no names.
    let hashes = |key: &str| -> Vec<String> { serde_json::from_value(ds[key].clone()).unwrap() };
    let (train_hashes, val_hashes) = (hashes("train_film_sha256"), hashes("validation_film_sha256"));
    assert_eq!(train_hashes.len() as u64, n);
    assert_eq!(train_hashes.len() + val_hashes.len(), 30);
    assert!(train_hashes.iter().chain(&val_hashes).all(|h| h.len() == 12 && h.chars().all(|c| c.is_ascii_hexdigit())));
    let sidecar = std::fs::read_to_string(tmp.path().join("h.json")).unwrap();
    assert!(!sidecar.contains(a_film.file_name().unwrap().to_str().unwrap()), "no film's name in the sidecar");
    // --log: one line per epoch, with the best epoch so far.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), history);
    assert_eq!(lines[0]["epoch"], 1);
    for key in ["train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "best_epoch"] {
        assert!(lines[0][key].is_number(), "{key}: {}", lines[0]);
    }
    // --split-out: the validation films, which eval reads as a dataset.
    let csv = std::fs::read_to_string(&split).unwrap();
    assert_eq!(csv.lines().count(), 1 + val_hashes.len(), "{csv}");

    // Evaluated on its own training folder: said, and counted in --json.
    let eval = |dataset: &str, head: Option<&str>| {
        let mut args = vec!["eval", "--offline", "--json", "--model-dir", model.to_str().unwrap()];
        args.extend(head.map(|h| ["--head", h]).iter().flatten());
        args.push(dataset);
        let out = kneeclip(&args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        (serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (v, err) = eval(d, Some(h));
    assert_eq!(v["films_in_head_training"], train_hashes.len(), "{v}");
    assert_eq!(v["films_in_head_validation"], val_hashes.len());
    let said = format!("{} of 30 films are films this head was trained on (same bytes): figures on them measure memory, not grading", train_hashes.len());
    assert!(err.contains(&said), "{err}");
    assert!(err.contains(&format!("{} of 30 films are this head's validation films", val_hashes.len())) && err.contains("temperature and best epoch were fitted on them"), "{err}");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains(&said) && warnings.contains("not films"), "{warnings}");
    assert_eq!(v["files_not_films"], 2);
    assert_eq!(v["duplicate_films"], 0);
    let (v, _) = eval(split.to_str().unwrap(), Some(h));
    assert_eq!((&v["films"], &v["films_in_head_training"], &v["films_in_head_validation"]), (&val_hashes.len().into(), &0.into(), &val_hashes.len().into()));

    // A copy of one film under another name inside an eval set: each counts twice.
    let dup = tmp.path().join("dup");
    common::oai_dataset(&dup, "val", 2).unwrap();
    let original = std::fs::read_dir(dup.join("3")).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&original, dup.join("0/copy.png")).unwrap();
    let (v, err) = eval(dup.to_str().unwrap(), None);
    assert_eq!(v["duplicate_films"], 1, "{v}");
    assert!(v["films_in_head_training"].is_null());
    assert!(err.contains("1 film is a byte-identical copy of other films in this dataset, e.g. ") && err.contains("copy.png"), "{err}");

    // Resumed for more epochs: the schedule is recomputed, said and recorded.
    let checkpoint = tmp.path().join("h.checkpoint.safetensors");
    {
        let out = train(&model, &["--out", h, "--epochs", "3", "--patience", "9", "--folds", "5", "--fold", "0", "--class-weighted", "--resume", checkpoint.to_str().unwrap(), d], "2");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("the learning-rate schedule is recomputed for 3 epochs from epoch 3 on, so the head will differ from a fresh 3-epoch run"), "{err}");
        let meta = json(&tmp.path().join("h.json"));
        assert_eq!(meta["resumed"], serde_json::json!([{"from_epoch": 2, "epochs_before": 2, "epochs_after": 3}]), "{}", meta["resumed"]);
    }
}

/// The options a researcher sets say what they do; the thread count that
/// reproduction depends on is named in the help and so in the man page.
#[test]
fn train_help_says_what_the_seed_and_schedule_do_and_the_environment_names_the_threads() {
    let help = String::from_utf8(kneeclip(&["train", "--help"]).stdout).unwrap();
    let option = |name: &str| -> String {
        let at = help.find(&format!("      {name}")).unwrap_or_else(|| panic!("no {name} in:\n{help}"));
        help[at..].lines().take(6).collect::<Vec<_>>().join(" ")
    };
    assert!(option("--seed").contains("validation split") && option("--seed").contains("same thread count"), "{}", option("--seed"));
    assert!(option("--lr").contains("cosine"), "{}", option("--lr"));
    assert!(option("--epochs").contains("Epochs to train"), "{}", option("--epochs"));
    assert!(option("--batch-size").contains("per optimiser step"), "{}", option("--batch-size"));
    assert!(option("--log").contains("one JSON object per finished epoch"), "{}", option("--log"));
    let main = String::from_utf8(kneeclip(&["--help"]).stdout).unwrap();
    assert!(main.contains("RAYON_NUM_THREADS=N"), "{main}");
    assert!(kneeclip::cli::man_page().contains("RAYON_NUM_THREADS"));
}
