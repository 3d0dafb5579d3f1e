//! The film in the centre: texture, zoom/pan/rotate/flip, window/level by
//! right-drag, pixel value under the cursor, four-corner overlay and the heatmap.

use std::sync::Arc;

use egui::{Color32, ColorImage, Mesh, Pos2, Rect, Sense, TextureHandle, TextureOptions, Vec2, pos2, vec2};

use crate::explain::Heatmap;
use crate::grading::Region;
use crate::imaging::{Radiograph, Window};

pub struct FilmView {
    pub film: Arc<Radiograph>,
    pub window: Window,
    pub invert: bool,
    /// Screen points per film pixel; `None` = fit to the view.
    pub zoom: Option<f32>,
    pub pan: Vec2,
    /// Quarter turns clockwise.
    pub rotation: u8,
    pub flip_h: bool,
    pub flip_v: bool,
    texture: Option<TextureHandle>,
    rendered: Option<(Window, bool, usize)>,
    heat_textures: Vec<(Region, TextureHandle)>,
    /// Last value under the cursor: film (x, y) and value.
    pub hover: Option<(u32, u32, f64)>,
    last_fit: f32,
}

/// What the overlay shows in its corners.
pub struct Overlay<'a> {
    pub top_left: &'a str,
    pub top_right: &'a str,
}

impl FilmView {
    pub fn new(film: Arc<Radiograph>) -> FilmView {
        let window = film.default_window();
        FilmView {
            film,
            window,
            invert: false,
            zoom: None,
            pan: Vec2::ZERO,
            rotation: 0,
            flip_h: false,
            flip_v: false,
            texture: None,
            rendered: None,
            heat_textures: Vec::new(),
            hover: None,
            last_fit: 1.0,
        }
    }

    pub fn reset(&mut self) {
        self.window = self.film.default_window();
        self.invert = false;
        self.zoom = None;
        self.pan = Vec2::ZERO;
        self.rotation = 0;
        self.flip_h = false;
        self.flip_v = false;
    }

    pub fn zoom_by(&mut self, factor: f32) {
        let z = self.zoom.unwrap_or(self.last_fit) * factor;
        self.zoom = Some(z.clamp(0.01, 64.0));
    }

    pub fn set_heatmaps(&mut self, ctx: &egui::Context, maps: &[(Region, Heatmap)]) {
        self.heat_textures = maps
            .iter()
            .map(|(region, map)| {
                let pixels = map.values.iter().map(|&v| colormap(v)).collect();
                let image = ColorImage { size: [map.grid, map.grid], pixels, source_size: Vec2::splat(map.grid as f32) };
                (*region, ctx.load_texture("heatmap", image, TextureOptions::LINEAR))
            })
            .collect();
    }

    pub fn has_heatmap(&self) -> bool {
        !self.heat_textures.is_empty()
    }

    fn film_size(&self) -> Vec2 {
        vec2(self.film.width() as f32, self.film.height() as f32)
    }

    /// Film coordinates → screen, for a view centred in `rect`.
    fn to_screen(&self, rect: Rect, p: Pos2) -> Pos2 {
        let size = self.film_size();
        let mut d = p.to_vec2() - size / 2.0;
        if self.flip_h {
            d.x = -d.x;
        }
        if self.flip_v {
            d.y = -d.y;
        }
        for _ in 0..self.rotation % 4 {
            d = vec2(-d.y, d.x);
        }
        rect.center() + self.pan + d * self.scale()
    }

    /// Screen → film coordinates.
    fn to_film(&self, rect: Rect, s: Pos2) -> Pos2 {
        let mut d = (s - rect.center() - self.pan) / self.scale();
        for _ in 0..self.rotation % 4 {
            d = vec2(d.y, -d.x);
        }
        if self.flip_v {
            d.y = -d.y;
        }
        if self.flip_h {
            d.x = -d.x;
        }
        (d + self.film_size() / 2.0).to_pos2()
    }

    fn scale(&self) -> f32 {
        self.zoom.unwrap_or(self.last_fit)
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

    /// Renders the film with the current window into the texture. While the
    /// window is being dragged a large film is shown at half resolution, so the
    /// drag stays fluid; the full film follows when the drag ends.
    fn upload(&mut self, ctx: &egui::Context, dragging: bool) {
        let (w, h) = (self.film.width() as usize, self.film.height() as usize);
        let max_side = ctx.input(|i| i.max_texture_side).max(1);
        // Films larger than the GPU's largest texture are shown subsampled; the
        // quad still spans the whole film, so coordinates are unaffected.
        let mut step = w.max(h).div_ceil(max_side).max(1);
        if dragging && w * h > 1_000_000 {
            step = step.max(2);
        }
        let key = (self.window, self.invert, step);
        if self.rendered == Some(key) && self.texture.is_some() {
            return;
        }
        let t0 = std::time::Instant::now();
        let gray = self.film.render(self.window, self.invert);
        let t_render = t0.elapsed();
        let to_u8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        let (tw, th) = (w.div_ceil(step), h.div_ceil(step));
        let bytes: Vec<u8> = if step == 1 {
            gray.data.iter().map(|&v| to_u8(v)).collect()
        } else {
            let mut bytes = Vec::with_capacity(tw * th);
            for row in gray.data.chunks_exact(w).step_by(step) {
                bytes.extend(row.iter().step_by(step).map(|&v| to_u8(v)));
            }
            bytes
        };
        let image = ColorImage::from_gray([tw, th], &bytes);
        match &mut self.texture {
            Some(t) => t.set(image, TextureOptions::LINEAR),
            None => self.texture = Some(ctx.load_texture("film", image, TextureOptions::LINEAR)),
        }
        self.rendered = Some(key);
        if std::env::var_os("KNEECLIP_FRAME_LOG").is_some() {
            let total = t0.elapsed();
            eprintln!("film render {:.1} ms, texture {:.1} ms", t_render.as_secs_f64() * 1e3, (total - t_render).as_secs_f64() * 1e3);
        }
    }

    /// Draws the film into the remaining space of `ui` and handles the mouse.
    pub fn show(&mut self, ui: &mut egui::Ui, overlay: &Overlay<'_>, heat_opacity: Option<f32>) {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        let size = self.film_size();
        let turned = if self.rotation % 2 == 1 { vec2(size.y, size.x) } else { size };
        self.last_fit = (rect.width() / turned.x).min(rect.height() / turned.y).max(1e-3);
        // Mouse: wheel zooms about the cursor, left-drag pans, right-drag sets W/L.
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                let factor = (scroll / 200.0).exp();
                let old = self.scale();
                self.zoom_by(factor);
                let actual = self.scale() / old;
                if let Some(c) = response.hover_pos() {
                    let from_centre = c - rect.center() - self.pan;
                    self.pan -= from_centre * (actual - 1.0);
                }
            }
        }
        if response.dragged_by(egui::PointerButton::Primary) {
            self.pan += response.drag_delta();
        }
        if response.dragged_by(egui::PointerButton::Secondary) {
            let d = response.drag_delta();
            let (lo, hi) = self.film.value_range();
            let step = ((hi - lo).max(1.0) / 500.0) as f64;
            self.window.width = (self.window.width + d.x as f64 * step).max(step.max(1e-6));
            self.window.center -= d.y as f64 * step;
        }
        self.upload(ui.ctx(), response.dragged_by(egui::PointerButton::Secondary));
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
        }
        self.hover = response.hover_pos().and_then(|p| {
            let f = self.to_film(rect, p);
            if f.x < 0.0 || f.y < 0.0 {
                return None;
            }
            let (x, y) = (f.x as u32, f.y as u32);
            self.film.value_at(x, y).map(|v| (x, y, v))
        });
        self.paint_overlay(ui, rect, overlay);
    }

    /// The corners are real labels (so screen readers and tests see them) on a
    /// dark backing that keeps them legible over a white film.
    fn paint_overlay(&self, ui: &mut egui::Ui, rect: Rect, overlay: &Overlay<'_>) {
        let font = egui::FontId::proportional(14.0);
        let color = Color32::from_rgb(255, 230, 120);
        let m = 8.0;
        let painter = ui.painter_at(rect);
        let mut corner = |pos: Pos2, align: egui::Align2, text: &str| {
            if !text.is_empty() {
                let galley = painter.layout_no_wrap(text.to_owned(), font.clone(), color);
                let r = align.anchor_size(pos, galley.size());
                painter.rect_filled(r.expand(3.0), 3.0, Color32::from_black_alpha(160));
                let label = egui::Label::new(egui::RichText::new(text).font(font.clone()).color(color))
                    .selectable(false)
                    .wrap_mode(egui::TextWrapMode::Extend);
                let layout = egui::Layout::top_down(egui::Align::Min);
                ui.scope_builder(egui::UiBuilder::new().max_rect(r).layout(layout), |ui| ui.add(label));
            }
        };
        corner(rect.left_top() + vec2(m, m), egui::Align2::LEFT_TOP, overlay.top_left);
        corner(rect.right_top() + vec2(-m, m), egui::Align2::RIGHT_TOP, overlay.top_right);
        let mut bl = format!("W {:.0}  L {:.0}{}", self.window.width, self.window.center, if self.invert { "  inverted" } else { "" });
        if let Some((x, y, v)) = self.hover {
            bl.push_str(&format!("\nx {x}  y {y}  value {v:.1}"));
        }
        corner(rect.left_bottom() + vec2(m, -m), egui::Align2::LEFT_BOTTOM, &bl);
        let mut br = format!("Zoom {:.0}%  {}×{}", self.scale() * 100.0, self.film.width(), self.film.height());
        if self.rotation % 4 != 0 {
            br.push_str(&format!("  rot {}°", self.rotation as u32 % 4 * 90));
        }
        if self.flip_h || self.flip_v {
            br.push_str(if self.flip_h && self.flip_v { "  flip H+V" } else if self.flip_h { "  flip H" } else { "  flip V" });
        }
        corner(rect.right_bottom() + vec2(-m, -m), egui::Align2::RIGHT_BOTTOM, &br);
    }
}

/// The square the model sees of `region`, in film coordinates: CLIP resizes the
/// shortest side and centre-crops, so it is the centred square of the region.
pub fn model_square(region: Region, film: Vec2) -> Rect {
    let cols = region.columns(film.x as usize);
    let (x0, w, h) = (cols.start as f32, cols.len() as f32, film.y);
    let s = w.min(h);
    Rect::from_min_size(pos2(x0 + (w - s) / 2.0, (h - s) / 2.0), Vec2::splat(s))
}

/// Blue → yellow → red; the alpha follows the value, so where the model paid
/// no attention the film shows through untinted.
fn colormap(v: f32) -> Color32 {
    let v = v.clamp(0.0, 1.0);
    let (r, g, b) = if v < 0.5 {
        let t = v * 2.0;
        (t, t, 1.0 - t)
    } else {
        let t = (v - 0.5) * 2.0;
        (1.0, 1.0 - t, 0.0)
    };
    let a = v.powf(0.7) * 255.0;
    Color32::from_rgba_unmultiplied((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8, a as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_and_film_coordinates_round_trip_under_rotation_and_flips() {
        let film = Radiograph::from_gray8(40, 20, vec![0; 800], "t").unwrap();
        let mut v = FilmView::new(Arc::new(film));
        let rect = Rect::from_min_size(pos2(10.0, 20.0), vec2(300.0, 200.0));
        v.zoom = Some(2.0);
        v.pan = vec2(5.0, -3.0);
        for rotation in 0..4 {
            for (h, f) in [(false, false), (true, false), (false, true), (true, true)] {
                (v.rotation, v.flip_h, v.flip_v) = (rotation, h, f);
                for p in [pos2(0.0, 0.0), pos2(40.0, 20.0), pos2(7.5, 13.0)] {
                    let back = v.to_film(rect, v.to_screen(rect, p));
                    assert!((back - p).length() < 1e-3, "{rotation} {h} {f}: {p:?} → {back:?}");
                }
            }
        }
        // One quarter turn clockwise: the film's top-left corner goes to the top right.
        (v.rotation, v.flip_h, v.flip_v, v.pan) = (1, false, false, Vec2::ZERO);
        let c = v.to_screen(rect, pos2(0.0, 0.0));
        assert!(c.x > rect.center().x && c.y < rect.center().y, "{c:?}");
    }

    #[test]
    fn model_square_is_the_centre_crop_of_each_region() {
        let r = model_square(Region::Whole, vec2(100.0, 200.0));
        assert_eq!(r, Rect::from_min_size(pos2(0.0, 50.0), Vec2::splat(100.0)));
        let r = model_square(Region::ImageRight, vec2(400.0, 100.0));
        assert_eq!(r, Rect::from_min_size(pos2(250.0, 0.0), Vec2::splat(100.0)));
    }
}
