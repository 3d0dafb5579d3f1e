//! How `grade` prints results: aligned text, JSON lines or CSV.

use std::io::Write;

use serde_json::json;

use crate::grading::grader::BORDERLINE_MARGIN;
use crate::grading::{Assessment, GRADE_NAMES, Region, SideView};

/// What graded, for text output (JSON and CSV record it in fields): the
/// model and the head as `name@hash`, the form every format uses.
pub fn graded_with(provenance: &crate::grading::grader::Provenance) -> String {
    format!("model {}, {}", provenance.model, provenance.head.as_deref().map(|h| format!("head {h}")).unwrap_or_else(|| "no head (the base model's zero-shot grades)".into()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
}


/// What a film's file says about itself, printed with its grade: cautions
/// (its header names another modality or body part) and notes (how it was
/// read: a frame of several, colour made gray, a LUT applied).
#[derive(Clone, Debug, Default)]
pub struct Remarks {
    pub cautions: Vec<String>,
    pub notes: Vec<String>,
    /// The frame graded (1-based) and how many the file holds: multi-frame files only.
    pub frame: Option<(u32, u32)>,
}

pub struct Printer {
    format: Format,
    header_done: bool,
    /// The run's warnings (a head without its sidecar, edited anchors), which
    /// hold for every grade: each JSON line and CSV row carries them, so a
    /// spreadsheet or a log that keeps stdout only still shows them.
    warnings: Vec<String>,
    /// The first failure to write to stdout (a full disk, a closed pipe); later
    /// lines are dropped and [`finish`](Self::finish) reports it.
    write_error: Option<std::io::Error>,
}

impl Printer {
    pub fn new(format: Format) -> Self {
        Self { format, header_done: false, warnings: Vec::new(), write_error: None }
    }

    /// Sets the warnings printed with every grade ([`Self::warnings`]'s field).
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Writes one line to stdout, remembering the first failure instead of
    /// panicking as `println!` would.
    fn line(&mut self, text: std::fmt::Arguments) {
        if self.write_error.is_none() {
            if let Err(e) = writeln!(std::io::stdout().lock(), "{text}") {
                self.write_error = Some(e);
            }
        }
    }

    /// Whether the reader closed stdout (see [`super::reader_went_away`]).
    pub fn reader_went_away(&self) -> bool {
        self.write_error.as_ref().is_some_and(super::reader_went_away)
    }

    /// Whether stdout has stopped taking output.
    pub fn failed(&self) -> bool {
        self.write_error.is_some()
    }

    /// Flushes stdout; the first write error, if any.
    pub fn finish(mut self) -> std::io::Result<()> {
        match self.write_error.take() {
            Some(e) => Err(e),
            None => std::io::stdout().flush(),
        }
    }

    /// One graded region, with the grade of its mirror image when the flip
    /// check ran; JSON lines carry the film's remarks in each line, text and
    /// CSV print them once, after the film's regions ([`remarks`](Self::remarks)).
    /// `side` is the region's knee side and the film's view, with their sources.
    pub fn assessment(&mut self, file: &str, region: Option<Region>, a: &Assessment, mirrored_grade: Option<usize>, side: &SideView, remarks: &Remarks) {
        match self.format {
            Format::Json => {
                let mut line = json!({
                    "file": file,
                    "grade": a.grade,
                    "grade_name": GRADE_NAMES[a.grade],
                    "probabilities": a.probabilities,
                    "similarities": a.similarities,
                    "model": a.provenance.model,
                    "head": a.provenance.head,
                    "anchors_hash": a.provenance.anchors_hash,
                    "anchors_edited": a.provenance.anchors_edited,
                    "arithmetic": a.provenance.arithmetic,
                    "borderline": a.borderline(BORDERLINE_MARGIN).map(|(l, h)| [l, h]),
                    "uncertain": a.uncertain(BORDERLINE_MARGIN).map(|(l, h)| [l, h]),
                    "mirrored_grade": mirrored_grade,
                    "cautions": remarks.cautions,
                    "notes": remarks.notes,
                    "side": side.side,
                    "side_source": side.side_source,
                    "view": side.view,
                    "view_source": side.view_source,
                    "warnings": self.warnings,
                });
                if let Some(region) = region {
                    line["region"] = json!(region);
                }
                if let Some((frame, frames)) = remarks.frame {
                    (line["frame"], line["frames"]) = (json!(frame), json!(frames));
                }
                self.line(format_args!("{line}"));
            }
            Format::Csv => {
                self.csv_header();
                let numbers = |v: &[f32]| v.iter().map(|x| format!("{x:.6}")).collect::<Vec<_>>().join(",");
                self.line(format_args!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},,{},{},{},{},{}",
                    csv_field(file),
                    region.map_or_else(|| region_key(Region::Whole), region_key),
                    a.grade,
                    numbers(&a.probabilities),
                    numbers(&a.similarities),
                    csv_field(&a.provenance.model),
                    csv_field(a.provenance.head.as_deref().unwrap_or("")),
                    a.provenance.anchors_hash,
                    csv_field(&a.provenance.arithmetic),
                    mirrored_grade.map(|g| g.to_string()).unwrap_or_default(),
                    GRADE_NAMES[a.grade],
                    a.borderline(BORDERLINE_MARGIN).map(|(l, h)| format!("{l}/{h}")).unwrap_or_default(),
                    a.uncertain(BORDERLINE_MARGIN).map(|(l, h)| format!("{l}/{h}")).unwrap_or_default(),
                    a.provenance.anchors_edited,
                    csv_field(&remarks.cautions.join("; ")),
                    csv_field(&remarks.notes.join("; ")),
                    side.side.map_or("", |s| s.name()),
                    csv_field(side.side_source.as_deref().unwrap_or("")),
                    csv_field(side.view.as_deref().unwrap_or("")),
                    csv_field(side.view_source.as_deref().unwrap_or("")),
                    csv_field(&self.warnings.join("; ")),
                ));
            }
            Format::Text => {
                let place: Vec<String> = region.map(|r| r.label().to_string()).into_iter().chain(side.label()).collect();
                let place = if place.is_empty() { String::new() } else { format!(" ({})", place.join(", ")) };
                let border = a
                    .borderline(BORDERLINE_MARGIN)
                    .map(|(l, h)| format!("  borderline KL {l}/{h}"))
                    .or_else(|| a.uncertain(BORDERLINE_MARGIN).map(|(l, h)| format!("  uncertain: KL {l} and KL {h} score alike")))
                    .unwrap_or_default();
                self.line(format_args!("{file}{place}: KL {} ({}){border}", a.grade, GRADE_NAMES[a.grade]));
                let row = |v: &[f32]| v.iter().map(|x| format!("{x:>7.3}")).collect::<String>();
                self.line(format_args!("  grade          {}", (0..5).map(|g| format!("{:>7}", format!("KL{g}"))).collect::<String>()));
                self.line(format_args!("  probability    {}", row(&a.probabilities)));
                self.line(format_args!("  similarity     {}", row(&a.similarities)));
                if let Some(other) = mirrored_grade.filter(|&g| g != a.grade) {
                    self.line(format_args!("  flip check: mirrored left–right it grades KL {other} ({}): the model is unsure of this knee", GRADE_NAMES[other]));
                }
            }
        }
    }

    /// A film's remarks after its regions: text lines under its grade; in
    /// CSV, whose columns are fixed, its cautions on standard error.
    pub fn remarks(&mut self, file: &str, remarks: &Remarks) {
        match self.format {
            Format::Json => {}
            Format::Text => {
                for caution in &remarks.cautions {
                    self.line(format_args!("  caution: {caution}"));
                }
                for note in &remarks.notes {
                    self.line(format_args!("  note: {note}"));
                }
            }
            Format::Csv => {
                for caution in &remarks.cautions {
                    eprintln!("kneeclip: {file}: caution: {caution}");
                }
            }
        }
    }

    /// A film that could not be graded: in JSON a line of its own; in CSV a
    /// row of its own (so a spreadsheet of a folder has every film in it) and
    /// the reason on standard error; in text on standard error.
    pub fn error(&mut self, file: &str, message: &str) {
        match self.format {
            Format::Json => self.line(format_args!("{}", json!({ "file": file, "error": message }))),
            Format::Csv => {
                eprintln!("kneeclip: {message}");
                self.csv_header();
                // Every column but the file and the error is empty: no grade was made.
                let error = CSV_COLUMNS.iter().position(|&c| c == "error").expect("an error column");
                self.line(format_args!("{}{}{}{}", csv_field(file), ",".repeat(error), csv_field(message), ",".repeat(CSV_COLUMNS.len() - 1 - error)));
            }
            Format::Text => eprintln!("kneeclip: {message}"),
        }
    }

    fn csv_header(&mut self) {
        if !self.header_done {
            self.line(format_args!("{}", CSV_COLUMNS.join(",")));
            self.header_done = true;
        }
    }
}

/// `grade --csv`'s columns; `error` is filled only in the row of a film that
/// could not be graded. New columns go at the end, so existing readers keep working.
pub const CSV_COLUMNS: [&str; 30] = [
    "file", "region", "grade", "p0", "p1", "p2", "p3", "p4", "s0", "s1", "s2", "s3", "s4", "model", "head", "anchors_hash", "arithmetic",
    "mirrored_grade", "grade_name", "borderline", "uncertain", "anchors_edited", "cautions", "notes", "error", "side", "side_source", "view",
    "view_source", "warnings",
];

/// The region's name in CSV: the same as in JSON.
fn region_key(region: Region) -> String {
    serde_json::to_value(region).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
