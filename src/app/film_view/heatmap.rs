//! The attention heatmap over the film: its textures in the one colour map,
//! the model's square each covers, and a ring at each map's most-attended
//! place. The map's "most" is its lightest colour, which on bright bone
//! barely tints the film (keyboard/low-vision re-check: the middle values
//! caught the eye, the peak did not), so the peak is marked as well as coloured.

use egui::{Color32, ColorImage, Painter, Pos2, Rect, Stroke, TextureOptions, Vec2, pos2, vec2};

use super::FilmView;
use crate::explain::Heatmap;
use crate::grading::Region;

/// The centre of `map`'s highest cell as fractions of its square (x, y) and
/// half a cell as a fraction of its side; None for an empty or flat map
/// (no place stands out, so none is marked).
pub fn peak(map: &Heatmap) -> Option<[f32; 3]> {
    let finite = || map.values.iter().copied().enumerate().filter(|(_, v)| v.is_finite());
    let (i, top) = finite().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let low = finite().map(|(_, v)| v).fold(f32::INFINITY, f32::min);
    if map.grid == 0 || top <= low {
        return None;
    }
    let g = map.grid as f32;
    Some([((i % map.grid) as f32 + 0.5) / g, ((i / map.grid) as f32 + 0.5) / g, 0.5 / g])
}

impl FilmView {
    pub fn set_heatmaps(&mut self, ctx: &egui::Context, maps: &[(Region, Heatmap)]) {
        self.heat_peaks = maps.iter().filter_map(|(region, map)| Some((*region, peak(map)?))).collect();
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

    /// Where the rings go on screen, and their radii: each peak through the
    /// view's zoom, pan, turn and flips, as the heatmap itself.
    pub fn peak_rings(&self, rect: Rect) -> Vec<(Pos2, f32)> {
        let size = self.film_size();
        self.heat_peaks
            .iter()
            .map(|&(region, [x, y, half])| {
                let square = model_square(region, size);
                let at = square.min + vec2(x * square.width(), y * square.height());
                let centre = self.to_screen(rect, at);
                let edge = self.to_screen(rect, at + vec2(half * square.width(), 0.0));
                (centre, centre.distance(edge).max(6.0))
            })
            .collect()
    }

    pub(super) fn paint_peaks(&self, painter: &Painter, rect: Rect) {
        for (centre, radius) in self.peak_rings(rect) {
            // Dark under light: seen on white bone and on black background alike.
            painter.circle_stroke(centre, radius, Stroke::new(3.5, Color32::from_black_alpha(190)));
            painter.circle_stroke(centre, radius, Stroke::new(1.5, Color32::WHITE));
        }
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

/// The one colour map (report::film's viridis: violet → teal → yellow, the alpha following
/// the value, so where the model paid no attention the film shows through) as a texel.
pub fn colormap(v: f32) -> Color32 {
    let ([r, g, b], a) = crate::report::film::colormap(v);
    Color32::from_rgba_unmultiplied((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8, (a * 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_highest_cell_and_a_flat_map_has_none() {
        let map = Heatmap { grid: 2, values: vec![0.1, 0.2, 0.9, 0.3] };
        assert_eq!(peak(&map), Some([0.25, 0.75, 0.25]));
        assert_eq!(peak(&Heatmap { grid: 2, values: vec![0.5; 4] }), None);
        assert_eq!(peak(&Heatmap { grid: 0, values: vec![] }), None);
    }

    #[test]
    fn model_square_is_the_centre_crop_of_each_region() {
        let r = model_square(Region::Whole, vec2(100.0, 200.0));
        assert_eq!(r, Rect::from_min_size(pos2(0.0, 50.0), Vec2::splat(100.0)));
        let r = model_square(Region::ImageRight, vec2(400.0, 100.0));
        assert_eq!(r, Rect::from_min_size(pos2(250.0, 0.0), Vec2::splat(100.0)));
    }
}
