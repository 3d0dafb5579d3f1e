//! Which knee a graded region shows (side) and how the film was taken (view),
//! from what the file says, never from the pixels: DICOM Image Laterality
//! (0020,0062), else Laterality (0020,0060), else an OAI-style name
//! (`9001695L.png`); View Position (0018,5101). Each comes with where it was
//! read, so a reader can judge it.

use serde::Serialize;

use super::Region;
use crate::imaging::Radiograph;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// A region's side and the film's view, each with its source; `None` when unknown.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SideView {
    pub side: Option<Side>,
    pub side_source: Option<String>,
    pub view: Option<String>,
    pub view_source: Option<String>,
    /// The file names another region than the knee ([`Radiograph::names_another_region`]):
    /// its side is worded "left side", not "left knee".
    #[serde(skip)]
    pub other_region: bool,
}

impl SideView {
    /// "left knee, AP", "left knee", "AP" ("left side, AP" for a film of
    /// another region); `None` when neither is known.
    pub fn label(&self) -> Option<String> {
        let parts: Vec<String> = self.side.map(|s| side_words(s, self.other_region)).into_iter().chain(self.view.clone()).collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// The knee side an OAI-style file name gives: a stem ending in `L` or `R`
/// right after a digit (`9001695L.png`). Training counts films per side with it too.
pub fn side_from_name(path: &std::path::Path) -> Option<Side> {
    let stem = path.file_stem()?.to_str()?;
    let mut chars = stem.chars().rev();
    let last = chars.next()?;
    chars.next().filter(char::is_ascii_digit)?;
    match last {
        'L' => Some(Side::Left),
        'R' => Some(Side::Right),
        _ => None,
    }
}

/// `label` with its first letter capitalised, for a title: "Right knee, AP".
pub fn capitalised(label: &str) -> String {
    let mut chars = label.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// "left knee", or "left side" where the file names another region than the
/// knee (an ankle film's stated side is not a knee's).
pub fn side_words(side: Side, other_region: bool) -> String {
    format!("{} {}", side.name(), if other_region { "side" } else { "knee" })
}

/// "left half of the image (right knee)": a region's title with its knee, when known.
pub fn with_side(title: &str, side: Option<Side>) -> String {
    match side {
        Some(side) => format!("{title} ({} knee)", side.name()),
        None => title.to_string(),
    }
}

/// Whether the file states both knees (laterality B): no one side, though a
/// viewer can still say "both knees".
pub fn both_knees_stated(film: &Radiograph) -> bool {
    stated(film).is_some_and(|(value, _)| value == "B")
}

const IMAGE_LATERALITY: (u16, u16) = (0x0020, 0x0062);
const LATERALITY: (u16, u16) = (0x0020, 0x0060);
const PATIENT_ORIENTATION: (u16, u16) = (0x0020, 0x0020);
const VIEW_POSITION: (u16, u16) = (0x0018, 0x5101);

/// The side and view of `region` of `film` ([`Region::Whole`] for a film graded whole).
///
/// A film graded as two halves gets each half's side only when the file says
/// which way the patient faces: Patient Orientation (0020,0020), whose first
/// value is the direction of increasing column ("L": the image's left half is
/// the patient's right knee), else a stated laterality of B (both) read by the
/// radiographic convention that the patient's right is on the image's left
/// (the one `regions.rs` names). A single side stated for a film split in two
/// says nothing about either half.
pub fn side_and_view(film: &Radiograph, region: Region) -> SideView {
    let view = film.tag_value(VIEW_POSITION).map(|v| v.to_ascii_uppercase());
    let view_source = view.as_ref().map(|_| "View Position (0018,5101)".to_string());
    let (side, side_source) = match region {
        Region::Whole => film_side(film).map_or((None, None), |(s, src)| (Some(s), Some(src))),
        Region::ImageLeft | Region::ImageRight => half_side(film, region).map_or((None, None), |(s, src)| (Some(s), Some(src))),
    };
    SideView { side, side_source, view, view_source, other_region: film.names_another_region() }
}

/// The stated laterality: "L", "R", "B" or another value, and its attribute's name.
fn stated(film: &Radiograph) -> Option<(String, &'static str)> {
    let upper = |v: String| v.to_ascii_uppercase();
    film.tag_value(IMAGE_LATERALITY)
        .map(|v| (upper(v), "Image Laterality (0020,0062)"))
        .or_else(|| film.tag_value(LATERALITY).map(|v| (upper(v), "Laterality (0020,0060)")))
}

fn film_side(film: &Radiograph) -> Option<(Side, String)> {
    if let Some((value, source)) = stated(film) {
        return match value.as_str() {
            "L" => Some((Side::Left, source.into())),
            "R" => Some((Side::Right, source.into())),
            _ => None, // B (both) or unknown: no one side for the whole film
        };
    }
    side_from_name(film.source()).map(|s| (s, "file name".into()))
}

fn half_side(film: &Radiograph, region: Region) -> Option<(Side, String)> {
    // The patient side that increasing columns point to, i.e. the image-right half's.
    let toward = film.tag_value(PATIENT_ORIENTATION).and_then(|v| match v.trim_start().chars().next()?.to_ascii_uppercase() {
        'L' => Some((Side::Left, "Patient Orientation (0020,0020)".to_string())),
        'R' => Some((Side::Right, "Patient Orientation (0020,0020)".to_string())),
        _ => None,
    });
    let (image_right, source) = toward.or_else(|| {
        let (value, attribute) = stated(film)?;
        (value == "B").then(|| (Side::Left, format!("{attribute} B, with the patient's right on the image's left (radiographic convention)")))
    })?;
    Some((if region == Region::ImageRight { image_right } else { image_right.other() }, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oai_names_give_the_side_and_nothing_else_is_guessed() {
        let film = |name: &str| Radiograph::from_gray8(4, 4, vec![0; 16], name).unwrap();
        let left = side_and_view(&film("a/9001695L.png"), Region::Whole);
        assert_eq!((left.side, left.side_source.as_deref(), left.view.as_deref()), (Some(Side::Left), Some("file name"), None));
        assert_eq!(left.label().as_deref(), Some("left knee"));
        assert_eq!(side_and_view(&film("9001695R.png"), Region::Whole).side, Some(Side::Right));
        assert_eq!(side_and_view(&film("knee.png"), Region::Whole), SideView::default());
        // A named side says nothing about the halves of a film split in two.
        assert_eq!(side_and_view(&film("9001695R.png"), Region::ImageLeft), SideView::default());
    }
}
