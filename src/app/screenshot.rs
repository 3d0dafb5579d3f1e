//! `--screenshot OUT.png`: once the grade is shown, capture the window
//! (`ViewportCommand::Screenshot` with a callback), write
//! the PNG and close.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
            self.fail(ctx, format!("the viewer shows an error: {err}"));
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

fn save(out: &PathBuf, image: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let buffer = image::RgbaImage::from_raw(w as u32, h as u32, bytes).ok_or("screenshot has the wrong size")?;
    buffer.save(out).map_err(|e| format!("{}: {e}", out.display()))
}
