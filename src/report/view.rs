//! How the reader had the film turned and flipped when the report was made:
//! the report's film, its length lines, heatmap and edge letters follow it, so
//! the page shows the anatomy where the screen did. As in the viewer, the
//! stored film is flipped first (left–right, top–bottom), then turned
//! clockwise in quarter turns. Zoom and pan are not part of it: the report
//! always shows the whole film.

use image::{RgbImage, imageops};
use serde::Serialize;

use crate::imaging::orientation::{Edges, edges};

/// The view's turn and flips, named as the JSON report carries them (`film.view_transform`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ViewTransform {
    /// Clockwise, after the flips: 0, 90, 180 or 270.
    pub rotation_degrees: u16,
    /// Mirrored left–right (the stored film's columns reversed), before the turn.
    pub flip_horizontal: bool,
    /// Mirrored top–bottom (the stored film's rows reversed), before the turn.
    pub flip_vertical: bool,
}

impl ViewTransform {
    /// The viewer's `rotation` (quarter turns clockwise) and flips. Both flips
    /// are a half turn, and are said as one: flipped both ways and turned
    /// half way round is the film as stored, reported as such.
    pub fn new(rotation: u8, flip_horizontal: bool, flip_vertical: bool) -> Self {
        let both = flip_horizontal && flip_vertical;
        let turns = (rotation % 4 + if both { 2 } else { 0 }) % 4;
        ViewTransform { rotation_degrees: u16::from(turns) * 90, flip_horizontal: flip_horizontal && !both, flip_vertical: flip_vertical && !both }
    }

    pub fn quarter_turns(&self) -> u8 {
        (self.rotation_degrees / 90 % 4) as u8
    }

    /// The film shown as stored.
    pub fn is_identity(&self) -> bool {
        self.quarter_turns() == 0 && !self.flip_horizontal && !self.flip_vertical
    }

    /// The shown size of a stored `width` × `height` film (turned sideways, they swap).
    pub fn shown_size(&self, width: f32, height: f32) -> (f32, f32) {
        if self.quarter_turns() % 2 == 1 { (height, width) } else { (width, height) }
    }

    /// A point in the stored film's pixels ([column, row], `width` × `height`)
    /// → where it is shown, in the shown film's pixels.
    pub fn point(&self, width: f32, height: f32, p: [f32; 2]) -> [f32; 2] {
        let [mut x, mut y] = p;
        let (mut w, mut h) = (width, height);
        if self.flip_horizontal {
            x = w - x;
        }
        if self.flip_vertical {
            y = h - y;
        }
        for _ in 0..self.quarter_turns() {
            // A clockwise quarter turn on a y-down screen: right goes to the bottom.
            (x, y, w, h) = (h - y, x, h, w);
        }
        [x, y]
    }

    /// The film image turned and flipped as shown (the same image when shown as stored).
    pub fn image(&self, image: RgbImage) -> RgbImage {
        let mut image = image;
        if self.flip_horizontal {
            imageops::flip_horizontal_in_place(&mut image);
        }
        if self.flip_vertical {
            imageops::flip_vertical_in_place(&mut image);
        }
        match self.quarter_turns() {
            1 => imageops::rotate90(&image),
            2 => imageops::rotate180(&image),
            3 => imageops::rotate270(&image),
            _ => image,
        }
    }

    /// The edges' patient directions for Patient Orientation `row`\`column`, as the viewer letters them.
    pub fn edges(&self, row: &str, column: &str) -> Edges {
        edges(row, column, self.quarter_turns(), self.flip_horizontal, self.flip_vertical)
    }

    /// The report's sentence under the film: "Shown flipped left–right, then
    /// turned 90° clockwise from the stored film, as on screen …"; `None` as stored.
    pub fn describe(&self) -> Option<String> {
        if self.is_identity() {
            return None;
        }
        let flips = match (self.flip_horizontal, self.flip_vertical) {
            (true, true) => Some("flipped left–right and top–bottom"),
            (true, false) => Some("flipped left–right"),
            (false, true) => Some("flipped top–bottom"),
            (false, false) => None,
        };
        let turn = (self.quarter_turns() > 0).then(|| format!("turned {}° clockwise", self.rotation_degrees));
        let what = match (flips, turn) {
            (Some(f), Some(t)) => format!("{f}, then {t}"),
            (Some(f), None) => f.to_owned(),
            (None, Some(t)) => t,
            (None, None) => return None,
        };
        Some(format!("Shown {what} from the stored film, as on screen when the report was made"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_follow_the_pixels_they_lie_on() {
        // A 3 × 2 image with every pixel different; each pixel's centre must land on the same value.
        let stored = RgbImage::from_fn(3, 2, |x, y| image::Rgb([(x + 3 * y) as u8, 0, 0]));
        for turns in 0..4 {
            for (h, v) in [(false, false), (true, false), (false, true), (true, true)] {
                let t = ViewTransform::new(turns, h, v);
                let shown = t.image(stored.clone());
                assert_eq!((shown.width() as f32, shown.height() as f32), t.shown_size(3.0, 2.0));
                for (x, y, p) in stored.enumerate_pixels() {
                    let [sx, sy] = t.point(3.0, 2.0, [x as f32 + 0.5, y as f32 + 0.5]);
                    assert_eq!(shown.get_pixel((sx - 0.5) as u32, (sy - 0.5) as u32), p, "{t:?}: ({x}, {y}) → ({sx}, {sy})");
                }
            }
        }
        assert!(ViewTransform::default().is_identity() && ViewTransform::new(4, false, false).is_identity());
        // Flipped both ways is a half turn: said as one, and with a half turn more, as stored.
        assert_eq!(ViewTransform::new(1, true, true), ViewTransform::new(3, false, false));
        assert!(ViewTransform::new(2, true, true).is_identity());
        assert_eq!(ViewTransform::new(1, false, false).point(3.0, 2.0, [3.0, 0.0]), [2.0, 3.0], "the top-right corner goes to the bottom-right");
    }

    #[test]
    fn the_transform_is_said_in_words() {
        assert_eq!(ViewTransform::default().describe(), None);
        assert_eq!(ViewTransform::new(1, true, false).describe().unwrap(), "Shown flipped left–right, then turned 90° clockwise from the stored film, as on screen when the report was made");
        assert_eq!(ViewTransform::new(2, false, false).describe().unwrap(), "Shown turned 180° clockwise from the stored film, as on screen when the report was made");
        assert_eq!(ViewTransform::new(0, false, true).describe().unwrap(), "Shown flipped top–bottom from the stored film, as on screen when the report was made");
    }
}
