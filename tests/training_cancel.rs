//! Cancelling a run mid-epoch keeps the last complete checkpoint intact and
//! writes no head; the early-stopping figure picks the best epoch.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor};
use common::{data_dir, fixture_dir, shared_tokenizer};
use kneeclip::grading::Grader;
use kneeclip::training::dataset::Film;
use kneeclip::training::session::{Outcome, Plan, Session, Validation, checkpoint_for};
use kneeclip::training::trainer::{EarlyStopOn, EpochRecord, TrainConfig, TrainData, Trainer, TrainingObserver};
use kneeclip::training::{Dataset, DatasetSummary};

fn tiny_grader() -> Option<Grader> {
    let dir = fixture_dir("tiny-clip");
    Grader::load(&dir.join("config.json"), &dir.join("model.safetensors"), &shared_tokenizer()?, "tiny", &Device::Cpu).ok()
}

/// `per_grade` real OAI films of every grade (read in place).
fn films(per_grade: usize) -> Option<Vec<Film>> {
    let mut out = Vec::new();
    for g in 0..5 {
        let mut f: Vec<PathBuf> = std::fs::read_dir(data_dir().join(format!("oai-kl/train/{g}"))).ok()?.map(|e| e.unwrap().path()).collect();
        f.sort();
        out.extend(f.into_iter().take(per_grade).map(|path| Film { path, grade: g }));
    }
    Some(out)
}

fn tiny_data(per_grade: usize) -> Option<TrainData> {
    let grader = tiny_grader()?;
    let Some(films) = films(per_grade) else {
        eprintln!("skipped: no OAI films");
        return None;
    };
    let base: HashMap<String, Tensor> = common::load_tensors(&fixture_dir("tiny-clip").join("model.safetensors"));
    Some(TrainData { grader, base, train: films.clone(), val: films })
}

fn quick(epochs: usize) -> TrainConfig {
    TrainConfig { epochs, batch_size: 4, bottleneck: 8, lr: 1e-3, angles: vec![0.0], patience: 100, ..Default::default() }
}

/// Sets the cancel flag once batch `batch` of epoch `epoch` is done.
struct CancelAt {
    cancel: Arc<AtomicBool>,
    at: (usize, usize),
    epoch: usize,
    messages: Vec<String>,
}

impl TrainingObserver for CancelAt {
    fn epoch_started(&mut self, epoch: usize, _: usize) {
        self.epoch = epoch;
    }
    fn batch_done(&mut self, batch: usize, _: usize, _: f64) {
        if (self.epoch, batch) == self.at {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }
    fn message(&mut self, text: &str) {
        self.messages.push(text.to_owned());
    }
}

/// Files in `dir` whose names say they are temporary (write_atomically's `.partial`).
fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".probe"))
        .collect()
}

#[test]
fn cancelling_mid_epoch_keeps_the_last_complete_checkpoint() {
    let Some(mut data) = tiny_data(2) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = tmp.path().join("run.checkpoint.safetensors");
    let mut trainer = Trainer::new(quick(50));
    trainer.checkpoint = Some(checkpoint.clone());
    let mut observer = CancelAt { cancel: trainer.cancel.clone(), at: (3, 1), epoch: 0, messages: vec![] };
    let out = trainer.run(&mut data, &mut observer).unwrap();
    assert!(out.cancelled);
    assert_eq!(out.checkpoint_epoch, Some(2), "epoch 3 was cut short: the checkpoint still holds epoch 2");
    assert_eq!(out.history.len(), 2);
    assert!(out.tensors.is_empty(), "a cancelled run hands back no head to write");
    assert!(temporary_files(tmp.path()).is_empty(), "{:?}", temporary_files(tmp.path()));

    // The checkpoint is whole: a resumed run picks up after epoch 2.
    let mut resumed = Trainer::new(quick(3));
    resumed.checkpoint = Some(checkpoint);
    resumed.resume = true;
    let mut observer = CancelAt { cancel: Arc::default(), at: (0, 0), epoch: 0, messages: vec![] };
    let out = resumed.run(&mut data, &mut observer).unwrap();
    assert!(!out.cancelled);
    assert!(observer.messages.iter().any(|m| m.contains("after epoch 2")), "{:?}", observer.messages);
    assert_eq!(out.history.iter().map(|r| r.epoch).collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn a_cancelled_session_writes_no_head_and_a_finished_one_does() {
    let (Some(grader), Some(films)) = (tiny_grader(), films(4)) else { return };
    let tmp = tempfile::tempdir().unwrap();
    // Two films a grade train, two others validate (a session refuses to validate on training films).
    let (train, val): (Vec<(usize, Film)>, Vec<(usize, Film)>) = films.into_iter().enumerate().partition(|(i, _)| i % 4 < 2);
    let dataset = Dataset { films: train.into_iter().map(|(_, f)| f).collect(), summary: DatasetSummary::default() };
    let val = Dataset { films: val.into_iter().map(|(_, f)| f).collect(), summary: DatasetSummary::default() };
    let plan = Plan::new(&dataset, Validation::Folder(val), 42).unwrap();
    let head = tmp.path().join("heads/h.safetensors");
    let weights = fixture_dir("tiny-clip").join("model.safetensors");

    let session = Session::new(quick(50), head.clone());
    let mut observer = CancelAt { cancel: session.cancel.clone(), at: (2, 2), epoch: 0, messages: vec![] };
    match session.run(grader, &weights, plan.clone(), &mut observer).unwrap() {
        Outcome::Cancelled { checkpoint, epoch } => {
            assert_eq!(epoch, Some(1));
            assert_eq!(checkpoint, checkpoint_for(&head));
        }
        Outcome::Written(_) => panic!("a cancelled run must not write a head"),
    }
    assert!(!head.exists() && !head.with_extension("json").exists());
    let dir = head.parent().unwrap();
    assert!(temporary_files(dir).is_empty(), "{:?}", temporary_files(dir));
    assert!(checkpoint_for(&head).is_file());

    // A new run over the unfinished one's checkpoint is refused unless asked to start over.
    let Some(grader) = tiny_grader() else { return };
    let refused = Session::new(quick(2), head.clone()).prepare().unwrap_err();
    assert!(refused.contains("holds an unfinished run (1 of 50 epochs)"), "{refused}");
    // While another run holds the head, that is what is said (not the checkpoint).
    let held = kneeclip::training::session::OutputLock::take(&[&head]).unwrap();
    let busy = Session::new(quick(2), head.clone()).prepare().unwrap_err();
    assert!(busy.contains("another run is training with it now"), "{busy}");
    drop(held);
    let session = Session { restart: true, ..Session::new(quick(2), head.clone()) };
    let Outcome::Written(w) = session.run(grader, &weights, plan.clone(), &mut CancelAt { cancel: Arc::default(), at: (0, 0), epoch: 0, messages: vec![] }).unwrap() else {
        panic!("not cancelled");
    };
    assert_eq!(w.head, head);
    assert!(head.is_file() && w.sidecar.is_file());
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&w.sidecar).unwrap()).unwrap();
    assert_eq!(meta["dataset"]["split"]["train"], serde_json::json!([2, 2, 2, 2, 2]));
    assert_eq!(meta["config"]["early_stop_on"], "loss");
    assert!(temporary_files(dir).is_empty());
    assert_eq!(kneeclip::training::session::unfinished_run(&head), None, "finished: its sidecar records its epochs");
    // The same finished run without its head (the head's write failed): its
    // checkpoint is all that is left of it, so it is not replaced unasked.
    let (kept_head, kept_sidecar) = (std::fs::read(&head).unwrap(), std::fs::read(&w.sidecar).unwrap());
    std::fs::remove_file(&head).unwrap();
    std::fs::remove_file(&w.sidecar).unwrap();
    assert_eq!(kneeclip::training::session::unfinished_run(&head), Some((2, 2)));
    std::fs::write(&head, kept_head).unwrap();
    std::fs::write(&w.sidecar, kept_sidecar).unwrap();

    // A later run to the same head, cut short: the finished run's sidecar
    // beside it does not make that run finished.
    let Some(grader) = tiny_grader() else { return };
    let session = Session { restart: true, ..Session::new(quick(50), head.clone()) };
    let mut observer = CancelAt { cancel: session.cancel.clone(), at: (2, 2), epoch: 0, messages: vec![] };
    assert!(matches!(session.run(grader, &weights, plan.clone(), &mut observer).unwrap(), Outcome::Cancelled { epoch: Some(1), .. }));
    assert_eq!(kneeclip::training::session::unfinished_run(&head), Some((1, 50)));
    let refused = Session::new(quick(2), head.clone()).prepare().unwrap_err();
    assert!(refused.contains("holds an unfinished run (1 of 50 epochs)"), "{refused}");
    // Resumed with no more epochs than it did (a default --epochs below its own 50): neither
    // trained nor taken as finished, so no head is written from epoch 1 of 50.
    let Some(grader) = tiny_grader() else { return };
    let session = Session { resume: Some(checkpoint_for(&head)), ..Session::new(quick(1), head.clone()) };
    let refused = session.run(grader, &weights, plan, &mut Quiet).err().expect("refused");
    assert!(refused.contains("its run stopped after 1 of its 50 epochs; resume it with --epochs 50 (its own) or more"), "{refused}");
    assert_eq!(kneeclip::training::session::unfinished_run(&head), Some((1, 50)), "its checkpoint is as it was");
}

struct Quiet;
impl TrainingObserver for Quiet {}

fn best_by(history: &[EpochRecord], metric: EarlyStopOn) -> usize {
    let mut best: Option<&EpochRecord> = None;
    for r in history {
        if metric.improves(r, best) {
            best = Some(r);
        }
    }
    best.unwrap().epoch
}

#[test]
fn the_early_stopping_figure_picks_the_best_epoch() {
    let Some(mut data) = tiny_data(2) else { return };
    for metric in [EarlyStopOn::Loss, EarlyStopOn::Accuracy] {
        let config = TrainConfig { early_stop_on: metric, ..quick(4) };
        let out = Trainer::new(config).run(&mut data, &mut Quiet).unwrap();
        assert_eq!(out.history.len(), 4);
        assert_eq!(out.best_epoch, best_by(&out.history, metric), "{metric:?}: {:?}", out.history);
    }
    // Patience 1 on a figure that cannot improve after epoch 1 of a constant model
    // (learning rate 0): the run stops after epoch 2.
    let config = TrainConfig { lr: 0.0, patience: 1, early_stop_on: EarlyStopOn::Accuracy, ..quick(10) };
    let out = Trainer::new(config).run(&mut data, &mut Quiet).unwrap();
    assert_eq!(out.history.len(), 2, "{:?}", out.history);
    assert_eq!(out.best_epoch, 1);
}

/// A film that cannot be read once the run is going (deleted, damaged on a
/// share) ends the run with its name, said once.
#[test]
fn a_film_that_breaks_during_a_run_is_named_once() {
    let (Some(grader), Some(films)) = (tiny_grader(), films(2)) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("9000001L.png");
    std::fs::write(&broken, b"not a png any more").unwrap();
    // One film a grade validates, the other trains, with the broken one.
    let (val, train): (Vec<(usize, Film)>, Vec<(usize, Film)>) = films.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let val: Vec<Film> = val.into_iter().map(|(_, f)| f).collect();
    let mut train: Vec<Film> = train.into_iter().map(|(_, f)| f).collect();
    train.push(Film { path: broken.clone(), grade: 2 });
    let dataset = Dataset { films: train, summary: DatasetSummary::default() };
    let plan = Plan::new(&dataset, Validation::Folder(Dataset { films: val, summary: DatasetSummary::default() }), 42).unwrap();
    let weights = fixture_dir("tiny-clip").join("model.safetensors");
    let session = Session::new(quick(2), tmp.path().join("h.safetensors"));
    let err = session.run(grader, &weights, plan, &mut Quiet).err().expect("the broken film ends the run");
    assert_eq!(err.matches(&broken.display().to_string()).count(), 1, "{err}");
}


/// Calls `at(epoch, batch)` after each batch, and `at(epoch, 0)` once an epoch's checkpoint is under way.
struct Hooks<F: FnMut(usize, usize) + Send> {
    epoch: usize,
    at: F,
}

impl<F: FnMut(usize, usize) + Send> TrainingObserver for Hooks<F> {
    fn epoch_started(&mut self, epoch: usize, _: usize) {
        self.epoch = epoch;
    }
    fn batch_done(&mut self, batch: usize, _: usize, _: f64) {
        (self.at)(self.epoch, batch)
    }
    fn epoch_finished(&mut self, record: &EpochRecord) {
        (self.at)(record.epoch, 0)
    }
}

/// The lock files of the head `head` and of its checkpoint.
fn lock_files(head: &Path) -> [PathBuf; 2] {
    let dir = head.parent().unwrap().canonicalize().unwrap();
    let name = |p: &Path| dir.join(format!(".{}.lock", p.file_name().unwrap().to_str().unwrap()));
    [name(head), name(&checkpoint_for(head))]
}

fn kept_files(dir: &Path) -> Vec<PathBuf> {
    let mut kept: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().contains(".kept-")).collect();
    kept.sort();
    kept
}

/// A lock file deleted by hand while a run goes on: the run makes it again
/// (a second run is then refused), and where a second run got in meanwhile,
/// the first stops without writing over that run's files, its finished
/// epochs (or its head) kept under a name of their own.
#[test]
fn a_run_whose_lock_file_is_deleted_keeps_its_files_and_its_work() {
    let (Some(grader), Some(films)) = (tiny_grader(), films(4)) else { return };
    let (train, val): (Vec<(usize, Film)>, Vec<(usize, Film)>) = films.into_iter().enumerate().partition(|(i, _)| i % 4 < 2);
    let dataset = Dataset { films: train.into_iter().map(|(_, f)| f).collect(), summary: DatasetSummary::default() };
    let val = Dataset { films: val.into_iter().map(|(_, f)| f).collect(), summary: DatasetSummary::default() };
    let plan = Plan::new(&dataset, Validation::Folder(val), 42).unwrap();
    let weights = fixture_dir("tiny-clip").join("model.safetensors");
    let delete = |head: &Path| lock_files(head).iter().for_each(|f| std::fs::remove_file(f).unwrap());

    // Deleted, nobody else there: the run makes its lock again and a later run is refused.
    let tmp = tempfile::tempdir().unwrap();
    let head = tmp.path().join("h.safetensors");
    let mut session = Session::new(quick(3), head.clone());
    session.prepare().unwrap();
    let mut second = None;
    let mut observer = Hooks {
        epoch: 0,
        at: |epoch, batch| match (epoch, batch) {
            (1, 1) => delete(&head),
            (2, 1) => second = Some(Session { restart: true, ..Session::new(quick(3), head.clone()) }.prepare()),
            _ => {}
        },
    };
    let outcome = session.run(grader, &weights, plan.clone(), &mut observer).unwrap();
    let second = second.expect("a second run was tried");
    assert!(second.as_ref().is_err_and(|e| e.contains("another run is training with it now")), "{second:?}");
    assert!(matches!(outcome, Outcome::Written(_)) && head.is_file());
    assert!(lock_files(&head).iter().all(|f| f.is_file()));

    // Deleted, and a second run takes the files before the first's epoch ends:
    // the first stops, writing its epoch beside them, not over them.
    let Some(grader) = tiny_grader() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let head = tmp.path().join("h.safetensors");
    let mut second = None;
    let mut observer = Hooks {
        epoch: 0,
        at: |epoch, batch| {
            if (epoch, batch) == (1, 1) {
                delete(&head);
                let mut b = Session::new(quick(3), head.clone());
                b.prepare().expect("the second run gets in: the first's lock file is gone");
                second = Some(b);
            }
        },
    };
    let err = Session::new(quick(3), head.clone()).run(grader, &weights, plan.clone(), &mut observer).err().expect("the first run stops");
    assert!(err.contains("another run took") && err.contains("--resume"), "{err}");
    assert!(!checkpoint_for(&head).exists() && !head.exists(), "nothing written over the second run's files");
    let kept = kept_files(tmp.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(err.contains(&kept[0].display().to_string()), "{err}");
    assert_eq!(kneeclip::training::checkpoint::checkpoint_summary(&kept[0]).unwrap().epochs_done, 1, "epoch 1 is kept, whole");
    assert!(temporary_files(tmp.path()).is_empty(), "{:?}", temporary_files(tmp.path()));
    drop(second);

    // A second run gets in after the last checkpoint, before the head is
    // written: the head goes beside, with its sidecar.
    let Some(grader) = tiny_grader() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let head = tmp.path().join("h.safetensors");
    let mut second = None;
    let mut observer = Hooks {
        epoch: 0,
        at: |epoch, batch| {
            if (epoch, batch) == (2, 0) {
                delete(&head);
                let mut b = Session { restart: true, ..Session::new(quick(2), head.clone()) };
                b.prepare().expect("the second run gets in");
                second = Some(b);
            }
        },
    };
    let err = Session::new(quick(2), head.clone()).run(grader, &weights, plan, &mut observer).err().expect("the head is not written over the second run's");
    assert!(err.contains("another run took"), "{err}");
    assert!(!head.exists() && !head.with_extension("json").exists());
    let kept = kept_files(tmp.path());
    let kept_head = kept.iter().find(|p| p.extension().is_some_and(|e| e == "safetensors")).expect("the head is kept");
    assert!(kept_head.with_extension("json").is_file() && err.contains(&kept_head.display().to_string()), "{err} {kept:?}");
    drop(second);
}

/// A checkpoint that cannot be written said only "h.checkpoint.safetensors:
/// Permission denied"; a resume on films one of which was deleted said only
/// that the films differ.
#[test]
fn a_checkpoint_that_cannot_be_written_stops_the_run_saying_what_is_kept() {
    let Some(mut data) = tiny_data(2) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = tmp.path().join("run.checkpoint.safetensors");
    // Its temporary file cannot be made (a folder in the way, as a full disk or a read-only folder would refuse it).
    let blocked = tmp.path().join(format!(".run.checkpoint.safetensors.{}.partial", std::process::id()));
    std::fs::create_dir(&blocked).unwrap();
    let mut trainer = Trainer::new(quick(2));
    trainer.checkpoint = Some(checkpoint.clone());
    let err = trainer.run(&mut data, &mut Quiet).err().expect("the run stops");
    assert!(err.contains("run.checkpoint.safetensors: cannot write the checkpoint") && err.contains("Training stopped there: no head was written, and no checkpoint of this run was kept"), "{err}");
    std::fs::remove_dir(&blocked).unwrap();
    // A later write failing: the epoch the file still holds is said.
    Trainer { checkpoint: Some(checkpoint.clone()), ..Trainer::new(quick(1)) }.run(&mut data, &mut Quiet).unwrap();
    std::fs::create_dir(&blocked).unwrap();
    let err = Trainer { checkpoint: Some(checkpoint.clone()), resume: true, ..Trainer::new(quick(3)) }.run(&mut data, &mut Quiet).err().expect("the run stops");
    assert!(err.contains("cannot write the checkpoint") && err.contains("the checkpoint file still holds epoch 1"), "{err}");
    std::fs::remove_dir(&blocked).unwrap();
    // One film fewer (deleted since): named.
    let gone = data.train.remove(3);
    data.val.remove(3);
    let err = Trainer { checkpoint: Some(checkpoint), resume: true, ..Trainer::new(quick(3)) }.run(&mut data, &mut Quiet).err().expect("refused");
    let name = gone.path.file_name().unwrap().to_string_lossy().into_owned();
    // Not by name: the checkpoint keeps none (privacy QA P10).
    assert!(err.contains(&format!("e.g. a film of the checkpoint's run (KL {}, training) is no longer among the films", gone.grade)) && !err.contains(&name), "{err}");
}
