//! `--screenshot OUT.png`: once the grade is shown, capture the window
//! (`ViewportCommand::Screenshot` with a callback), write
//! the PNG and close.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{KneeclipApp, ModelStatus, Tab};

const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Screenshot {
    out: PathBuf,
    started: Instant,
    ready_frames: u32,
    requested: bool,
    slot: Arc<Mutex<Option<Arc<egui::ColorImage>>>>,
    pub result: Option<Result<(), String>>,
}

impl Screenshot {
    pub fn new(out: PathBuf) -> Screenshot {
        Screenshot { out, started: Instant::now(), ready_frames: 0, requested: false, slot: Arc::default(), result: None }
    }

    pub fn step(&mut self, ctx: &egui::Context, ready: bool, error: Option<&str>) {
        if self.result.is_some() {
            return;
        }
        let image = self.slot.lock().ok().and_then(|mut s| s.take());
        if let Some(image) = image {
            self.result = Some(save(&self.out, &image));
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if let Some(err) = error.filter(|_| !ready) {
            self.fail(ctx, err.to_string());
            return;
        }
        if self.started.elapsed() > TIMEOUT {
            self.fail(ctx, "no grade was shown within two minutes".into());
            return;
        }
        if ready && !self.requested {
            // Let a few frames settle the layout (plot bounds, textures) first.
            self.ready_frames += 1;
            if self.ready_frames >= 5 {
                self.requested = true;
                let (slot, wake) = (self.slot.clone(), ctx.clone());
                let callback = egui::ScreenshotCallback::new(move |image| {
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(image);
                    }
                    wake.request_repaint();
                });
                ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(callback));
            }
        }
        ctx.request_repaint();
    }

    fn fail(&mut self, ctx: &egui::Context, msg: String) {
        self.result = Some(Err(msg));
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

impl KneeclipApp {
    /// What `--screenshot` waits for on the tab shown.
    pub(super) fn screenshot_ready(&self) -> bool {
        match self.tab {
            Tab::Viewer => {
                !self.grades.is_empty() && self.view.as_ref().is_some_and(|v| v.is_rendered()) && (!self.show_heatmap || !self.heatmaps.is_empty())
            }
            Tab::Training => matches!(self.model, ModelStatus::Ready { .. }) && self.training.settled(),
        }
    }

    /// Why what `--screenshot` waits for will never come: the viewer's error,
    /// no model (it waited two minutes for a grade that never came), or a failed grade.
    pub fn screenshot_blocker(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(format!("the viewer shows an error: {e}"));
        }
        if let ModelStatus::Missing(why) = &self.model {
            return Some(format!("the model could not be loaded: {}: {why}", self.model_headline));
        }
        self.grade_error.as_ref().filter(|_| self.tab == Tab::Viewer).map(|e| format!("the film could not be graded: {e}"))
    }
}

fn save(out: &PathBuf, image: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let buffer = image::RgbaImage::from_raw(w as u32, h as u32, bytes).ok_or("screenshot has the wrong size")?;
    buffer.save(out).map_err(|e| format!("{}: {e}", out.display()))
}
