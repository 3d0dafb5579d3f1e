//! The DICOM Patient Orientation (0020,0020): which patient directions the
//! image's rows and columns run toward, read and left alone when it is not
//! two of A/P/L/R/H/F. The viewer turns it into edge letters with the view;
//! the report draws it on the whole, unturned film.

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
