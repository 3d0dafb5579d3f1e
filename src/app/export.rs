//! Export report: the current film's grading as a PDF, PNG, JSON or DICOM file, exactly
//! as shown (window/level, inversion, rotation and flips, heatmap when it is on, length lines),
//! the whole film whatever the zoom and pan, written on its own
//! thread so a large film never stalls the window. Patient data goes into the
//! report only when the reader ticks the box, and never while it is hidden.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::SystemTime;

use crate::explain::Heatmap;
use crate::grading::{Assessment, Region, TextAnchors};
use crate::imaging::{Radiograph, Window};
use crate::report::{self, ReportInput};

mod window;
pub use window::show as window;

/// The export window's state and the export in flight.
#[derive(Default)]
pub struct Export {
    /// The "Export report" window is shown.
    pub open: bool,
    /// The reader asked for the patient's name, ID, birth date and the file name.
    pub include_patient_data: bool,
    running: Option<Receiver<Result<PathBuf, String>>>,
    /// How the last export ended: the file written, or why not.
    pub last: Option<Result<PathBuf, String>>,
    /// Counts outcomes, so that the status bar says a second export to the same file.
    pub generation: u64,
    /// Where to save, typed: offered when the desktop can show no file dialog.
    pub typed_path: Option<String>,
    /// The path kneeclip proposed in `typed_path` (not one the reader typed):
    /// proposed again when the proposal changes, e.g. patient data left out.
    pub typed_suggested: Option<String>,
    /// The folder the last report was written to, proposed for the next (this session).
    pub last_folder: Option<PathBuf>,
}

/// Everything one report is made from, owned, so it can move to the export thread.
pub struct ExportJob {
    pub film: Arc<Radiograph>,
    /// The film's file (hashed into the report, never named unless asked).
    pub film_path: Option<PathBuf>,
    pub window: Window,
    pub invert: bool,
    /// The view's turn and flips, which the report's film follows.
    pub view: report::ViewTransform,
    pub results: Vec<(Region, Assessment)>,
    /// Each region's grade mirrored left–right (the flip check).
    pub mirror_grades: Vec<(Region, usize)>,
    pub heatmaps: Vec<(Region, Heatmap)>,
    pub heatmap_opacity: f32,
    pub anchors: TextAnchors,
    /// The head's and anchors' warnings shown beside the grade.
    pub warnings: Vec<String>,
    /// The reader's length lines, in film pixels.
    pub measurements: Vec<report::Line>,
    pub include_patient_data: bool,
}

impl ExportJob {
    /// Writes the report to `out` (format from its extension), atomically.
    pub fn write(&self, out: &Path) -> Result<(), String> {
        let mut input = ReportInput::new(&self.film, &self.results, &self.anchors);
        input.window = self.window;
        input.invert = self.invert;
        input.view = self.view;
        input.heatmaps = &self.heatmaps;
        input.mirror_grades = &self.mirror_grades;
        input.heatmap_opacity = self.heatmap_opacity;
        input.warnings = &self.warnings;
        input.measurements = &self.measurements;
        input.include_patient_data = self.include_patient_data;
        // A film that has since vanished is still reported, just without its hash.
        input.film_sha256 = self.film_path.as_ref().and_then(|p| std::fs::read(p).ok()).map(|b| crate::files::short_sha256(&b));
        input.created = SystemTime::now();
        report::write(out, &input).map(|_| ()).map_err(|e| e.to_string())
    }
}

impl Export {
    pub fn running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts writing `job` to `out` on a thread; `ctx` is woken when it ends.
    pub fn start(&mut self, ctx: &egui::Context, job: ExportJob, out: PathBuf) {
        let (tx, rx) = channel();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new().name("report-export".into()).spawn(move || {
            let result = job.write(&out).map(|()| out);
            let _ = tx.send(result);
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => {
                self.running = Some(rx);
                self.last = None;
            }
            Err(e) => self.refused(format!("cannot start the export: {e}")),
        }
    }

    /// An export refused before it started, said as its outcome.
    pub fn refused(&mut self, why: String) {
        self.last = Some(Err(why));
        self.generation += 1;
    }

    /// Collects a finished export (once per frame).
    pub fn poll(&mut self) {
        if let Some(rx) = &self.running {
            match rx.try_recv() {
                Ok(result) => self.finished(result),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.finished(Err("the export stopped unexpectedly".into())),
            }
        }
    }

    /// Waits for the export in flight (tests).
    pub fn wait(&mut self) {
        if let Some(rx) = self.running.take() {
            self.finished(rx.recv().unwrap_or_else(|_| Err("the export stopped unexpectedly".into())));
        }
    }

    /// A written report closes the window; a failed one keeps it open, with
    /// the reason in it and the path as typed, to be put right and saved again.
    fn finished(&mut self, result: Result<PathBuf, String>) {
        if let Ok(path) = &result {
            self.open = false;
            self.last_folder = path.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf);
        }
        self.last = Some(result);
        self.generation += 1;
        self.running = None;
    }
}

/// What the viewer exports: the film on screen, once graded with the anchors shown.
impl super::KneeclipApp {
    /// The anchors a report would carry, when the film on screen can be
    /// reported (checked every frame for the toolbar, so nothing is copied).
    /// While a re-grade for edited anchors is on its way, the grades on
    /// screen are the old anchors': a report would pair them with the new texts.
    pub fn exportable(&self) -> Option<TextAnchors> {
        self.view.as_ref()?;
        let anchors = self.anchors()?;
        let hash = anchors.hash();
        let graded_with_these = self.grades.iter().all(|g| g.assessment.provenance.anchors_hash == hash);
        (!self.grades.is_empty() && self.pending.grade.is_none() && graded_with_these).then_some(anchors)
    }

    /// What a report of the film on screen is made from; None until it is graded.
    pub fn export_job(&self) -> Option<ExportJob> {
        let anchors = self.exportable()?;
        let view = self.view.as_ref()?;
        Some(ExportJob {
            film: view.film.clone(),
            film_path: self.path.clone(),
            window: view.state.window,
            invert: view.state.invert,
            // Turned and flipped as on screen; zoom and pan are left out: the report shows the whole film.
            view: report::ViewTransform::new(view.state.rotation, view.state.flip_h, view.state.flip_v),
            results: self.grades.iter().map(|g| (g.region, g.assessment.clone())).collect(),
            mirror_grades: self.grades.iter().map(|g| (g.region, g.mirrored.grade)).collect(),
            heatmaps: if self.show_heatmap { self.heatmaps.clone() } else { Vec::new() },
            heatmap_opacity: self.settings.heatmap_opacity,
            anchors,
            warnings: self.head_warnings.iter().chain(&self.anchor_warnings).cloned().collect(),
            // The lines drawn, not one still being dragged.
            measurements: view.measurements.iter().map(|m| report::Line { from: [m.from.x, m.from.y], to: [m.to.x, m.to.y] }).collect(),
            // Hidden patient data stays out of the report too.
            include_patient_data: self.export.include_patient_data && !self.hide_patient,
        })
    }

    /// Writes the report of the film on screen to `out` in the background
    /// (format from the extension); the status bar says how it ended.
    pub fn export_report(&mut self, ctx: &egui::Context, out: PathBuf) {
        if self.path.as_deref().is_some_and(|film| crate::files::same_file(film, &out)) {
            self.export.refused(format!("{}: the report would overwrite the film; choose another name", out.display()));
            return;
        }
        match self.export_job() {
            Some(job) => self.export.start(ctx, job, out),
            None if self.pending.grade.is_some() && !self.grades.is_empty() => {
                self.export.refused("the grade is being updated: save again once it shows".into());
            }
            None => self.export.refused("nothing to export: the film is not graded yet".into()),
        }
    }
}

/// The generic name the save dialog proposes: no patient data, the format's extension.
pub fn suggested_name(extension: &str) -> String {
    format!("kneeclip-report.{extension}")
}

/// The name for a report of `film`: after the film's file ("RG3_UNC-kneeclip.pdf")
/// when the report carries patient data (`named`), else the generic one: a film's
/// name may be the patient's, and a de-identified report must not carry it in its
/// own name (privacy QA: it did, though its page said "file name withheld").
pub fn suggested_name_for(film: Option<&Path>, named: bool, extension: &str) -> String {
    match film.and_then(Path::file_stem).map(|s| s.to_string_lossy()).filter(|s| named && !s.trim().is_empty()) {
        Some(stem) => format!("{stem}-kneeclip.{extension}"),
        None => suggested_name(extension),
    }
}

impl super::KneeclipApp {
    /// Where Save proposes to write a report: the folder of the last report
    /// (this session's, else the one remembered from an earlier session while
    /// it exists, else the home folder), named after the film only when the report carries patient data.
    pub fn suggested_report_path(&self, extension: &str) -> PathBuf {
        let remembered = || self.settings.report_folder.clone().filter(|d| d.is_dir());
        let folder = self.export.last_folder.clone().or_else(remembered).or_else(|| std::env::var_os("HOME").map(PathBuf::from)).unwrap_or_default();
        let named = self.export.include_patient_data && !self.hide_patient;
        folder.join(suggested_name_for(self.path.as_deref(), named, extension))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_named_after_the_film_only_with_patient_data() {
        let film = Path::new("/films/RG3_UNC");
        assert_eq!(suggested_name_for(Some(film), true, "pdf"), "RG3_UNC-kneeclip.pdf");
        assert_eq!(suggested_name_for(Some(Path::new("/films/DOE_JOHN.dcm")), true, "png"), "DOE_JOHN-kneeclip.png");
        assert_eq!(suggested_name_for(Some(Path::new("/films/DOE_JOHN.dcm")), false, "png"), "kneeclip-report.png");
        assert_eq!(suggested_name_for(None, true, "json"), "kneeclip-report.json");
    }
}
