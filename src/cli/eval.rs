//! `kneeclip eval`: grade a labelled dataset and report the paper's metrics
//! with 95% bootstrap intervals (1000 resamples, seed 42) and the confusion matrix.
//!
//! Each film is graded whole (its model view), without the bilateral split
//! that `kneeclip grade` applies to wide films. Films are decoded in parallel
//! and graded in batches, as `grade` does. With `--anchors` edited anchors
//! are measured against the labels; with `--mirror-check` every film is also
//! graded mirrored left–right and the share keeping its grade is reported.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use rayon::prelude::*;

use super::{EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE, ModelArgs};
use crate::grading::mirror::model_inputs;
use crate::grading::{FineTunedHead, GRADES, TextAnchors};
use crate::imaging::Radiograph;
use crate::metrics::{BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, BootstrapCi, EvaluationReport, bootstrap_ci};
use crate::model::preprocess::Preprocessing;
use crate::training::Dataset;

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
    /// with --mirror-check) for every film (atomically).
    #[arg(long, value_name = "FILE.csv")]
    pub predictions: Option<PathBuf>,
    /// A folder with one subfolder per grade (0..4), or a CSV `path,grade`.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,
}

pub fn run(args: &EvalArgs) -> i32 {
    match evaluate(args) {
        Ok(Evaluated { films, skipped: 0, predictions_written: true }) if films > 0 => EXIT_OK,
        Ok(Evaluated { films, skipped, predictions_written }) => {
            if skipped > 0 {
                eprintln!("kneeclip: {skipped} of {} films could not be read and are not in these figures", films + skipped);
            }
            if predictions_written { EXIT_SOME_FAILED } else { EXIT_UNUSABLE }
        }
        Err(message) => {
            eprintln!("kneeclip: {message}");
            EXIT_UNUSABLE
        }
    }
}

/// What an evaluation that printed its figures left behind.
struct Evaluated {
    films: usize,
    skipped: usize,
    /// False when `--predictions` could not be written (the figures were printed).
    predictions_written: bool,
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
}

/// A film's model input as shown, then (with the flip check) mirrored; and
/// whether it is wide enough that `grade` would take it for both knees.
fn film_inputs(preprocessing: &Preprocessing, path: &Path, mirror_check: bool) -> Result<(Vec<Vec<f32>>, bool), String> {
    let view = Radiograph::open(path).map_err(|e| e.to_string())?.model_view();
    let (width, height) = (view.width as usize, view.height as usize);
    let wide = crate::grading::regions::regions_for(width, height).len() > 1;
    Ok((model_inputs(preprocessing, width, height, &view.data, mirror_check), wide))
}

fn evaluate(args: &EvalArgs) -> Result<Evaluated, String> {
    if let Some(path) = &args.predictions {
        check_predictions_path(path)?;
        if crate::files::same_file(path, &args.dataset) {
            return Err(format!("{}: the predictions would overwrite the dataset's labels", path.display()));
        }
    }
    // Films are verified while grading, so the listing itself is not opened twice.
    let dataset = Dataset::open(&args.dataset, false).map_err(|e| e.to_string())?;
    for (folder, why) in &dataset.summary.left_out {
        eprintln!("kneeclip: warning: {folder}: {why}");
    }
    let mut grader = super::load_base_grader(&args.model)?;
    if let Some(path) = &args.head {
        let head = FineTunedHead::load(path, grader.model()).map_err(|e| e.to_string())?;
        grader.set_head(Some(head)).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.anchors {
        grader.set_anchors(TextAnchors::load(path).map_err(|e| e.to_string())?);
    }
    for warning in grader.overlong(&grader.anchors().anchors) {
        eprintln!("kneeclip: warning: {warning}");
    }
    let (mut graded, mut unreadable, mut provenance, mut wide) = (Vec::new(), 0usize, None, 0usize);
    let n = dataset.films.len();
    for (at, chunk) in dataset.films.chunks(FILMS_PER_BATCH).enumerate() {
        let preprocessing = grader.preprocessing();
        let inputs: Vec<Result<(Vec<Vec<f32>>, bool), String>> =
            chunk.par_iter().map(|film| film_inputs(preprocessing, &film.path, args.mirror_check)).collect();
        let batch: Vec<Vec<f32>> = inputs.iter().flatten().flat_map(|(i, _)| i).cloned().collect();
        let mut assessments = grader.grade_pixel_values(&batch).map_err(|e| format!("grading failed: {e}"))?.into_iter();
        for (film, input) in chunk.iter().zip(inputs) {
            match input {
                Err(e) => {
                    unreadable += 1;
                    eprintln!("kneeclip: skipped {e}");
                    continue;
                }
                Ok((_, is_wide)) => wide += is_wide as usize,
            }
            let a = assessments.next().ok_or("grading returned too few results")?;
            let mirrored_grade = if args.mirror_check { Some(assessments.next().ok_or("grading returned too few results")?.grade) } else { None };
            provenance.get_or_insert_with(|| a.provenance.clone());
            graded.push(GradedFilm { file: film.path.display().to_string(), truth: film.grade, probabilities: a.probabilities, mirrored_grade });
        }
        if !args.json && n >= 50 {
            eprint!("\rgraded {}/{n}", (at * FILMS_PER_BATCH + chunk.len()).min(n));
        }
    }
    if !args.json && n >= 50 {
        eprintln!();
    }
    let Some(provenance) = provenance else {
        return Err("no film could be graded".into());
    };
    let truth: Vec<usize> = graded.iter().map(|g| g.truth).collect();
    let probs: Vec<Vec<f32>> = graded.iter().map(|g| g.probabilities.to_vec()).collect();
    let report = EvaluationReport::compute(&truth, &probs);
    let flip_agreement = args.mirror_check.then(|| {
        let same: Vec<bool> = graded.iter().map(|g| g.mirrored_grade == Some(crate::metrics::argmax(&g.probabilities))).collect();
        bootstrap_ci(same.len(), BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, |idx| idx.iter().filter(|&&i| same[i]).count() as f64 / idx.len().max(1) as f64)
    });
    if wide > 0 {
        eprintln!(
            "kneeclip: {wide} films are wide enough to show both knees; each was graded whole against its one label, where `grade` grades the two halves"
        );
    }
    let mut predictions = None;
    if let Some(path) = &args.predictions {
        let mut csv = String::from("file,true_grade,predicted_grade,p0,p1,p2,p3,p4");
        csv += if args.mirror_check { ",mirrored_grade\n" } else { "\n" };
        for g in &graded {
            let pred = crate::metrics::argmax(&g.probabilities);
            let ps: Vec<String> = g.probabilities.iter().map(|x| format!("{x:.6}")).collect();
            csv += &format!("{},{},{pred},{}", csv_field(&g.file), g.truth, ps.join(","));
            csv += &g.mirrored_grade.map(|m| format!(",{m}\n")).unwrap_or_else(|| "\n".into());
        }
        predictions = Some((path, csv));
    }
    let printed = if args.json {
        let mut v = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        v["model"] = grader.model_id().into();
        v["arithmetic"] = crate::model::device::arithmetic_label(grader.device()).into();
        v["head"] = args.head.as_ref().map(|h| h.display().to_string()).into();
        v["anchors_hash"] = provenance.anchors_hash.clone().into();
        v["anchors_edited"] = provenance.anchors_edited.into();
        v["flip_agreement"] = serde_json::to_value(&flip_agreement).map_err(|e| e.to_string())?;
        v["skipped"] = unreadable.into();
        format!("{v}\n")
    } else {
        let mut text = table(&report, unreadable, flip_agreement.as_ref());
        if provenance.anchors_edited {
            text.insert_str(0, &format!("Anchors edited (hash {}): the probabilities were not calibrated for them.\n", provenance.anchors_hash));
        }
        text
    };
    let mut out = std::io::stdout().lock();
    out.write_all(printed.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the report to standard output: {e}"))?;
    // After the figures: a file that cannot be written does not take them with it.
    let predictions_written = match predictions {
        None => true,
        Some((path, csv)) => crate::files::write_atomically(path, csv.as_bytes())
            .map_err(|e| eprintln!("kneeclip: cannot write the predictions to {}: {e}", path.display()))
            .is_ok(),
    };
    Ok(Evaluated { films: graded.len(), skipped: unreadable, predictions_written })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn ci(c: &BootstrapCi) -> String {
    format!("{:.3} [{:.3}, {:.3}]", c.value, c.lower, c.upper)
}

fn table(r: &EvaluationReport, skipped: usize, flip_agreement: Option<&BootstrapCi>) -> String {
    let mut s = format!("Films: {} (skipped {skipped})   values with 95% bootstrap CI\n\n", r.films);
    for (name, v) in [
        ("Accuracy", &r.accuracy),
        ("Balanced accuracy", &r.balanced_accuracy),
        ("Macro precision", &r.macro_precision),
        ("Macro sensitivity", &r.macro_sensitivity),
        ("Macro F1", &r.macro_f1),
        ("Quadratic weighted kappa", &r.qwk),
        ("Mean absolute error", &r.mae),
        ("Expected calibration error", &r.ece),
    ] {
        s += &format!("{name:<28}{}\n", ci(v));
    }
    if let Some(v) = flip_agreement {
        s += &format!("{:<28}{}\n", "Flip agreement", ci(v));
    }
    s += &format!("\n{:<6}{:>8}  {:<26}{:<26}{:<26}\n", "Grade", "Films", "Sensitivity", "Specificity", "AUC");
    for g in &r.per_grade {
        s += &format!(
            "KL {:<3}{:>8}  {:<26}{:<26}{:<26}\n",
            g.grade, g.support, ci(&g.sensitivity), ci(&g.specificity), ci(&g.auc)
        );
    }
    s += "\nConfusion matrix (rows = true grade, columns = predicted)\n       ";
    for j in 0..5 {
        s += &format!("{:>7}", format!("P{j}"));
    }
    s += "\n";
    for (i, row) in r.confusion_matrix.iter().enumerate() {
        s += &format!("{:<7}", format!("T{i}"));
        for v in row {
            s += &format!("{v:>7}");
        }
        s += "\n";
    }
    s
}
