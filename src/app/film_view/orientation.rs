//! Orientation letters at the middle of the film's edges, from the file's
//! Patient Orientation (0020,0020) turned and flipped with the view, and a
//! notice when a frontal film is shown other than the usual way (as if facing
//! the patient: their right on the viewer's left, the head up). Nothing is
//! guessed: a file without Patient Orientation gets neither.

use egui::{Color32, Pos2, Rect, Stroke, Vec2, vec2};

use super::{FilmView, ViewState};
use crate::imaging::Radiograph;
use crate::imaging::orientation::patient_orientation;
#[cfg(test)]
use crate::imaging::orientation::{PATIENT_ORIENTATION, opposite, parse};

// The pure mapping lives with the tag's reading, so the report letters its film the same way.
pub use crate::imaging::orientation::{Edges, edges};

fn edges_for(row: &str, column: &str, s: &ViewState) -> Edges {
    edges(row, column, s.rotation, s.flip_h, s.flip_v)
}

/// What a reader should know when a frontal film is shown mirrored or upside
/// down from the usual display, with the view command that puts it right;
/// `None` when it is shown the usual way, turned sideways (the reader's own
/// doing), not frontal, or the file has no Patient Orientation.
pub fn notice(film: &Radiograph, s: &ViewState) -> Option<String> {
    let (row, column) = patient_orientation(film)?;
    // Frontal: the View Position says AP or PA, or says nothing — an image
    // plane holding both left–right and head–feet is a frontal projection.
    let view = crate::grading::side_and_view(film, crate::grading::Region::Whole).view;
    if view.is_some_and(|v| v != "AP" && v != "PA") {
        return None;
    }
    let first = |d: &str| d.chars().next();
    let shown = edges_for(&row, &column, s);
    let (right, bottom) = (first(&shown.right)?, first(&shown.bottom)?);
    let what = match (right, bottom) {
        ('R', 'F') => ("mirrored left–right", "the patient's right is on your right"),
        ('R', 'H') => ("upside down", "the patient's right is on your right and the feet at the top"),
        ('L', 'H') => ("mirrored top–bottom", "the patient's feet are at the top"),
        _ => return None,
    };
    let usual = |t: &ViewState| {
        let e = edges_for(&row, &column, t);
        (first(&e.right), first(&e.bottom)) == (Some('L'), Some('F'))
    };
    let fix = [("Flip H", ViewState { flip_h: !s.flip_h, ..*s }), ("Flip V", ViewState { flip_v: !s.flip_v, ..*s }), ("Rotate twice", ViewState { rotation: (s.rotation + 2) % 4, ..*s })]
        .into_iter()
        .find(|(_, t)| usual(t))
        .map_or(String::new(), |(command, _)| format!("; {command} shows it the usual way"));
    let value = format!("Patient Orientation {row}\\{column}");
    Some(if s.rotation.is_multiple_of(4) && !s.flip_h && !s.flip_v {
        format!("Stored {} from the usual display ({value}: {}){fix}", what.0, what.1)
    } else {
        format!("Shown {} from the usual display ({}, by the file's {value} as turned here){fix}", what.0, what.1)
    })
}

/// A direction in words, for the edge letter's tooltip: "LP" → "the patient's left and posterior".
fn direction_name(d: &str) -> String {
    let words: Vec<&str> = d
        .chars()
        .map(|c| match c {
            'L' => "left",
            'R' => "right",
            'A' => "anterior",
            'P' => "posterior",
            'H' => "head",
            _ => "feet",
        })
        .collect();
    format!("the patient's {}", words.join(" and "))
}

impl FilmView {
    /// The letters at the middle of each edge of `rect`, clear of the corner
    /// boxes `corners`, and the orientation notice under the top-left one.
    /// Neither identifies the patient: both stay with patient data hidden.
    pub(super) fn paint_orientation(&self, ui: &mut egui::Ui, rect: Rect, corners: [Rect; 4]) {
        let Some((row, column)) = patient_orientation(&self.film) else { return };
        let e = edges_for(&row, &column, &self.state);
        let font = egui::FontId::proportional(16.0);
        let color = Color32::from_rgb(255, 230, 120);
        let m = 8.0;
        let source = format!("from the file's Patient Orientation (0020,0020) {row}\\{column}, as turned and flipped here");
        let places = [
            (rect.center_top() + vec2(0.0, m), egui::Align2::CENTER_TOP, &e.top),
            (rect.center_bottom() - vec2(0.0, m), egui::Align2::CENTER_BOTTOM, &e.bottom),
            (rect.left_center() + vec2(m, 0.0), egui::Align2::LEFT_CENTER, &e.left),
            (rect.right_center() - vec2(m, 0.0), egui::Align2::RIGHT_CENTER, &e.right),
        ];
        // The notice first: under the top-left corner, short of the middle, where the top letter goes.
        let mut avoid = corners.to_vec();
        if let Some(notice) = notice(&self.film, &self.state) {
            let amber = Color32::from_rgb(240, 180, 60);
            let font = egui::FontId::proportional(14.0);
            let width = (rect.width() / 2.0 - m - 24.0).max(60.0);
            let top = if corners[0].height() > 0.0 { corners[0].bottom() + 10.0 } else { rect.top() + m };
            let galley = ui.painter().layout(notice.clone(), font.clone(), amber, width);
            let r = Rect::from_min_size(Pos2::new(rect.left() + m, top), galley.size());
            boxed(ui, rect, r, &notice, font, amber).on_hover_text("A frontal (AP or PA) radiograph is usually shown as if facing the patient: their right on your left, the head at the top. The pixels and what the model grades are as stored.");
            avoid.push(r);
        }
        for (i, (pos, align, text)) in places.into_iter().enumerate() {
            let size = ui.painter().layout_no_wrap(text.clone(), font.clone(), color).size();
            let mut r = align.anchor_size(pos, size);
            // A wide corner box (or the notice) reaches the middle of the edge: the letter goes past it.
            for _ in 0..avoid.len() * usize::from(i < 2) {
                let Some(c) = avoid.iter().find(|c| c.expand(4.0).intersects(r.expand(3.0))) else { break };
                r = r.translate(vec2(0.0, if i == 1 { c.top() - 7.0 - r.bottom() } else { c.bottom() + 7.0 - r.top() }));
            }
            boxed(ui, rect, r, text, font.clone(), color).on_hover_text(format!("Toward {}: {source}", direction_name(text)));
        }
    }
}

/// `text` as a real label (screen readers and tests see it) on the corner
/// boxes' outlined dark backing, in `r`, clipped to the film's `clip`.
fn boxed(ui: &mut egui::Ui, clip: Rect, r: Rect, text: &str, font: egui::FontId, color: Color32) -> egui::Response {
    ui.painter_at(clip).rect(r.expand(3.0), 3.0, Color32::from_black_alpha(160), Stroke::new(1.0, Color32::from_gray(90)), egui::StrokeKind::Outside);
    let label = egui::Label::new(egui::RichText::new(text).font(font).color(color)).selectable(false).wrap_mode(egui::TextWrapMode::Wrap);
    let layout = egui::Layout::top_down(egui::Align::Min);
    ui.push_id(("orientation", text), |ui| ui.scope_builder(egui::UiBuilder::new().max_rect(r.expand2(Vec2::new(0.5, 0.0))).layout(layout), |ui| ui.add(label)).inner).inner
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use egui::pos2;

    #[test]
    fn patient_orientation_values_are_read_or_left_alone() {
        assert_eq!(parse("R\\F"), Some(("R".into(), "F".into())));
        assert_eq!(parse(" lp \\FR"), Some(("LP".into(), "FR".into())));
        for bad in ["", "R", "R\\F\\A", "R\\", "LE\\CR", "X\\F"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(opposite("LPF"), "RAH");
        assert_eq!(direction_name("LP"), "the patient's left and posterior");
    }

    #[test]
    fn a_compound_orientation_follows_every_rotation_and_flip() {
        // LP\FR: toward the image's right the patient's left-posterior, downward feet-right.
        // (rotation, flip H, flip V) → left, right, top, bottom.
        let expected = [
            ((0, false, false), ["RA", "LP", "HL", "FR"]),
            ((0, true, false), ["LP", "RA", "HL", "FR"]),
            ((0, false, true), ["RA", "LP", "FR", "HL"]),
            ((0, true, true), ["LP", "RA", "FR", "HL"]),
            ((1, false, false), ["FR", "HL", "RA", "LP"]),
            ((1, true, false), ["FR", "HL", "LP", "RA"]),
            ((1, false, true), ["HL", "FR", "RA", "LP"]),
            ((1, true, true), ["HL", "FR", "LP", "RA"]),
            ((2, false, false), ["LP", "RA", "FR", "HL"]),
            ((2, true, false), ["RA", "LP", "FR", "HL"]),
            ((2, false, true), ["LP", "RA", "HL", "FR"]),
            ((2, true, true), ["RA", "LP", "HL", "FR"]),
            ((3, false, false), ["HL", "FR", "LP", "RA"]),
            ((3, true, false), ["HL", "FR", "RA", "LP"]),
            ((3, false, true), ["FR", "HL", "LP", "RA"]),
            ((3, true, true), ["FR", "HL", "RA", "LP"]),
        ];
        for ((rotation, h, v), [left, right, top, bottom]) in expected {
            let e = edges("LP", "FR", rotation, h, v);
            assert_eq!([e.left.as_str(), e.right.as_str(), e.top.as_str(), e.bottom.as_str()], [left, right, top, bottom], "rotation {rotation}, flip H {h}, flip V {v}");
        }
    }

    #[test]
    fn the_letters_go_where_the_film_is_drawn() {
        // The film's right edge, drawn by to_screen, lands on the edge that gets the row direction.
        let film = Radiograph::from_gray8(40, 20, vec![0; 800], "t").unwrap();
        let mut v = FilmView::new(Arc::new(film));
        let rect = Rect::from_min_size(pos2(0.0, 0.0), vec2(300.0, 300.0));
        for rotation in 0..4 {
            for (h, f) in [(false, false), (true, false), (false, true), (true, true)] {
                (v.state.rotation, v.state.flip_h, v.state.flip_v) = (rotation, h, f);
                let d = v.to_screen(rect, pos2(40.0, 10.0)) - rect.center();
                let e = edges("R", "F", rotation, h, f);
                let at = if d.x > 1.0 { &e.right } else if d.x < -1.0 { &e.left } else if d.y > 1.0 { &e.bottom } else { &e.top };
                assert_eq!(at, "R", "rotation {rotation}, flip H {h}, flip V {f}: {d:?}");
            }
        }
    }

    fn film_with(orientation: &str, view: Option<&str>) -> Radiograph {
        let tag = |tag, name: &str, value: &str| crate::imaging::DicomTag { tag, name: name.into(), vr: "CS".into(), value: value.into(), identifying: false };
        let tags = [Some(tag(PATIENT_ORIENTATION, "PatientOrientation", orientation)), view.map(|v| tag((0x0018, 0x5101), "ViewPosition", v))];
        Radiograph::from_gray8(4, 4, vec![0; 16], "t").unwrap().with_tags(tags.into_iter().flatten().collect())
    }

    #[test]
    fn a_frontal_film_shown_mirrored_says_so_until_it_is_shown_the_usual_way() {
        let film = film_with("R\\F", Some("AP"));
        let mut s = ViewState::initial(&film);
        assert_eq!(
            notice(&film, &s).as_deref(),
            Some("Stored mirrored left–right from the usual display (Patient Orientation R\\F: the patient's right is on your right); Flip H shows it the usual way")
        );
        s.flip_h = true;
        assert_eq!(notice(&film, &s), None, "flipped, it is shown the usual way");
        // Then turned half way: upside down.
        s.rotation = 2;
        let said = notice(&film, &s).unwrap();
        assert!(said.starts_with("Shown upside down") && said.ends_with("Rotate twice shows it the usual way"), "{said}");
        // Turned half way unflipped: the head at the bottom, the patient's right on the left.
        s.flip_h = false;
        let said = notice(&film, &s).unwrap();
        assert!(said.starts_with("Shown mirrored top–bottom") && said.ends_with("Flip V shows it the usual way"), "{said}");
        s.rotation = 1;
        assert_eq!(notice(&film, &s), None, "sideways is the reader's own doing");
        // The usual display, a lateral view, no orientation: nothing.
        assert_eq!(notice(&film_with("L\\F", Some("PA")), &s), None);
        assert_eq!(notice(&film_with("R\\F", Some("LL")), &ViewState::initial(&film)), None);
        assert!(notice(&film_with("R\\F", None), &ViewState::initial(&film)).is_some(), "R/L by H/F is a frontal plane");
        let plain = Radiograph::from_gray8(4, 4, vec![0; 16], "t").unwrap();
        assert_eq!(notice(&plain, &ViewState::initial(&plain)), None);
        // Stored head down: turning it is the fix.
        assert!(notice(&film_with("R\\H", Some("AP")), &ViewState::initial(&film)).unwrap().ends_with("Rotate twice shows it the usual way"));
    }
}
