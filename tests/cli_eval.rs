//! `kneeclip eval` on datasets QA broke it with: a link loop, an absent or
//! unreadable grade, stray files, names that are not UTF-8; what the JSON,
//! the table, the progress lines and `--help` say.

mod common;

use std::path::{Path, PathBuf};

use common::{kneeclip, model_dir};
#[cfg(target_os = "linux")]
use common::signals::{ended, signal_set, stop_asked};

/// `per_grade` real OAI training films per grade, copied into `root/data/<g>/`.
fn dataset(root: &Path, per_grade: usize) -> Option<PathBuf> {
    common::oai_dataset(&root.join("data"), "train", per_grade)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// QA's `ln -s .. loop2/1/loop` counted 615 films for 15; an empty grade
/// folder refused the run while a grade of unreadable films printed NaN; a
/// README counted as an unreadable film (exit 1).
#[test]
fn a_looped_dataset_counts_once_and_an_absent_grade_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 3) else { return }; // oai_dataset says why
    std::os::unix::fs::symlink("..", data.join("1/loop")).unwrap();
    for f in std::fs::read_dir(data.join("3")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    std::fs::write(data.join("2/README"), "two readers\n").unwrap();
    let (m, d) = (model.to_str().unwrap(), data.to_str().unwrap());
    let out = kneeclip(&["eval", "--offline", "--model-dir", m, "--json", d]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("1/loop: links to") && err.contains("not followed"), "{err}");
    assert!(err.contains("warning: no films of KL3 (no films in the dataset): macro figures average over the grades present (KL0, KL1, KL2, KL4)"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["films"], 12);
    let cm: Vec<Vec<u64>> = serde_json::from_value(v["confusion_matrix"].clone()).unwrap();
    assert_eq!(cm.iter().map(|row| row.iter().sum::<u64>()).collect::<Vec<_>>(), [3, 3, 3, 0, 3], "each film once, under its own grade");
    assert_eq!(v["grades_absent"], serde_json::json!([3]));
    assert_eq!(v["macro_over_grades"], serde_json::json!([0, 1, 2, 4]));
    assert!(v["per_grade"][3]["sensitivity"]["value"].is_null(), "{}", v["per_grade"][3]);
    // What QA found missing from the JSON.
    assert_eq!(v["dataset"], d);
    assert!(v["kneeclip_version"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(v["ece_bins"], 15);
    assert_eq!(v["intervals"]["wilson_score"][0], "accuracy");
    assert_eq!((v["intervals"]["bootstrap_resamples"].as_u64(), v["intervals"]["bootstrap_seed"].as_u64()), (Some(1000), Some(42)));
    for key in ["precision", "f1", "auc"] {
        assert!(v["per_grade"][0][key]["value"].is_number(), "{key}: {}", v["per_grade"][0]);
    }
    let auc = v["macro_auc"]["value"].as_f64().unwrap();
    assert!(v["macro_auc"]["lower"].as_f64().unwrap() <= auc && auc <= v["macro_auc"]["upper"].as_f64().unwrap(), "{}", v["macro_auc"]);
    assert_eq!(v["skipped_files"], serde_json::json!([]));

    let out = kneeclip(&["eval", "--offline", "--model-dir", m, d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(!table.contains("NaN"), "{table}");
    assert!(table.contains("n/a (no KL3 films)") && table.contains("Warning: no films of KL3"), "{table}");
    assert!(table.contains("Wilson score for accuracy") && table.contains("percentile bootstrap (1000 resamples, seed 42)"), "{table}");
    assert!(table.lines().all(|l| l == l.trim_end()), "no trailing spaces:\n{table}");
    let matrix_head = table.lines().skip_while(|l| !l.starts_with("Confusion matrix")).nth(1).unwrap();
    assert_eq!(matrix_head.split_whitespace().collect::<Vec<_>>(), ["KL0", "KL1", "KL2", "KL3", "KL4"]);
}

/// A grade whose films are all unreadable is evaluated around as an absent
/// one (it printed "NaN [NaN, NaN]"); the skipped files are named in the JSON.
#[test]
fn a_grade_of_unreadable_films_is_named_and_its_files_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 2) else { return }; // oai_dataset says why
    for f in std::fs::read_dir(data.join("4")).unwrap() {
        std::fs::write(f.unwrap().path(), b"not a png").unwrap();
    }
    let out = kneeclip(&["eval", "--offline", "--model-dir", model.to_str().unwrap(), "--json", data.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no films of KL4 (none of its 2 films could be read)"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["grades_absent"], serde_json::json!([4]));
    assert_eq!(v["skipped"], 2);
    let skipped = v["skipped_files"].as_array().unwrap();
    assert_eq!(skipped.len(), 2);
    assert!(skipped[0]["file"].as_str().unwrap().starts_with(&data.join("4").display().to_string()), "{}", skipped[0]);
    assert!(skipped[0]["reason"].as_str().is_some_and(|r| !r.is_empty() && !r.contains("/4/")), "the reason does not repeat the file: {}", skipped[0]);
}

/// A film whose name is not UTF-8 goes into --predictions with U+FFFD, and
/// the user is told (it was silent); `grade` warns the same way.
#[test]
fn a_name_that_is_not_utf8_is_warned_about() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 1) else { return }; // oai_dataset says why
    let film = std::fs::read_dir(data.join("0")).unwrap().next().unwrap().unwrap().path();
    std::fs::rename(&film, data.join("0").join(std::ffi::OsStr::from_bytes(b"caf\xe9.png"))).unwrap();
    let preds = tmp.path().join("pred.csv");
    let out = kneeclip(&["eval", "--offline", "--model-dir", model.to_str().unwrap(), "--predictions", preds.to_str().unwrap(), data.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("caf\u{fffd}.png is not UTF-8: the predictions file shows U+FFFD"), "{err}");
    assert!(std::fs::read_to_string(&preds).unwrap().contains("caf\u{fffd}.png,0,"));
}

/// In a log (stderr not a terminal) progress is plain lines, not one line of
/// `\r`s; `--help` says the exit statuses and the interval methods.
#[test]
fn progress_in_a_log_is_plain_lines_and_help_has_the_exit_statuses() {
    let out = kneeclip(&["eval", "--help"]);
    let help = text(&out.stdout);
    assert!(help.contains("Exit status: 0 when every film was graded") && help.contains("130 when stopped with Ctrl-C"), "{help}");
    assert!(help.contains("Wilson score") && help.contains("15 equal-width bins"), "{help}");
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 10) else { return }; // oai_dataset says why
    let out = kneeclip(&["eval", "--offline", "--model-dir", model.to_str().unwrap(), data.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains('\r'), "{err:?}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("graded ")).collect();
    assert_eq!(lines, ["graded 16/50", "graded 32/50", "graded 48/50", "graded 50/50"], "{err}");
    // With --json too, on stderr only (QA: --json showed no progress at all).
    let out = kneeclip(&["eval", "--offline", "--json", "--model-dir", model.to_str().unwrap(), data.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(err.lines().filter(|l| l.starts_with("graded ")).count(), 4, "{err}");
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("stdout is the JSON record only");
    // train's help has its exit statuses too (QA: only grade's and eval's had).
    let help = text(&kneeclip(&["train", "--help"]).stdout);
    assert!(help.contains("Exit status: 0 when the head and its .json sidecar are written") && help.contains("130 when stopped"), "{help}");
}

/// On films of one grade only, specificity and AUC have no films of other
/// grades: the table said "n/a (never predicted)" for them, and the macro
/// AUC read "NaN [NaN, NaN]". Each n/a now says its own reason.
#[test]
fn films_of_one_grade_give_each_missing_figure_its_own_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 3) else { return }; // oai_dataset says why
    for g in [0, 1, 3, 4] {
        std::fs::remove_dir_all(data.join(g.to_string())).unwrap();
    }
    let out = kneeclip(&["eval", "--offline", "--model-dir", model.to_str().unwrap(), data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(!table.contains("NaN"), "{table}");
    let line = |start: &str| table.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no {start:?} line:\n{table}"));
    assert!(line("Macro AUC").ends_with("n/a (films of one grade only)"), "{table}");
    let kl2 = line("KL2 ");
    assert_eq!(kl2.matches("n/a (only KL2 films)").count(), 2, "specificity and AUC: {kl2}");
    assert!(!kl2.contains("never predicted") || kl2.matches("n/a").count() == 3, "only its precision could be never predicted: {kl2}");
    let kl0 = line("KL0 ");
    assert_eq!(kl0.matches("n/a (no KL0 films)").count(), 3, "sensitivity, F1, AUC: {kl0}");
    assert!(!kl0.contains("only KL"), "{kl0}");
}

/// eval's stop handler replaced the SIG_IGN that `nohup` set for hang-ups
/// (and was only installed on a terminal, saying "Ctrl-C" for SIGTERM too).
/// No timing is assumed: eval cannot end its loop while its stderr pipe is
/// left full (3000 unreadable films, a line each); its dispositions are read
/// from /proc, and the pipe drained only once the handler has run.
#[cfg(target_os = "linux")]
#[test]
fn under_nohup_a_hang_up_is_ignored_and_sigterm_stops_after_the_batch() {
    use std::io::{BufRead, Read};
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let csv = tmp.path().join("set.csv");
    let lines: String = (0..3000).map(|i| format!("films/a-film-that-is-not-there-{i:05}.png,{}\n", i % 5)).collect();
    std::fs::write(&csv, lines).unwrap();
    let mut child = std::process::Command::new("nohup")
        .arg(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["eval", "--offline", "--model-dir", model.to_str().unwrap(), csv.to_str().unwrap()])
        .env_remove("KNEECLIP_MODEL_DIR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // The first film skipped: the handler is in place, and with the pipe
    // no longer read eval stops inside its loop, well before the end.
    while !seen.contains("kneeclip: skipped") {
        assert!(stderr.read_line(&mut seen).unwrap() > 0, "eval ended early:\n{seen}");
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(signal_set(&status, "SigIgn:", libc::SIGHUP as u32), "nohup's ignored hang-up is kept:\n{status}");
    assert!(signal_set(&status, "SigCgt:", libc::SIGTERM as u32), "SIGTERM is caught:\n{status}");
    // Conditions waited for, not times (the deadline only ends a broken run).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    assert!(!stop_asked(pid), "no stop asked for yet");
    let kill = |signal: &str| assert!(std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success());
    kill("-HUP");
    kill("-TERM");
    // The handler has set the stop flag once its thread is named so (or eval
    // ended: it may still have been grading its first batches when signalled).
    while !stop_asked(pid) && !ended(pid) {
        assert!(std::time::Instant::now() < deadline, "the handler never ran");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stderr.read_to_string(&mut seen).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "{seen}");
    assert_eq!(seen.matches("kneeclip: stopping after this batch; no figures, nothing written (a second Ctrl-C or signal quits at once)").count(), 1, "{seen}");
    assert!(seen.matches("kneeclip: skipped").count() < 3000, "stopped inside the loop:\n{seen}");
}

/// QA: grade folders numbered 1–5 (as the paper numbers the grades) were
/// evaluated with every label one grade too high and KL4 left out, exit 0;
/// `train` already refused them.
#[test]
fn grade_folders_numbered_one_to_five_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(data) = dataset(tmp.path(), 1) else { return };
    for g in (0..5).rev() {
        std::fs::rename(data.join(g.to_string()), data.join((g + 1).to_string())).unwrap();
    }
    let out = kneeclip(&["eval", "--offline", "--model-dir", model.to_str().unwrap(), data.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("look numbered 1-5 (there is a folder \"5\" and none for grade 0)") && err.contains("rename each folder to its grade less one"), "{err}");
    assert!(out.stdout.is_empty(), "no figures: {}", text(&out.stdout));
}
