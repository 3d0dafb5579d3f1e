//! Right-drag window/level: the drag moves an exact window, and the one shown
//! is it in whole numbers where the film's values are whole (nearly every
//! film): readers expect "W 1331 L 427", not "W 1330.9 L 427.2".

use egui::Vec2;

use crate::imaging::Window;

/// The exact window after a drag of `d` points (width across, level up and
/// down, `step` value units a point) from `exact`, and the window to show.
/// Rounding only what is shown keeps slow drags of less than a unit a frame moving.
pub(super) fn dragged(exact: Window, d: Vec2, step: f64, whole: bool) -> (Window, Window) {
    let width = (exact.width + d.x as f64 * step).max(step.max(1e-6));
    let exact = Window { width, center: exact.center - d.y as f64 * step };
    let shown = if whole { Window { width: exact.width.round().max(1.0), center: exact.center.round() } } else { exact };
    (exact, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drag_on_a_film_of_whole_values_lands_on_whole_numbers() {
        let start = Window { center: 427.0, width: 1330.0 };
        // 8.19 units a point (a 12-bit film's range over 500), a drag of a few points.
        let (exact, shown) = dragged(start, egui::vec2(0.11, -0.3), 8.19, true);
        assert_eq!(shown, Window { center: 429.0, width: 1331.0 });
        assert_eq!(shown.label(), "W 1331 L 429");
        assert!((exact.width - 1330.9009).abs() < 1e-3 && (exact.center - 429.457).abs() < 1e-3, "{exact:?}");
        // Slow drags add up: ten frames of a tenth of a unit make a whole one.
        let mut w = (Window { center: 100.0, width: 200.0 }, Window { center: 100.0, width: 200.0 });
        for _ in 0..10 {
            w = dragged(w.0, egui::vec2(0.2, 0.0), 0.5, true);
        }
        assert_eq!(w.1, Window { center: 100.0, width: 201.0 });
        // A film of fractional values keeps its decimals.
        let (_, shown) = dragged(start, egui::vec2(0.11, -0.3), 8.19, false);
        assert_eq!(shown.label(), "W 1330.9 L 429.5");
    }
}
