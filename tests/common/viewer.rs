//! The viewer driven headless with egui_kittest: a harness around the real
//! app with the tiny fixture model, and waits for its worker's answers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use kneeclip::app::KneeclipApp;
use kneeclip::app::settings::Settings;

pub type App = Option<KneeclipApp>;

/// A viewer with the tiny model in the window size `kneeclip view` opens.
pub fn harness(model: PathBuf) -> Harness<'static, App> {
    harness_sized(model, egui::vec2(1400.0, 900.0))
}

/// A viewer with the tiny model; the app is built on the first frame so its
/// worker wakes the harness's own context.
pub fn harness_sized(model: PathBuf, size: egui::Vec2) -> Harness<'static, App> {
    let mut model = Some(model);
    let mut h = Harness::builder().with_size(size).build_ui_state(
        move |ui, app: &mut App| {
            let app = app.get_or_insert_with(|| KneeclipApp::new(ui.ctx(), Settings::default(), model.take()));
            app.show(ui);
        },
        None,
    );
    h.step();
    h
}

/// A viewer started with `settings` and `model_dir` (as `--model-dir`), looking
/// for the weights in the cache root `cache` (not the user's).
pub fn harness_with_cache(settings: Settings, model_dir: Option<PathBuf>, cache: PathBuf) -> Harness<'static, App> {
    let mut start = Some((settings, model_dir));
    let mut h = Harness::builder().with_size(egui::vec2(1400.0, 900.0)).build_ui_state(
        move |ui, app: &mut App| {
            let app = app.get_or_insert_with(|| {
                let (settings, model_dir) = start.take().expect("built once");
                KneeclipApp::with_cache_dir(ui.ctx(), settings, model_dir, Some(cache.clone()))
            });
            app.show(ui);
        },
        None,
    );
    h.step();
    h
}

pub fn app<'h>(h: &'h mut Harness<'static, App>) -> &'h mut KneeclipApp {
    h.state_mut().as_mut().expect("built on the first frame")
}

/// Steps the UI until `done` holds (the worker and the training jobs answer
/// on their own threads); the time limit only turns a hang into a failure.
pub fn wait(h: &mut Harness<'static, App>, what: &str, done: impl Fn(&KneeclipApp) -> bool) {
    let start = Instant::now();
    while !done(h.state().as_ref().unwrap()) {
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
    h.step();
    h.step();
}

pub fn open_and_grade(h: &mut Harness<'static, App>, film: &Path) {
    app(h).open(film);
    wait(h, "the grade", |a| !a.grades.is_empty() && !a.busy());
}

/// The open film's view state.
pub fn view<'h>(h: &'h mut Harness<'static, App>) -> &'h mut kneeclip::app::film_view::FilmView {
    app(h).view.as_mut().expect("a film is open")
}

/// Two different synthetic "knees" side by side, 2.5 times wider than tall
/// (graded as two halves), saved in `dir`.
#[allow(dead_code)] // not every test file uses it
pub fn wide_film(dir: &std::path::Path) -> std::path::PathBuf {
    let wide = dir.join("both-knees.png");
    image::GrayImage::from_fn(500, 200, |x, y| image::Luma([if x < 250 { (y % 256) as u8 } else { ((x * 7) % 256) as u8 }]))
        .save(&wide)
        .unwrap();
    wide
}

/// `n` copies of `film` named knee1.png … kneeN.png in a new folder `films` under `dir`.
#[allow(dead_code)]
pub fn folder_of_copies(dir: &std::path::Path, film: &std::path::Path, n: usize) -> Vec<std::path::PathBuf> {
    let folder = dir.join("films");
    std::fs::create_dir(&folder).unwrap();
    let films: Vec<std::path::PathBuf> = (1..=n).map(|i| folder.join(format!("knee{i}.png"))).collect();
    for f in &films {
        std::fs::copy(film, f).unwrap();
    }
    films
}
