//! The one film type every source (DICOM, PNG, JPEG, TIFF, BMP, synthetic) becomes.

use std::path::{Path, PathBuf};

use super::voi::{ModalityLut, Voi, VoiFunction, VoiLutTable};
use super::{ImagingError, LoadLimits, PixelSpacing, Window, WindowPreset};
pub use super::pixels::{GrayF32, Pixels};

/// How stored values relate to brightness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Photometric {
    /// Low values display white (inverted after the VOI transform).
    Monochrome1,
    /// Low values display black; also every ordinary grayscale image.
    Monochrome2,
    /// A colour source converted to luminance (Rec. 601 weights); displays like MONOCHROME2.
    Luminance,
}

/// One DICOM attribute for a searchable tag panel.
#[derive(Clone, Debug, PartialEq)]
pub struct DicomTag {
    pub tag: (u16, u16),
    pub name: String,
    pub vr: String,
    pub value: String,
    /// Patient-identifying (name, IDs, birth date, institution, physicians, dates …).
    pub identifying: bool,
}

/// What the black end of "full range" means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FullRange {
    /// 0 ..= 2^bits − 1 of the stored values (ordinary images).
    BitDepth(u16),
    /// The actual minimum ..= maximum modality value (DICOM).
    Values,
}

/// Everything a loader produces; turned into a [`Radiograph`] by `assemble`.
pub(crate) struct Decoded {
    pub width: u32,
    pub height: u32,
    pub pixels: Pixels,
    pub photometric: Photometric,
    pub bits_stored: u16,
    pub modality: ModalityLut,
    pub presets: Vec<(WindowPreset, Option<VoiLutTable>)>,
    pub voi_function: VoiFunction,
    pub presentation_inverse: bool,
    pub pixel_spacing: Option<PixelSpacing>,
    pub tags: Vec<super::DicomTag>,
    pub patient_label: Option<String>,
    pub notes: Vec<String>,
    pub cautions: Vec<String>,
    /// The header names another region than the knee (anatomy.rs).
    pub other_region: bool,
    pub full_range: FullRange,
    /// Which frame this is (0-based) of how many the file holds.
    pub frame: u32,
    pub frame_count: u32,
}

/// A single film, decoded at full depth, with everything needed to display it.
#[derive(Clone, Debug)]
pub struct Radiograph {
    source: PathBuf,
    width: u32,
    height: u32,
    pixels: Pixels,
    photometric: Photometric,
    bits_stored: u16,
    modality: ModalityLut,
    stored_range: (f64, f64),
    value_range: (f64, f64),
    presets: Vec<WindowPreset>,
    preset_luts: Vec<Option<VoiLutTable>>,
    voi_function: VoiFunction,
    presentation_inverse: bool,
    full_range_window: Window,
    pixel_spacing: Option<PixelSpacing>,
    tags: Vec<DicomTag>,
    patient_label: Option<String>,
    notes: Vec<String>,
    cautions: Vec<String>,
    other_region: bool,
    /// The frame shown (0-based) of a multi-frame file, and how many it holds.
    frame: u32,
    frame_count: u32,
}

impl Radiograph {
    /// Opens a film, recognising DICOM (with or without preamble / file meta) and
    /// PNG, JPEG, TIFF, BMP by their content, not their extension.
    pub fn open(path: &Path) -> Result<Radiograph, ImagingError> {
        Radiograph::open_with_limits(path, &LoadLimits::default())
    }

    /// [`open`](Self::open) with explicit size limits; the file size is checked before reading.
    pub fn open_with_limits(path: &Path, limits: &LoadLimits) -> Result<Radiograph, ImagingError> {
        let bytes = Self::read_checked(path, limits)?;
        Radiograph::from_bytes(&bytes, path, limits)
    }

    /// [`open`](Self::open), with the file's bytes as read (a report's
    /// checksum is then of the very bytes graded).
    pub fn open_keeping_bytes(path: &Path) -> Result<(Radiograph, Vec<u8>), ImagingError> {
        Radiograph::open_frame_keeping_bytes(path, 1)
    }

    /// The file's bytes, after refusing a folder, a device or pipe, and a
    /// file over the size limit (checked before reading).
    fn read_checked(path: &Path, limits: &LoadLimits) -> Result<Vec<u8>, ImagingError> {
        let io_err = |source| ImagingError::Io { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            return Err(ImagingError::NotAFile { path: path.to_path_buf() });
        }
        if !meta.is_file() {
            return Err(ImagingError::SpecialFile { path: path.to_path_buf() });
        }
        limits.check_file_size(path, meta.len())?;
        std::fs::read(path).map_err(io_err)
    }

    /// Decodes a film held in memory; `source` names it in errors and in the UI.
    pub fn from_bytes(
        bytes: &[u8],
        source: &Path,
        limits: &LoadLimits,
    ) -> Result<Radiograph, ImagingError> {
        Radiograph::frame_from_bytes(bytes, source, limits, 1)
    }

    /// Frame `frame` (1-based) of a film, decoding that frame only: a
    /// multi-frame DICOM is read a frame at a time (not all 96 up front). A
    /// frame the file does not have is [`ImagingError::NoSuchFrame`].
    pub fn open_frame(path: &Path, frame: u32) -> Result<Radiograph, ImagingError> {
        let limits = LoadLimits::default();
        let bytes = Self::read_checked(path, &limits)?;
        Radiograph::frame_from_bytes(&bytes, path, &limits, frame)
    }

    /// [`open_frame`](Self::open_frame), with the file's bytes as read.
    pub fn open_frame_keeping_bytes(path: &Path, frame: u32) -> Result<(Radiograph, Vec<u8>), ImagingError> {
        let limits = LoadLimits::default();
        let bytes = Self::read_checked(path, &limits)?;
        Ok((Radiograph::frame_from_bytes(&bytes, path, &limits, frame)?, bytes))
    }

    /// [`from_bytes`](Self::from_bytes) for frame `frame` (1-based).
    pub fn frame_from_bytes(bytes: &[u8], source: &Path, limits: &LoadLimits, frame: u32) -> Result<Radiograph, ImagingError> {
        if bytes.is_empty() {
            return Err(ImagingError::EmptyFile { path: source.to_path_buf() });
        }
        limits.check_file_size(source, bytes.len() as u64)?;
        let sniffed = super::sniff(bytes);
        let named_dicom = source.extension().and_then(|e| e.to_str()).is_some_and(|e| ["dcm", "dicom", "dic"].contains(&e.to_ascii_lowercase().as_str()));
        // A DICOM file cut short inside its 128-byte preamble has lost its
        // "DICM" marker; a preamble that holds a TIFF header (a "dual
        // personality" file) then reads as a damaged TIFF, which it is not.
        if named_dicom && bytes.len() < 132 && matches!(sniffed, super::Format::Raster(_)) {
            return Err(ImagingError::InvalidDicom {
                path: source.to_path_buf(),
                detail: format!("the file ends after {} bytes, inside the 128-byte preamble before the \"DICM\" marker: it is cut short", bytes.len()),
            });
        }
        let decoded = match sniffed {
            super::Format::Dicom(layout) => super::dicom::load(bytes, layout, source, limits, frame)?,
            super::Format::Raster(format) => {
                if frame != 1 {
                    return Err(ImagingError::NoSuchFrame { path: source.to_path_buf(), frame, frames: 1 });
                }
                super::raster::load(bytes, format, source, limits)?
            }
            super::Format::Unknown => {
                let ext = source
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(|e| e.to_ascii_lowercase())
                    .unwrap_or_default();
                return Err(if ext == "dcm" || ext == "dicom" {
                    ImagingError::InvalidDicom {
                        path: source.to_path_buf(),
                        detail: "the name ends in .dcm but the content has no DICOM header \
                                 (no \"DICM\" marker and no data set at the start)"
                            .into(),
                    }
                } else {
                    ImagingError::UnknownFormat {
                        path: source.to_path_buf(),
                        hint: super::describe_unknown(bytes),
                    }
                });
            }
        };
        Ok(Radiograph::assemble(source.to_path_buf(), decoded))
    }

    /// A synthetic 8-bit MONOCHROME2 film (for tests and demos).
    pub fn from_gray8(
        width: u32,
        height: u32,
        data: Vec<u8>,
        source: impl Into<PathBuf>,
    ) -> Result<Radiograph, ImagingError> {
        let source = source.into();
        let expected = width as u64 * height as u64;
        if width == 0 || height == 0 || data.len() as u64 != expected {
            return Err(ImagingError::InvalidInput {
                path: source,
                detail: format!(
                    "{width}×{height} needs {expected} bytes of pixels, got {}",
                    data.len()
                ),
            });
        }
        Ok(Radiograph::assemble(source, Decoded::plain(width, height, Pixels::U8(data), 8)))
    }

    /// The same film with another pixel spacing, e.g. a synthetic film or a
    /// plain image whose spacing is known from elsewhere.
    pub fn with_pixel_spacing(mut self, spacing: Option<PixelSpacing>) -> Radiograph {
        self.pixel_spacing = spacing;
        self
    }

    /// The same film with these DICOM attributes (for tests of what reads them).
    #[cfg(test)]
    pub(crate) fn with_tags(mut self, tags: Vec<DicomTag>) -> Radiograph {
        self.tags = tags;
        self
    }

    /// Whether every value the film can hold is a whole number (integer
    /// pixels through an integer rescale or table): nearly every film. A
    /// window dragged on such a film is kept to whole numbers.
    pub fn whole_values(&self) -> bool {
        let whole = |v: f64| v.fract() == 0.0;
        !matches!(self.pixels, Pixels::F32(_))
            && match &self.modality {
                ModalityLut::Rescale { slope, intercept } => whole(*slope) && whole(*intercept),
                ModalityLut::Table { data, .. } => data.iter().all(|v| whole(*v)),
            }
    }

    pub(crate) fn assemble(source: PathBuf, d: Decoded) -> Radiograph {
        let stored_range = d.pixels.min_max();
        let value_range = match &d.modality {
            ModalityLut::Rescale { slope, intercept } => {
                let a = stored_range.0 * slope + intercept;
                let b = stored_range.1 * slope + intercept;
                (a.min(b), a.max(b))
            }
            table @ ModalityLut::Table { .. } => {
                // A table need not be monotonic: scan the entries the pixels can reach.
                let (lo, hi) = (stored_range.0 as i64, stored_range.1 as i64);
                let mut r = (f64::INFINITY, f64::NEG_INFINITY);
                let step = ((hi - lo) / 65536).max(1);
                let mut s = lo;
                while s <= hi {
                    let v = table.apply(s as f64);
                    r = (r.0.min(v), r.1.max(v));
                    s += step;
                }
                if r.0.is_finite() { r } else { (0.0, 0.0) }
            }
        };
        let full_range_window = match d.full_range {
            FullRange::BitDepth(bits) => {
                let max = ((1u64 << bits.clamp(1, 32)) - 1) as f64;
                d.voi_function.window_for_bounds(0.0, max)
            }
            FullRange::Values => d.voi_function.window_for_bounds(value_range.0, value_range.1),
        };
        let (presets, preset_luts) = d.presets.into_iter().unzip();
        // Films the model grades whatever they hold: said before the grade.
        let mut cautions = d.cautions;
        if value_range.0 == value_range.1 {
            cautions.push("every pixel of this film has the same value: it is blank, so its grade means nothing".into());
        }
        if d.width.min(d.height) < 64 {
            cautions.push(format!("the film is only {}×{} pixels, far below the 224×224 the model reads, so its grade means little", d.width, d.height));
        }
        Radiograph {
            source,
            width: d.width,
            height: d.height,
            pixels: d.pixels,
            photometric: d.photometric,
            bits_stored: d.bits_stored,
            modality: d.modality,
            stored_range,
            value_range,
            presets,
            preset_luts,
            voi_function: d.voi_function,
            presentation_inverse: d.presentation_inverse,
            full_range_window,
            pixel_spacing: d.pixel_spacing,
            tags: d.tags,
            patient_label: d.patient_label,
            notes: d.notes,
            cautions,
            other_region: d.other_region,
            frame: d.frame,
            frame_count: d.frame_count.max(1),
        }
    }

    /// The frame shown, 1-based (1 for every single-frame film).
    pub fn frame(&self) -> u32 {
        self.frame + 1
    }

    /// How many frames the file holds (1 for every single-frame film).
    pub fn frame_count(&self) -> u32 {
        self.frame_count
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn source(&self) -> &Path {
        &self.source
    }
    pub fn pixels(&self) -> &Pixels {
        &self.pixels
    }
    pub fn photometric(&self) -> Photometric {
        self.photometric
    }
    pub fn bits_stored(&self) -> u16 {
        self.bits_stored
    }
    /// Minimum and maximum stored (raw) value.
    pub fn stored_range(&self) -> (f64, f64) {
        self.stored_range
    }
    /// Minimum and maximum modality value.
    pub fn value_range(&self) -> (f64, f64) {
        self.value_range
    }
    /// The file's own windows (DICOM Window Center/Width, VOI LUT tables); empty for plain images.
    pub fn window_presets(&self) -> &[WindowPreset] {
        &self.presets
    }
    /// The VOI LUT Function of the file (LINEAR unless stated; LINEAR_EXACT for plain images).
    pub fn voi_function(&self) -> VoiFunction {
        self.voi_function
    }
    /// Whether Presentation LUT Shape (2050,0020) is INVERSE.
    pub fn presentation_inverse(&self) -> bool {
        self.presentation_inverse
    }
    /// The first file preset, else [`full_range_window`](Self::full_range_window).
    pub fn default_window(&self) -> Window {
        self.presets.first().map(|p| p.window).unwrap_or(self.full_range_window)
    }
    /// Ordinary images: the whole bit-depth range (0..255 or 0..65535; a 16-bit
    /// file holding 10-, 12- or 14-bit values: that depth's range, see `raster.rs`).
    /// DICOM: the actual minimum..maximum modality value.
    pub fn full_range_window(&self) -> Window {
        self.full_range_window
    }
    /// The min..max stretch of the actual modality values (a viewer convenience).
    pub fn min_max_window(&self) -> Window {
        self.voi_function.window_for_bounds(self.value_range.0, self.value_range.1)
    }
    /// (row spacing, column spacing) in mm.
    pub fn pixel_spacing_mm(&self) -> Option<(f64, f64)> {
        self.pixel_spacing.map(|s| (s.row_mm, s.column_mm))
    }
    /// The spacing with the attribute it came from (Pixel Spacing, else Imager
    /// Pixel Spacing), for measurements.
    pub fn pixel_spacing(&self) -> Option<PixelSpacing> {
        self.pixel_spacing
    }
    pub fn dicom_tags(&self) -> &[DicomTag] {
        &self.tags
    }
    /// A top-level DICOM attribute's value as shown in the tag list, trimmed;
    /// `None` when absent or blank (and always for ordinary images).
    pub fn tag_value(&self, tag: (u16, u16)) -> Option<String> {
        self.tags.iter().find(|t| t.tag == tag).map(|t| t.value.trim().to_owned()).filter(|v| !v.is_empty())
    }
    pub fn patient_label(&self) -> Option<String> {
        self.patient_label.clone()
    }
    /// How the file was read where that changes what is shown (a frame of
    /// several, colour made gray, a LUT applied): for the reader, not warnings.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
    /// Reasons, from the file's own header, to doubt that a knee grade means
    /// anything for this film (another modality or body part); see `anatomy.rs`.
    pub fn cautions(&self) -> &[String] {
        &self.cautions
    }

    /// Whether the file's header names another region than the knee (one of
    /// the [`cautions`](Self::cautions)): its side is then not a knee's.
    pub fn names_another_region(&self) -> bool {
        self.other_region
    }

    /// The stored (raw) value at (x, y).
    pub fn stored_at(&self, x: u32, y: u32) -> Option<f64> {
        if x >= self.width || y >= self.height {
            return None;
        }
        self.pixels.get(y as usize * self.width as usize + x as usize)
    }

    /// The modality value at (x, y), e.g. for the pixel readout under the cursor.
    pub fn value_at(&self, x: u32, y: u32) -> Option<f64> {
        self.stored_at(x, y).map(|s| self.modality.apply(s))
    }

    /// Whether the final image is flipped relative to "high modality value = white".
    ///
    /// MONOCHROME1 and Presentation LUT Shape INVERSE each call for one inversion, and
    /// together still for one: in the DX/MG/IO IODs INVERSE is *required* with
    /// MONOCHROME1 ("output after inversion is in P-Values", PS3.3 C.8.11.6.1.2), so
    /// it restates the MONOCHROME1 inversion rather than undoing it (966_fixed.dcm, a
    /// DX chest, shows white lungs if both are applied). A MONOCHROME2 film with
    /// INVERSE is inverted once.
    fn flipped(&self, invert: bool) -> bool {
        ((self.photometric == Photometric::Monochrome1) || self.presentation_inverse) ^ invert
    }

    /// The name of the file's VOI LUT table that `window` selects ("VOI LUT:
    /// GAMMA"), if any: the film is then shown through that table, not a
    /// linear window, and a W/L readout would misstate it.
    pub fn table_for(&self, window: Window) -> Option<&str> {
        self.presets.iter().zip(&self.preset_luts).find(|(p, lut)| lut.is_some() && p.window == window).map(|(p, _)| p.name.as_str())
    }

    fn voi_for(&self, window: Window) -> Voi<'_> {
        for (preset, lut) in self.presets.iter().zip(&self.preset_luts) {
            if let Some(lut) = lut {
                if preset.window == window {
                    return Voi::Table(lut);
                }
            }
        }
        Voi::Window(window, self.voi_function)
    }

    /// Displays the film: modality LUT, then VOI (the window with the file's VOI LUT
    /// function, or the file's VOI LUT table when `window` is that table's preset),
    /// then one inversion if the film is MONOCHROME1 and/or its Presentation LUT Shape is
    /// INVERSE (see `flipped`), then the manual `invert` toggle.
    pub fn render(&self, window: Window, invert: bool) -> GrayF32 {
        let voi = self.voi_for(window);
        let flip = self.flipped(invert);
        let f = |stored: f64| -> f32 {
            let y = voi.apply(self.modality.apply(stored));
            if flip { 1.0 - y } else { y }
        };
        let data = match &self.pixels {
            Pixels::U8(v) => {
                let lut: Vec<f32> = (0..256u32).map(|s| f(s as f64)).collect();
                v.iter().map(|&s| lut[s as usize]).collect()
            }
            Pixels::U16(v) => {
                let lo = self.stored_range.0 as usize;
                let hi = self.stored_range.1 as usize;
                let lut: Vec<f32> = (lo..=hi).map(|s| f(s as f64)).collect();
                v.iter().map(|&s| lut[s as usize - lo]).collect()
            }
            Pixels::I32(v) if self.stored_range.1 - self.stored_range.0 <= (1 << 22) as f64 => {
                let lo = self.stored_range.0 as i64;
                let hi = self.stored_range.1 as i64;
                let lut: Vec<f32> = (lo..=hi).map(|s| f(s as f64)).collect();
                v.iter().map(|&s| lut[(s as i64 - lo) as usize]).collect()
            }
            Pixels::I32(v) => v.iter().map(|&s| f(s as f64)).collect(),
            Pixels::F32(v) => v
                .iter()
                .map(|&s| if s.is_finite() { f(s as f64) } else { 0.0 })
                .collect(),
        };
        GrayF32 { width: self.width, height: self.height, data }
    }

    /// What the model sees: `render(default_window(), false)`. For an 8-bit ordinary
    /// image this is exactly `value as f32 / 255.0`.
    pub fn model_view(&self) -> GrayF32 {
        self.render(self.default_window(), false)
    }
}

impl Decoded {
    /// An ordinary MONOCHROME2 image with no metadata.
    pub(crate) fn plain(width: u32, height: u32, pixels: Pixels, bits: u16) -> Decoded {
        Decoded {
            width,
            height,
            pixels,
            photometric: Photometric::Monochrome2,
            bits_stored: bits,
            modality: ModalityLut::IDENTITY,
            presets: Vec::new(),
            voi_function: VoiFunction::LinearExact,
            presentation_inverse: false,
            pixel_spacing: None,
            tags: Vec::new(),
            patient_label: None,
            notes: Vec::new(),
            cautions: Vec::new(),
            other_region: false,
            full_range: FullRange::BitDepth(bits),
            frame: 0,
            frame_count: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn film(pixels: Pixels, bits: u16) -> Decoded {
        let n = pixels.len() as u32;
        let mut d = Decoded::plain(n, 1, pixels, bits);
        d.full_range = FullRange::Values;
        d.voi_function = VoiFunction::Linear;
        d
    }

    #[test]
    fn voi_lut_preset_is_used_when_selected() {
        let mut d = film(Pixels::U16(vec![0, 1, 2, 3]), 12);
        let table = VoiLutTable { first_mapped: 0.0, bits: 8, data: vec![0, 255, 255, 0] };
        let preset = WindowPreset { name: "VOI LUT: TEST".into(), window: table.input_window() };
        d.presets = vec![(preset, Some(table))];
        let r = Radiograph::assemble("lut".into(), d);
        assert_eq!(r.model_view().data, vec![0.0, 1.0, 1.0, 0.0]);
        assert_eq!(r.table_for(r.default_window()), Some("VOI LUT: TEST"), "named for the W/L readout");
        // Any other window uses the linear formula.
        assert_eq!(r.table_for(Window { center: 2.0, width: 4.0 }), None);
        let lin = r.render(Window { center: 2.0, width: 4.0 }, false);
        assert!(lin.data.windows(2).all(|p| p[0] <= p[1]));
    }

    #[test]
    fn rescale_and_signed_values() {
        let mut d = film(Pixels::I32(vec![-1000, 0, 1000]), 16);
        d.modality = ModalityLut::Rescale { slope: 2.0, intercept: -24.0 };
        let r = Radiograph::assemble("ct".into(), d);
        assert_eq!(r.value_range(), (-2024.0, 1976.0));
        assert_eq!(r.value_at(1, 0), Some(-24.0));
        let v = r.model_view();
        assert_eq!((v.data[0], v.data[2]), (0.0, 1.0));
        let inv = r.render(r.default_window(), true);
        assert_eq!((inv.data[0], inv.data[2]), (1.0, 0.0));
    }

    #[test]
    fn whole_values_through_an_integer_rescale_only() {
        assert!(Radiograph::assemble("u8".into(), film(Pixels::U8(vec![0, 255]), 8)).whole_values());
        let mut d = film(Pixels::I32(vec![-1000, 1000]), 16);
        d.modality = ModalityLut::Rescale { slope: 2.0, intercept: -24.0 };
        assert!(Radiograph::assemble("ct".into(), d).whole_values());
        let mut d = film(Pixels::U16(vec![0, 4095]), 12);
        d.modality = ModalityLut::Rescale { slope: 0.5, intercept: 0.0 };
        assert!(!Radiograph::assemble("half".into(), d).whole_values());
        assert!(!Radiograph::assemble("f".into(), film(Pixels::F32(vec![0.0, 0.5]), 32)).whole_values());
    }

    #[test]
    fn presentation_inverse_on_monochrome2_inverts() {
        let mut d = film(Pixels::U8(vec![0, 255]), 8);
        d.presentation_inverse = true;
        let r = Radiograph::assemble("p".into(), d);
        assert_eq!(r.model_view().data, vec![1.0, 0.0]);
    }

    #[test]
    fn float_pixels_render() {
        let r = Radiograph::assemble("f".into(), film(Pixels::F32(vec![0.0, 0.5, f32::NAN, 1.0]), 32));
        let v = r.model_view();
        assert_eq!(v.data[0], 0.0);
        assert_eq!(v.data[3], 1.0);
        assert_eq!(v.data[2], 0.0);
    }
}
