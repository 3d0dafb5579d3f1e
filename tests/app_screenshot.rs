//! `kneeclip view --screenshot`'s wait, driven headless: with no model it
//! waited (two minutes, under Xvfb seemingly forever) for a grade that never came.

mod common;

use std::time::{Duration, Instant};

use common::first_png;
use common::viewer::{App, app, harness_with_cache, wait};
use egui_kittest::Harness;
use kneeclip::app::ModelStatus;
use kneeclip::app::settings::Settings;

/// Steps until the screenshot has an outcome; well under its own two-minute limit.
fn outcome(h: &mut Harness<'static, App>) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if let Some(r) = app(h).screenshot_result() {
            return r;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the screenshot still waits after 20 s");
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
}

#[test]
fn a_screenshot_without_a_model_fails_at_once_saying_why() {
    let Some(film) = first_png(2) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("shot.png");

    // An empty --model-dir.
    let empty = tmp.path().join("empty-model-dir");
    std::fs::create_dir_all(&empty).unwrap();
    let mut h = harness_with_cache(Settings::default(), Some(empty), tmp.path().join("cache"));
    app(&mut h).set_screenshot(out.clone());
    app(&mut h).open(&film);
    let err = outcome(&mut h).unwrap_err();
    assert!(err.starts_with("the model could not be loaded: The model folder cannot be used"), "{err}");
    assert!(err.contains("config.json"), "says what is missing: {err}");
    assert!(!out.exists());

    // No folder named and an empty cache (offline: no download is tried).
    if std::env::var_os("KNEECLIP_MODEL_DIR").is_some_and(|v| !v.is_empty()) {
        return;
    }
    let mut h = harness_with_cache(Settings::default(), None, tmp.path().join("cache"));
    app(&mut h).set_screenshot(out.clone());
    app(&mut h).open(&film);
    wait(&mut h, "the film", |a| a.view.is_some() || matches!(a.model, ModelStatus::Missing(_)));
    let err = outcome(&mut h).unwrap_err();
    assert!(err.starts_with("the model could not be loaded: No model weights available offline"), "{err}");
    assert!(!out.exists());
}
