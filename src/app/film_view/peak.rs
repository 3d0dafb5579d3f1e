//! A ring at each heatmap's most-attended place. The map's "most" is its
//! lightest colour, which on bright bone barely tints the film
//! (keyboard/low-vision re-check: the middle values caught the eye, the peak
//! did not), so the peak is marked as well as coloured.

use egui::{Color32, Painter, Pos2, Rect, Stroke, vec2};

use super::{FilmView, model_square};
use crate::explain::Heatmap;

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
}
