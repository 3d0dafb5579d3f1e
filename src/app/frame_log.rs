//! `KNEECLIP_FRAME_LOG=1`: how long each frame of the UI takes (our own timer
//! around `show`), printed to stderr with whether the worker was busy grading.

use std::time::Duration;

pub struct FrameLog {
    frames: u64,
}

impl FrameLog {
    pub fn from_env() -> Option<FrameLog> {
        (std::env::var("KNEECLIP_FRAME_LOG").as_deref() == Ok("1")).then_some(FrameLog { frames: 0 })
    }

    pub fn frame(&mut self, took: Duration, worker_busy: bool) {
        self.frames += 1;
        eprintln!(
            "frame {} {:.3} ms worker={}",
            self.frames,
            took.as_secs_f64() * 1000.0,
            if worker_busy { "busy" } else { "idle" }
        );
    }
}
