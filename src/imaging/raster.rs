//! Ordinary images (PNG, JPEG, TIFF, BMP) through the `image` crate, kept at full depth.

use std::io::Cursor;
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::guard::guarded;
use super::radiograph::{Decoded, FullRange, Photometric, Pixels};
use super::{ImagingError, LoadLimits};

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::Bmp => "BMP",
        _ => "image",
    }
}

pub(crate) fn load(
    bytes: &[u8],
    format: ImageFormat,
    path: &Path,
    limits: &LoadLimits,
) -> Result<Decoded, ImagingError> {
    let bad = |detail: String| {
        // The decoder calls a float TIFF's samples an unknown colour type, and
        // "damaged" would send the user looking for a fault that is not there.
        if format == ImageFormat::Tiff && tiff_sample_format(bytes) == Some(3) {
            return ImagingError::Unsupported {
                path: path.to_path_buf(),
                detail: "it is a floating-point TIFF (IEEE float samples), which kneeclip does not read; export the film as an integer TIFF or PNG (8- or 16-bit unsigned) instead".into(),
            };
        }
        ImagingError::BadImage { path: path.to_path_buf(), format: format_name(format).into(), detail }
    };
    // Read the header only, and refuse bombs before allocating anything.
    let (w, h) = match guarded(|| ImageReader::with_format(Cursor::new(bytes), format).into_dimensions()) {
        Ok(dimensions) => dimensions.map_err(|e| bad(e.to_string()))?,
        Err(panic) => return Err(bad(format!("the decoder crashed: {panic}"))),
    };
    limits.check_pixels(path, w as u64, h as u64, 1, 1)?;
    if w == 0 || h == 0 {
        return Err(bad(format!("the image is {w}×{h} pixels")));
    }

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(w);
    lim.max_image_height = Some(h);
    // Generous: 4 channels × 4 bytes per pixel, plus the codec's own buffers.
    lim.max_alloc = Some((w as u64 * h as u64 * 16).saturating_add(64 << 20));
    reader.limits(lim);
    let decoded = guarded(|| -> image::ImageResult<(DynamicImage, Orientation)> {
        let mut decoder = reader.into_decoder()?;
        // An unreadable EXIF block is no reason to refuse the pixels: shown as stored.
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        Ok((DynamicImage::from_decoder(decoder)?, orientation))
    });
    let (mut img, orientation) = match decoded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(e)) => return Err(bad(e.to_string())),
        Err(panic) => return Err(bad(format!("the decoder crashed: {panic}"))),
    };
    // A camera or phone stores its pictures as the sensor lay and says in
    // EXIF how to turn them (QA: a photo of a film was shown and graded on
    // its side); every image viewer turns them upright, and so does kneeclip.
    img.apply_orientation(orientation);
    let mut decoded = from_dynamic(img);
    if let Some(turned) = orientation_note(orientation) {
        decoded.notes.push(turned);
    }
    Ok(decoded)
}

/// What was done to show the image as its EXIF orientation asks.
fn orientation_note(orientation: Orientation) -> Option<String> {
    let done = match orientation {
        Orientation::NoTransforms => return None,
        Orientation::Rotate90 => "turned 90° clockwise",
        Orientation::Rotate180 => "turned 180°",
        Orientation::Rotate270 => "turned 90° counter-clockwise",
        Orientation::FlipHorizontal => "mirrored left–right",
        Orientation::FlipVertical => "mirrored top–bottom",
        Orientation::Rotate90FlipH => "turned 90° clockwise and mirrored left–right",
        Orientation::Rotate270FlipH => "turned 90° counter-clockwise and mirrored left–right",
    };
    Some(format!("{done} as its EXIF orientation (tag 0x0112) asks, as stored by a camera"))
}

/// The first image's SampleFormat (0x0153) in a classic TIFF: 1 unsigned
/// integer, 2 signed, 3 IEEE float; `None` when absent or unreadable.
fn tiff_sample_format(b: &[u8]) -> Option<u16> {
    let le = match b.get(..4)? {
        [b'I', b'I', 42, 0] => true,
        [b'M', b'M', 0, 42] => false,
        _ => return None,
    };
    let u16_at = |o: usize| b.get(o..o.checked_add(2)?).map(|s| if le { u16::from_le_bytes([s[0], s[1]]) } else { u16::from_be_bytes([s[0], s[1]]) });
    let u32_at = |o: usize| b.get(o..o.checked_add(4)?).map(|s| if le { u32::from_le_bytes([s[0], s[1], s[2], s[3]]) } else { u32::from_be_bytes([s[0], s[1], s[2], s[3]]) });
    let ifd = u32_at(4)? as usize;
    let entries = u16_at(ifd)? as usize;
    let entry = (0..entries).map(|i| ifd + 2 + 12 * i).find(|&e| u16_at(e) == Some(0x0153))?;
    // SHORTs: up to two fit in the entry itself, more are at the offset it holds.
    let at = if u32_at(entry + 4)? <= 2 { entry + 8 } else { u32_at(entry + 8)? as usize };
    u16_at(at)
}

const LUMA_NOTE: &str = "colour image converted to luminance (Rec. 601: 0.299 R + 0.587 G + 0.114 B)";
const ALPHA_NOTE: &str = "transparency (alpha channel) ignored";

/// At most one pixel in this many may lie above the depth a 16-bit film is
/// read at (0.1 %). A few hot or dead detector pixels, or a burned-in side
/// marker or label stamped at the file's maximum (an "R" on a 2500×2000 film
/// is some hundreds to a few thousand pixels, 0.01–0.1 %), must not keep
/// 12-bit data at 16 bits, shown and graded near black; anatomy that really
/// uses a larger depth covers far more of the film than this. Those pixels
/// show at the depth's maximum (white), as under a 99.9th-percentile window.
const OUTLIER_SHARE: usize = 1000;

/// The depth a 16-bit film is read at: the smallest of 8, 10, 12, 14 and 16
/// bits that holds all but one pixel in [`OUTLIER_SHARE`] (8: an 8-bit film
/// saved in a 16-bit file, which 10 bits would show at a quarter of its
/// brightness), with how many pixels lie above it and the largest value
/// (for the note), in one pass over the pixels.
fn effective_depth(values: &[u16]) -> (u16, usize, u16) {
    let allowed = values.len() / OUTLIER_SHARE;
    // Pixels above 255, 1023, 4095 and 16383.
    let mut above = [0usize; 4];
    let mut max = 0;
    for &v in values {
        max = max.max(v);
        for (n, limit) in above.iter_mut().zip([255, 1023, 4095, 16383]) {
            *n += usize::from(v > limit);
        }
    }
    let (bits, n) = [8, 10, 12, 14].into_iter().zip(above).find(|&(_, n)| n <= allowed).unwrap_or((16, 0));
    (bits, n, max)
}

/// Rec. 601 luma in fixed point, identical to Pillow's `convert("L")` for 8-bit.
#[inline]
fn luma601(r: u32, g: u32, b: u32) -> u32 {
    ((r as u64 * 19595 + g as u64 * 38470 + b as u64 * 7471 + 0x8000) >> 16) as u32
}

fn gray_or_luma<T: Copy + PartialEq + Into<u32>>(
    px: &[T],
    channels: usize,
    narrow: impl Fn(u32) -> T,
) -> (Vec<T>, bool, bool) {
    let all_equal = px.chunks_exact(channels).all(|c| c[0] == c[1] && c[1] == c[2]);
    let has_alpha = channels == 4;
    let data = if all_equal {
        px.chunks_exact(channels).map(|c| c[0]).collect()
    } else {
        px.chunks_exact(channels)
            .map(|c| narrow(luma601(c[0].into(), c[1].into(), c[2].into())))
            .collect()
    };
    (data, !all_equal, has_alpha)
}

pub(crate) fn from_dynamic(img: DynamicImage) -> Decoded {
    let (w, h) = (img.width(), img.height());
    let mut notes = Vec::new();
    let (pixels, bits, colour) = match img {
        DynamicImage::ImageLuma8(b) => (Pixels::U8(b.into_raw()), 8, false),
        DynamicImage::ImageLuma16(b) => (Pixels::U16(b.into_raw()), 16, false),
        DynamicImage::ImageLumaA8(b) => {
            let raw = b.into_raw();
            if raw.chunks_exact(2).any(|c| c[1] != u8::MAX) {
                notes.push(ALPHA_NOTE.to_string());
            }
            (Pixels::U8(raw.chunks_exact(2).map(|c| c[0]).collect()), 8, false)
        }
        DynamicImage::ImageLumaA16(b) => {
            let raw = b.into_raw();
            if raw.chunks_exact(2).any(|c| c[1] != u16::MAX) {
                notes.push(ALPHA_NOTE.to_string());
            }
            (Pixels::U16(raw.chunks_exact(2).map(|c| c[0]).collect()), 16, false)
        }
        DynamicImage::ImageRgb8(b) => {
            let (d, colour, _) = gray_or_luma(b.as_raw(), 3, |v| v.min(255) as u8);
            (Pixels::U8(d), 8, colour)
        }
        DynamicImage::ImageRgba8(b) => {
            let raw = b.as_raw();
            if raw.chunks_exact(4).any(|c| c[3] != u8::MAX) {
                notes.push(ALPHA_NOTE.to_string());
            }
            let (d, colour, _) = gray_or_luma(raw, 4, |v| v.min(255) as u8);
            (Pixels::U8(d), 8, colour)
        }
        DynamicImage::ImageRgb16(b) => {
            let (d, colour, _) = gray_or_luma(b.as_raw(), 3, |v| v.min(65535) as u16);
            (Pixels::U16(d), 16, colour)
        }
        DynamicImage::ImageRgba16(b) => {
            let raw = b.as_raw();
            if raw.chunks_exact(4).any(|c| c[3] != u16::MAX) {
                notes.push(ALPHA_NOTE.to_string());
            }
            let (d, colour, _) = gray_or_luma(raw, 4, |v| v.min(65535) as u16);
            (Pixels::U16(d), 16, colour)
        }
        other => {
            // Floating-point (and any future) layouts: Rec. 601 luminance in f32.
            let rgb = other.to_rgb32f();
            let raw = rgb.as_raw();
            let colour = raw.chunks_exact(3).any(|c| c[0] != c[1] || c[1] != c[2]);
            let d = raw
                .chunks_exact(3)
                .map(|c| 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2])
                .collect();
            if colour {
                notes.push(LUMA_NOTE.to_string());
            }
            let mut dec = Decoded::plain(w, h, Pixels::F32(d), 32);
            dec.full_range = FullRange::Values;
            dec.notes = notes;
            return dec;
        }
    };
    // 12-bit data in a 16-bit file (clinic exports) would show, and be
    // graded, almost black over 0..65535: the range its values need is used
    // instead (the default window; pixels above it show white). Not a
    // min–max stretch, which would change how a low-contrast film looks.
    let depth = match &pixels {
        Pixels::U16(v) => Some(effective_depth(v)).filter(|&(bits, _, _)| bits < 16),
        _ => None,
    };
    let mut dec = Decoded::plain(w, h, pixels, bits);
    if let Some((bits, above, max)) = depth {
        dec.full_range = FullRange::BitDepth(bits);
        let top = (1u32 << bits) - 1;
        notes.push(match above {
            0 => format!("16-bit film with values up to {max}: read as {bits}-bit (0..{top}), the range of its values"),
            1 => format!("16-bit film with values up to {max} (1 pixel above {top} clipped): read as {bits}-bit (0..{top}), the range of all its other values"),
            n => format!("16-bit film with values up to {max} ({n} pixels above {top} clipped): read as {bits}-bit (0..{top}), the range of all but those"),
        });
    }
    if colour {
        dec.photometric = Photometric::Luminance;
        notes.insert(0, LUMA_NOTE.to_string());
    }
    dec.notes = notes;
    dec
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40×20 JPEG, dark on its left half, with an EXIF block (APP1) whose
    /// orientation is `orientation`, as a phone writes one.
    fn jpeg_with_orientation(orientation: u16) -> Vec<u8> {
        let img = image::GrayImage::from_fn(40, 20, |x, _| image::Luma([if x < 20 { 10 } else { 240 }]));
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg).unwrap();
        // TIFF header (little endian), one IFD entry: Orientation (0x0112), SHORT, 1 value.
        let mut tiff = b"II*\0".to_vec();
        tiff.extend_from_slice(&8u32.to_le_bytes());
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0]);
        tiff.extend_from_slice(&[orientation as u8, (orientation >> 8) as u8, 0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(&tiff);
        jpeg.splice(2..2, app1);
        jpeg
    }

    #[test]
    fn a_camera_picture_is_turned_upright_by_its_exif_orientation() {
        let limits = LoadLimits::default();
        let path = Path::new("photo.jpg");
        let gray = |d: &Decoded, x: u32, y: u32| match &d.pixels {
            Pixels::U8(p) => p[(y * d.width + x) as usize],
            _ => panic!("8-bit"),
        };
        // 6: turn 90° clockwise, so the dark left half ends on top.
        let turned = load(&jpeg_with_orientation(6), ImageFormat::Jpeg, path, &limits).unwrap();
        assert_eq!((turned.width, turned.height), (20, 40));
        assert!(gray(&turned, 10, 5) < 60 && gray(&turned, 10, 35) > 180, "dark on top, bright below");
        assert_eq!(turned.notes, ["turned 90° clockwise as its EXIF orientation (tag 0x0112) asks, as stored by a camera"]);
        // 1 (as stored) and none at all: untouched, no note.
        for bytes in [jpeg_with_orientation(1), jpeg_with_orientation(1)[..2].iter().chain(&jpeg_with_orientation(1)[2 + 2 + 2 + 6 + 26..]).copied().collect()] {
            let plain = load(&bytes, ImageFormat::Jpeg, path, &limits).unwrap();
            assert_eq!((plain.width, plain.height), (40, 20));
            assert!(gray(&plain, 5, 10) < 60 && gray(&plain, 35, 10) > 180);
            assert!(plain.notes.is_empty(), "{:?}", plain.notes);
        }
    }

    #[test]
    fn effective_depth_is_the_smallest_that_holds_the_maximum_when_no_pixel_stands_out() {
        for (max, bits) in [(0, 8), (255, 8), (256, 10), (1023, 10), (1024, 12), (3344, 12), (4095, 12), (4096, 14), (16383, 14), (16384, 16), (65535, 16)] {
            // Half the pixels at the maximum: never outliers.
            let values: Vec<u16> = (0..2000).map(|i| if i % 2 == 0 { max } else { 0 }).collect();
            assert_eq!(effective_depth(&values), (bits, 0, max), "max {max}");
        }
    }

    #[test]
    fn a_few_pixels_above_a_depth_do_not_raise_it() {
        // 12-bit data (0..4095) over 100 000 pixels: up to 100 outliers are allowed.
        let mut values: Vec<u16> = (0..100_000u32).map(|i| (i % 4096) as u16).collect();
        values[..100].fill(65535);
        assert_eq!(effective_depth(&values), (12, 100, 65535));
        // One more is a bright region, not outliers: 16 bits, as before.
        values[100] = 65535;
        assert_eq!(effective_depth(&values), (16, 0, 65535));
        // 101 above 4095 of which 51 above 16383: 14 bits holds all but 51.
        values[..50].fill(5000);
        assert_eq!(effective_depth(&values), (14, 51, 65535));
        // 8-bit data with a hot pixel stays 8-bit.
        let mut eight: Vec<u16> = (0..10_000u32).map(|i| (i % 256) as u16).collect();
        eight[5] = 65535;
        assert_eq!(effective_depth(&eight), (8, 1, 65535));
        // A film too small to allow any outlier is read by its maximum.
        assert_eq!(effective_depth(&[0, 100, 4096]), (14, 0, 4096));
    }
}
