//! Report export: one film's grading as a PDF, a PNG, JSON or a DICOM
//! Secondary Capture image.
//!
//! A report holds the film as displayed (window/level, optionally the heatmap),
//! the grade of every graded region with its five probabilities and anchor
//! similarities drawn as bars, the anchors, the model and head, the kneeclip
//! version, the time, and the decision-aid statement. Patient-identifying data
//! (DICOM patient name, ID, birth date, and the file name, which often carries a
//! patient ID) is included only when asked for.
//!
//! The command line (`kneeclip grade FILE --report OUT.pdf`) and the viewer both
//! fill a [`ReportInput`] from what they hold and call [`write`].
//!
//! - [`content`]: what a report says (the JSON form, and the one place that
//!   decides what is patient data).
//! - [`view`]: the viewer's turn and flips, which the film and all drawn on it follow.
//! - [`film`]: the film as displayed, with the heatmap blended in (the
//!   reader's length lines are drawn over it by [`layout`], so the PDF keeps
//!   them as lines and searchable text).
//! - [`layout`]: the pages as positioned text, bars and the film image.
//! - [`pdf`], [`raster`]: the pages drawn as a PDF or a PNG.
//! - [`dicom_sc`]: the PNG's pixels as a DICOM Secondary Capture, for a PACS.

pub mod content;
pub mod dicom_sc;
pub mod film;
pub mod font;
pub mod layout;
pub mod edge_letters;
pub mod lines;
pub mod pdf;
pub mod raster;
pub mod view;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::explain::Heatmap;
use crate::grading::{Assessment, Region, TextAnchors};
use crate::imaging::{Radiograph, Window};

pub use content::Report;
pub use view::ViewTransform;

/// The viewer's default heatmap opacity, used when the caller has none.
pub const DEFAULT_HEATMAP_OPACITY: f32 = 0.5;

/// Everything a report is made from: what the viewer holds for the current film.
#[derive(Clone, Debug)]
pub struct ReportInput<'a> {
    pub film: &'a Radiograph,
    /// The window the film is shown with.
    pub window: Window,
    /// The manual invert toggle.
    pub invert: bool,
    /// The view's turn and flips: the film, its lines, heatmap and edge
    /// letters are shown so (none from the command line).
    pub view: ViewTransform,
    /// Each graded region of the film ([`Region::Whole`] for an ordinary film).
    pub results: &'a [(Region, Assessment)],
    /// Attention maps to blend over the film; empty for none.
    pub heatmaps: &'a [(Region, Heatmap)],
    /// The flip check: each region's grade when mirrored left–right; empty
    /// when it did not run.
    pub mirror_grades: &'a [(Region, usize)],
    pub heatmap_opacity: f32,
    /// The anchor texts the results were computed with.
    pub anchors: &'a TextAnchors,
    /// What to doubt about the head or anchors the results came from (the
    /// grader's head and anchor warnings: no sidecar, a temperature at its
    /// limit, an anchor past CLIP's 77 tokens), printed under the grade.
    pub warnings: &'a [String],
    /// The reader's length lines (the viewer's; none from the command line).
    pub measurements: &'a [Line],
    /// Patient name, ID, birth date and the film's file name; off by default.
    pub include_patient_data: bool,
    /// A short hash of the film file's bytes (ties the report to the file
    /// without naming it); see [`crate::files::short_sha256`].
    pub film_sha256: Option<String>,
    pub created: SystemTime,
}

impl<'a> ReportInput<'a> {
    /// A report of `film` as the model sees it (its default window, not
    /// inverted), without heatmap or patient data, dated now.
    pub fn new(film: &'a Radiograph, results: &'a [(Region, Assessment)], anchors: &'a TextAnchors) -> Self {
        Self {
            film,
            window: film.default_window(),
            invert: false,
            view: ViewTransform::default(),
            results,
            heatmaps: &[],
            mirror_grades: &[],
            heatmap_opacity: DEFAULT_HEATMAP_OPACITY,
            anchors,
            warnings: &[],
            measurements: &[],
            include_patient_data: false,
            film_sha256: None,
            created: SystemTime::now(),
        }
    }
}

/// A length line the reader drew, in film pixels ([x = column, y = row]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub from: [f32; 2],
    pub to: [f32; 2],
}

/// The kinds of report, chosen by the output file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Pdf,
    Png,
    Json,
    /// DICOM Secondary Capture (`.dcm`).
    Dicom,
}

impl ReportFormat {
    /// `.pdf`, `.png`, `.json` or `.dcm` (any case).
    pub fn from_path(path: &Path) -> Result<Self, ReportError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("pdf") => Ok(Self::Pdf),
            Some("png") => Ok(Self::Png),
            Some("json") => Ok(Self::Json),
            Some("dcm") => Ok(Self::Dicom),
            _ => Err(ReportError::UnknownFormat { path: path.to_owned() }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: a report must end in .pdf, .png, .json or .dcm")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: nothing to report: the film has no grading results")]
    NoResults { path: PathBuf },
    #[error("{path}: cannot write the report: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path}: cannot encode the report: {reason}")]
    Encode { path: PathBuf, reason: String },
}

/// Checks that a report can be written to `path` (known extension, existing
/// folder) before any work is done.
pub fn check_destination(path: &Path) -> Result<ReportFormat, ReportError> {
    let format = ReportFormat::from_path(path)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let refuse = |kind, why: String| Err(ReportError::Write { path: path.to_owned(), source: std::io::Error::new(kind, why) });
    if !dir.is_dir() {
        return refuse(std::io::ErrorKind::NotFound, format!("the folder {} does not exist", dir.display()));
    }
    if path.is_dir() {
        return refuse(std::io::ErrorKind::IsADirectory, "that is a folder; name a file".into());
    }
    // Found out now, not after the film is graded: a read-only folder.
    let probe = dir.join(format!(".kneeclip-report.{}.probe", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"") {
        return refuse(e.kind(), format!("the folder {} cannot be written to ({e})", dir.display()));
    }
    let _ = std::fs::remove_file(&probe);
    Ok(format)
}

/// The report's bytes in `format`; `path` only names the report in errors.
pub fn render(input: &ReportInput<'_>, format: ReportFormat, path: &Path) -> Result<Vec<u8>, ReportError> {
    let report = Report::new(input).ok_or_else(|| ReportError::NoResults { path: path.to_owned() })?;
    let encode = |reason: String| ReportError::Encode { path: path.to_owned(), reason };
    match format {
        ReportFormat::Json => serde_json::to_vec_pretty(&report).map_err(|e| encode(e.to_string())),
        ReportFormat::Pdf | ReportFormat::Png | ReportFormat::Dicom => {
            let image = film::displayed(input, film::MAX_SIDE);
            let pages = layout::pages(&report, &image);
            match format {
                ReportFormat::Pdf => Ok(pdf::write(&pages, &image, &report)),
                ReportFormat::Dicom => dicom_sc::encode(input, &report, &raster::render(&pages, &image)).map_err(encode),
                _ => raster::png(&pages, &image).map_err(encode),
            }
        }
    }
}

/// Writes the report to `path` (format from its extension) through a temporary
/// file and a rename, so a failed export never leaves half a report.
pub fn write(path: &Path, input: &ReportInput<'_>) -> Result<ReportFormat, ReportError> {
    let format = check_destination(path)?;
    let bytes = render(input, format, path)?;
    crate::files::write_atomically(path, &bytes).map_err(|source| ReportError::Write { path: path.to_owned(), source })?;
    Ok(format)
}
