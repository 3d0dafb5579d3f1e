//! `KNEECLIP_FRAME_LOG=1`: how long each frame of the UI takes (our own timer
//! around `show`, and egui's frame interval), printed to stderr with whether the
//! worker was busy grading. While logging, frames are requested continuously.

use std::time::Duration;

pub struct FrameLog {
    frames: u64,
}

impl FrameLog {
    pub fn from_env() -> Option<FrameLog> {
        (std::env::var("KNEECLIP_FRAME_LOG").as_deref() == Ok("1")).then_some(FrameLog { frames: 0 })
    }

    /// `took`: our UI code this frame; `dt`: egui's time between frames
    /// (includes painting and waiting for the display).
    pub fn frame(&mut self, ctx: &egui::Context, took: Duration, worker_busy: bool) {
        self.frames += 1;
        let dt = ctx.input(|i| i.unstable_dt);
        eprintln!(
            "frame {} ui {:.3} ms dt {:.1} ms worker={}",
            self.frames,
            took.as_secs_f64() * 1000.0,
            dt * 1000.0,
            if worker_busy { "busy" } else { "idle" }
        );
        // Keep frames coming so the log shows the frame rate while the worker runs.
        ctx.request_repaint();
    }
}
