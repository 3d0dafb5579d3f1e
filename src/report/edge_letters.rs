//! Orientation letters at the middle of the report film's edges, from the
//! file's Patient Orientation (0020,0020), as the viewer shows them: the
//! report's film is turned and flipped as on screen, and its letters with it
//! by the viewer's own mapping (as stored, `R\F` gives L left, R right, H top,
//! F bottom). A film without the tag gets none (radiologist QA: a film stored
//! mirrored looked normal on screen and on paper).

use super::content::Report;
use super::font::text_width;
use super::layout::{Item, Rgb};
use super::lines::boxed_label;
use crate::imaging::orientation::parse;

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
    let shown = report.film.transform().edges(&row, &column);
    let (left, right, top, bottom) = (shown.left, shown.right, shown.top, shown.bottom);
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
        report_shown(film, crate::report::ViewTransform::default())
    }

    fn report_shown(film: &Radiograph, view: crate::report::ViewTransform) -> Report {
        let provenance = Provenance { model: "m".into(), head: None, anchors_hash: "h".into(), anchors_edited: false, arithmetic: "CPU".into() };
        let results = [(Region::Whole, Assessment { grade: 1, probabilities: [0.2; 5], similarities: [0.1; 5], provenance })];
        let anchors = TextAnchors::default();
        let mut input = ReportInput::new(film, &results, &anchors);
        input.view = view;
        Report::new(&input).unwrap()
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
    fn the_letters_turn_and_flip_with_the_film_as_the_viewer_shows_them() {
        let tag = DicomTag { tag: (0x0020, 0x0020), name: "PatientOrientation".into(), vr: "CS".into(), value: "R\\F".into(), identifying: false };
        let film = Radiograph::from_gray8(200, 100, vec![100; 200 * 100], "f.dcm").unwrap().with_tags(vec![tag]);
        // Flip H, then a quarter turn clockwise (the viewer's H then R): feet left, head right, R top, L bottom.
        let report = report_shown(&film, crate::report::ViewTransform::new(1, true, false));
        assert_eq!(report.film.patient_orientation.as_deref(), Some("R\\F"), "the JSON keeps the stored value");
        // Turned, the 200 × 100 film is drawn 200 × 400 points at (100, 10).
        let drawn = letters(&on_film(&report, 100.0, 10.0, 200.0, 400.0));
        let at = |t: &str| drawn.iter().find(|(text, ..)| text == t).map(|(_, x, y)| (*x, *y)).unwrap_or_else(|| panic!("no {t}: {drawn:?}"));
        let (f, hd, r, l) = (at("F"), at("H"), at("R"), at("L"));
        assert!(f.0 < 110.0 && hd.0 > 280.0 && (f.1 - hd.1).abs() < 0.01, "F left, H right: {drawn:?}");
        assert!(r.1 < 25.0 && l.1 > 400.0 && (r.0 - 200.0).abs() < 5.0, "R on top, L below: {drawn:?}");
        // Flipped only: the stored letters left and right swap.
        let flipped = letters(&on_film(&report_shown(&film, crate::report::ViewTransform::new(0, true, false)), 0.0, 0.0, 400.0, 200.0));
        let x_of = |t: &str| flipped.iter().find(|(text, ..)| text == t).unwrap().1;
        assert!(x_of("R") < 20.0 && x_of("L") > 380.0, "{flipped:?}");
    }

    #[test]
    fn a_film_without_the_tag_gets_no_letters() {
        let film = Radiograph::from_gray8(200, 100, vec![100; 200 * 100], "f.png").unwrap();
        let report = report_of(&film);
        assert_eq!(report.film.patient_orientation, None);
        assert!(on_film(&report, 0.0, 0.0, 400.0, 200.0).is_empty());
    }
}
