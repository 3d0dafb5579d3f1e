//! The reader's length lines over the report's film, as the viewer draws
//! them: a light line on a dark casing, its length in a dark box past the end
//! it was drawn to. The report's film is the whole film, turned and flipped as
//! on screen and scaled to its box: a line's ends (stored film pixels) are
//! turned and flipped with it, so they lie on the same anatomy.

use super::content::Report;
use super::font::text_width;
use super::layout::{Item, Rgb};

/// The viewer's measurement green (90, 235, 140).
pub const LINE: Rgb = [90.0 / 255.0, 235.0 / 255.0, 140.0 / 255.0];
const CASING: Rgb = [0.05, 0.05, 0.05];
const LABEL_SIZE: f32 = 7.0;

/// The items that draw each measurement over the film drawn at `x`, `y`, `w` × `h` points.
pub fn over_film(report: &Report, x: f32, y: f32, w: f32, h: f32) -> Vec<Item> {
    let view = report.film.transform();
    let (width, height) = (report.film.width.max(1) as f32, report.film.height.max(1) as f32);
    let (shown_w, shown_h) = view.shown_size(width, height);
    let (sx, sy) = (w / shown_w, h / shown_h);
    let at = |p: [f32; 2]| {
        let [px, py] = view.point(width, height, p);
        (x + px * sx, y + py * sy)
    };
    let several = report.measurements.len() > 1;
    let mut items = Vec::new();
    for (i, m) in report.measurements.iter().enumerate() {
        let ((x0, y0), (x1, y1)) = (at(m.from), at(m.to));
        items.push(Item::Line { x0, y0, x1, y1, width: 2.2, color: CASING });
        items.push(Item::Line { x0, y0, x1, y1, width: 0.9, color: LINE });
        // Numbered when there are several, to match the list under the film.
        let text = if several { format!("{}: {}", i + 1, m.value()) } else { m.value() };
        let (tw, th) = (text_width(&text, LABEL_SIZE), LABEL_SIZE);
        // Past the end drawn to, away from the line, kept inside the film.
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len = dx.hypot(dy).max(1e-3);
        let (ax, ay) = (x1 + dx / len * 4.0, y1 + dy / len * 4.0);
        let left = if dx < 0.0 { ax - tw } else { ax }.clamp(x + 2.0, (x + w - tw - 2.0).max(x + 2.0));
        let top = if dy < 0.0 { ay - th } else { ay }.clamp(y + 2.0, (y + h - th - 2.0).max(y + 2.0));
        items.extend(boxed_label(text, LABEL_SIZE, LINE, left, top));
    }
    items
}

/// `text` in `color` on a dark box whose top-left corner is near (`left`, `top`):
/// a length's label, an edge's orientation letter.
pub(super) fn boxed_label(text: String, size: f32, color: Rgb, left: f32, top: f32) -> [Item; 2] {
    let width = text_width(&text, size);
    [Item::Rect { x: left - 1.5, y: top - 1.0, w: width + 3.0, h: size + 2.5, color: CASING }, Item::Text { x: left, y: top + size * 0.8, size, color, text }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grading::{Assessment, Provenance, Region, TextAnchors};
    use crate::imaging::Radiograph;
    use crate::report::{Line, ReportInput};

    /// The report of a 200 × 100 film without pixel spacing and one line
    /// 120 px long across it, drawn with `view`'s turn and flips.
    fn one_line_report(view: crate::report::ViewTransform) -> Report {
        let film = Radiograph::from_gray8(200, 100, vec![100; 200 * 100], "f.png").unwrap();
        let anchors = TextAnchors::default();
        let provenance = Provenance { model: "m".into(), head: None, anchors_hash: "h".into(), anchors_edited: false, arithmetic: "CPU".into() };
        let results = [(Region::Whole, Assessment { grade: 1, probabilities: [0.2; 5], similarities: [0.1; 5], provenance })];
        let lines = [Line { from: [20.0, 50.0], to: [140.0, 50.0] }];
        let mut input = ReportInput::new(&film, &results, &anchors);
        input.measurements = &lines;
        input.view = view;
        Report::new(&input).unwrap()
    }

    #[test]
    fn a_line_is_listed_in_pixels_without_spacing_and_drawn_where_it_lies_on_the_film() {
        let report = one_line_report(crate::report::ViewTransform::default());
        assert_eq!(report.measurements[0].text(), "Length 1: 120 px (no pixel spacing known)");
        // The film drawn at (100, 10), 400 × 200 points: twice its pixels.
        let items = over_film(&report, 100.0, 10.0, 400.0, 200.0);
        assert!(items.contains(&Item::Line { x0: 140.0, y0: 110.0, x1: 380.0, y1: 110.0, width: 0.9, color: LINE }), "{items:?}");
        assert!(items.iter().any(|i| matches!(i, Item::Text { text, x, .. } if text == "120 px" && *x >= 380.0)), "{items:?}");
        let pages = crate::report::layout::pages(&report, &image::RgbImage::new(200, 100));
        let texts: Vec<&str> = pages[0].items.iter().filter_map(|i| if let Item::Text { text, .. } = i { Some(text.as_str()) } else { None }).collect();
        assert!(texts.contains(&"Length 1: 120 px (no pixel spacing known)"), "{texts:?}");
    }

    #[test]
    fn a_line_turns_and_flips_with_the_film() {
        // Flip H, a quarter turn clockwise: the stored (x, y) goes to (100 − y, 200 − x) of a 100 × 200 film.
        let report = one_line_report(crate::report::ViewTransform::new(1, true, false));
        assert_eq!(report.measurements[0].from, [20.0, 50.0], "the JSON keeps stored pixels");
        // Drawn 200 × 400 points at (100, 10): twice its shown pixels.
        let items = over_film(&report, 100.0, 10.0, 200.0, 400.0);
        assert!(items.contains(&Item::Line { x0: 200.0, y0: 370.0, x1: 200.0, y1: 130.0, width: 0.9, color: LINE }), "{items:?}");
        // The label past the end drawn to (now upward), inside the film.
        assert!(items.iter().any(|i| matches!(i, Item::Text { text, y, .. } if text == "120 px" && *y < 130.0)), "{items:?}");
    }
}
