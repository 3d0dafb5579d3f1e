//! `kneeclip eval`: grade a labelled dataset and report the paper's metrics
//! with 95% intervals (Wilson score for the proportions, percentile bootstrap,
//! 1000 resamples, seed 42, for the others) and the confusion matrix.
//! A grade without films is evaluated around: named, and the macro figures
//! average over the grades present.
//!
//! Each film is graded whole (its model view), without the bilateral split
//! that `kneeclip grade` applies to wide films. Films are decoded in parallel
//! and graded in batches, as `grade` does. With `--anchors` edited anchors
//! are measured against the labels; with `--mirror-check` every film is also
//! graded mirrored left–right and the share keeping its grade is reported.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use rayon::prelude::*;

use super::{EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE, ModelArgs};
use crate::grading::mirror::model_inputs;
use crate::grading::{FineTunedHead, GRADES, TextAnchors};
use crate::imaging::Radiograph;
use crate::metrics::{BootstrapCi, EvaluationReport, wilson_ci};
use crate::model::preprocess::Preprocessing;
use crate::training::Dataset;

pub const EVAL_HELP: &str = "\
Intervals (95%): Wilson score for the proportions (accuracy, per-grade
sensitivity, specificity and precision, flip agreement); percentile bootstrap
(1000 resamples, seed 42) for the others. ECE: 15 equal-width bins of the
top-label confidence. A grade without films is named and left out of the
macro figures, which average over the grades present. --json fields: see README.

Exit status: 0 when every film was graded and the predictions (if asked for)
written; 1 when some films could not be read (named on stderr, left out of the
figures, which are printed); 2 when the dataset, model or options are unusable,
no film could be graded, or --predictions could not be written (the figures
are printed); 130 when stopped with Ctrl-C, SIGTERM or a hang-up (not
ignored, as under nohup): after the batch being graded, nothing printed.";


#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A fine-tuned head (safetensors) to overlay on the base model.
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,
    /// Five anchors, KL 0 first ({"anchors": [...]} JSON, or five lines of
    /// text): measure edited anchors against the labels.
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<PathBuf>,
    /// Also grade every film mirrored left–right and report the flip
    /// agreement (the share whose grade stays the same); doubles the model's work.
    #[arg(long)]
    pub mirror_check: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write `file,true_grade,predicted_grade,p0..p4` (and `mirrored_grade`
    /// with --mirror-check), then `head,anchors_hash`, for every film
    /// (atomically; probabilities to full single precision).
    #[arg(long, value_name = "FILE.csv")]
    pub predictions: Option<PathBuf>,
    /// A folder with one subfolder per grade (0..4), or a CSV `path,grade`.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,
}

pub fn run(args: &EvalArgs) -> i32 {
    match evaluate(args).map_err(|Failure(message)| message) {
        Ok(Evaluated { films, skipped: 0, predictions_written: true, .. }) if films > 0 => EXIT_OK,
        // The reader closed stdout: its choice, said by nobody (the predictions file is still written).
        Ok(Evaluated { stdout_closed: true, predictions_written, .. }) => if predictions_written { EXIT_OK } else { EXIT_UNUSABLE },
        Ok(Evaluated { films, skipped, predictions_written, .. }) => {
            if skipped > 0 {
                eprintln!("kneeclip: {skipped} of {} films could not be read and are not in these figures", films + skipped);
            }
            if predictions_written { EXIT_SOME_FAILED } else { EXIT_UNUSABLE }
        }
        Err(None) => EXIT_INTERRUPTED,
        Err(Some(message)) => {
            eprintln!("kneeclip: {message}");
            EXIT_UNUSABLE
        }
    }
}

/// Why no figures were printed: a message, or none when stopped (Ctrl-C, a signal).
struct Failure(Option<String>);

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self(Some(message))
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self(Some(message.into()))
    }
}

/// What an evaluation that printed its figures left behind.
struct Evaluated {
    films: usize,
    skipped: usize,
    /// False when `--predictions` could not be written (the figures were printed).
    predictions_written: bool,
    /// The reader closed stdout before the figures were all written.
    stdout_closed: bool,
}

/// Refuses, before any film is graded, a predictions file that could not be written.
fn check_predictions_path(path: &Path) -> Result<(), String> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if path.is_dir() {
        return Err(format!("{}: --predictions needs a file name (FILE.csv), not a folder", path.display()));
    }
    // Only a .csv name: a film or a head's sidecar must never be replaced by predictions.
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        return Err(format!("{}: --predictions writes CSV; name it FILE.csv", path.display()));
    }
    if !folder.is_dir() {
        return Err(format!("{}: cannot write the predictions there: no folder {}", path.display(), folder.display()));
    }
    // A folder that takes no new file (read-only) is found now, not after every film was graded.
    let name: String = path.file_name().map(|n| n.to_string_lossy().chars().take(200).collect()).unwrap_or_default();
    let probe = folder.join(format!(".{name}.{}.probe", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).map_err(|e| format!("{}: cannot write the predictions there: {e}", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Films per model batch (as `grade`: faster per film than one at a time).
const FILMS_PER_BATCH: usize = 16;

/// One film of the dataset, graded.
struct GradedFilm {
    file: String,
    truth: usize,
    probabilities: [f32; GRADES],
    /// The grade of the film mirrored left–right, with --mirror-check.
    mirrored_grade: Option<usize>,
    /// The first 12 hex digits of the SHA-256 of its bytes.
    sha256: String,
}

/// A film's model input as shown, then (with the flip check) mirrored; and
/// whether it is wide enough that `grade` would take it for both knees.
/// A film's model inputs, whether it is wide, and the short SHA-256 of the
/// bytes decoded (read once: the head's own films and copies are told by it).
fn film_inputs(preprocessing: &Preprocessing, path: &Path, mirror_check: bool) -> Result<(Vec<Vec<f32>>, bool, String), String> {
    let (film, bytes) = Radiograph::open_keeping_bytes(path).map_err(|e| e.to_string())?;
    let view = film.model_view();
    let (width, height) = (view.width as usize, view.height as usize);
    let wide = crate::grading::regions::regions_for(width, height).len() > 1;
    Ok((model_inputs(preprocessing, width, height, &view.data, mirror_check), wide, crate::files::short_sha256(&bytes)))
}

/// Progress on stderr: one line redrawn with `\r` on a terminal; in a log,
/// plain lines at each tenth of the way.
struct Progress {
    total: usize,
    terminal: bool,
    shown: usize,
}

impl Progress {
    fn update(&mut self, done: usize) {
        if self.terminal {
            eprint!("\rgraded {done}/{}", self.total);
        } else if done * 10 / self.total > self.shown * 10 / self.total || done == self.total {
            eprintln!("graded {done}/{}", self.total);
        } else {
            return;
        }
        self.shown = done;
    }

    fn finish(&self) {
        if self.terminal && self.shown > 0 {
            eprintln!();
        }
    }
}

/// First Ctrl-C (or SIGTERM, or a hang-up not ignored): stop after the batch
/// being graded, nothing written; on a terminal the progress line is ended
/// first, so the shell's prompt does not land after `graded N/M`. Second: quit.
fn stop_on_signal(terminal: bool) -> Arc<AtomicBool> {
    let line_end = if terminal { "\n" } else { "" };
    super::interrupt::stop_after_batch("eval", format!("{line_end}kneeclip: stopping after this batch; no figures, nothing written (a second Ctrl-C or signal quits at once)"))
}

/// A name shown with U+FFFD for bytes that are not UTF-8, said once, as `grade` does.
fn shown_name(path: &Path, where_: &str) -> String {
    if path.to_str().is_none() {
        eprintln!("kneeclip: warning: the name of {} is not UTF-8: {where_} shows U+FFFD in place of its other bytes", path.display());
    }
    path.display().to_string()
}

fn evaluate(args: &EvalArgs) -> Result<Evaluated, Failure> {
    if let Some(path) = &args.predictions {
        check_predictions_path(path)?;
        if crate::files::same_file(path, &args.dataset) {
            return Err(format!("{}: the predictions would overwrite the dataset's labels", path.display()).into());
        }
    }
    // Films are verified while grading, so the listing itself is not opened
    // twice; a grade without films is no refusal here (see the module's doc).
    let dataset = Dataset::scan(&args.dataset, false, &mut |_, _| true).map_err(|e| e.to_string())?;
    for (folder, why) in dataset.summary.left_out.iter().chain(&dataset.summary.notes) {
        eprintln!("kneeclip: warning: {folder}: {why}");
    }
    let not_films = dataset.summary.not_films_note();
    if let Some(note) = &not_films {
        eprintln!("kneeclip: warning: {note}");
    }
    if dataset.films.is_empty() {
        return Err(format!("{}: no films in its grade folders", args.dataset.display()).into());
    }
    let mut grader = super::load_base_grader(&args.model)?;
    let mut head_films = None;
    if let Some(path) = &args.head {
        let head = FineTunedHead::load(path, grader.model()).map_err(|e| e.to_string())?;
        head_films = head.metadata().dataset.clone();
        grader.set_head(Some(head)).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.anchors {
        grader.set_anchors(TextAnchors::load(path).map_err(|e| e.to_string())?);
    }
    let mut warnings = grader.warnings();
    for warning in &warnings {
        eprintln!("kneeclip: warning: {warning}");
    }
    let (mut graded, mut skipped, mut provenance, mut wide) = (Vec::new(), Vec::new(), None, 0usize);
    let n = dataset.films.len();
    // On stderr, so --json's record on stdout stays clean (it had shown none).
    let mut progress = (n >= 50).then(|| Progress { total: n, terminal: std::io::stderr().is_terminal(), shown: 0 });
    let stop = stop_on_signal(progress.as_ref().is_some_and(|p| p.terminal));
    for (at, chunk) in dataset.films.chunks(FILMS_PER_BATCH).enumerate() {
        let preprocessing = grader.preprocessing();
        let inputs: Vec<Result<(Vec<Vec<f32>>, bool, String), String>> =
            chunk.par_iter().map(|film| film_inputs(preprocessing, &film.path, args.mirror_check)).collect();
        let batch: Vec<Vec<f32>> = inputs.iter().flatten().flat_map(|(i, _, _)| i).cloned().collect();
        let mut assessments = grader.grade_pixel_values(&batch).map_err(|e| format!("grading failed: {e}"))?.into_iter();
        for (film, input) in chunk.iter().zip(inputs) {
            let sha256 = match input {
                Err(e) => {
                    eprintln!("kneeclip: skipped {e}");
                    // The file is named beside the reason in the JSON: not twice.
                    let shown = film.path.display().to_string();
                    let reason = e.strip_prefix(&format!("{shown}: ")).map(str::to_owned).unwrap_or(e);
                    let file = if args.json { shown_name(&film.path, "the JSON") } else { shown };
                    skipped.push(serde_json::json!({ "file": file, "reason": reason }));
                    continue;
                }
                Ok((_, is_wide, sha256)) => {
                    wide += is_wide as usize;
                    sha256
                }
            };
            let a = assessments.next().ok_or("grading returned too few results")?;
            let mirrored_grade = if args.mirror_check { Some(assessments.next().ok_or("grading returned too few results")?.grade) } else { None };
            provenance.get_or_insert_with(|| a.provenance.clone());
            let file = if args.predictions.is_some() { shown_name(&film.path, "the predictions file") } else { film.path.display().to_string() };
            graded.push(GradedFilm { file, truth: film.grade, probabilities: a.probabilities, mirrored_grade, sha256 });
        }
        if let Some(progress) = &mut progress {
            progress.update((at * FILMS_PER_BATCH + chunk.len()).min(n));
        }
        if stop.load(Ordering::SeqCst) {
            return Err(Failure(None));
        }
    }
    if let Some(progress) = &progress {
        progress.finish();
    }
    let Some(provenance) = provenance else {
        return Err("no film could be graded".into());
    };
    let truth: Vec<usize> = graded.iter().map(|g| g.truth).collect();
    let probs: Vec<Vec<f32>> = graded.iter().map(|g| g.probabilities.to_vec()).collect();
    let report = EvaluationReport::compute(&truth, &probs);
    // A proportion of films, so a Wilson interval (it is often 1.0, where a bootstrap collapses).
    let flip_agreement = args.mirror_check.then(|| {
        let same = graded.iter().filter(|g| g.mirrored_grade == Some(crate::metrics::argmax(&g.probabilities))).count();
        wilson_ci(same as u64, graded.len() as u64)
    });
    if wide > 0 {
        eprintln!("kneeclip: {}", crate::grading::regions::wide_films_note(wide, "was graded"));
    }
    let overlap = head_overlap(&graded, head_films.as_ref());
    let copies = copies_note(&graded);
    for warning in overlap.warnings.iter().chain(&copies.1) {
        eprintln!("kneeclip: warning: {warning}");
    }
    warnings.extend(overlap.warnings.iter().chain(&copies.1).cloned());
    warnings.extend(not_films.clone());
    let absent = absent_note(&report, &dataset.summary.films_per_grade);
    if let Some(note) = &absent {
        eprintln!("kneeclip: warning: {note}");
    }
    let mut predictions = None;
    if let Some(path) = &args.predictions {
        let mut csv = String::from("file,true_grade,predicted_grade,p0,p1,p2,p3,p4");
        csv += if args.mirror_check { ",mirrored_grade,head,anchors_hash\n" } else { ",head,anchors_hash\n" };
        // Which head and anchors made each row, so a CSV that outlives its run's JSON still says (QA).
        let made_by = format!(",{},{}\n", csv_field(provenance.head.as_deref().unwrap_or("")), provenance.anchors_hash);
        for g in &graded {
            let pred = crate::metrics::argmax(&g.probabilities);
            // Shortest text that reads back to the same f32: 6 decimals had tied films and moved a recomputed AUC by 4e-5 (QA).
            let ps: Vec<String> = g.probabilities.iter().map(|x| format!("{x}")).collect();
            csv += &format!("{},{},{pred},{}", csv_field(&g.file), g.truth, ps.join(","));
            csv += &g.mirrored_grade.map(|m| format!(",{m}")).unwrap_or_default();
            csv += &made_by;
        }
        predictions = Some((path, csv));
    }
    let printed = if args.json {
        let mut v = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        v["kneeclip_version"] = crate::build_info::VERSION.into();
        v["dataset"] = args.dataset.display().to_string().into();
        v["model"] = grader.model_id().into();
        v["arithmetic"] = crate::model::device::arithmetic_label(grader.device()).into();
        v["head"] = args.head.as_ref().map(|h| h.display().to_string()).into();
        // The path stays for scripts; the id is grade's `head` (name@hash).
        v["head_id"] = provenance.head.clone().into();
        v["anchors_hash"] = provenance.anchors_hash.clone().into();
        // The texts themselves and the weights' hash: the figures can be traced without the run's files (QA).
        v["anchors"] = grader.anchors().anchors.to_vec().into();
        v["base_weights_sha256"] = grader.weights_sha256().map(|h| h.to_string()).into();
        v["anchors_edited"] = provenance.anchors_edited.into();
        v["flip_agreement"] = serde_json::to_value(&flip_agreement).map_err(|e| e.to_string())?;
        v["macro_over_grades"] = (0..GRADES).filter(|g| !report.grades_absent.contains(g)).collect::<Vec<_>>().into();
        v["grades_absent_note"] = absent.clone().into();
        v["skipped"] = skipped.len().into();
        v["skipped_files"] = skipped.clone().into();
        // In the figures' record too, not only on stderr (QA: a head without its sidecar).
        v["warnings"] = warnings.clone().into();
        // None: no head, or a head whose sidecar keeps no film hashes (older heads).
        v["films_in_head_training"] = overlap.training.into();
        v["films_in_head_validation"] = overlap.validation.into();
        v["duplicate_films"] = copies.0.into();
        v["files_not_films"] = dataset.summary.not_films.len().into();
        v["files_not_films_example"] = dataset.summary.not_films.first().cloned().into();
        format!("{v}\n")
    } else {
        let mut text = format!("Graded with {}\n", super::output::graded_with(&provenance));
        text += &table(&report, skipped.len(), flip_agreement.as_ref(), absent.as_deref());
        if provenance.anchors_edited {
            text.insert_str(0, &format!("Anchors edited (hash {}): the probabilities were not calibrated for them.\n", provenance.anchors_hash));
        }
        text
    };
    // Stopped after the last batch: as promised, no figures and nothing written.
    if stop.load(Ordering::SeqCst) {
        return Err(Failure(None));
    }
    let mut out = std::io::stdout().lock();
    let stdout_closed = match out.write_all(printed.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if super::reader_went_away(&e) => true,
        written => written.map(|()| false).map_err(|e| format!("cannot write the report to standard output: {e}"))?,
    };
    // After the figures: a file that cannot be written does not take them with it.
    let predictions_written = match predictions {
        None => true,
        Some((path, csv)) => crate::files::write_atomically(path, csv.as_bytes())
            .map_err(|e| eprintln!("kneeclip: cannot write the predictions to {}: {e}", path.display()))
            .is_ok(),
    };
    Ok(Evaluated { films: graded.len(), skipped: skipped.len(), predictions_written, stdout_closed })
}

/// How many of the graded films a head trained or validated on (by their
/// bytes, against the hashes its sidecar keeps), and the warnings to say.
#[derive(Default)]
struct HeadOverlap {
    training: Option<usize>,
    validation: Option<usize>,
    warnings: Vec<String>,
}

fn head_overlap(graded: &[GradedFilm], head: Option<&crate::grading::head::HeadDataset>) -> HeadOverlap {
    let Some(head) = head else { return HeadOverlap::default() };
    let count = |hashes: Option<&Vec<String>>| {
        hashes.map(|h| {
            let set: std::collections::HashSet<&str> = h.iter().map(String::as_str).collect();
            graded.iter().filter(|g| set.contains(g.sha256.as_str())).count()
        })
    };
    let (training, validation) = (count(head.train_film_sha256.as_ref()), count(head.validation_film_sha256.as_ref()));
    let n = graded.len();
    let mut warnings = Vec::new();
    if let Some(k) = training.filter(|&k| k > 0) {
        warnings.push(format!("{k} of {n} films are films this head was trained on (same bytes): figures on them measure memory, not grading"));
    }
    if let Some(k) = validation.filter(|&k| k > 0) {
        warnings.push(format!("{k} of {n} films are this head's validation films (same bytes): its temperature and best epoch were fitted on them, so figures on them are optimistic"));
    }
    HeadOverlap { training, validation, warnings }
}

/// How many graded films are byte-identical copies of another graded film
/// (each beyond the first of its bytes), and the warning with an example.
fn copies_note(graded: &[GradedFilm]) -> (usize, Option<String>) {
    let mut first: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut copies = Vec::new();
    for g in graded {
        match first.get(g.sha256.as_str()) {
            Some(original) => copies.push((*original, g.file.as_str())),
            None => _ = first.insert(&g.sha256, &g.file),
        }
    }
    let note = copies.first().map(|(a, b)| {
        let n = copies.len();
        format!(
            "{n} {} byte-identical {} of other films in this dataset, e.g. {a} and {b}: each counts twice (or more) in the figures",
            if n == 1 { "film is a" } else { "films are" },
            if n == 1 { "copy" } else { "copies" }
        )
    });
    (copies.len(), note)
}

/// Which grades have no films, why (none listed, or none readable), and what
/// that does to the macro figures; None when every grade has films.
fn absent_note(report: &EvaluationReport, listed: &[usize; GRADES]) -> Option<String> {
    if report.grades_absent.is_empty() {
        return None;
    }
    let why: Vec<String> = report
        .grades_absent
        .iter()
        .map(|&g| match listed[g] {
            0 => format!("KL{g} (no films in the dataset)"),
            k => format!("KL{g} (none of its {k} films could be read)"),
        })
        .collect();
    let present: Vec<String> = (0..GRADES).filter(|g| !report.grades_absent.contains(g)).map(|g| format!("KL{g}")).collect();
    Some(format!("no films of {}: macro figures average over the grades present ({})", why.join(", "), present.join(", ")))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// A figure with its interval, or why there is none: never "NaN".
fn ci(c: &BootstrapCi, why_none: &str) -> String {
    if c.value.is_nan() {
        return format!("n/a ({why_none})");
    }
    // Every resample undefined (e.g. a grade drawn into none of them): the figure stands alone.
    if c.lower.is_nan() || c.upper.is_nan() {
        return format!("{:.3} [no interval]", c.value);
    }
    format!("{:.3} [{:.3}, {:.3}]", c.value, c.lower, c.upper)
}

/// Why each per-grade figure can be undefined: sensitivity and F1 need films
/// of the grade, specificity films of other grades (none when every film is
/// of this one), precision the grade predicted, AUC films of both.
fn per_grade_cells(g: &crate::metrics::PerGrade) -> [String; 5] {
    // Short enough for the table's 22-character columns.
    let (no_films, only_these) = (format!("no KL{} films", g.grade), format!("only KL{} films", g.grade));
    let auc_why = if g.support == 0 { &no_films } else { &only_these };
    [ci(&g.sensitivity, &no_films), ci(&g.specificity, &only_these), ci(&g.precision, "never predicted"), ci(&g.f1, &no_films), ci(&g.auc, auc_why)]
}

fn table(r: &EvaluationReport, skipped: usize, flip_agreement: Option<&BootstrapCi>, absent: Option<&str>) -> String {
    let mut s = format!("Films: {} (skipped {skipped})\n", r.films);
    s += &format!(
        "95% intervals: Wilson score for accuracy, sensitivity, specificity, precision{}; percentile bootstrap ({} resamples, seed {}) for the others. ECE over {} equal-width bins of the top-label confidence.\n",
        if flip_agreement.is_some() { " and flip agreement" } else { "" },
        r.intervals.bootstrap_resamples,
        r.intervals.bootstrap_seed,
        r.ece_bins
    );
    if let Some(note) = absent {
        s += &format!("Warning: {note}.\n");
    }
    s += "\n";
    // Only the AUC needs more than films: films of two grades at least.
    for (name, v, why_none) in [
        ("Accuracy", &r.accuracy, "no films"),
        ("Balanced accuracy", &r.balanced_accuracy, "no films"),
        ("Macro precision", &r.macro_precision, "no films"),
        ("Macro sensitivity", &r.macro_sensitivity, "no films"),
        ("Macro F1", &r.macro_f1, "no films"),
        ("Macro AUC", &r.macro_auc, "films of one grade only"),
        ("Quadratic weighted kappa", &r.qwk, "no films"),
        ("Mean absolute error", &r.mae, "no films"),
        ("Expected calibration error", &r.ece, "no films"),
    ] {
        s += &format!("{name:<28}{}\n", ci(v, why_none));
    }
    if let Some(v) = flip_agreement {
        s += &format!("{:<28}{}\n", "Flip agreement", ci(v, "no films"));
    }
    let row = |cells: [&str; 7]| {
        let line = format!("{:<6}{:>6}  {:<22}{:<22}{:<22}{:<22}{}", cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]);
        format!("{}\n", line.trim_end())
    };
    s += "\n";
    s += &row(["Grade", "Films", "Sensitivity", "Specificity", "Precision", "F1", "AUC"]);
    for g in &r.per_grade {
        let cells = per_grade_cells(g);
        s += &row([&format!("KL{}", g.grade), &g.support.to_string(), &cells[0], &cells[1], &cells[2], &cells[3], &cells[4]]);
    }
    s += "\nConfusion matrix (rows = true grade, columns = predicted)\n       ";
    for j in 0..GRADES {
        s += &format!("{:>7}", format!("KL{j}"));
    }
    s += "\n";
    for (i, row) in r.confusion_matrix.iter().enumerate() {
        s += &format!("{:<7}", format!("KL{i}"));
        for v in row {
            s += &format!("{v:>7}");
        }
        s += "\n";
    }
    s
}
