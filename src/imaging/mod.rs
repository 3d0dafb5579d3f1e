//! Imaging: one [`Radiograph`] type for every source (DICOM in any common transfer
//! syntax, PNG, JPEG, TIFF, BMP, synthetic films), with the DICOM display pipeline
//! (modality LUT → VOI window/LUT → MONOCHROME1 inversion → Presentation LUT Shape →
//! manual invert) and the film the model sees ([`Radiograph::model_view`]).
//!
//! Conventions:
//! - Colour is converted to luminance with Rec. 601 weights (0.299 R + 0.587 G + 0.114 B,
//!   rounded like Pillow's `convert("L")` for 8-bit); RGB images whose three channels are
//!   equal are kept as plain gray without a note.
//! - The default window of an ordinary image is its whole bit-depth range (0..255 or
//!   0..65535), so an 8-bit film's `model_view()` is exactly `value / 255`. A 16-bit
//!   file whose values all fit in fewer bits (12-bit data from a clinic export) uses the
//!   smallest of 10, 12 or 14 bits that holds its largest value, with a note saying so;
//!   0..65535 would show it, and have it graded, almost black. It is not a min/max
//!   stretch, which would make the model see a different film depending on a few
//!   outlier pixels and change how a low-contrast film looks.
//!   [`Radiograph::min_max_window`] gives the stretch for the viewer.
//! - DICOM without window presets defaults to the actual min..max of modality values.

mod anatomy;
mod coded_size;
pub mod confidentiality;
mod dicom;
mod dicom_lengths;
mod dicom_meta;
mod error;
mod guard;
mod jpeg12;
mod limits;
pub mod listing;
pub mod orientation;
mod pixels;
mod radiograph;
mod raster;
mod spacing;
mod voi;
/// An error with its causes, "outer: inner: …" (dicom-rs's outer messages alone say little).
pub(crate) use dicom::chain as error_chain;

pub use dicom_meta::{birth_date, dicom_date, person_name};
pub use error::ImagingError;
pub use limits::LoadLimits;
pub use radiograph::{DicomTag, GrayF32, Photometric, Pixels, Radiograph};
pub use spacing::{PixelSpacing, SpacingSource};
pub use voi::{VoiFunction, Window, WindowPreset};

/// How a DICOM stream starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DicomLayout {
    /// 128-byte preamble, "DICM", file meta group, data set.
    Preamble,
    /// "DICM", file meta group, data set (preamble missing).
    NoPreamble,
    /// A bare data set with no file meta group (old ACR-NEMA style files).
    BareDataset { explicit_vr: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Dicom(DicomLayout),
    Raster(image::ImageFormat),
    Unknown,
}

const VRS: [&[u8; 2]; 34] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
    b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST",
    b"SV", b"TM", b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
];

/// Recognises the format from the content (not the file name).
pub(crate) fn sniff(bytes: &[u8]) -> Format {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        return Format::Dicom(DicomLayout::Preamble);
    }
    if bytes.starts_with(b"DICM") {
        return Format::Dicom(DicomLayout::NoPreamble);
    }
    if let Ok(fmt) = image::guess_format(bytes) {
        use image::ImageFormat::*;
        if matches!(fmt, Png | Jpeg | Tiff | Bmp) {
            return Format::Raster(fmt);
        }
    }
    // A bare little-endian data set usually starts in group 0008 (or 0002),
    // with elements in ascending order.
    if bytes.len() >= 16 {
        let group = u16::from_le_bytes([bytes[0], bytes[1]]);
        let element = u16::from_le_bytes([bytes[2], bytes[3]]);
        if matches!(group, 0x0002 | 0x0008) && element <= 0x0100 {
            let vr = [bytes[4], bytes[5]];
            if VRS.iter().any(|v| **v == vr) {
                return Format::Dicom(DicomLayout::BareDataset { explicit_vr: true });
            }
            let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            if (len as usize) < bytes.len() || len == u32::MAX {
                return Format::Dicom(DicomLayout::BareDataset { explicit_vr: false });
            }
        }
    }
    Format::Unknown
}

/// Whether a file starting with `head` (its first few KiB) looks like a film
/// kneeclip reads, by content: DICOM with or without preamble, a bare data
/// set, PNG, JPEG, TIFF or BMP.
pub fn looks_like_a_film(head: &[u8]) -> bool {
    !matches!(sniff(head), Format::Unknown)
}

/// A short hint on what an unrecognised file seems to be.
pub(crate) fn describe_unknown(bytes: &[u8]) -> String {
    if let Ok(fmt) = image::guess_format(bytes) {
        return format!("{fmt:?} images are not supported");
    }
    let head = &bytes[..bytes.len().min(512)];
    if std::str::from_utf8(head).is_ok_and(|s| s.chars().all(|c| !c.is_control() || c.is_whitespace())) {
        return "the file contains text".into();
    }
    String::new()
}
