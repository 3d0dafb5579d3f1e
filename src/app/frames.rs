//! Stepping a multi-frame film: the worker decodes the frame asked for alone
//! (never all frames up front) and the film is graded again, as when a film
//! opens. Until that frame arrives the frame before stays with its grade;
//! then its grade goes and "Grading…" shows until the new one comes.

use std::sync::Arc;

use super::worker::Request;
use super::{KneeclipApp, render};
use crate::imaging::Radiograph;

impl KneeclipApp {
    /// Sends the frame the view asked for this frame (a key, a button, the slider).
    pub(super) fn read_frame_asked_for(&mut self) {
        let (Some(view), Some(path)) = (&mut self.view, &self.path) else { return };
        let Some(frame) = view.frame_request.take() else { return };
        let request = Request::OpenFrame(path.clone(), frame, view.render_key());
        // Only the newest step's frame is shown: one asked for before it is dropped.
        self.pending.frame = Some(self.worker.send(request));
    }

    pub(super) fn frame_opened(&mut self, film: Arc<Radiograph>, first: Option<render::Rendered>) {
        self.pending.frame = None;
        // Another film opened (or opening) meanwhile: a frame of the one before must not replace it.
        if self.pending.open.is_some() || self.path.as_deref() != Some(film.source()) {
            return;
        }
        let Some(view) = &mut self.view else { return };
        view.show_frame(film, first);
        // The grade, query and heatmap were the frame before's.
        self.grades.clear();
        self.grade_error = None;
        self.query_results.clear();
        self.request_grade();
    }

    pub(super) fn frame_failed(&mut self, message: &str) {
        self.pending.frame = None;
        if let Some(view) = &mut self.view {
            let asked = view.frame_target();
            view.frame_failed();
            self.error = Some(format!("Could not read frame {asked}: {message}"));
        }
    }
}
