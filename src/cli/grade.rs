//! `kneeclip grade`: every film gets a line; a film that cannot be read gets an
//! error line and does not stop the others.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use rayon::prelude::*;

use super::output::{Format, Printer, Remarks};
use super::{EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE, ModelArgs};
use crate::explain;
use crate::grading::mirror::model_inputs;
use crate::grading::regions::{crop_region, regions_for};
use crate::grading::{Assessment, FineTunedHead, GradeError, Grader, Region, SideView, TextAnchors, side_and_view};
use crate::imaging::{Radiograph, listing};
use crate::model::preprocess::Preprocessing;
use crate::report::{self, ReportInput};

#[derive(Args, Debug)]
pub struct GradeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A fine-tuned head (safetensors) to overlay on the base model.
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,
    /// Five anchors, KL 0 first: {"anchors": [...]} JSON, or five lines of text.
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<PathBuf>,
    /// One JSON object per line.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Comma-separated values with a header row.
    #[arg(long)]
    pub csv: bool,
    /// Also write a report of the (single) film: .pdf, .png, .json or .dcm (DICOM Secondary Capture, for a PACS) by the name's extension.
    #[arg(long, value_name = "OUT")]
    pub report: Option<PathBuf>,
    /// Blend the attention heatmap over the film in the report.
    #[arg(long, requires = "report")]
    pub heatmap: bool,
    /// Put the patient's name, ID and birth date (DICOM) and the film's file name in the report.
    #[arg(long, requires = "report")]
    pub include_patient_data: bool,
    /// Skip the flip check: each knee is otherwise graded a second time mirrored
    /// left–right, and a different grade there is reported (the model is unsure).
    /// Halves the model's work.
    #[arg(long)]
    pub no_mirror_check: bool,
    /// The frame to grade of a multi-frame DICOM, counted from 1 (default: 1);
    /// a file without that frame is an error that says how many it has.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub frame: Option<u32>,
    /// Films: PNG, JPEG, TIFF, BMP or DICOM; a folder stands for every film
    /// in it and its subfolders, in name order (DICOM files without an extension too).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &GradeArgs) -> i32 {
    let format = if args.json {
        Format::Json
    } else if args.csv {
        Format::Csv
    } else {
        Format::Text
    };
    // A report's destination is checked before the model is loaded.
    if let Some(out) = &args.report {
        if let Err(message) = check_report_options(args, out) {
            eprintln!("kneeclip: {message}");
            return EXIT_UNUSABLE;
        }
    }
    // Films that are not there at all are said before the model is looked for
    // (it once downloaded 605 MB to say that /nope/knee.png cannot be read).
    if args.files.iter().all(|f| std::fs::metadata(f).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)) {
        let mut printer = Printer::new(format);
        for file in &args.files {
            let message = Radiograph::open(file).err().map_or_else(|| format!("{}: no such file", file.display()), |e| e.to_string());
            printer.error(&shown_name(file, format), &message);
        }
        let _ = printer.finish();
        eprintln!("kneeclip: {} of {} films could not be graded", args.files.len(), args.files.len());
        return EXIT_SOME_FAILED;
    }
    let mut grader = match load_grader(args) {
        Ok(grader) => grader,
        Err(message) => {
            eprintln!("kneeclip: {message}");
            return EXIT_UNUSABLE;
        }
    };
    // Text output named neither (QA); on stderr, so that its stdout lines stay one per film.
    if format == Format::Text {
        eprintln!("kneeclip: note: grading with {}", super::output::graded_with(&grader.provenance()));
    }
    let mut printer = Printer::new(format).with_warnings(grader.warnings());
    if let Some(out) = &args.report {
        let code = grade_with_report(args, &mut grader, &mut printer, out);
        if let Err(e) = printer.finish() {
            if super::reader_went_away(&e) {
                return code;
            }
            eprintln!("kneeclip: cannot write the results to standard output: {e}");
            return EXIT_UNUSABLE;
        }
        return code;
    }
    let mut failed = 0usize;
    let files = expand_folders(&args.files);
    // A reader that stopped reading is no error; a film that failed before it is.
    let gone = |failed: usize| if failed > 0 { EXIT_SOME_FAILED } else { EXIT_OK };
    let stop = stop_on_signal(files.len());
    let mut done = 0usize;
    // Films are decoded a batch at a time and run through the model in batches,
    // which is faster per film (docs/PERFORMANCE.md); output keeps the given order.
    for chunk in files.chunks(FILMS_PER_BATCH) {
        if printer.reader_went_away() {
            return gone(failed);
        }
        if printer.failed() {
            break; // stdout is gone: grading the rest would be wasted
        }
        if stop.load(Ordering::SeqCst) {
            let _ = printer.finish();
            eprintln!("kneeclip: stopped after {done} of {} films: the output has every line of those and none of the rest", files.len());
            return EXIT_INTERRUPTED;
        }
        // Decoding (a large DICOM's JPEG takes a while) runs on every core.
        let preprocessing = grader.preprocessing();
        let prepared: Vec<Result<PreparedFilm, String>> =
            chunk.par_iter().map(|(file, listed)| listed.clone().and_then(|()| prepare_film(preprocessing, file, !args.no_mirror_check, args.frame))).collect();
        let pixel_values: Vec<Vec<f32>> = prepared
            .iter()
            .flatten()
            .flat_map(|film| film.inputs.iter().cloned())
            .collect();
        let graded = match grader.grade_pixel_values(&pixel_values) {
            // Damaged weights: no film can be graded, and none is (not a grade of KL 0 with NaN probabilities).
            Err(e @ GradeError::NonFinite { .. }) => {
                let _ = printer.finish();
                eprintln!("kneeclip: {e}");
                return EXIT_UNUSABLE;
            }
            graded => graded.map_err(|e| e.to_string()),
        };
        let mut assessments = graded.as_ref().map(|a| a.iter()).ok();
        for ((file, _), film) in chunk.iter().zip(prepared) {
            let shown = shown_name(file, format);
            let result = film.and_then(|film| match assessments.as_mut() {
                Some(next) => Ok((film.results(next), film.remarks)),
                None => Err(format!("{shown}: {}", graded.as_ref().err().map_or("grading failed", String::as_str))),
            });
            match result {
                Ok((results, remarks)) => {
                    for r in &results {
                        printer.assessment(&shown, r.region, &r.assessment, r.mirrored_grade, &r.side, &remarks);
                    }
                    printer.remarks(&shown, &remarks);
                }
                Err(message) => {
                    failed += 1;
                    printer.error(&shown, &message);
                }
            }
            done += 1;
            if printer.reader_went_away() {
                return gone(failed);
            }
        }
    }
    if let Err(e) = printer.finish() {
        if super::reader_went_away(&e) {
            return gone(failed);
        }
        eprintln!("kneeclip: cannot write the results to standard output: {e}");
        return EXIT_UNUSABLE;
    }
    if failed > 0 {
        eprintln!("kneeclip: {failed} of {} films could not be graded", files.len());
        EXIT_SOME_FAILED
    } else {
        EXIT_OK
    }
}

/// First Ctrl-C (or SIGTERM, or a hang-up not ignored): stop after the batch
/// being graded, its lines printed whole; second: quit. Only where there is
/// more than a batch: a few films are done before a stop could take effect.
fn stop_on_signal(films: usize) -> Arc<AtomicBool> {
    if films <= FILMS_PER_BATCH {
        return Arc::new(AtomicBool::new(false));
    }
    super::interrupt::stop_after_batch("grade", "kneeclip: stopping after this batch of films (a second Ctrl-C or signal quits at once)".into())
}

fn load_grader(args: &GradeArgs) -> Result<Grader, String> {
    let mut grader = super::load_base_grader(&args.model)?;
    if let Some(path) = &args.head {
        let head = FineTunedHead::load(path, grader.model()).map_err(|e| e.to_string())?;
        grader.set_head(Some(head)).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.anchors {
        grader.set_anchors(TextAnchors::load(path).map_err(|e| e.to_string())?);
    }
    for warning in grader.warnings() {
        eprintln!("kneeclip: warning: {warning}");
    }
    // The viewer and reports say so beside the probabilities; text output had said nothing.
    if let (Some(path), true) = (&args.anchors, grader.provenance().anchors_edited) {
        let calibrated = if grader.head().is_some() { "the head's own anchors" } else { "the default anchors" };
        eprintln!("kneeclip: note: the anchors of {} are not {calibrated}, which the probabilities were calibrated with: read them as these texts' relative scores", path.display());
    }
    Ok(grader)
}

/// `file` as JSON and CSV print it. JSON and CSV are text: a name that is
/// not UTF-8 is printed with U+FFFD for its other bytes, and the user is told
/// so that a script does not look for a file of that name.
fn shown_name(file: &Path, format: Format) -> String {
    if file.to_str().is_none() && format != Format::Text {
        eprintln!("kneeclip: warning: the name of {} is not UTF-8: the output shows U+FFFD in place of its other bytes", file.display());
    }
    file.display().to_string()
}

/// The films to grade, in the given order: a folder stands for its films,
/// subfolders included (PACS exports nest IM0001-style files by study and
/// series); a folder that gives none stays as one item that failed to list.
fn expand_folders(paths: &[PathBuf]) -> Vec<(PathBuf, Result<(), String>)> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        if !path.is_dir() {
            files.push((path.clone(), Ok(())));
            continue;
        }
        match listing::films_under(path) {
            Ok((found, notes)) if !found.is_empty() => {
                for note in notes {
                    eprintln!("kneeclip: note: {note}");
                }
                files.extend(found.into_iter().map(|f| (f, Ok(()))));
            }
            Ok(_) => files.push((path.clone(), Err(format!("{}: no films in this folder or below it", path.display())))),
            Err(e) => files.push((path.clone(), Err(format!("{}: cannot list the folder: {e}", path.display())))),
        }
    }
    files
}

/// Films (regions, really) per model batch.
const FILMS_PER_BATCH: usize = 16;

/// A film read and preprocessed: the regions to grade and their model input.
struct PreparedFilm {
    /// `None` for a film graded whole.
    regions: Vec<Option<Region>>,
    /// Per region, its knee side and the film's view, from the file.
    sides: Vec<SideView>,
    /// Per region, its model input as shown, then (with the flip check) mirrored.
    inputs: Vec<Vec<f32>>,
    mirror_check: bool,
    remarks: Remarks,
}

/// One graded region, and the grade of its mirror image when checked.
struct RegionResult {
    region: Option<Region>,
    assessment: Assessment,
    mirrored_grade: Option<usize>,
    side: SideView,
}

impl PreparedFilm {
    fn per_region(&self) -> usize {
        if self.mirror_check { 2 } else { 1 }
    }

    /// Each region's model input as shown.
    fn shown_inputs(&self) -> impl Iterator<Item = &Vec<f32>> {
        self.inputs.iter().step_by(self.per_region())
    }

    /// Takes this film's assessments, in the order of [`inputs`](Self::inputs), from `graded`.
    fn results<'a>(&self, graded: &mut impl Iterator<Item = &'a Assessment>) -> Vec<RegionResult> {
        self.regions
            .iter()
            .zip(&self.sides)
            .filter_map(|(&region, side)| {
                let assessment = graded.next()?.clone();
                let mirrored_grade = if self.mirror_check { Some(graded.next()?.grade) } else { None };
                Some(RegionResult { region, assessment, mirrored_grade, side: side.clone() })
            })
            .collect()
    }
}

fn prepare_film(preprocessing: &Preprocessing, file: &Path, mirror_check: bool, frame: Option<u32>) -> Result<PreparedFilm, String> {
    let film = Radiograph::open_frame(file, frame.unwrap_or(1)).map_err(|e| e.to_string())?;
    Ok(prepare_view(preprocessing, &film, mirror_check, frame.is_some()))
}

/// `frame_chosen`: `--frame` was given (else the note says how to pick another frame).
fn prepare_view(preprocessing: &Preprocessing, film: &Radiograph, mirror_check: bool, frame_chosen: bool) -> PreparedFilm {
    let view = film.model_view();
    let (width, height) = (view.width as usize, view.height as usize);
    let regions = regions_for(width, height);
    let mut inputs = Vec::new();
    for &region in &regions {
        let (w, gray) = crop_region(width, &view.data, region);
        inputs.extend(model_inputs(preprocessing, w, height, &gray, mirror_check));
    }
    let split = regions.len() > 1;
    PreparedFilm {
        sides: regions.iter().map(|&r| side_and_view(film, r)).collect(),
        regions: regions.into_iter().map(|r| split.then_some(r)).collect(),
        inputs,
        mirror_check,
        remarks: Remarks { cautions: film.cautions().to_vec(), notes: frame_notes(film, frame_chosen), frame: (film.frame_count() > 1).then(|| (film.frame(), film.frame_count())) },
    }
}

/// The film's notes; on a multi-frame film, which frame was graded and, by
/// default (the first), how to grade another.
fn frame_notes(film: &Radiograph, frame_chosen: bool) -> Vec<String> {
    let n = film.frame_count();
    let how = if frame_chosen { String::new() } else { format!(": grade another with --frame K (1 to {n})") };
    let said = format!("multi-frame file: frame {} of {n} graded{how}", film.frame());
    film.notes().iter().map(|note| if n > 1 && note.starts_with("multi-frame file:") { said.clone() } else { note.clone() }).collect()
}

fn check_report_options(args: &GradeArgs, out: &Path) -> Result<(), String> {
    if args.files.len() != 1 {
        return Err(format!("--report describes one film; {} films were given", args.files.len()));
    }
    if args.files[0].is_dir() {
        return Err(format!("--report describes one film; {} is a folder", args.files[0].display()));
    }
    if crate::files::same_file(out, &args.files[0]) {
        return Err(format!("{}: the report would overwrite the film", out.display()));
    }
    crate::files::check_link(out)?;
    report::check_destination(out).map(|_| ()).map_err(|e| e.to_string())
}

/// Grades the one film, prints its lines as usual and writes its report.
fn grade_with_report(args: &GradeArgs, grader: &mut Grader, printer: &mut Printer, out: &Path) -> i32 {
    let file = &args.files[0];
    let shown = shown_name(file, printer.format());
    // The film's failures exit 1 (as for any film); the report's own, and damaged weights, 2.
    let mut report_failed = false;
    let result = (|| -> Result<(), String> {
        // One read: the report's checksum is of the very bytes graded.
        let (film, film_bytes) = Radiograph::open_frame_keeping_bytes(file, args.frame.unwrap_or(1)).map_err(|e| e.to_string())?;
        let prepared = prepare_view(grader.preprocessing(), &film, !args.no_mirror_check, args.frame.is_some());
        let assessments = grader.grade_pixel_values(&prepared.inputs).map_err(|e| {
            report_failed |= matches!(e, GradeError::NonFinite { .. });
            format!("{shown}: {e}")
        })?;
        let results = prepared.results(&mut assessments.iter());
        for r in &results {
            printer.assessment(&shown, r.region, &r.assessment, r.mirrored_grade, &r.side, &prepared.remarks);
        }
        printer.remarks(&shown, &prepared.remarks);
        let whole = |r: &RegionResult| r.region.unwrap_or(Region::Whole);
        let mirror_grades: Vec<(Region, usize)> = results.iter().filter_map(|r| Some((whole(r), r.mirrored_grade?))).collect();
        let graded: Vec<(Region, Assessment)> = results.into_iter().map(|r| (whole(&r), r.assessment)).collect();
        let heatmaps = if args.heatmap {
            graded
                .iter()
                .zip(prepared.shown_inputs())
                .map(|((region, _), pixels)| Ok((*region, explain::heatmap(grader, pixels)?)))
                .collect::<anyhow::Result<Vec<_>>>()
                .map_err(|e| {
                    report_failed = true;
                    format!("{shown}: the report's heatmap failed: {e}")
                })?
        } else {
            Vec::new()
        };
        let warnings = grader.warnings();
        let mut input = ReportInput::new(&film, &graded, grader.anchors());
        input.warnings = &warnings;
        input.heatmaps = &heatmaps;
        input.mirror_grades = &mirror_grades;
        input.include_patient_data = args.include_patient_data;
        input.film_sha256 = Some(crate::files::short_sha256(&film_bytes));
        // Replaced, as scripts rewriting one name expect, but said (privacy QA P7).
        let replacing = out.is_file();
        report::write(out, &input).map_err(|e| {
            report_failed = true;
            format!("cannot write the report: {e}")
        })?;
        eprintln!("kneeclip: report written to {}{}", out.display(), if replacing { " (replaced the existing file)" } else { "" });
        if !args.include_patient_data && report::content::burned_in_annotation(&film) == Some(true) {
            eprintln!("kneeclip: warning: {shown}: the film carries burned-in annotation (Burned In Annotation YES), which may identify the patient: the report shows the film, so it is not de-identified by leaving out the patient data");
        }
        Ok(())
    })();
    match result {
        Ok(()) => EXIT_OK,
        Err(message) if report_failed => {
            eprintln!("kneeclip: {message}");
            EXIT_UNUSABLE
        }
        Err(message) => {
            printer.error(&shown, &message);
            EXIT_SOME_FAILED
        }
    }
}
