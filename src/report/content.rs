//! What a report says, independent of how it is drawn; serialised as the JSON
//! report. The one place that decides what counts as patient data.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::ReportInput;
use crate::build_info::{DECISION_AID, VERSION};
use crate::grading::grader::BORDERLINE_MARGIN;
use crate::grading::{GRADE_NAMES, GRADES, Region, Side, side_and_view};
use crate::imaging::Radiograph;

/// Identifies the JSON layout; bump when fields change meaning.
pub const REPORT_KIND: &str = "kneeclip-report/1";

/// The short statement every report carries.
pub const STATEMENT: &str = "Decision aid, not a diagnosis.";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub report: &'static str,
    /// UTC, RFC 3339 ("2026-05-01T12:34:56Z").
    pub created: String,
    pub kneeclip_version: &'static str,
    pub statement: &'static str,
    pub disclaimer: &'static str,
    pub film: FilmInfo,
    /// Present only when patient data was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientInfo>,
    pub regions: Vec<RegionReport>,
    pub model: String,
    /// The fine-tuned head's id (file stem @ short hash of its bytes), if any.
    pub head: Option<String>,
    /// Where and in which arithmetic the model ran ("CPU (avx512, amx-bf16x3)").
    pub arithmetic: String,
    pub anchors: AnchorsInfo,
    /// The reader's length measurements, in the order drawn (none from the command line).
    pub measurements: Vec<MeasurementReport>,
    /// What to doubt about the head or anchors (see [`ReportInput::warnings`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FilmInfo {
    /// The file's name (without folders); only with patient data, since film
    /// names often carry a patient ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// First 12 hex digits of the SHA-256 of the film file.
    pub sha256: Option<String>,
    pub width: u32,
    pub height: u32,
    pub window: WindowInfo,
    pub inverted: bool,
    /// Opacity of the attention heatmap blended over the film, when it is.
    pub heatmap_opacity: Option<f32>,
    /// The file's header names another modality or body part than a knee
    /// radiograph ([`Radiograph::cautions`]).
    pub cautions: Vec<String>,
    /// How the file was read ([`Radiograph::notes`]).
    pub notes: Vec<String>,
    /// The knee side the file states for the whole film (left, right or
    /// null), and where it was read ([`crate::grading::side`]).
    pub side: Option<Side>,
    pub side_source: Option<String>,
    /// View Position ("AP", "PA") when the file states it.
    pub view: Option<String>,
    pub view_source: Option<String>,
    /// The header names another region than the knee: the side is worded
    /// "left side" (its caution is in `cautions`).
    #[serde(skip)]
    pub other_region: bool,
    /// Patient Orientation (0020,0020) as read (`R\F`), of the stored film;
    /// the edges of the film drawn carry its letters as turned by `view_transform`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_orientation: Option<String>,
    /// How the film is drawn, turned and flipped as on screen; absent when
    /// drawn as stored (as every report before it was). `width`, `height`
    /// and the measurements' ends stay in the stored film's pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_transform: Option<super::ViewTransform>,
    /// The source's Burned In Annotation (0028,0301): true when its pixels
    /// carry text that may identify the patient, false when it says they do
    /// not; absent when the file does not say (every PNG, JPEG or TIFF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burned_in_annotation: Option<bool>,
    /// The frame reported (1-based) and how many the file holds; only for a
    /// multi-frame file (the page says it under "Read as").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<u32>,
}

/// The film's Burned In Annotation (0028,0301): Some(true) for YES, Some(false)
/// for NO, None when the file does not say. A report without patient data
/// still shows the film's pixels, so it must not claim more than this.
pub fn burned_in_annotation(film: &crate::imaging::Radiograph) -> Option<bool> {
    match film.tag_value((0x0028, 0x0301))?.to_ascii_uppercase().as_str() {
        "YES" => Some(true),
        "NO" => Some(false),
        _ => None,
    }
}

impl FilmInfo {
    /// The turn and flips the film is drawn with (none: as stored).
    pub fn transform(&self) -> super::ViewTransform {
        self.view_transform.unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WindowInfo {
    pub center: f64,
    pub width: f64,
}

/// The DICOM patient module's identifying fields that the viewer overlays,
/// and the study's date and accession number, which tie a printout to the
/// examination.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatientInfo {
    pub name: Option<String>,
    pub id: Option<String>,
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accession_number: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionReport {
    pub region: Region,
    pub label: &'static str,
    pub grade: usize,
    pub grade_name: &'static str,
    /// Adjacent grades within the borderline margin, as the CLI and viewer say.
    pub borderline: Option<[usize; 2]>,
    /// Top two grades within the margin but not neighbours (the model is torn).
    pub uncertain: Option<[usize; 2]>,
    /// The grade of the region mirrored left–right (the flip check), when it ran.
    pub mirrored_grade: Option<usize>,
    pub probabilities: [f32; GRADES],
    pub similarities: [f32; GRADES],
    /// This region's knee (each half of a two-knee film has its own), when known.
    pub side: Option<Side>,
    pub side_source: Option<String>,
}

/// One length line: its ends in film pixels, its length, and where the
/// length's unit came from (as the viewer's label and tooltip say).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeasurementReport {
    /// "Length 1", numbered as drawn.
    pub label: String,
    pub from: [f32; 2],
    pub to: [f32; 2],
    pub length: f64,
    /// "mm", or "px" when the film has no pixel spacing.
    pub unit: &'static str,
    /// "Pixel Spacing (0028,0030)" or "Imager Pixel Spacing (0018,1164)"; null in pixels.
    pub spacing_source: Option<String>,
    /// Imager Pixel Spacing is at the detector: the length includes the projection's magnification.
    pub at_detector: bool,
}

impl MeasurementReport {
    fn new(index: usize, line: &super::Line, film: &Radiograph) -> Self {
        let (a, b) = ((line.from[0] as f64, line.from[1] as f64), (line.to[0] as f64, line.to[1] as f64));
        let spacing = film.pixel_spacing();
        let length = spacing.map_or_else(|| (b.0 - a.0).hypot(b.1 - a.1), |s| s.length_mm(a, b));
        MeasurementReport {
            label: format!("Length {}", index + 1),
            from: line.from,
            to: line.to,
            length,
            unit: if spacing.is_some() { "mm" } else { "px" },
            spacing_source: spacing.map(|s| s.source.describe()),
            at_detector: spacing.is_some_and(|s| s.source == crate::imaging::SpacingSource::ImagerPixelSpacing),
        }
    }

    /// "112.0 mm" or "880 px", as the viewer labels the line.
    pub fn value(&self) -> String {
        if self.unit == "mm" { format!("{:.1} mm", self.length) } else { format!("{:.0} px", self.length) }
    }

    /// "Length 1: 112.0 mm (Pixel Spacing (0028,0030))", "Length 1: 880 px (no pixel spacing known)".
    pub fn text(&self) -> String {
        let source = match &self.spacing_source {
            Some(s) if self.at_detector => format!("{s}, at the detector: includes the projection's magnification"),
            Some(s) => s.clone(),
            None => "no pixel spacing known".into(),
        };
        format!("{}: {} ({source})", self.label, self.value())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnchorsInfo {
    pub texts: [String; GRADES],
    pub hash: String,
    /// The anchors differ from those the probabilities were calibrated with.
    pub edited: bool,
}

impl Report {
    /// `None` when there are no results to report.
    pub fn new(input: &ReportInput<'_>) -> Option<Report> {
        let provenance = &input.results.first()?.1.provenance;
        let film = input.film;
        let regions: Vec<RegionReport> = input
            .results
            .iter()
            .map(|(region, a)| (region, a, side_and_view(film, *region)))
            .map(|(region, a, side)| RegionReport {
                region: *region,
                label: region_title(*region),
                grade: a.grade,
                grade_name: GRADE_NAMES[a.grade],
                borderline: a.borderline(BORDERLINE_MARGIN).map(|(l, h)| [l, h]),
                uncertain: a.uncertain(BORDERLINE_MARGIN).map(|(l, h)| [l, h]),
                mirrored_grade: input.mirror_grades.iter().find(|(r, _)| r == region).map(|&(_, g)| g),
                probabilities: a.probabilities,
                similarities: a.similarities,
                side: side.side,
                side_source: side.side_source,
            })
            .collect();
        // The film's side is one knee's: a film graded as two halves has
        // none (each region carries its own), as the printed title says.
        let mut whole = side_and_view(film, Region::Whole);
        if regions.len() > 1 {
            (whole.side, whole.side_source) = (None, None);
        }
        let file_name = film.source().file_name().map(|n| n.to_string_lossy().into_owned());
        Some(Report {
            report: REPORT_KIND,
            created: rfc3339_utc(input.created),
            kneeclip_version: VERSION,
            statement: STATEMENT,
            disclaimer: DECISION_AID,
            film: FilmInfo {
                file: file_name.filter(|_| input.include_patient_data),
                sha256: input.film_sha256.clone(),
                width: film.width(),
                height: film.height(),
                window: WindowInfo { center: input.window.center, width: input.window.width },
                inverted: input.invert,
                heatmap_opacity: (!input.heatmaps.is_empty()).then_some(input.heatmap_opacity),
                cautions: film.cautions().to_vec(),
                notes: film.notes().to_vec(),
                side: whole.side,
                side_source: whole.side_source,
                view: whole.view,
                view_source: whole.view_source,
                other_region: whole.other_region,
                patient_orientation: crate::imaging::orientation::patient_orientation(film).map(|(row, column)| format!("{row}\\{column}")),
                burned_in_annotation: burned_in_annotation(film),
                frame: (film.frame_count() > 1).then(|| film.frame()),
                frames: (film.frame_count() > 1).then(|| film.frame_count()),
                view_transform: (!input.view.is_identity()).then(|| super::ViewTransform::new(input.view.quarter_turns(), input.view.flip_horizontal, input.view.flip_vertical)),
            },
            patient: input.include_patient_data.then(|| patient_info(film)),
            regions,
            model: provenance.model.clone(),
            head: provenance.head.clone(),
            arithmetic: provenance.arithmetic.clone(),
            anchors: AnchorsInfo {
                texts: input.anchors.anchors.clone(),
                hash: provenance.anchors_hash.clone(),
                edited: provenance.anchors_edited,
            },
            measurements: input.measurements.iter().enumerate().map(|(i, line)| MeasurementReport::new(i, line, film)).collect(),
            warnings: input.warnings.to_vec(),
        })
    }
}

/// "Whole film", "Left half of the image", …: for headings.
pub fn region_title(region: Region) -> &'static str {
    match region {
        Region::Whole => "Whole film",
        Region::ImageLeft => "Left half of the image",
        Region::ImageRight => "Right half of the image",
    }
}

/// Patient name (0010,0010) as a person's name, ID (0010,0020) and birth date (0010,0030).
fn patient_info(film: &Radiograph) -> PatientInfo {
    let tag = |t| film.tag_value(t);
    PatientInfo {
        name: tag((0x0010, 0x0010)).map(|n| crate::imaging::person_name(&n)).filter(|n| !n.is_empty()),
        id: tag((0x0010, 0x0020)),
        birth_date: tag((0x0010, 0x0030)).and_then(|d| crate::imaging::birth_date(&d)),
        study_date: tag((0x0008, 0x0020)).map(|d| crate::imaging::dicom_date(&d)).filter(|d| !d.is_empty()),
        accession_number: tag((0x0008, 0x0050)).filter(|a| !a.trim().is_empty()),
    }
}

/// "2026-05-01T12:34:56Z"; times before 1970 are shown as the epoch.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_dates_match_known_days() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day in a century year) 12:34:56.
        assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(951_827_696)), "2000-02-29T12:34:56Z");
        assert_eq!(rfc3339_utc(UNIX_EPOCH + Duration::from_secs(1_767_225_599)), "2025-12-31T23:59:59Z");
    }
}
