//! The film in the centre: texture, zoom/pan/rotate/flip, window/level by
//! right-drag, the length tool, Escape and Ctrl+Z, pixel value under the
//! cursor, four-corner overlay and the heatmap.

use std::sync::Arc;

use egui::{Color32, Mesh, Pos2, Rect, Sense, Stroke, TextureHandle, TextureOptions, Vec2, pos2, vec2};

use super::commands::Command;
use super::history::{History, Step};
use super::measure::Measurement;
use super::render::{RenderKey, Renderer};
use crate::grading::Region;
use crate::imaging::{Radiograph, Window};

mod frames;
mod keys;
mod orientation;
mod heatmap;
mod undo;
mod window_drag;

pub use heatmap::{colormap, model_square};

/// Wheel steps closer together than this (seconds) are one zoom, undone at once.
const WHEEL_PAUSE: f64 = 0.5;
/// A line shorter than this on screen (points) was a click, not a measurement.
const MIN_LINE: f32 = 3.0;

/// How the film is shown: everything Ctrl+Z can take back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewState {
    pub window: Window,
    pub invert: bool,
    /// Screen points per film pixel; `None` = fit to the view.
    pub zoom: Option<f32>,
    pub pan: Vec2,
    /// Quarter turns clockwise.
    pub rotation: u8,
    pub flip_h: bool,
    pub flip_v: bool,
}

impl ViewState {
    /// The film fitted, unturned, in its own window.
    pub fn initial(film: &Radiograph) -> ViewState {
        ViewState { window: film.default_window(), invert: false, zoom: None, pan: Vec2::ZERO, rotation: 0, flip_h: false, flip_v: false }
    }
}

/// What the left mouse button does on the film.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tool {
    #[default]
    Pan,
    Length,
}

/// A drag in progress.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Gesture {
    Pan,
    /// The window as dragged, before it is shown in whole numbers.
    Window(Window),
    Line(Measurement),
    /// Escape was pressed: the rest of this drag does nothing.
    Cancelled,
}

pub struct FilmView {
    pub film: Arc<Radiograph>,
    pub state: ViewState,
    pub tool: Tool,
    pub measurements: Vec<Measurement>,
    history: History,
    /// The view as of the last step in the history: what a cancelled drag returns to.
    settled: ViewState,
    gesture: Option<Gesture>,
    /// When the wheel last zoomed (or a W/L or pan key changed the view), while those changes are not yet a history step.
    wheel_at: Option<f64>,
    texture: Option<TextureHandle>,
    /// Started on the first frame that shows the film.
    renderer: Option<Renderer>,
    /// The first display image, rendered with the film's opening (taken by the first frame).
    first: Option<super::render::Rendered>,
    /// The last render asked for, and the one the texture shows.
    requested: Option<RenderKey>,
    rendered: Option<RenderKey>,
    heat_textures: Vec<(Region, TextureHandle)>,
    /// Each heatmap's peak ([`heatmap::peak`]), ringed on the film.
    heat_peaks: Vec<(Region, [f32; 3])>,
    /// Last value under the cursor: film (x, y) and value.
    pub hover: Option<(u32, u32, f64)>,
    last_fit: f32,
    /// Where the film was drawn last frame.
    rect: Option<Rect>,
    /// A multi-frame film's frame last asked for (1-based), and a new one for the app to read.
    frame_target: u32,
    pub frame_request: Option<u32>,
}

/// What the overlay shows in its corners.
pub struct Overlay<'a> {
    pub top_left: &'a str,
    pub top_right: &'a str,
}

impl FilmView {
    pub fn new(film: Arc<Radiograph>) -> FilmView {
        let state = ViewState::initial(&film);
        FilmView {
            state,
            tool: Tool::default(),
            measurements: Vec::new(),
            history: History::default(),
            settled: state,
            gesture: None,
            wheel_at: None,
            texture: None,
            renderer: None,
            first: None,
            requested: None,
            rendered: None,
            heat_textures: Vec::new(),
            heat_peaks: Vec::new(),
            hover: None,
            last_fit: 1.0,
            rect: None,
            frame_target: film.frame(),
            frame_request: None,
            film,
        }
    }

    /// The view with its first display image already made (see [`super::render::first_render`]).
    pub fn with_first_render(mut self, first: Option<super::render::Rendered>) -> FilmView {
        self.first = first;
        self
    }

    pub fn reset(&mut self) {
        self.state = ViewState::initial(&self.film);
    }

    /// Applies a view command (the others are the app's); each is one undo step.
    pub fn command(&mut self, command: Command) {
        self.command_at(command, None);
    }

    /// [`command`](Self::command) pressed at `now` (egui's time): a run of W/L or pan keys is one step.
    pub fn command_at(&mut self, command: Command, now: Option<f64>) {
        match command {
            c if keys::is_key_step(c) => return self.key_step(c, now),
            Command::Undo => return self.undo(),
            Command::Redo => return self.redo(),
            Command::Cancel => return self.cancel(),
            Command::NextFrame => return self.step_frame(1),
            Command::PreviousFrame => return self.step_frame(-1),
            _ => {}
        }
        self.checkpoint();
        let film = &self.film;
        let s = &mut self.state;
        match command {
            Command::ZoomIn => s.zoom = Some(zoomed(s.zoom, self.last_fit, 1.25)),
            Command::ZoomOut => s.zoom = Some(zoomed(s.zoom, self.last_fit, 0.8)),
            Command::Fit => (s.zoom, s.pan) = (None, Vec2::ZERO),
            Command::Reset => *s = ViewState::initial(film),
            Command::Rotate => s.rotation = (s.rotation + 1) % 4,
            Command::FlipH => s.flip_h = !s.flip_h,
            Command::FlipV => s.flip_v = !s.flip_v,
            Command::Invert => s.invert = !s.invert,
            Command::FileWindow => s.window = film.default_window(),
            Command::FullRange => s.window = film.full_range_window(),
            Command::AutoWindow => s.window = film.min_max_window(),
            Command::LengthTool => self.tool = if self.tool == Tool::Length { Tool::Pan } else { Tool::Length },
            Command::ClearMeasurements => self.clear_measurements(),
            _ => {}
        }
        self.checkpoint();
    }

    /// Makes a step of the view changes since the last one, if any.
    fn checkpoint(&mut self) {
        self.wheel_at = None;
        if self.state != self.settled {
            self.history.push(Step::View(self.settled));
            self.settled = self.state;
        }
    }

    /// Escape: cancels the drag or line in progress, else leaves the length tool.
    pub fn cancel(&mut self) {
        match self.gesture {
            Some(Gesture::Cancelled) => {}
            Some(_) => {
                self.state = self.settled;
                self.gesture = Some(Gesture::Cancelled);
            }
            None => self.tool = Tool::Pan,
        }
    }

    pub fn clear_measurements(&mut self) {
        if !self.measurements.is_empty() {
            self.history.push(Step::Cleared(std::mem::take(&mut self.measurements)));
        }
    }

    /// The line being drawn, if any.
    pub fn drawing(&self) -> Option<Measurement> {
        match self.gesture {
            Some(Gesture::Line(m)) => Some(m),
            _ => None,
        }
    }

    /// Where the film was drawn last frame (for tests and the length tool).
    pub fn rect(&self) -> Option<Rect> {
        self.rect
    }

    pub fn zoom_by(&mut self, factor: f32) {
        self.state.zoom = Some(zoomed(self.state.zoom, self.last_fit, factor));
    }

    fn film_size(&self) -> Vec2 {
        vec2(self.film.width() as f32, self.film.height() as f32)
    }

    /// Film coordinates → screen, for a view centred in `rect`.
    pub fn to_screen(&self, rect: Rect, p: Pos2) -> Pos2 {
        let s = &self.state;
        let size = self.film_size();
        let mut d = p.to_vec2() - size / 2.0;
        if s.flip_h {
            d.x = -d.x;
        }
        if s.flip_v {
            d.y = -d.y;
        }
        for _ in 0..s.rotation % 4 {
            d = vec2(-d.y, d.x);
        }
        rect.center() + s.pan + d * self.scale()
    }

    /// Screen → film coordinates.
    pub fn to_film(&self, rect: Rect, p: Pos2) -> Pos2 {
        let s = &self.state;
        let mut d = (p - rect.center() - s.pan) / self.scale();
        for _ in 0..s.rotation % 4 {
            d = vec2(d.y, -d.x);
        }
        if s.flip_v {
            d.y = -d.y;
        }
        if s.flip_h {
            d.x = -d.x;
        }
        (d + self.film_size() / 2.0).to_pos2()
    }

    /// Screen points per film pixel.
    pub fn scale(&self) -> f32 {
        self.state.zoom.unwrap_or(self.last_fit)
    }

    /// Paints a textured quad whose corners are the film-space rectangle `r`.
    fn quad(&self, painter: &egui::Painter, rect: Rect, tex: &TextureHandle, r: Rect, tint: Color32) {
        let mut mesh = Mesh::with_texture(tex.id());
        let corners = [r.left_top(), r.right_top(), r.right_bottom(), r.left_bottom()];
        let uvs = [pos2(0.0, 0.0), pos2(1.0, 0.0), pos2(1.0, 1.0), pos2(0.0, 1.0)];
        for (c, uv) in corners.iter().zip(uvs) {
            mesh.vertices.push(egui::epaint::Vertex { pos: self.to_screen(rect, *c), uv, color: tint });
        }
        mesh.add_triangle(0, 1, 2);
        mesh.add_triangle(0, 2, 3);
        painter.add(mesh);
    }

    /// Keeps the texture following the window: asks the render thread for the
    /// current window and shows what it has finished. While the window is being
    /// dragged a large film is rendered at half resolution, so the image keeps
    /// up with the mouse; the full film follows when the drag ends.
    fn upload(&mut self, ctx: &egui::Context, dragging: bool) {
        let (w, h) = (self.film.width() as usize, self.film.height() as usize);
        let max_side = ctx.input(|i| i.max_texture_side).max(1);
        // Films larger than the GPU's largest texture are shown subsampled; the
        // quad still spans the whole film, so coordinates are unaffected.
        let mut step = w.max(h).div_ceil(max_side).max(1);
        if dragging && w * h > 1_000_000 {
            step = step.max(2);
        }
        let wanted = RenderKey { window: self.state.window, invert: self.state.invert, step };
        if let Some(first) = self.first.take().filter(|f| self.rendered.is_none() && f.key == wanted) {
            // Made with the film's opening (or a new frame's): shown in its first frame.
            match &mut self.texture {
                Some(t) => t.set(first.image, TextureOptions::LINEAR),
                None => self.texture = Some(ctx.load_texture("film", first.image, TextureOptions::LINEAR)),
            }
            self.rendered = Some(first.key);
            self.requested = Some(first.key);
        }
        let renderer = self.renderer.get_or_insert_with(|| {
            let ctx = ctx.clone();
            Renderer::spawn(self.film.clone(), move || ctx.request_repaint())
        });
        if self.requested != Some(wanted) {
            renderer.request(wanted);
            self.requested = Some(wanted);
        }
        if let Some(done) = renderer.take() {
            let t0 = std::time::Instant::now();
            match &mut self.texture {
                Some(t) => t.set(done.image, TextureOptions::LINEAR),
                None => self.texture = Some(ctx.load_texture("film", done.image, TextureOptions::LINEAR)),
            }
            self.rendered = Some(done.key);
            if std::env::var_os("KNEECLIP_FRAME_LOG").is_some() {
                eprintln!(
                    "film render {:.1} ms on the render thread (step {}), texture set {:.2} ms in the frame",
                    done.took.as_secs_f64() * 1e3,
                    done.key.step,
                    t0.elapsed().as_secs_f64() * 1e3
                );
            }
        }
    }

    /// Whether the film shown is the current window's full rendering.
    pub fn is_rendered(&self) -> bool {
        self.texture.is_some() && self.rendered.is_some() && self.rendered == self.requested
    }

    /// Draws the film into the remaining space of `ui` and handles the mouse.
    pub fn show(&mut self, ui: &mut egui::Ui, overlay: &Overlay<'_>, heat_opacity: Option<f32>) {
        self.frame_bar(ui);
        // Not a Tab stop: focused, it showed nothing (QA A4), and its keys are the viewer's.
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::CLICK | Sense::DRAG);
        self.rect = Some(rect);
        let size = self.film_size();
        let turned = if self.state.rotation % 2 == 1 { vec2(size.y, size.x) } else { size };
        self.last_fit = (rect.width() / turned.x).min(rect.height() / turned.y).max(1e-3);
        self.wheel(ui, &response, rect);
        self.drag(ui, &response, rect);
        // A change made by neither a drag nor the wheel (a window preset) is a step of its own.
        let now = ui.input(|i| i.time);
        match self.wheel_at {
            Some(t) if now - t <= WHEEL_PAUSE => ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(WHEEL_PAUSE)),
            _ if self.gesture.is_none() => self.checkpoint(),
            _ => {}
        }
        if self.tool == Tool::Length && response.hovered() {
            ui.ctx().set_cursor_icon(egui::CursorIcon::Crosshair);
        }
        self.upload(ui.ctx(), matches!(self.gesture, Some(Gesture::Window(_))));
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::BLACK);
        if let Some(tex) = &self.texture {
            self.quad(&painter, rect, tex, Rect::from_min_size(Pos2::ZERO, size), Color32::WHITE);
        }
        if let Some(opacity) = heat_opacity {
            let tint = Color32::from_white_alpha((opacity.clamp(0.0, 1.0) * 255.0) as u8);
            for (region, tex) in &self.heat_textures {
                self.quad(&painter, rect, tex, model_square(*region, size), tint);
            }
            if opacity > 0.0 {
                self.paint_peaks(&painter, rect);
            }
        }
        self.hover = response.hover_pos().and_then(|p| {
            let f = self.to_film(rect, p);
            if f.x < 0.0 || f.y < 0.0 {
                return None;
            }
            let (x, y) = (f.x as u32, f.y as u32);
            self.film.value_at(x, y).map(|v| (x, y, v))
        });
        self.paint_measurements(ui, rect);
        let zoom_line = self.paint_overlay(ui, rect, overlay);
        if heat_opacity.is_some_and(|o| o > 0.0) && self.has_heatmap() {
            super::heatmap_legend::show(ui, rect, pos2(zoom_line.max.x, zoom_line.min.y - 10.0));
        }
    }

    /// The wheel zooms about the cursor; a run of wheel steps is one undo step.
    fn wheel(&mut self, ui: &egui::Ui, response: &egui::Response, rect: Rect) {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if !response.hovered() || scroll == 0.0 {
            return;
        }
        let now = ui.input(|i| i.time);
        if self.wheel_at.is_none_or(|t| now - t > WHEEL_PAUSE) {
            self.checkpoint();
        }
        self.wheel_at = Some(now);
        let old = self.scale();
        self.zoom_by((scroll / 200.0).exp());
        let actual = self.scale() / old;
        if let Some(c) = response.hover_pos() {
            let from_centre = c - rect.center() - self.state.pan;
            self.state.pan -= from_centre * (actual - 1.0);
        }
    }

    /// Left-drag pans (or draws a line with the length tool), middle-drag pans,
    /// right-drag sets width (across) and level (up and down).
    fn drag(&mut self, ui: &egui::Ui, response: &egui::Response, rect: Rect) {
        use egui::PointerButton::{Middle, Primary, Secondary};
        if response.drag_started() {
            // egui closes an open menu (Presets, Recent) on a click elsewhere,
            // not on a drag: one left open over the film after windowing hid it.
            egui::Popup::close_all(ui.ctx());
            self.checkpoint();
            self.gesture = if response.dragged_by(Secondary) {
                Some(Gesture::Window(self.state.window))
            } else if response.dragged_by(Primary) && self.tool == Tool::Length {
                // From where the button went down, not where the drag was recognised.
                let start = ui.input(|i| i.pointer.press_origin()).or(response.interact_pointer_pos());
                start.map(|p| {
                    let p = self.to_film(rect, p);
                    Gesture::Line(Measurement { from: p, to: p })
                })
            } else if response.dragged_by(Primary) || response.dragged_by(Middle) {
                Some(Gesture::Pan)
            } else {
                None
            };
        }
        if !response.dragged() {
            if let Some(Gesture::Line(line)) = self.gesture.take() {
                let on_screen = self.to_screen(rect, line.to) - self.to_screen(rect, line.from);
                if on_screen.length() >= MIN_LINE {
                    self.measurements.push(line);
                    self.history.push(Step::AddedMeasurement);
                }
            }
            return;
        }
        // egui recognises a drag only after a few points of movement; the first
        // frame takes all of it, so the film follows the pointer exactly.
        let origin = ui.input(|i| i.pointer.press_origin());
        let d = match (response.drag_started(), origin, response.interact_pointer_pos()) {
            (true, Some(from), Some(to)) => to - from,
            _ => response.drag_delta(),
        };
        let pointer = response.interact_pointer_pos().map(|p| self.to_film(rect, p));
        match &mut self.gesture {
            Some(Gesture::Pan) => self.state.pan += d,
            Some(Gesture::Window(exact)) => {
                let (lo, hi) = self.film.value_range();
                let step = ((hi - lo).max(1.0) / 500.0) as f64;
                (*exact, self.state.window) = window_drag::dragged(*exact, d, step, self.film.whole_values());
            }
            Some(Gesture::Line(line)) => {
                if let Some(p) = pointer {
                    line.to = p;
                }
            }
            Some(Gesture::Cancelled) | None => {}
        }
    }

    /// The measured lines (and the one being drawn), each with its length.
    fn paint_measurements(&self, ui: &mut egui::Ui, rect: Rect) {
        let painter = ui.painter_at(rect);
        let spacing = self.film.pixel_spacing();
        let colour = Color32::from_rgb(90, 235, 140);
        let lines = self.measurements.iter().copied().chain(self.drawing());
        for (i, line) in lines.enumerate() {
            let (a, b) = (self.to_screen(rect, line.from), self.to_screen(rect, line.to));
            // A dark casing keeps the line visible on bone and on background alike.
            painter.line_segment([a, b], Stroke::new(4.0, Color32::from_black_alpha(170)));
            painter.line_segment([a, b], Stroke::new(1.5, colour));
            for end in [a, b] {
                painter.circle(end, 3.0, Color32::from_black_alpha(170), Stroke::new(1.5, colour));
            }
            let length = line.length(spacing);
            let text = length.label();
            // The label sits past the end the line was drawn to, away from the line.
            let dir = (b - a).normalized();
            let anchor = b + if dir.length() > 0.0 { dir * 8.0 } else { vec2(8.0, 0.0) };
            let align = egui::Align2([if dir.x < 0.0 { egui::Align::Max } else { egui::Align::Min }, if dir.y < 0.0 { egui::Align::Max } else { egui::Align::Min }]);
            let font = egui::FontId::proportional(14.0);
            let galley = painter.layout_no_wrap(text.clone(), font.clone(), colour);
            let r = align.anchor_size(anchor, galley.size());
            painter.rect_filled(r.expand(3.0), 3.0, Color32::from_black_alpha(170));
            let label = egui::Label::new(egui::RichText::new(text).font(font).color(colour)).selectable(false).wrap_mode(egui::TextWrapMode::Extend);
            ui.push_id(("measurement", i), |ui| {
                ui.scope_builder(egui::UiBuilder::new().max_rect(r), |ui| ui.add(label).on_hover_text(length.tooltip()));
            });
        }
    }

    /// The corners are real labels (so screen readers and tests see them) on a
    /// dark backing that keeps them legible over a white film.
    /// Returns where the bottom-right corner's text was drawn (the legend goes above it).
    fn paint_overlay(&self, ui: &mut egui::Ui, rect: Rect, overlay: &Overlay<'_>) -> Rect {
        let font = egui::FontId::proportional(14.0);
        let color = Color32::from_rgb(255, 230, 120);
        let m = 8.0;
        let painter = ui.painter_at(rect);
        // Each corner keeps to its half of the width and wraps there: a long
        // patient name must neither cover the file name nor lose its start.
        let half = ((rect.width() - 3.0 * m) / 2.0).max(60.0);
        let mut corner = |pos: Pos2, align: egui::Align2, text: &str| {
            let mut r = Rect::from_min_size(pos, Vec2::ZERO);
            if !text.is_empty() {
                let galley = painter.layout(text.to_owned(), font.clone(), color, half);
                r = align.anchor_size(pos, galley.size());
                // Outlined: where the fitted film leaves black above or below it, a
                // box of black alone vanished, and the text seemed to run out of it (QA).
                painter.rect(r.expand(3.0), 3.0, Color32::from_black_alpha(160), Stroke::new(1.0, Color32::from_gray(90)), egui::StrokeKind::Outside);
                let label = egui::Label::new(egui::RichText::new(text).font(font.clone()).color(color))
                    .selectable(false)
                    .wrap_mode(egui::TextWrapMode::Wrap);
                let layout = egui::Layout::top_down(egui::Align::Min);
                ui.scope_builder(egui::UiBuilder::new().max_rect(r).layout(layout), |ui| ui.add(label));
            }
            r
        };
        let top_left = corner(rect.left_top() + vec2(m, m), egui::Align2::LEFT_TOP, overlay.top_left);
        let top_right = corner(rect.right_top() + vec2(-m, m), egui::Align2::RIGHT_TOP, overlay.top_right);
        let s = &self.state;
        // Through the file's VOI LUT table, the table is named: a W/L would misstate it.
        let window = self.film.table_for(s.window).map_or_else(|| s.window.label().replace(" L ", "  L "), str::to_owned);
        let mut bl = format!("{window}{}", if s.invert { "  inverted" } else { "" });
        if let Some((x, y, v)) = self.hover {
            bl.push_str(&format!("\nx {x}  y {y}  value {v:.1}"));
        }
        let bottom_left = corner(rect.left_bottom() + vec2(m, -m), egui::Align2::LEFT_BOTTOM, &bl);
        let mut br = format!("Zoom {:.0}%  {}×{}", self.scale() * 100.0, self.film.width(), self.film.height());
        if s.rotation % 4 != 0 {
            br.push_str(&format!("  rot {}°", s.rotation as u32 % 4 * 90));
        }
        if s.flip_h || s.flip_v {
            br.push_str(if s.flip_h && s.flip_v { "  flip H+V" } else if s.flip_h { "  flip H" } else { "  flip V" });
        }
        let bottom_right = corner(rect.right_bottom() + vec2(-m, -m), egui::Align2::RIGHT_BOTTOM, &br);
        self.paint_orientation(ui, rect, [top_left, top_right, bottom_left, bottom_right]);
        bottom_right
    }
}

/// `zoom` (None: fitted at `fit`) times `factor`, within 1 % … 6400 %, or a
/// step past the fit of a film of a few pixels, which fits above 6400 %
/// (zooming in from there went back down to the cap).
fn zoomed(zoom: Option<f32>, fit: f32, factor: f32) -> f32 {
    let most = if fit > 64.0 { fit * 1.25 } else { 64.0 };
    (zoom.unwrap_or(fit) * factor).clamp(0.01, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_and_film_coordinates_round_trip_under_rotation_and_flips() {
        let film = Radiograph::from_gray8(40, 20, vec![0; 800], "t").unwrap();
        let mut v = FilmView::new(Arc::new(film));
        let rect = Rect::from_min_size(pos2(10.0, 20.0), vec2(300.0, 200.0));
        v.state.zoom = Some(2.0);
        v.state.pan = vec2(5.0, -3.0);
        for rotation in 0..4 {
            for (h, f) in [(false, false), (true, false), (false, true), (true, true)] {
                (v.state.rotation, v.state.flip_h, v.state.flip_v) = (rotation, h, f);
                for p in [pos2(0.0, 0.0), pos2(40.0, 20.0), pos2(7.5, 13.0)] {
                    let back = v.to_film(rect, v.to_screen(rect, p));
                    assert!((back - p).length() < 1e-3, "{rotation} {h} {f}: {p:?} → {back:?}");
                }
            }
        }
        // One quarter turn clockwise: the film's top-left corner goes to the top right.
        (v.state.rotation, v.state.flip_h, v.state.flip_v, v.state.pan) = (1, false, false, Vec2::ZERO);
        let c = v.to_screen(rect, pos2(0.0, 0.0));
        assert!(c.x > rect.center().x && c.y < rect.center().y, "{c:?}");
    }

    #[test]
    fn a_measured_line_stays_on_the_film_under_zoom_pan_rotation_and_flips() {
        // 40×20 film, 2 screen points per pixel, centred at (100, 100).
        let film = Radiograph::from_gray8(40, 20, vec![0; 800], "t").unwrap();
        let mut v = FilmView::new(Arc::new(film));
        let rect = Rect::from_min_size(Pos2::ZERO, vec2(200.0, 200.0));
        v.state.zoom = Some(2.0);
        // Drawn from the screen: (60, 80) is the film's top-left corner, (100, 100) its centre.
        let line = Measurement { from: v.to_film(rect, pos2(60.0, 80.0)), to: v.to_film(rect, pos2(100.0, 100.0)) };
        assert_eq!((line.from, line.to), (pos2(0.0, 0.0), pos2(20.0, 10.0)));
        v.measurements.push(line);
        // A quarter turn: the corner's offset (-20, -10) px becomes (10, -20) px, × 2 points.
        v.command(Command::Rotate);
        assert_eq!(v.to_screen(rect, line.from), pos2(120.0, 60.0));
        assert_eq!(v.to_screen(rect, line.to), pos2(100.0, 100.0), "the centre stays put");
        // Unturned and flipped left–right: the corner goes to the right.
        v.command(Command::Rotate);
        v.command(Command::Rotate);
        v.command(Command::Rotate);
        v.command(Command::FlipH);
        assert_eq!(v.to_screen(rect, line.from), pos2(140.0, 80.0));
        // Panned and zoomed to 4 points per pixel.
        v.state.pan = vec2(10.0, -5.0);
        v.state.zoom = Some(4.0);
        assert_eq!(v.to_screen(rect, line.from), pos2(100.0 + 10.0 + 80.0, 100.0 - 5.0 - 40.0));
        assert_eq!(v.measurements, vec![line], "the line itself never moves on the film");
    }

    #[test]
    fn undo_takes_back_view_changes_and_measurements_in_order() {
        let film = Radiograph::from_gray8(40, 20, vec![0; 800], "t").unwrap();
        let mut v = FilmView::new(Arc::new(film));
        let start = v.state;
        v.command(Command::Rotate);
        v.command(Command::Invert);
        let line = Measurement { from: pos2(1.0, 2.0), to: pos2(3.0, 4.0) };
        v.measurements.push(line);
        v.history.push(Step::AddedMeasurement);
        v.command(Command::ClearMeasurements);
        assert!(v.measurements.is_empty());
        v.command(Command::ZoomIn);
        assert_eq!(v.undo_steps(), 5);

        v.undo();
        assert_eq!(v.state.zoom, None, "zoom undone");
        v.undo();
        assert_eq!(v.measurements, vec![line], "clearing undone");
        v.undo();
        assert!(v.measurements.is_empty(), "the line removed");
        assert!(v.state.invert);
        v.undo();
        assert!(!v.state.invert && v.state.rotation == 1);
        v.undo();
        assert_eq!(v.state, start);
        v.undo();
        assert_eq!(v.state, start, "nothing left to undo");
        // A command that changes nothing is no step.
        v.command(Command::Fit);
        assert_eq!(v.undo_steps(), 0);
    }

    #[test]
    fn escape_cancels_a_drag_then_leaves_the_length_tool() {
        let film = Radiograph::from_gray8(40, 20, vec![0; 800], "t").unwrap();
        let mut v = FilmView::new(Arc::new(film));
        let before = v.state;
        // A window drag under way.
        v.gesture = Some(Gesture::Window(v.state.window));
        v.state.window.width += 100.0;
        v.command(Command::Cancel);
        assert_eq!(v.state, before, "the window is back");
        assert_eq!(v.gesture, Some(Gesture::Cancelled), "the rest of the drag is ignored");
        v.gesture = None;
        v.command(Command::LengthTool);
        assert_eq!(v.tool, Tool::Length);
        v.gesture = Some(Gesture::Line(Measurement { from: pos2(1.0, 1.0), to: pos2(9.0, 9.0) }));
        v.command(Command::Cancel);
        assert_eq!(v.drawing(), None, "the line is dropped");
        assert_eq!(v.tool, Tool::Length, "the tool stays for the next line");
        v.gesture = None;
        v.command(Command::Cancel);
        assert_eq!(v.tool, Tool::Pan);
        assert_eq!(v.undo_steps(), 0, "nothing to undo");
    }
}
