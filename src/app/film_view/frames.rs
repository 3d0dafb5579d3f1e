//! The frames of a multi-frame film (an XA run, a DX with several views,
//! tomosynthesis): the bar over the film that says "Frame k of N" and steps
//! them, and the view's side of a step. The app reads the frame asked for
//! ([`FilmView::frame_request`]) and has the worker decode that frame alone.

use std::sync::Arc;

use super::FilmView;
use crate::app::commands::{self, Command};
use crate::app::render::{RenderKey, Rendered};
use crate::imaging::Radiograph;

impl FilmView {
    /// Steps `by` frames from the one last asked for, within 1 ..= N; a
    /// single-frame film has none to step to.
    pub fn step_frame(&mut self, by: i64) {
        let n = self.film.frame_count();
        if n > 1 {
            self.ask_frame((self.frame_target as i64 + by).clamp(1, n as i64) as u32);
        }
    }

    /// Asks for frame `frame` (1-based), unless it is the one asked for already.
    pub fn ask_frame(&mut self, frame: u32) {
        let frame = frame.clamp(1, self.film.frame_count());
        if frame != self.frame_target {
            self.frame_target = frame;
            self.frame_request = Some(frame);
        }
    }

    /// The frame last asked for (1-based): the one shown once the worker has read it.
    pub fn frame_target(&self) -> u32 {
        self.frame_target
    }

    /// The frame asked for could not be read: the one shown stays the one asked for.
    pub fn frame_failed(&mut self) {
        self.frame_target = self.film.frame();
    }

    /// The display image wanted now: the worker renders a new frame's first
    /// image with it, so the frame keeps the reader's window and inversion.
    pub(crate) fn render_key(&self) -> RenderKey {
        self.requested.map_or(RenderKey { window: self.state.window, invert: self.state.invert, step: 1 }, |k| RenderKey { step: 1, ..k })
    }

    /// Shows another frame of the same film: the window, zoom, pan, rotation,
    /// flips, tool and measurements stay (the frames share their geometry);
    /// the heatmap was the frame before's and goes.
    pub fn show_frame(&mut self, film: Arc<Radiograph>, first: Option<Rendered>) {
        self.film = film;
        self.frame_target = self.film.frame();
        // The texture stays until this frame's image replaces it (no black flash),
        // which is at once when the worker rendered it with the view's key.
        self.renderer = None;
        self.requested = None;
        self.rendered = None;
        self.first = first;
        self.heat_textures.clear();
        self.hover = None;
    }

    /// The bar over a multi-frame film: previous, "Frame k of N", a slider, next
    /// (named for screen readers: the buttons' glyphs and the bare slider said nothing; QA A13).
    pub(super) fn frame_bar(&mut self, ui: &mut egui::Ui) {
        let n = self.film.frame_count();
        if n <= 1 {
            return;
        }
        ui.horizontal(|ui| {
            let shown = self.film.frame();
            let ctx = ui.ctx().clone();
            let tip = |command| commands::tooltip(&ctx, command);
            if ui.add_enabled(self.frame_target > 1, egui::Button::new("⏴")).accessible_name(commands::info(Command::PreviousFrame).label).on_hover_text(tip(Command::PreviousFrame)).clicked() {
                self.step_frame(-1);
            }
            ui.label(egui::RichText::new(format!("Frame {shown} of {n}")).strong())
                .on_hover_text("This film holds several frames: the one shown is graded. Step with , and . or the slider");
            let mut target = self.frame_target;
            let slider = egui::Slider::new(&mut target, 1..=n).show_value(false).clamping(egui::SliderClamping::Always);
            let width = (ui.available_width() - 160.0).clamp(80.0, 400.0);
            ui.spacing_mut().slider_width = width;
            if ui.add(slider).accessible_name("Frame").on_hover_text("Drag to another frame").changed() {
                self.ask_frame(target);
            }
            if ui.add_enabled(self.frame_target < n, egui::Button::new("⏵")).accessible_name(commands::info(Command::NextFrame).label).on_hover_text(tip(Command::NextFrame)).clicked() {
                self.step_frame(1);
            }
            if self.frame_target != shown {
                ui.spinner();
                ui.label(format!("reading frame {}…", self.frame_target));
            }
        });
    }
}
