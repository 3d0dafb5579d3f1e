//! Pixel spacing, for lengths in mm: DICOM Pixel Spacing (0028,0030), else
//! Imager Pixel Spacing (0018,1164). The latter is measured at the detector, so
//! a length from it includes the projection's magnification; the viewer says
//! which one a measurement used.

/// Which attribute the spacing came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpacingSource {
    /// Pixel Spacing (0028,0030): in the patient (or calibrated) plane.
    PixelSpacing,
    /// Imager Pixel Spacing (0018,1164): at the detector, not corrected for magnification.
    ImagerPixelSpacing,
}

impl SpacingSource {
    pub fn tag(self) -> (u16, u16) {
        match self {
            SpacingSource::PixelSpacing => (0x0028, 0x0030),
            SpacingSource::ImagerPixelSpacing => (0x0018, 0x1164),
        }
    }

    /// "Pixel Spacing (0028,0030)".
    pub fn describe(self) -> String {
        let (g, e) = self.tag();
        let name = match self {
            SpacingSource::PixelSpacing => "Pixel Spacing",
            SpacingSource::ImagerPixelSpacing => "Imager Pixel Spacing",
        };
        format!("{name} ({g:04X},{e:04X})")
    }
}

/// The physical size of a pixel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelSpacing {
    /// Distance between the centres of adjacent rows (vertical), in mm.
    pub row_mm: f64,
    /// Distance between the centres of adjacent columns (horizontal), in mm.
    pub column_mm: f64,
    pub source: SpacingSource,
}

impl PixelSpacing {
    /// The length in mm of the line from `a` to `b`, both (x = column, y = row)
    /// in pixels.
    pub fn length_mm(&self, a: (f64, f64), b: (f64, f64)) -> f64 {
        let dx = (b.0 - a.0) * self.column_mm;
        let dy = (b.1 - a.1) * self.row_mm;
        dx.hypot(dy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_column_spacing_across_and_the_row_spacing_down() {
        // Rows 0.5 mm apart, columns 0.25 mm apart.
        let s = PixelSpacing { row_mm: 0.5, column_mm: 0.25, source: SpacingSource::PixelSpacing };
        assert_eq!(s.length_mm((0.0, 0.0), (12.0, 0.0)), 3.0); // 12 columns × 0.25
        assert_eq!(s.length_mm((0.0, 0.0), (0.0, 8.0)), 4.0); // 8 rows × 0.5
        assert_eq!(s.length_mm((10.0, 20.0), (22.0, 28.0)), 5.0); // 3-4-5
        assert_eq!(s.length_mm((22.0, 28.0), (10.0, 20.0)), 5.0);
        assert_eq!(SpacingSource::ImagerPixelSpacing.describe(), "Imager Pixel Spacing (0018,1164)");
    }
}
