//! The DICOM Patient Orientation (0020,0020): which patient directions the
//! image's rows and columns run toward, read and left alone when it is not
//! two of A/P/L/R/H/F. The viewer turns it into edge letters with the view;
//! the report letters its film, turned and flipped as the viewer showed it,
//! with the same [`edges`].

use super::Radiograph;

/// (0020,0020).
pub const PATIENT_ORIENTATION: (u16, u16) = (0x0020, 0x0020);

/// Patient Orientation's two directions, upper case: toward the image's right
/// (increasing column) and toward its bottom (increasing row); `None` when
/// absent or not two of A/P/L/R/H/F (a quadruped's codes are not ours to read).
pub fn patient_orientation(film: &Radiograph) -> Option<(String, String)> {
    parse(&film.tag_value(PATIENT_ORIENTATION)?)
}

/// [`patient_orientation`] of a tag's value (`R\F`, ` lp \FR`).
pub fn parse(value: &str) -> Option<(String, String)> {
    let parts: Vec<String> = value.split('\\').map(|p| p.trim().to_ascii_uppercase()).collect();
    let valid = |p: &String| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| "APLRHF".contains(c));
    match parts.as_slice() {
        [row, column] if valid(row) && valid(column) => Some((row.clone(), column.clone())),
        _ => None,
    }
}

/// The direction opposite `d`: each letter swapped (L↔R, A↔P, H↔F).
pub fn opposite(d: &str) -> String {
    d.chars()
        .map(|c| match c {
            'L' => 'R',
            'R' => 'L',
            'A' => 'P',
            'P' => 'A',
            'H' => 'F',
            'F' => 'H',
            other => other,
        })
        .collect()
}

/// The patient directions the screen's edges point to: "L", "RA", …
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edges {
    pub left: String,
    pub right: String,
    pub top: String,
    pub bottom: String,
}

/// Which screen edge each patient direction ends up at, the film flipped and
/// then turned clockwise `rotation` quarter turns, as the viewer's
/// `FilmView::to_screen` draws it (and the report its film).
pub fn edges(row: &str, column: &str, rotation: u8, flip_h: bool, flip_v: bool) -> Edges {
    let mut e = Edges { left: String::new(), right: String::new(), top: String::new(), bottom: String::new() };
    for (mut d, label) in [((1, 0), row.to_owned()), ((-1, 0), opposite(row)), ((0, 1), column.to_owned()), ((0, -1), opposite(column))] {
        if flip_h {
            d.0 = -d.0;
        }
        if flip_v {
            d.1 = -d.1;
        }
        for _ in 0..rotation % 4 {
            d = (-d.1, d.0);
        }
        let edge = match d {
            (1, _) => &mut e.right,
            (-1, _) => &mut e.left,
            (_, 1) => &mut e.bottom,
            _ => &mut e.top,
        };
        *edge = label;
    }
    e
}
