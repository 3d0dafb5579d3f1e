//! The viewer's training tab driven headless with egui_kittest, the tiny
//! fixture model and a tiny dataset of real OAI films built in a tempdir.

mod common;

use std::path::{Path, PathBuf};

use common::viewer::{App, app, harness_sized, wait};
use common::{data_dir, first_png, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use kneeclip::app::training_tab::RunState;
use kneeclip::app::{ModelStatus, Tab};
use kneeclip::training::trainer::TrainConfig;

/// Tall enough that the side panel's Model section is on screen without
/// scrolling (kittest clicks only what is visible).
fn harness(model: PathBuf) -> Harness<'static, App> {
    harness_sized(model, egui::vec2(1400.0, 1400.0))
}

/// `per_grade` real OAI training films per grade, copied into `root/data/<g>/`.
fn dataset(root: &Path, per_grade: usize) -> Option<PathBuf> {
    common::oai_dataset(&root.join("data"), "train", per_grade)
}

/// Opens the training tab through its button and chooses `data`.
fn training_tab_with(h: &mut Harness<'static, App>, data: &Path) {
    h.get_by_label("Training").click();
    h.step();
    assert_eq!(app(h).tab, Tab::Training);
    let ctx = h.ctx.clone();
    app(h).training.set_dataset(&ctx, data);
    wait(h, "the dataset check", |a| a.training.dataset_checked() && matches!(a.model, ModelStatus::Ready { .. }));
}

fn quick(epochs: usize) -> TrainConfig {
    TrainConfig { epochs, patience: epochs, batch_size: 4, bottleneck: 8, angles: vec![0.0], ..TrainConfig::default() }
}

fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".probe"))
        .collect()
}

#[test]
fn the_summary_lists_films_and_unreadable_files_and_refuses_a_bad_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 3) else { return };
    std::fs::write(data.join("2/broken.png"), b"not a png").unwrap();
    let chest = data_dir().join("dicom/966_fixed.dcm");
    let with_chest = chest.is_file();
    if with_chest {
        std::fs::copy(&chest, data.join("3/chest.dcm")).unwrap();
    }
    let mut h = harness(model);
    training_tab_with(&mut h, &data);
    h.get_by_label(if with_chest { "16 readable films" } else { "15 readable films" });
    h.get_by_label("1 unreadable file (skipped)");
    if with_chest {
        h.get_by_label("1 film's header says it is not a knee radiograph (kept: check it)");
        for f in std::fs::read_dir(data.join("3")).unwrap().map(|f| f.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "dcm")) {
            std::fs::remove_file(f).unwrap();
        }
    }
    h.get_by_label_contains("films train,");
    assert!(!h.get_by_label("Start").accesskit_node().is_disabled(), "a usable dataset can be trained on");
    assert!(app(&mut h).training.head_text.ends_with("data-head.safetensors"), "a default head path is filled in");

    // A grade whose only file is unreadable: the summary stays, with the refusal.
    for f in std::fs::read_dir(data.join("4")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    std::fs::write(data.join("4/9999999L.png"), b"truncated").unwrap();
    let ctx = h.ctx.clone();
    app(&mut h).training.set_dataset(&ctx, &data);
    wait(&mut h, "the second check", |a| a.training.dataset_checked());
    h.get_by_label("12 readable films");
    h.get_by_label("2 unreadable files (skipped)").click();
    h.run_steps(2);
    h.get_by_label_contains("9999999L.png");
    // Privacy QA: with patient data hidden the lists name no film (names are often patient IDs).
    app(&mut h).hide_patient = true;
    h.run_steps(2);
    assert!(h.query_by_label_contains("9999999L.png").is_none(), "a film named while patient data is hidden");
    h.get_by_label("File names and header texts are hidden with the patient data (Shift+F12 shows them).");
    app(&mut h).hide_patient = false;
    h.run_steps(2);
    h.get_by_label_contains("grade 4 has no readable films");
    assert!(h.get_by_label("Start").accesskit_node().is_disabled());
    h.get_by_label("The dataset cannot be used (see above).");

    // A folder without grade folders, typed into the field (Enter checks it),
    // says what it found instead.
    let wrong = tmp.path().join("wrong");
    std::fs::create_dir_all(wrong.join("healthy")).unwrap();
    let role = egui::accesskit::Role::TextInput;
    h.get_by_role_and_label(role, "Dataset folder").click();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role_and_label(role, "Dataset folder").type_text(wrong.to_str().unwrap());
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    let typed = wrong.display().to_string();
    wait(&mut h, "the third check", |a| a.training.dataset_checked() && a.training.dataset_text == typed);
    h.get_by_label_contains("no grade folders");
    h.get_by_label_contains("\"healthy\"");
}

#[test]
fn a_run_draws_curves_finishes_and_its_head_grades_in_the_viewer() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(3)) else { return };
    let Some(data) = dataset(tmp.path(), 3) else { return };
    let mut h = harness(model);
    app(&mut h).open(&film);
    wait(&mut h, "the grade", |a| !a.grades.is_empty() && !a.busy());
    assert_eq!(app(&mut h).grades[0].assessment.provenance.head, None);
    training_tab_with(&mut h, &data);
    let head = tmp.path().join("heads/tiny.safetensors");
    app(&mut h).training.config = quick(3);
    app(&mut h).training.head_text = head.display().to_string();
    h.step();
    h.get_by_label("Start").click();
    h.step();
    assert!(app(&mut h).training.running());
    wait(&mut h, "the end of the run", |a| !a.training.running());
    let p = &app(&mut h).training.progress;
    assert!(matches!(p.state, RunState::Finished(_)), "{:?}", p.state);
    assert_eq!(p.epochs.len(), 3, "one point per epoch on each curve");
    assert_eq!(p.batch_losses.len(), 3 * p.batches, "one point per batch");
    h.get_by_label("Loss");
    h.get_by_label("Accuracy");
    h.get_by_label_contains("Validation confusion matrix, epoch");
    h.get_by_label_contains("(the head's epoch)");
    h.get_by_label_contains("Finished: wrote");
    assert!(head.is_file() && head.with_extension("json").is_file());

    h.get_by_label("Use this head in the viewer").click();
    h.step();
    wait(&mut h, "the grade with the head", |a| {
        a.head.is_some() && !a.busy() && a.grades.first().is_some_and(|g| g.assessment.provenance.head.is_some())
    });
    assert_eq!(app(&mut h).tab, Tab::Viewer);
    let id = app(&mut h).head.clone().unwrap();
    assert!(id.starts_with("tiny@"), "{id}");
    assert_eq!(app(&mut h).grades[0].assessment.provenance.head.as_deref(), Some(id.as_str()));
    h.get_by_label_contains(&format!("· head {id} ·"));

    // And back to the base model from the Model section.
    h.get_by_label("Model").click();
    h.step();
    h.get_by_label(&format!("Fine-tuned head: {id}"));
    h.get_by_label("Use the base model").click();
    h.step();
    wait(&mut h, "the grade without the head", |a| {
        a.head.is_none() && !a.busy() && a.grades.first().is_some_and(|g| g.assessment.provenance.head.is_none())
    });
    assert!(h.query_by_label_contains(&format!("head {id}")).is_none());
}

/// The tab with an endless run to `<tmp>/heads/endless.safetensors` that
/// has finished an epoch: the folder, the harness, the heads folder and the head.
fn endless_run() -> Option<(tempfile::TempDir, Harness<'static, App>, PathBuf, PathBuf)> {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_dir(tmp.path())?;
    let data = dataset(tmp.path(), 2)?;
    let mut h = harness(model);
    training_tab_with(&mut h, &data);
    let out = tmp.path().join("heads");
    let head = out.join("endless.safetensors");
    app(&mut h).training.config = quick(100_000);
    app(&mut h).training.head_text = head.display().to_string();
    h.step();
    h.get_by_label("Start").click();
    h.step();
    wait(&mut h, "a finished epoch", |a| !a.training.progress.epochs.is_empty());
    Some((tmp, h, out, head))
}

#[test]
fn cancel_stops_the_run_says_so_and_leaves_no_half_written_file() {
    let Some((_tmp, mut h, out, head)) = endless_run() else { return };
    h.get_by_label("Cancel").click();
    h.step();
    wait(&mut h, "the run to stop", |a| !a.training.running());
    let state = app(&mut h).training.progress.state.clone();
    let RunState::Cancelled { checkpoint, epoch: Some(kept) } = state else { panic!("{state:?}") };
    assert!(kept >= 1 && kept < 100_000);
    h.get_by_label_contains("Cancelled: no head was written.");
    assert!(!head.exists() && !head.with_extension("json").exists());
    assert!(checkpoint.is_file());
    assert!(temporary_files(&out).is_empty(), "{:?}", temporary_files(&out));
    // Start as it is would replace that checkpoint: the form says so, and
    // beside Start, which asks first (QA: one click replaced it).
    h.get_by_label_contains(&format!("An unfinished run's checkpoint is beside it ({kept} of "));
    let beside_start = h.get_by_label_contains(&format!("An unfinished run ({kept} of ")).accesskit_node().value().unwrap_or_default().to_string();
    assert!(beside_start.ends_with("epochs) is beside the head: Start asks before replacing it."), "{beside_start}");
    let written = std::fs::metadata(&checkpoint).unwrap().modified().unwrap();
    h.get_by_label("Start").click();
    h.run_steps(3);
    h.get_by_label("An unfinished run is beside this head");
    assert!(!app(&mut h).training.running(), "nothing started before the answer");
    h.get_by_label("Don't start").click();
    h.run_steps(3);
    assert!(h.query_by_label("An unfinished run is beside this head").is_none());
    // Escape is "Don't start" too.
    h.get_by_label("Start").click();
    h.run_steps(3);
    h.get_by_label("An unfinished run is beside this head");
    h.key_press(egui::Key::Escape);
    h.run_steps(3);
    assert!(h.query_by_label("An unfinished run is beside this head").is_none(), "Escape closes the question");
    assert!(!app(&mut h).training.running() && !app(&mut h).training.resume);
    assert_eq!(std::fs::metadata(&checkpoint).unwrap().modified().unwrap(), written, "the checkpoint is untouched");
    // The checkpoint can be resumed from the tab, which fills in the run's
    // own options (here after they were changed); the curves start with its epochs.
    app(&mut h).training.config.lr = 0.5;
    h.get_by_label("Resume from its checkpoint").click();
    h.step();
    assert!(app(&mut h).training.resume);
    assert_eq!(app(&mut h).training.config.lr, quick(1).lr, "the checkpoint's options are back in the form");
    app(&mut h).training.config.epochs = kept + 1; // a run may be resumed for more or fewer epochs
    h.step(); // the warning is drawn above the box, so it goes the frame after
    assert!(h.query_by_label_contains("An unfinished run's checkpoint").is_none(), "resuming replaces nothing");
    h.get_by_label("Start").click();
    h.step();
    // The reader goes back to the viewer: the end of the run is said there.
    app(&mut h).tab = Tab::Viewer;
    wait(&mut h, "the resumed run", |a| !a.training.running());
    h.step();
    h.get_by_label("(training finished: see the Training tab)");
    app(&mut h).tab = Tab::Training;
    h.step();
    let p = &app(&mut h).training.progress;
    assert!(matches!(p.state, RunState::Finished(_)), "{:?}", p.state);
    assert_eq!(p.epochs.iter().map(|r| r.epoch).collect::<Vec<_>>(), (1..=kept + 1).collect::<Vec<_>>());
    assert!(p.messages.iter().any(|m| m.contains(&format!("after epoch {kept}"))), "{:?}", p.messages);
    assert!(head.is_file());
}

/// Closing the window while a run trains asks first; "Keep training" goes
/// on, "Stop the run and quit" stops it cleanly (checkpoint whole, no head,
/// no half-written file) before the window closes.
#[test]
fn closing_the_window_while_training_asks_and_stops_the_run_cleanly() {
    let Some((_tmp, mut h, out, head)) = endless_run() else { return };
    let close = |h: &mut Harness<'static, App>| {
        h.input_mut().viewports.get_mut(&egui::ViewportId::ROOT).unwrap().events.push(egui::ViewportEvent::Close);
        h.step();
        h.step();
    };
    close(&mut h);
    h.get_by_label("A head is being trained");
    h.get_by_label("Keep training").click();
    h.step();
    assert!(app(&mut h).training.running() && !app(&mut h).quit.asked, "the run goes on");
    close(&mut h);
    h.get_by_label("Stop the run and quit").click();
    h.step();
    assert!(app(&mut h).quit.stopping);
    wait(&mut h, "the run to stop", |a| !a.training.running());
    let state = app(&mut h).training.progress.state.clone();
    let RunState::Cancelled { epoch: Some(kept), .. } = state else { panic!("{state:?}") };
    assert!(!head.exists() && temporary_files(&out).is_empty(), "{:?}", temporary_files(&out));
    // Reopened (QA: "No run yet", Resume unticked, the warning below the
    // fold): the unfinished run is said up front, and Start asks; "Resume it" goes on with it.
    let form = serde_json::to_string(&app(&mut h).training.saved_form()).unwrap();
    let model = match &app(&mut h).model {
        ModelStatus::Ready { dir, .. } => dir.clone(),
        _ => unreachable!("trained with it"),
    };
    drop(h);
    let mut h = harness(model);
    app(&mut h).training.restore(serde_json::from_str(&form).unwrap());
    h.get_by_label("Training").click();
    h.step();
    wait(&mut h, "the restored dataset's check", |a| a.training.dataset_checked() && matches!(a.model, ModelStatus::Ready { .. }));
    assert!(h.query_by_label_contains("No run yet").is_none());
    h.get_by_label_contains(&format!("An unfinished run is beside the head: {kept} of "));
    h.get_by_label("Start").click();
    h.run_steps(3);
    h.get_by_label("Resume it").click();
    h.step();
    let t = &app(&mut h).training;
    assert!(t.resume && t.running(), "resumed from the checkpoint");
    wait(&mut h, "the resumed run's first epoch", |a| !a.training.progress.epochs.is_empty());
    assert_eq!(app(&mut h).training.progress.epochs[0].epoch, 1, "its curves start with the checkpoint's epochs");
    app(&mut h).training.cancel();
    wait(&mut h, "the run to stop", |a| !a.training.running());
}

/// Start and Cancel stay on screen in a small window, whatever the form's
/// length; the head follows the dataset unless the reader chose one.
#[test]
fn start_stays_in_sight_and_the_head_follows_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 2) else { return };
    let mut h = harness_sized(model, egui::vec2(900.0, 600.0));
    training_tab_with(&mut h, &data);
    let ctx = h.ctx.clone();
    app(&mut h).training.set_validation(&ctx, Some(&data)); // a long refusal beside Start, too
    wait(&mut h, "the validation check", |a| a.training.settled());
    for label in ["Start", "Cancel"] {
        let b = h.get_by_label(label).accesskit_node().bounding_box().expect("laid out");
        assert!(b.y1 <= 600.0 && b.x1 <= 900.0, "{label}: {b:?}");
    }
    assert!(app(&mut h).training.head_text.ends_with("data-head.safetensors"));
    let other = tmp.path().join("big");
    std::fs::create_dir_all(&other).unwrap();
    app(&mut h).training.set_dataset(&ctx, &other);
    assert!(app(&mut h).training.head_text.ends_with("big-head.safetensors"), "{}", app(&mut h).training.head_text);
    let chosen = tmp.path().join("mine.safetensors").display().to_string();
    app(&mut h).training.head_text = chosen.clone();
    app(&mut h).training.set_dataset(&ctx, &data);
    assert_eq!(app(&mut h).training.head_text, chosen, "a head the reader chose stays");
}

/// The form outlives the window: reopened, it has the dataset, the head
/// (and so its checkpoint, to resume) and the options again, and checks the
/// folders when the tab is shown.
#[test]
fn the_form_is_restored_in_the_next_session() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 2) else { return };
    let head = tmp.path().join("mine.safetensors");
    let mut h = harness(model.clone());
    training_tab_with(&mut h, &data);
    app(&mut h).training.head_text = head.display().to_string();
    app(&mut h).training.config = quick(7);
    let saved = app(&mut h).training.saved_form();
    let json = serde_json::to_string(&saved).unwrap(); // as eframe keeps it
    drop(h);

    let mut h = harness(model);
    app(&mut h).training.restore(serde_json::from_str(&json).unwrap());
    h.get_by_label("Training").click();
    h.step();
    wait(&mut h, "the restored dataset's check", |a| a.training.dataset_checked());
    let t = &app(&mut h).training;
    assert_eq!((t.dataset_text.as_str(), t.head_text.as_str()), (data.to_str().unwrap(), head.to_str().unwrap()));
    assert_eq!(t.config.epochs, 7);
    h.get_by_label("10 readable films");
}

/// Start onto a finished head asks first, as the command line refuses
/// without --overwrite (clinic QA: last week's head was replaced with one
/// yellow line's warning); a cancelled run leaves the head as it was.
#[test]
fn start_onto_a_finished_head_asks_before_replacing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 2) else { return };
    let head = tmp.path().join("last-week.safetensors");
    std::fs::copy(common::fixture_dir("tiny-clip").join("head.safetensors"), &head).unwrap();
    let before = std::fs::read(&head).unwrap();
    let mut h = harness(model);
    training_tab_with(&mut h, &data);
    app(&mut h).training.config = TrainConfig { epochs: 1000, ..quick(1000) };
    app(&mut h).training.head_text = head.display().to_string();
    h.step();
    h.get_by_label("Start").click();
    h.run_steps(3);
    h.get_by_label("This head file exists");
    h.get_by_label_contains(&format!("{} (written ", head.display()));
    assert!(!app(&mut h).training.running(), "not before the reader says so");
    h.get_by_label("Don't start").click();
    h.run_steps(3);
    assert!(!app(&mut h).training.running() && h.query_by_label("This head file exists").is_none());
    h.get_by_label("Start").click();
    h.run_steps(3);
    h.get_by_label("Start, replacing it").click();
    h.step();
    assert!(app(&mut h).training.running(), "started once asked");
    app(&mut h).training.cancel();
    wait(&mut h, "the run to stop", |a| !a.training.running());
    assert_eq!(std::fs::read(&head).unwrap(), before, "a cancelled run leaves the finished head as it was");
}
