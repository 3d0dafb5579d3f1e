//! The viewer's fine-tuned head: loaded from a file, remembered for the next
//! session, given for one session on the command line, and let go of (with a
//! word) when it no longer loads. Clinic QA: a head could only be used in the
//! session that trained it.

mod common;

use std::path::{Path, PathBuf};

use common::viewer::{App, app, harness, harness_with_cache, open_and_grade, wait};
use common::{first_png, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kneeclip::app::settings::Settings;

/// The tiny fixture's head as `dir/NAME.safetensors`, with an empty sidecar.
fn fixture_head(dir: &Path, name: &str) -> PathBuf {
    let head = dir.join(format!("{name}.safetensors"));
    std::fs::copy(common::fixture_dir("tiny-clip").join("head.safetensors"), &head).unwrap();
    std::fs::write(head.with_extension("json"), "{}").unwrap();
    head
}

/// A viewer started with `settings` and the tiny model as `--model-dir`.
fn restarted(settings: Settings, model: &Path, cache: &Path) -> Harness<'static, App> {
    harness_with_cache(settings, Some(model.to_path_buf()), cache.to_path_buf())
}

/// Opens the side panel's Model section (closed at start, below the Anchors).
fn open_model_section(h: &mut Harness<'static, App>) {
    // Below the Anchors, out of the panel's view: clicked through accesskit.
    h.get_by_label("Model").click_accesskit();
    h.step();
    h.step();
}

fn graded_with_head(h: &mut Harness<'static, App>) -> Option<String> {
    app(h).grades.first().and_then(|g| g.assessment.provenance.head.clone())
}

#[test]
fn a_head_typed_in_the_model_section_is_used_and_comes_back_in_the_next_session() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let head = fixture_head(tmp.path(), "clinic");
    let mut h = harness(model.clone());
    open_and_grade(&mut h, &film);
    assert!(graded_with_head(&mut h).is_none());
    open_model_section(&mut h);
    h.get_by_label("Load head…"); // offered without a head in use
    // Where no dialog can be shown, Load head… opens this row (as Choose folder… does).
    app(&mut h).head_typed = Some(head.display().to_string());
    h.step();
    h.get_by_label("Use").click_accesskit();
    h.step();
    wait(&mut h, "the head", |a| a.head.is_some() && !a.busy());
    let id = app(&mut h).head.clone().unwrap();
    assert!(id.starts_with("clinic@"), "{id}");
    assert_eq!(graded_with_head(&mut h).as_deref(), Some(id.as_str()), "the film is graded with it");
    assert_eq!(app(&mut h).settings.head.as_deref(), Some(head.as_path()), "remembered");
    h.get_by_label(&format!("Fine-tuned head: {id}"));
    h.get_by_label(&head.display().to_string());

    // The next session: the head loads with the model, before the first grade.
    let settings = app(&mut h).settings.clone();
    drop(h);
    let cache = tmp.path().join("cache");
    let mut h = restarted(settings, &model, &cache);
    open_and_grade(&mut h, &film);
    assert_eq!(app(&mut h).head.as_deref(), Some(id.as_str()));
    assert_eq!(graded_with_head(&mut h).as_deref(), Some(id.as_str()), "graded with the remembered head");

    // Back to the base model: forgotten for the session after.
    open_model_section(&mut h);
    h.get_by_label("Use the base model").click_accesskit();
    h.step();
    wait(&mut h, "the base model", |a| a.head.is_none() && !a.busy());
    assert!(graded_with_head(&mut h).is_none());
    assert_eq!(app(&mut h).settings.head, None);
}

#[test]
fn a_remembered_head_that_is_gone_is_let_go_of_and_the_base_model_grades() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let gone = tmp.path().join("moved-away.safetensors");
    let settings = Settings { head: Some(gone.clone()), ..Settings::default() };
    let mut h = restarted(settings, &model, &tmp.path().join("cache"));
    open_and_grade(&mut h, &film);
    assert!(app(&mut h).head.is_none() && graded_with_head(&mut h).is_none());
    let error = app(&mut h).error.clone().unwrap_or_default();
    assert!(error.starts_with("The head used last time could not be loaded, so the base model grades") && error.contains(&gone.display().to_string()), "{error}");
    assert!(error.contains("there is no such file (moved, renamed or deleted?)"), "said in words, not as an OS error: {error}");
    assert_eq!(error.matches(&gone.display().to_string()).count(), 1, "the file named once: {error}");
    assert_eq!(app(&mut h).settings.head, None, "not tried again at every start");
}

#[test]
fn a_head_given_on_the_command_line_is_used_for_the_session_and_not_remembered() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let head = fixture_head(tmp.path(), "session");
    let mut h = harness_with_cache(Settings::default(), Some(model), tmp.path().join("cache"));
    app(&mut h).set_cli_head(head.clone()); // as `view --head` does, before the model has loaded
    open_and_grade(&mut h, &film);
    let id = app(&mut h).head.clone().expect("the head is in use");
    assert!(id.starts_with("session@"), "{id}");
    assert_eq!(graded_with_head(&mut h).as_deref(), Some(id.as_str()));
    assert_eq!(app(&mut h).head_path(), Some(head.as_path()));
    assert_eq!(app(&mut h).settings.head, None, "--head is for this session only");
}

/// In the typed row, Enter uses the path as the Use button does.
#[test]
fn enter_in_the_typed_row_loads_the_head() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let head = fixture_head(tmp.path(), "typed");
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    open_model_section(&mut h);
    app(&mut h).head_typed = Some(head.display().to_string());
    h.run_steps(2);
    h.get_by_label("Head").focus();
    h.step();
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    wait(&mut h, "the head", |a| a.head.is_some() && !a.busy());
    assert!(app(&mut h).head_typed.is_none(), "the row is closed");
    assert_eq!(app(&mut h).settings.head.as_deref(), Some(head.as_path()));
}
