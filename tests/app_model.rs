//! The viewer without a usable model, driven headless with egui_kittest:
//! what it says with no weights, with a folder that is no model, and with
//! damaged weights.

mod common;

use common::viewer::{app, harness, harness_with_cache, wait};
use common::first_png;
use egui_kittest::kittest::Queryable;
use kneeclip::app::settings::Settings;

#[test]
fn without_weights_the_viewer_says_where_to_put_them() {
    if model_dir_env_set() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut h = harness_with_cache(Settings::default(), None, tmp.path().join("cache"));
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    h.get_by_label("No model weights available offline");
    // The window's way first (it led with `--model-dir`, in small type), then the cache and the terminal.
    h.get_by_label_contains("Choose a folder holding config.json, model.safetensors and tokenizer.json");
    assert_eq!(h.query_all_by_label("Choose folder…").count(), 1, "a button beside the guidance (the Model section is closed)");
    h.get_by_label_contains("kneeclip view --model-dir FOLDER`, or set KNEECLIP_MODEL_DIR=FOLDER");
    // The exact folder the cache is read from (it once said only "under ~/.cache/kneeclip").
    let folder = kneeclip::weights::model_cache_dir(&tmp.path().join("cache"), &kneeclip::weights::Manifest::base());
    h.get_by_label(&format!("Or place the three files in the folder {}.", folder.display()));
    h.get_by_label_contains("Download the base model");
    h.get_by_label("Open a knee film (Ctrl+O) or drop one on the window");
}

/// `view --model-dir X` was saved and loaded again by a later plain `view`
/// (over KNEECLIP_MODEL_DIR); its failure was headlined "No model weights
/// available offline", with a download button that did nothing.
#[test]
fn a_command_line_folder_is_for_this_session_and_its_failure_is_headlined_as_such() {
    if model_dir_env_set() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("not-a-model");
    std::fs::create_dir_all(&folder).unwrap();
    let mut h = harness_with_cache(Settings::default(), Some(folder.clone()), tmp.path().join("cache"));
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    assert_eq!(app(&mut h).settings.model_dir, None, "the command line's folder is not saved");
    assert_eq!(app(&mut h).model_dir(), Some(folder.clone()));
    assert!(h.query_by_label("No model weights available offline").is_none());
    assert!(h.query_by_label_contains("Download the base model").is_none(), "a download would not be used while a folder is named");
    h.get_by_label("The model folder cannot be used");
    h.get_by_label_contains("from --model-dir, this session only");
    h.get_by_label_contains("missing config.json");

    // Back to the environment / the cache: nothing there, so the download is offered.
    h.get_by_label("Use the environment / the cache instead").click();
    h.step();
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    assert_eq!(app(&mut h).model_dir(), None);
    h.get_by_label("No model weights available offline");
    h.get_by_label_contains("Download the base model");

    // A folder chosen in the viewer is saved; cleared, it is forgotten.
    app(&mut h).set_model_dir(Some(folder.clone()));
    assert_eq!(app(&mut h).settings.model_dir, Some(folder.clone()));
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    h.get_by_label_contains("(chosen in the viewer)");
    app(&mut h).set_model_dir(None);
    assert_eq!(app(&mut h).settings.model_dir, None);
}

/// NaN weights once showed "KL 0 — Normal" with NaN% bars and Export enabled.
#[test]
fn damaged_weights_show_an_error_in_the_grades_place() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(film) = first_png(2) else { return };
    let Some(model) = common::damaged_model_dir(tmp.path(), |t| common::with_nan(t, "vision_model.post_layernorm.weight")) else { return };
    let mut h = harness(model.clone());
    wait(&mut h, "the model", |a| matches!(a.model, kneeclip::app::ModelStatus::Ready { .. }));
    app(&mut h).open(&film);
    wait(&mut h, "the grading error", |a| a.grade_error.is_some() && !a.busy());
    assert!(app(&mut h).grades.is_empty());
    assert!(app(&mut h).export_job().is_none(), "a report of no grade could be exported");
    h.get_by_label("No grade");
    // In the grade's place (and the status bar).
    let weights = model.join("model.safetensors").display().to_string();
    assert!(h.query_all_by_label_contains("non-finite values").any(|n| n.value().is_some_and(|v| v.contains(&weights))));
    assert!(h.query_by_label_contains(" — Normal").is_none());

    // A logit scale whose exp overflows is refused when the model loads.
    let tmp = tempfile::tempdir().unwrap();
    let huge = common::damaged_model_dir(tmp.path(), |t| {
        t.insert("logit_scale".into(), candle_core::Tensor::new(1000f32, &candle_core::Device::Cpu).unwrap());
    })
    .unwrap();
    let mut h = harness(huge);
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    h.get_by_label_contains("non-finite values");
}

/// Whether KNEECLIP_MODEL_DIR is set: the viewer would then not look in the
/// cache, and the tests of what it says without weights are skipped.
fn model_dir_env_set() -> bool {
    let set = std::env::var_os("KNEECLIP_MODEL_DIR").is_some_and(|v| !v.is_empty());
    if set {
        eprintln!("skipped: KNEECLIP_MODEL_DIR is set, so the viewer would not look in the cache");
    }
    set
}

/// Install QA: with no file dialog on the desktop (no portal, no zenity),
/// Choose folder… only said to start the viewer from a terminal, its advice
/// cut off in the status bar. The folder is now typed in the window.
#[test]
fn without_a_file_dialog_the_model_folder_is_typed_in_the_window() {
    if model_dir_env_set() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = common::model_dir(tmp.path()) else { return };
    let mut h = harness_with_cache(Settings::default(), None, tmp.path().join("cache"));
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    // What the button does when the dialog is unavailable.
    let not_a_folder = tmp.path().join("nope");
    app(&mut h).model_dir_typed = Some(not_a_folder.display().to_string());
    h.run_steps(2);
    h.get_by_label_contains("type the folder holding config.json, model.safetensors and tokenizer.json");
    h.get_by_label(&format!("{} is not a folder", not_a_folder.display()));
    assert_eq!(h.query_all_by_label("Folder").count(), 1, "one row");
    h.get_by_label("Use").click();
    h.run_steps(2);
    assert_eq!(app(&mut h).model_dir(), None, "Use is disabled for a path that is no folder");
    app(&mut h).model_dir_typed = Some(model.display().to_string());
    h.run_steps(2);
    h.get_by_label("Use").click();
    h.step();
    wait(&mut h, "the model", |a| matches!(a.model, kneeclip::app::ModelStatus::Ready { .. }));
    assert_eq!(app(&mut h).model_dir(), Some(model.clone()));
    assert_eq!(app(&mut h).settings.model_dir, Some(model), "kept, as a folder chosen in a dialog is");
    assert!(app(&mut h).model_dir_typed.is_none() && h.query_by_label("Folder").is_none(), "the row is closed");
}

/// Install QA: the status bar's download bar said "1 MB", not how far of how much.
#[test]
fn the_download_bar_says_how_much_of_the_whole_has_come() {
    if model_dir_env_set() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut h = harness_with_cache(Settings::default(), None, tmp.path().join("cache"));
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    app(&mut h).model = kneeclip::app::ModelStatus::Loading;
    let download = kneeclip::app::worker::Download { file: "model.safetensors".into(), bytes: 302_000_000, total: Some(605_000_000), waiting: false };
    *app(&mut h).download().state.lock().unwrap() = Some(download);
    h.run_steps(2);
    h.get_by_label_contains("302 of 605 MB");
}

/// Install QA: `kneeclip view --offline` did not exist; the window offered a
/// 600 MB download on a workstation that must not fetch anything.
#[test]
fn offline_the_viewer_offers_a_folder_and_never_downloads() {
    if model_dir_env_set() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let mut h = harness_with_cache(Settings::default(), None, cache.clone());
    app(&mut h).offline = true; // as `kneeclip view --offline` sets it, before any download could be asked for
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    h.get_by_label("No model weights available offline");
    assert!(h.query_by_label_contains("Download the base model").is_none(), "no download offered offline");
    h.get_by_label_contains("Started with --offline, kneeclip does not download the weights. Choose a folder holding config.json");
    assert_eq!(h.query_all_by_label("Choose folder…").count(), 1);
    assert!(h.query_by_label_contains("downloads them on first use").is_none());
    // What the download button did: now a lookup without a download, nothing written into the cache.
    app(&mut h).request_model(true);
    h.step();
    wait(&mut h, "the model status", |a| matches!(a.model, kneeclip::app::ModelStatus::Missing(_)));
    assert_eq!(app(&mut h).model_headline, kneeclip::app::worker::NO_WEIGHTS_OFFLINE);
    assert!(app(&mut h).download().state.lock().unwrap().is_none());
    assert!(!cache.join("models").exists(), "a download started: {} was created", cache.join("models").display());
    // The typed folder, the other way offered, still works.
    let Some(model) = common::model_dir(tmp.path()) else { return };
    app(&mut h).model_dir_typed = Some(model.display().to_string());
    h.run_steps(2);
    h.get_by_label("Use").click();
    h.step();
    wait(&mut h, "the model", |a| matches!(a.model, kneeclip::app::ModelStatus::Ready { .. }));
}
