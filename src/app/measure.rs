//! The length tool's lines. They are kept in film pixel coordinates, so they
//! stay on the anatomy under zoom, pan, rotation and flips; their length comes
//! from the film's pixel spacing (Pixel Spacing, else Imager Pixel Spacing), or
//! is given in pixels when the file has neither.

use egui::Pos2;

use crate::imaging::{PixelSpacing, SpacingSource};

/// One measured line; `from` and `to` are in film pixels (x = column, y = row).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    pub from: Pos2,
    pub to: Pos2,
}

/// A line's length, with the unit it could be given in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Length {
    Mm(f64, PixelSpacing),
    Pixels(f64),
}

impl Measurement {
    pub fn length(&self, spacing: Option<PixelSpacing>) -> Length {
        let (a, b) = ((self.from.x as f64, self.from.y as f64), (self.to.x as f64, self.to.y as f64));
        match spacing {
            Some(s) => Length::Mm(s.length_mm(a, b), s),
            None => Length::Pixels((b.0 - a.0).hypot(b.1 - a.1)),
        }
    }
}

impl Length {
    /// "23.4 mm" or "117 px".
    pub fn label(&self) -> String {
        match self {
            Length::Mm(mm, _) => format!("{mm:.1} mm"),
            Length::Pixels(px) => format!("{px:.0} px"),
        }
    }

    /// Where the length came from, shown when hovering the label.
    pub fn tooltip(&self) -> String {
        match self {
            Length::Mm(_, s) => {
                let mut text = format!("From {}: {:.4} mm per row, {:.4} mm per column", s.source.describe(), s.row_mm, s.column_mm);
                if s.source == SpacingSource::ImagerPixelSpacing {
                    text.push_str(". Measured at the detector: includes the projection's magnification.");
                }
                text
            }
            Length::Pixels(_) => format!(
                "No pixel spacing is known for this film (neither {} nor {}): the length is in pixels.",
                SpacingSource::PixelSpacing.describe(),
                SpacingSource::ImagerPixelSpacing.describe()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::pos2;

    #[test]
    fn lengths_in_mm_with_spacing_and_in_pixels_without() {
        let line = Measurement { from: pos2(10.0, 20.0), to: pos2(22.0, 28.0) };
        // 12 columns × 0.25 mm = 3 mm across, 8 rows × 0.5 mm = 4 mm down: 5 mm.
        let spacing = PixelSpacing { row_mm: 0.5, column_mm: 0.25, source: SpacingSource::PixelSpacing };
        let mm = line.length(Some(spacing));
        assert_eq!(mm, Length::Mm(5.0, spacing));
        assert_eq!(mm.label(), "5.0 mm");
        assert!(mm.tooltip().contains("Pixel Spacing (0028,0030)"), "{}", mm.tooltip());
        // Without spacing: √(12² + 8²) = 14.42 pixels.
        let px = line.length(None);
        assert_eq!(px.label(), "14 px");
        assert!(px.tooltip().starts_with("No pixel spacing is known"), "{}", px.tooltip());
        let imager = PixelSpacing { source: SpacingSource::ImagerPixelSpacing, ..spacing };
        assert!(line.length(Some(imager)).tooltip().contains("Imager Pixel Spacing (0018,1164)"));
        assert!(line.length(Some(imager)).tooltip().contains("magnification"));
    }
}
