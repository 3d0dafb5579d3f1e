//! Which parts of a film are graded. Knee crops show one knee; some exported
//! films show both knees side by side. CLIP's centre crop would keep the gap
//! between the knees of such a film, so a wide film is graded as two halves,
//! one knee each, and every result says which half it is.

use serde::Serialize;

/// A film at least this many times wider than tall is taken to show both knees.
pub const BILATERAL_ASPECT: f64 = 1.6;

/// Says that `n` films (n ≥ 1) of a labelled dataset are wide enough to
/// show both knees, and so are used whole against their one label: `verb`
/// says how ("was graded", "is trained on").
pub fn wide_films_note(n: usize, verb: &str) -> String {
    let (films, each) = if n == 1 { ("1 film is".to_string(), "it") } else { (format!("{n} films are"), "each") };
    format!("{films} wide enough to show both knees; {each} {verb} whole against its one label, where `grade` grades the two halves")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Region {
    /// "whole-film" in JSON, as in grade's CSV `region` column.
    #[serde(rename = "whole-film")]
    Whole,
    /// The left half of the image as displayed (the patient's right knee in the
    /// usual PA view; we do not guess laterality).
    ImageLeft,
    ImageRight,
}

impl Region {
    pub fn label(self) -> &'static str {
        match self {
            Region::Whole => "whole film",
            Region::ImageLeft => "left half of the image",
            Region::ImageRight => "right half of the image",
        }
    }

    /// Column range of this region in a film `width` wide.
    pub fn columns(self, width: usize) -> std::ops::Range<usize> {
        match self {
            Region::Whole => 0..width,
            Region::ImageLeft => 0..width / 2,
            Region::ImageRight => width / 2..width,
        }
    }
}

pub fn regions_for(width: usize, height: usize) -> Vec<Region> {
    if height > 0 && width as f64 >= BILATERAL_ASPECT * height as f64 {
        vec![Region::ImageLeft, Region::ImageRight]
    } else {
        vec![Region::Whole]
    }
}

/// Copies a region's pixels out of a row-major film.
pub fn crop_region(width: usize, gray: &[f32], region: Region) -> (usize, Vec<f32>) {
    let cols = region.columns(width);
    let w = cols.len();
    let data = gray
        .chunks_exact(width)
        .flat_map(|row| row[cols.clone()].iter().copied())
        .collect();
    (w, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_films_are_split_into_two_knees() {
        assert_eq!(regions_for(224, 224), vec![Region::Whole]);
        assert_eq!(regions_for(300, 200), vec![Region::Whole]);
        assert_eq!(regions_for(400, 200), vec![Region::ImageLeft, Region::ImageRight]);
        let gray: Vec<f32> = (0..8).map(|v| v as f32).collect(); // 4×2
        assert_eq!(crop_region(4, &gray, Region::ImageRight), (2, vec![2.0, 3.0, 6.0, 7.0]));
        assert_eq!(crop_region(4, &gray, Region::ImageLeft), (2, vec![0.0, 1.0, 4.0, 5.0]));
    }
}
