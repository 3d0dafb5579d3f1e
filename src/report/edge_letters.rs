//! Orientation letters at the middle of the report film's edges, from the
//! file's Patient Orientation (0020,0020), as the viewer shows them: the
//! report's film is the whole film, never turned or flipped, so the letters
//! are the tag's own (for `R\F`: L left, R right, H top, F bottom). A film
//! without the tag gets none (radiologist QA: a film stored mirrored looked
//! normal on screen and on paper).

use super::content::Report;
use super::font::text_width;
use super::layout::{Item, Rgb};
use super::lines::boxed_label;
use crate::imaging::orientation::{opposite, parse};

/// The viewer's corner-box text colour.
const LETTER: Rgb = [1.0, 0.86, 0.45];
const SIZE: f32 = 8.0;
/// From the film's edge to the letter's box.
const INSET: f32 = 3.0;

/// The items that letter the edges of the film drawn at `x`, `y`, `w` × `h` points.
pub fn on_film(report: &Report, x: f32, y: f32, w: f32, h: f32) -> Vec<Item> {
    let Some((row, column)) = report.film.patient_orientation.as_deref().and_then(parse) else { return Vec::new() };
    let boxed = |text: String, left: f32, top: f32| boxed_label(text, SIZE, LETTER, left, top);
    let width = |t: &str| text_width(t, SIZE);
    let (middle_x, middle_y) = (x + w / 2.0, y + h / 2.0 - SIZE / 2.0);
    let (left, right, top, bottom) = (opposite(&row), row, opposite(&column), column);
    let mut items = Vec::new();
    items.extend(boxed(left.clone(), x + INSET, middle_y));
    items.extend(boxed(right.clone(), x + w - INSET - width(&right), middle_y));
    items.extend(boxed(top.clone(), middle_x - width(&top) / 2.0, y + INSET));
    items.extend(boxed(bottom.clone(), middle_x - width(&bottom) / 2.0, y + h - INSET - SIZE));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grading::{Assessment, Provenance, Region, TextAnchors};
    use crate::imaging::{DicomTag, Radiograph};
    use crate::report::ReportInput;

    fn report_of(film: &Radiograph) -> Report {
        let provenance = Provenance { model: "m".into(), head: None, anchors_hash: "h".into(), anchors_edited: false, arithmetic: "CPU".into() };
        let results = [(Region::Whole, Assessment { grade: 1, probabilities: [0.2; 5], similarities: [0.1; 5], provenance })];
        let anchors = TextAnchors::default();
        Report::new(&ReportInput::new(film, &results, &anchors)).unwrap()
    }

    fn letters(items: &[Item]) -> Vec<(String, f32, f32)> {
        items.iter().filter_map(|i| if let Item::Text { text, x, y, .. } = i { Some((text.clone(), *x, *y)) } else { None }).collect()
    }

    #[test]
    fn the_tags_letters_are_drawn_at_the_middle_of_each_edge() {
        let tag = DicomTag { tag: (0x0020, 0x0020), name: "PatientOrientation".into(), vr: "CS".into(), value: "R\\F".into(), identifying: false };
        let film = Radiograph::from_gray8(200, 100, vec![100; 200 * 100], "f.dcm").unwrap().with_tags(vec![tag]);
        let report = report_of(&film);
        assert_eq!(report.film.patient_orientation.as_deref(), Some("R\\F"), "in the JSON too");
        // The film drawn at (100, 10), 400 × 200 points.
        let drawn = letters(&on_film(&report, 100.0, 10.0, 400.0, 200.0));
        let at = |t: &str| drawn.iter().find(|(text, ..)| text == t).map(|(_, x, y)| (*x, *y)).unwrap_or_else(|| panic!("no {t}: {drawn:?}"));
        let (l, r, hd, f) = (at("L"), at("R"), at("H"), at("F"));
        assert!(l.0 < 110.0 && r.0 > 480.0 && (l.1 - r.1).abs() < 0.01, "L on the left, R on the right, level: {drawn:?}");
        assert!(hd.1 < 25.0 && f.1 > 200.0 && (hd.0 - f.0).abs() < 2.0 && (hd.0 - 300.0).abs() < 5.0, "H on top, F below, centred: {drawn:?}");
        let pages = crate::report::layout::pages(&report, &image::RgbImage::new(200, 100));
        assert_eq!(letters(&pages[0].items).iter().filter(|(t, ..)| ["L", "R", "H", "F"].contains(&t.as_str())).count(), 4, "on the page");
    }

    #[test]
    fn a_film_without_the_tag_gets_no_letters() {
        let film = Radiograph::from_gray8(200, 100, vec![100; 200 * 100], "f.png").unwrap();
        let report = report_of(&film);
        assert_eq!(report.film.patient_orientation, None);
        assert!(on_film(&report, 0.0, 0.0, 400.0, 200.0).is_empty());
    }
}
