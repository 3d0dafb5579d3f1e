//! `kneeclip eval`: grade a labelled dataset and report the paper's metrics
//! with 95% bootstrap intervals (1000 resamples, seed 42) and the confusion matrix.
//!
//! Each film is graded whole (its model view), without the bilateral split
//! that `kneeclip grade` applies to wide films.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{EXIT_OK, EXIT_UNUSABLE, ModelArgs};
use crate::grading::FineTunedHead;
use crate::imaging::Radiograph;
use crate::metrics::{BootstrapCi, EvaluationReport};
use crate::training::Dataset;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A fine-tuned head (safetensors) to overlay on the base model.
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write `file,true_grade,predicted_grade,p0..p4` for every film (atomically).
    #[arg(long, value_name = "FILE.csv")]
    pub predictions: Option<PathBuf>,
    /// A folder with one subfolder per grade (0..4), or a CSV `path,grade`.
    #[arg(value_name = "DATASET")]
    pub dataset: PathBuf,
}

pub fn run(args: &EvalArgs) -> i32 {
    match evaluate(args) {
        Ok(()) => EXIT_OK,
        Err(message) => {
            eprintln!("kneeclip: {message}");
            EXIT_UNUSABLE
        }
    }
}

fn evaluate(args: &EvalArgs) -> Result<(), String> {
    // Films are verified while grading, so the listing itself is not opened twice.
    let dataset = Dataset::open(&args.dataset, false).map_err(|e| e.to_string())?;
    let mut grader = super::load_base_grader(&args.model)?;
    if let Some(path) = &args.head {
        let head = FineTunedHead::load(path, grader.model()).map_err(|e| e.to_string())?;
        grader.set_head(Some(head));
    }
    let (mut truth, mut probs, mut files, mut unreadable) = (Vec::new(), Vec::new(), Vec::new(), 0usize);
    let n = dataset.films.len();
    for (i, film) in dataset.films.iter().enumerate() {
        let film_result = Radiograph::open(&film.path).map_err(|e| e.to_string()).and_then(|r| {
            let v = r.model_view();
            grader.grade_gray(v.width as usize, v.height as usize, &v.data).map_err(|e| e.to_string())
        });
        match film_result {
            Ok(a) => {
                truth.push(film.grade);
                probs.push(a.probabilities.to_vec());
                files.push(film.path.display().to_string());
            }
            Err(e) => {
                unreadable += 1;
                eprintln!("kneeclip: skipped {}: {e}", film.path.display());
            }
        }
        if !args.json && (i + 1) % 50 == 0 {
            eprint!("\rgraded {}/{n}", i + 1);
        }
    }
    if !args.json && n >= 50 {
        eprintln!();
    }
    if truth.is_empty() {
        return Err("no film could be graded".into());
    }
    let report = EvaluationReport::compute(&truth, &probs);
    if let Some(path) = &args.predictions {
        let mut csv = String::from("file,true_grade,predicted_grade,p0,p1,p2,p3,p4\n");
        for ((f, t), p) in files.iter().zip(&truth).zip(&probs) {
            let pred = crate::metrics::argmax(p);
            let ps: Vec<String> = p.iter().map(|x| format!("{x:.6}")).collect();
            csv += &format!("{},{t},{pred},{}\n", csv_field(f), ps.join(","));
        }
        crate::files::write_atomically(path, csv.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let printed = if args.json {
        let mut v = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        v["model"] = grader.model_id().into();
        v["arithmetic"] = crate::model::device::arithmetic_label(grader.device()).into();
        v["head"] = args.head.as_ref().map(|h| h.display().to_string()).into();
        v["skipped"] = unreadable.into();
        format!("{v}\n")
    } else {
        table(&report, unreadable)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(printed.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the report to standard output: {e}"))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn ci(c: &BootstrapCi) -> String {
    format!("{:.3} [{:.3}, {:.3}]", c.value, c.lower, c.upper)
}

fn table(r: &EvaluationReport, skipped: usize) -> String {
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
