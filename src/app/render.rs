//! The film's display image, rendered off the UI thread. Rendering a large
//! film through its window and building the texture's pixels takes tens of
//! milliseconds, too long for a frame while the window is dragged. One thread
//! per open film renders the newest request only (a request not yet started is
//! replaced by a newer one, a result not yet shown by a newer one); the UI keeps
//! showing the last image until the next arrives.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use egui::{Color32, ColorImage};

use crate::imaging::{Radiograph, Window};

/// What to render: the window, the manual inversion, and every `step`-th pixel
/// of every `step`-th row (1 = full resolution).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenderKey {
    pub window: Window,
    pub invert: bool,
    pub step: usize,
}

pub struct Rendered {
    pub key: RenderKey,
    pub image: ColorImage,
    /// How long the render took (for `KNEECLIP_FRAME_LOG`).
    pub took: Duration,
}

/// The film's first display image (its default window, full resolution),
/// made where the film is opened, off the UI thread: without it the view
/// showed a blank frame until its render thread had started and finished,
/// about 0.3 s while the model worked beside it. None for a film larger than
/// any GPU's texture (that one is rendered subsampled by the view).
pub fn first_render(film: &Radiograph) -> Option<Rendered> {
    const SAFE_TEXTURE_SIDE: u32 = 8192;
    if film.width().max(film.height()) > SAFE_TEXTURE_SIDE {
        return None;
    }
    let t0 = std::time::Instant::now();
    let key = RenderKey { window: film.default_window(), invert: false, step: 1 };
    let image = render_image(film, key);
    Some(Rendered { key, image, took: t0.elapsed() })
}

/// The display image of `film` for `key`: the film's display pipeline, quantised
/// to 8 bits, subsampled by `key.step`.
pub fn render_image(film: &Radiograph, key: RenderKey) -> ColorImage {
    let gray = film.render(key.window, key.invert);
    let (w, h) = (gray.width as usize, gray.height as usize);
    let step = key.step.max(1);
    let (tw, th) = (w.div_ceil(step), h.div_ceil(step));
    let to_color = |v: &f32| Color32::from_gray((v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8);
    let pixels: Vec<Color32> = if step == 1 {
        gray.data.iter().map(to_color).collect()
    } else {
        gray.data.chunks_exact(w).step_by(step).flat_map(|row| row.iter().step_by(step).map(to_color)).collect()
    };
    debug_assert_eq!(pixels.len(), tw * th);
    ColorImage::new([tw, th], pixels)
}

#[derive(Default)]
struct Slots {
    /// The newest request not yet started.
    request: Option<RenderKey>,
    /// The newest result not yet taken.
    done: Option<Rendered>,
    quit: bool,
}

#[derive(Default)]
struct Shared {
    slots: Mutex<Slots>,
    wake: Condvar,
}

/// The UI's handle on a film's render thread; dropping it ends the thread.
pub struct Renderer {
    shared: Arc<Shared>,
}

impl Renderer {
    /// Starts the thread; `wake` is called after each render (the UI repaints).
    pub fn spawn(film: Arc<Radiograph>, wake: impl Fn() + Send + 'static) -> Renderer {
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("kneeclip-render".into())
            .spawn(move || {
                loop {
                    let key = {
                        let mut slots = theirs.slots.lock().unwrap_or_else(|p| p.into_inner());
                        loop {
                            if slots.quit {
                                return;
                            }
                            if let Some(key) = slots.request.take() {
                                break key;
                            }
                            slots = theirs.wake.wait(slots).unwrap_or_else(|p| p.into_inner());
                        }
                    };
                    let started = Instant::now();
                    let image = render_image(&film, key);
                    let done = Rendered { key, image, took: started.elapsed() };
                    theirs.slots.lock().unwrap_or_else(|p| p.into_inner()).done = Some(done);
                    wake();
                }
            })
            .expect("spawn the render thread");
        Renderer { shared }
    }

    /// Asks for `key`, replacing a request that has not started yet.
    pub fn request(&self, key: RenderKey) {
        self.shared.slots.lock().unwrap_or_else(|p| p.into_inner()).request = Some(key);
        self.shared.wake.notify_one();
    }

    /// The newest finished render, if one arrived since the last call.
    pub fn take(&self) -> Option<Rendered> {
        self.shared.slots.lock().unwrap_or_else(|p| p.into_inner()).done.take()
    }
}

impl Drop for Renderer {
    fn drop(&mut self) {
        // The thread finishes a render under way, then ends; nobody waits for it.
        self.shared.slots.lock().unwrap_or_else(|p| p.into_inner()).quit = true;
        self.shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Radiograph {
        Radiograph::from_gray8(5, 3, (0..15).map(|v| v * 17).collect(), "ramp").unwrap()
    }

    #[test]
    fn the_image_is_the_rendered_film_quantised_and_subsampled() {
        let film = ramp();
        let window = film.full_range_window();
        let full = render_image(&film, RenderKey { window, invert: false, step: 1 });
        assert_eq!(full.size, [5, 3]);
        let expected: Vec<Color32> = film.render(window, false).to_u8().into_iter().map(Color32::from_gray).collect();
        assert_eq!(full.pixels, expected);
        // Every second pixel of every second row: columns 0, 2, 4 of rows 0 and 2.
        let half = render_image(&film, RenderKey { window, invert: true, step: 2 });
        assert_eq!(half.size, [3, 2]);
        let gray: Vec<u8> = half.pixels.iter().map(|c| c.r()).collect();
        assert_eq!(gray, [0u8, 2, 4, 10, 12, 14].map(|i| 255 - i * 17).to_vec());
    }

    #[test]
    fn the_newest_request_is_rendered_and_the_thread_wakes_the_ui() {
        let film = Arc::new(ramp());
        let (tx, rx) = std::sync::mpsc::channel();
        let renderer = Renderer::spawn(film.clone(), move || {
            let _ = tx.send(());
        });
        let keys: Vec<RenderKey> = (1..=20)
            .map(|w| RenderKey { window: Window { center: 128.0, width: w as f64 * 10.0 }, invert: false, step: 1 })
            .collect();
        for key in &keys {
            renderer.request(*key);
        }
        // Renders arrive until the last request's; older ones may have been skipped.
        let last = *keys.last().unwrap();
        let mut seen = Vec::new();
        while seen.last() != Some(&last) {
            rx.recv_timeout(Duration::from_secs(30)).expect("the render thread answers");
            if let Some(r) = renderer.take() {
                assert_eq!(r.image, render_image(&film, r.key));
                seen.push(r.key);
            }
        }
        let order: Vec<usize> = seen.iter().map(|k| keys.iter().position(|x| x == k).unwrap()).collect();
        assert!(order.windows(2).all(|p| p[0] < p[1]), "never an older render after a newer one: {order:?}");
    }
}
