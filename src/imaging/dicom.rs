//! DICOM files: parsing (with or without preamble and file meta), decoding one
//! frame (the first unless asked for another) through dicom-pixeldata, and
//! turning the samples into [`Pixels`]. Only the frame asked for is decoded.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, OpenFileOptions, file::ReadPreamble};
use dicom_pixeldata::{
    DecodedPixelData, PhotometricInterpretation, PixelDecoder, PixelRepresentation,
    PlanarConfiguration,
};

use super::anatomy;
use super::dicom_lengths;
use super::dicom_meta as meta;
use super::guard::guarded;
use super::radiograph::{Decoded, FullRange, Photometric, Pixels};
use super::{DicomLayout, ImagingError, LoadLimits};

const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// Name and codec of the transfer syntaxes a reader is likely to meet.
pub(crate) fn transfer_syntax_name(uid: &str) -> (&'static str, Option<&'static str>) {
    match uid {
        "1.2.840.10008.1.2" => ("Implicit VR Little Endian", None),
        "1.2.840.10008.1.2.1" => ("Explicit VR Little Endian", None),
        "1.2.840.10008.1.2.1.99" => ("Deflated Explicit VR Little Endian", None),
        "1.2.840.10008.1.2.2" => ("Explicit VR Big Endian", None),
        "1.2.840.10008.1.2.4.50" => ("JPEG Baseline (Process 1)", Some("JPEG")),
        "1.2.840.10008.1.2.4.51" => ("JPEG Extended (Process 2 & 4)", Some("JPEG")),
        "1.2.840.10008.1.2.4.57" => ("JPEG Lossless (Process 14)", Some("JPEG")),
        "1.2.840.10008.1.2.4.70" => ("JPEG Lossless (Process 14, SV1)", Some("JPEG")),
        "1.2.840.10008.1.2.4.80" => ("JPEG-LS Lossless", Some("JPEG-LS")),
        "1.2.840.10008.1.2.4.81" => ("JPEG-LS Near-Lossless", Some("JPEG-LS")),
        "1.2.840.10008.1.2.4.90" => ("JPEG 2000 Lossless", Some("JPEG 2000")),
        "1.2.840.10008.1.2.4.91" => ("JPEG 2000", Some("JPEG 2000")),
        "1.2.840.10008.1.2.4.92" => ("JPEG 2000 Part 2 Lossless", Some("JPEG 2000")),
        "1.2.840.10008.1.2.4.93" => ("JPEG 2000 Part 2", Some("JPEG 2000")),
        "1.2.840.10008.1.2.4.94" | "1.2.840.10008.1.2.4.95" => ("JPIP referenced", None),
        "1.2.840.10008.1.2.4.100" | "1.2.840.10008.1.2.4.101" => ("MPEG-2 video", Some("MPEG-2")),
        "1.2.840.10008.1.2.4.102" | "1.2.840.10008.1.2.4.103" | "1.2.840.10008.1.2.4.104"
        | "1.2.840.10008.1.2.4.105" | "1.2.840.10008.1.2.4.106" => ("MPEG-4 / H.264 video", Some("H.264")),
        "1.2.840.10008.1.2.4.107" | "1.2.840.10008.1.2.4.108" => ("HEVC / H.265 video", Some("H.265")),
        "1.2.840.10008.1.2.4.110" => ("JPEG XL Lossless", Some("JPEG XL")),
        "1.2.840.10008.1.2.4.111" => ("JPEG XL JPEG Recompression", Some("JPEG XL")),
        "1.2.840.10008.1.2.4.112" => ("JPEG XL", Some("JPEG XL")),
        "1.2.840.10008.1.2.4.201" => ("HTJ2K Lossless", Some("HTJ2K")),
        "1.2.840.10008.1.2.4.202" => ("HTJ2K Lossless RPCL", Some("HTJ2K")),
        "1.2.840.10008.1.2.4.203" => ("HTJ2K", Some("HTJ2K")),
        "1.2.840.10008.1.2.5" => ("RLE Lossless", Some("RLE")),
        _ => ("unknown transfer syntax", None),
    }
}

/// All messages in an error's source chain, joined.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

pub(crate) fn parse(
    bytes: &[u8],
    layout: DicomLayout,
    path: &Path,
) -> Result<DefaultDicomObject, ImagingError> {
    let invalid = |detail: String| ImagingError::InvalidDicom { path: path.to_path_buf(), detail };
    // Before dicom-rs allocates any value: no declared length may exceed the file.
    let lengths = match layout {
        DicomLayout::Preamble => dicom_lengths::check_file(&bytes[128..], 128),
        DicomLayout::NoPreamble => dicom_lengths::check_file(bytes, 0),
        DicomLayout::BareDataset { explicit_vr } => dicom_lengths::check_dataset(bytes, explicit_vr),
    };
    lengths.map_err(invalid)?;
    let opts = || OpenFileOptions::new().read_preamble(ReadPreamble::Never);
    let result = guarded(|| match layout {
        DicomLayout::Preamble => opts().from_reader(&bytes[128..]).map_err(|e| chain(&e)),
        DicomLayout::NoPreamble => opts().from_reader(bytes).map_err(|e| chain(&e)),
        DicomLayout::BareDataset { explicit_vr } => {
            // No file meta group: synthesise one so the data set is read with the
            // right (little-endian) transfer syntax.
            let ts = if explicit_vr { EXPLICIT_VR_LE } else { IMPLICIT_VR_LE };
            let meta = FileMetaTableBuilder::new()
                .transfer_syntax(ts)
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid("2.25.0")
                .implementation_class_uid("2.25.0")
                .build()
                .map_err(|e| chain(&e))?;
            let mut buf = Vec::with_capacity(bytes.len() + 256);
            buf.extend_from_slice(b"DICM");
            meta.write(&mut buf).map_err(|e| chain(&e))?;
            buf.extend_from_slice(bytes);
            opts().from_reader(&buf[..]).map_err(|e| chain(&e))
        }
    });
    match result {
        Ok(Ok(obj)) => Ok(obj),
        Ok(Err(detail)) if detail.to_ascii_lowercase().contains("transfer syntax `") => {
            let uid = detail.split('`').nth(1).unwrap_or_default().trim_end_matches('\0').to_string();
            let name = transfer_syntax_name(&uid).0.to_string();
            Err(ImagingError::UnsupportedTransferSyntax { path: path.to_path_buf(), uid, name })
        }
        Ok(Err(detail)) if detail.contains("failed to fill whole buffer") => {
            Err(invalid(format!("the file is cut short, probably truncated: {detail}")))
        }
        Ok(Err(detail)) => Err(invalid(detail)),
        Err(panic) => Err(invalid(format!("the parser crashed: {panic}"))),
    }
}

pub(crate) fn load(
    bytes: &[u8],
    layout: DicomLayout,
    path: &Path,
    limits: &LoadLimits,
    frame: u32,
) -> Result<Decoded, ImagingError> {
    let obj = parse(bytes, layout, path)?;
    let bad_attr = |attribute: &str, detail: &str| ImagingError::BadAttribute {
        path: path.to_path_buf(),
        attribute: attribute.into(),
        detail: detail.into(),
    };
    if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
        let present = |tag| obj.element_opt(tag).ok().flatten().is_some();
        let class = obj.meta().media_storage_sop_class_uid.trim_end_matches(['\0', ' ']);
        let detail = if class == super::listing::MEDIA_DIRECTORY_CLASS {
            "this is a DICOMDIR, the index of a DICOM CD or export, not a film: open the films beside it (a folder of them is read without it)"
        } else if present(tags::FLOAT_PIXEL_DATA) || present(tags::DOUBLE_FLOAT_PIXEL_DATA) {
            "its image is floating-point pixel data (7FE0,0008 / 7FE0,0009), as parametric maps store them, not a radiograph's integer pixels; kneeclip does not read it"
        } else {
            "this DICOM file contains no image (no Pixel Data element)"
        };
        return Err(ImagingError::Unsupported { path: path.to_path_buf(), detail: detail.into() });
    }
    let rows = meta::get_u32(&obj, tags::ROWS).ok_or_else(|| bad_attr("Rows (0028,0010)", ""))?;
    let cols =
        meta::get_u32(&obj, tags::COLUMNS).ok_or_else(|| bad_attr("Columns (0028,0011)", ""))?;
    let frames = meta::get_u32(&obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
    let samples = meta::get_u32(&obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1).max(1);
    if frame == 0 || frame > frames {
        return Err(ImagingError::NoSuchFrame { path: path.to_path_buf(), frame, frames });
    }
    let index = frame - 1;
    if rows == 0 || cols == 0 {
        return Err(bad_attr("Rows/Columns", &format!("the image is {cols}×{rows} pixels")));
    }
    limits.check_pixels(path, cols as u64, rows as u64, frames as u64, samples as u64)?;
    check_pixel_description(&obj, samples).map_err(|(attribute, detail)| bad_attr(attribute, &detail))?;

    let ts_uid = obj.meta().transfer_syntax().to_string();
    let (ts_name, codec) = transfer_syntax_name(&ts_uid);
    // The codestream's own size, before a decoder allocates by it.
    let first_fragment = obj.element_opt(tags::PIXEL_DATA).ok().flatten().and_then(|e| e.value().fragments()).and_then(|f| f.first());
    if let (Some(codec), Some(stream)) = (codec, first_fragment) {
        if let Some((w, h)) = super::coded_size::coded_size(codec, stream).filter(|&size| size != (cols, rows)) {
            return Err(ImagingError::CorruptPixelData {
                path: path.to_path_buf(),
                codec: codec.into(),
                detail: format!("its own header says the frame is {w}×{h} pixels, which does not match the DICOM header's {cols}×{rows}"),
            });
        }
    }
    let decoded = match guarded(|| obj.decode_pixel_data_frame(index)) {
        Ok(Ok(d)) => d,
        Ok(Err(e)) if codec == Some("JPEG") && chain(&e).contains("SamplePrecision") => {
            // jpeg-decoder has no 12-bit lossy JPEG: use our own sequential decoder.
            let mut dec = decode_jpeg12(&obj, frames, index, path)?;
            finish(&obj, &mut dec, frames, index, path)?;
            return Ok(dec);
        }
        Ok(Err(e)) => {
            let detail = chain(&e);
            let lower = detail.to_ascii_lowercase();
            return Err(if lower.contains("unsupported transfersyntax")
                || lower.contains("unknown transfer syntax")
            {
                ImagingError::UnsupportedTransferSyntax {
                    path: path.to_path_buf(),
                    uid: ts_uid,
                    name: ts_name.into(),
                }
            } else if lower.contains("unsupported jpeg feature") || lower.contains("unsupported feature") {
                ImagingError::Unsupported {
                    path: path.to_path_buf(),
                    detail: format!("the {} pixel data uses a feature this decoder lacks ({detail})", codec.unwrap_or("compressed")),
                }
            } else if lower.contains(&format!("frame #{index} is out of range")) {
                // dicom-pixeldata's words for "fewer pixel bytes than the header promises".
                ImagingError::InvalidDicom {
                    path: path.to_path_buf(),
                    detail: format!(
                        "the pixel data holds less than {} {cols}×{rows} frame{}: the file is truncated or its Rows/Columns are wrong",
                        if index == 0 { "one".to_string() } else { (index + 1).to_string() },
                        if index == 0 { "" } else { "s" }
                    ),
                }
            } else if lower.contains("could not allocate frame") {
                // The codec adapters refuse a frame far bigger than its compressed data.
                ImagingError::CorruptPixelData {
                    path: path.to_path_buf(),
                    codec: codec.unwrap_or("compressed").into(),
                    detail: format!(
                        "a {cols}×{rows} frame cannot come from so little compressed data: the file is truncated or its Rows/Columns are wrong"
                    ),
                }
            } else if let Some(codec) = codec {
                ImagingError::CorruptPixelData { path: path.to_path_buf(), codec: codec.into(), detail }
            } else {
                ImagingError::InvalidDicom { path: path.to_path_buf(), detail }
            });
        }
        Err(panic) => {
            return Err(ImagingError::CorruptPixelData {
                path: path.to_path_buf(),
                codec: codec.unwrap_or("pixel data").into(),
                detail: format!("the decoder crashed: {panic}"),
            });
        }
    };

    let original_pi = meta::get_str(&obj, tags::PHOTOMETRIC_INTERPRETATION);
    let mut dec = samples_to_pixels(&decoded, path, &ts_uid, original_pi.as_deref())?;
    finish(&obj, &mut dec, frames, index, path)?;
    Ok(dec)
}

/// Notes, grayscale pipeline metadata, spacing, tags and label.
fn finish(obj: &DefaultDicomObject, dec: &mut Decoded, frames: u32, index: u32, path: &Path) -> Result<(), ImagingError> {
    (dec.frame, dec.frame_count) = (index, frames);
    if frames > 1 {
        dec.notes.push(format!("multi-frame file: showing frame {} of {frames}", index + 1));
    }
    if dec.photometric != Photometric::Luminance {
        meta::apply_grayscale_metadata(obj, dec, path)?;
    }
    dec.pixel_spacing = meta::pixel_spacing(obj);
    dec.tags = meta::tag_list(obj);
    dec.patient_label = meta::patient_label(obj);
    let described: Vec<(&str, String)> = [("Study Description", tags::STUDY_DESCRIPTION), ("Series Description", tags::SERIES_DESCRIPTION), ("Protocol Name", tags::PROTOCOL_NAME)]
        .into_iter()
        .filter_map(|(field, tag)| meta::get_str(obj, tag).map(|v| (field, v)))
        .collect();
    let described: Vec<(&str, &str)> = described.iter().map(|(field, v)| (*field, v.as_str())).collect();
    (dec.cautions, dec.other_region) = anatomy::assess(meta::get_str(obj, tags::MODALITY).as_deref(), meta::get_str(obj, tags::BODY_PART_EXAMINED).as_deref(), &described);
    dec.cautions.extend(anatomy::species_caution(meta::get_str(obj, tags::PATIENT_SPECIES_DESCRIPTION).as_deref()));
    Ok(())
}

/// Frame `index` (0-based) of a 12-bit JPEG Extended file, through [`super::jpeg12`].
fn decode_jpeg12(obj: &DefaultDicomObject, frames: u32, index: u32, path: &Path) -> Result<Decoded, ImagingError> {
    let corrupt = |detail: String| ImagingError::CorruptPixelData {
        path: path.to_path_buf(),
        codec: "JPEG".into(),
        detail,
    };
    let fragments = obj
        .element(tags::PIXEL_DATA)
        .ok()
        .and_then(|e| e.value().fragments())
        .ok_or_else(|| corrupt("the pixel data is not encapsulated".into()))?;
    let stream = jpeg_frame_stream(fragments, frames, index).ok_or_else(|| {
        corrupt(format!("the pixel data holds fewer than {} JPEG frames (each ends in an EOI marker): frame {} cannot be found", index + 1, index + 1))
    })?;
    let gray = match guarded(|| super::jpeg12::decode_gray(&stream)) {
        Ok(Ok(g)) => g,
        Ok(Err(detail)) => return Err(corrupt(detail)),
        Err(panic) => return Err(corrupt(format!("the decoder crashed: {panic}"))),
    };
    let rows = meta::get_u32(obj, tags::ROWS).unwrap_or(0);
    let cols = meta::get_u32(obj, tags::COLUMNS).unwrap_or(0);
    if (gray.width, gray.height) != (cols, rows) {
        return Err(corrupt(format!(
            "the JPEG stream is {}×{} but the DICOM header says {cols}×{rows}",
            gray.width, gray.height
        )));
    }
    let stored = meta::get_u32(obj, tags::BITS_STORED).unwrap_or(gray.precision as u32).clamp(1, 16) as u16;
    let mask = ((1u32 << stored) - 1) as u16;
    let photometric = match meta::get_str(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() {
        Some("MONOCHROME1") => Photometric::Monochrome1,
        Some("MONOCHROME2") | None => Photometric::Monochrome2,
        Some(other) => {
            return Err(ImagingError::Unsupported {
                path: path.to_path_buf(),
                detail: format!("12-bit JPEG with photometric interpretation {other}"),
            });
        }
    };
    let pixels = Pixels::U16(gray.samples.into_iter().map(|v| v & mask).collect());
    let mut dec = Decoded::plain(gray.width, gray.height, pixels, stored);
    dec.notes.extend(gray.tolerated);
    dec.photometric = photometric;
    dec.full_range = FullRange::Values;
    Ok(dec)
}

/// The JPEG stream of frame `index` (0-based) in encapsulated pixel data: one
/// fragment a frame, or else each frame's fragments running up to the one
/// that ends in EOI (FF D9, before any padding). None: there is no such frame.
pub(crate) fn jpeg_frame_stream<T: AsRef<[u8]>>(fragments: &[T], frames: u32, index: u32) -> Option<Vec<u8>> {
    if frames as usize == fragments.len() {
        return fragments.get(index as usize).map(|f| f.as_ref().to_vec());
    }
    let mut out = Vec::new();
    let mut at = 0u32;
    for f in fragments {
        out.extend_from_slice(f.as_ref());
        let end = out.iter().rposition(|&b| b != 0).unwrap_or(0);
        if end >= 1 && out[end - 1] == 0xFF && out[end] == 0xD9 {
            if at == index {
                return Some(out);
            }
            at += 1;
            out.clear();
        }
    }
    // The last frame may lack its EOI (a stream cut short is then the decoder's to report).
    (at == index && !out.is_empty()).then_some(out)
}

/// Header values that contradict each other, which decoders would otherwise
/// read one way or another without a word (Bits Stored 17 of 16 allocated
/// was read as 16; three samples of a MONOCHROME image were reported as a
/// truncated file): (attribute, what is wrong).
fn check_pixel_description(obj: &DefaultDicomObject, samples: u32) -> Result<(), (&'static str, String)> {
    let allocated = meta::get_u32(obj, tags::BITS_ALLOCATED);
    let stored = meta::get_u32(obj, tags::BITS_STORED);
    if let (Some(a), Some(s)) = (allocated, stored) {
        if s == 0 || s > a {
            return Err(("Bits Stored (0028,0101)", format!("it is {s}, but Bits Allocated (0028,0100) is {a}: a pixel cannot store more bits than it is given")));
        }
        if let Some(h) = meta::get_u32(obj, tags::HIGH_BIT).filter(|&h| h >= a) {
            return Err(("High Bit (0028,0102)", format!("it is {h}, but Bits Allocated (0028,0100) is {a}: the highest bit is at most {}", a - 1)));
        }
    }
    let photometric = meta::get_str(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    let photometric = photometric.trim();
    let expected = match photometric {
        "MONOCHROME1" | "MONOCHROME2" | "PALETTE COLOR" => Some(1),
        p if p == "RGB" || p.starts_with("YBR") => Some(3),
        _ => None,
    };
    match expected {
        Some(n) if n != samples => Err(("Samples per Pixel (0028,0002)", format!("it is {samples}, but Photometric Interpretation {photometric} has {n} sample{} per pixel", if n == 1 { "" } else { "s" }))),
        _ => Ok(()),
    }
}

/// Interprets the decoded first frame's bytes.
fn samples_to_pixels(
    d: &DecodedPixelData<'_>,
    path: &Path,
    ts_uid: &str,
    original_pi: Option<&str>,
) -> Result<Decoded, ImagingError> {
    let (w, h) = (d.columns(), d.rows());
    let n = w as usize * h as usize;
    let spp = d.samples_per_pixel() as usize;
    let alloc = d.bits_allocated();
    let stored = d.bits_stored().clamp(1, alloc.max(1));
    let signed = d.pixel_representation() == PixelRepresentation::Signed;
    let pi = d.photometric_interpretation().clone();
    let data = d.data();
    let unsupported = |detail: String| ImagingError::Unsupported { path: path.to_path_buf(), detail };

    let bytes_per = match alloc {
        1 | 8 => 1,
        16 => 2,
        32 => 4,
        other => return Err(unsupported(format!("{other} bits allocated per sample"))),
    };
    if spp == 3 && bytes_per == 1 && pi == PhotometricInterpretation::YbrFull422 && data.len() >= n * 2 {
        // Native YBR_FULL_422: Y1 Y2 Cb Cr for each pair of pixels; keep the Y samples.
        let luma: Vec<u8> = (0..n).map(|p| data[(p / 2) * 4 + (p % 2)]).collect();
        let mut dec = Decoded::plain(w, h, Pixels::U8(luma), 8);
        dec.photometric = Photometric::Luminance;
        dec.notes.push("colour image (YBR_FULL_422) converted to luminance (its Y channel, Rec. 601)".into());
        return Ok(dec);
    }
    let needed = n * spp * bytes_per;
    if data.len() < needed {
        return Err(ImagingError::CorruptPixelData {
            path: path.to_path_buf(),
            codec: transfer_syntax_name(ts_uid).1.unwrap_or("pixel data").into(),
            detail: format!(
                "{} bytes of pixel data where {w}×{h}×{spp} samples need {needed}; the file is truncated",
                data.len()
            ),
        });
    }

    // Raw sample k (in native byte order from the decoder), masked to bits stored.
    let mask: u64 = if stored >= 32 { u32::MAX as u64 } else { (1u64 << stored) - 1 };
    let unmasked = |k: usize| -> u64 {
        match bytes_per {
            1 => data[k] as u64,
            2 => u16::from_ne_bytes([data[2 * k], data[2 * k + 1]]) as u64,
            _ => u32::from_ne_bytes(data[4 * k..4 * k + 4].try_into().unwrap()) as u64,
        }
    };
    let raw = |k: usize| -> u64 { unmasked(k) & mask };
    let sign_extend = |v: u64| -> i32 {
        if stored < 64 && v & (1u64 << (stored - 1)) != 0 {
            (v as i64 - (1i64 << stored)) as i32
        } else {
            v as i32
        }
    };

    if spp == 1 {
        let photometric = match pi {
            PhotometricInterpretation::Monochrome1 => Photometric::Monochrome1,
            PhotometricInterpretation::Monochrome2 => Photometric::Monochrome2,
            PhotometricInterpretation::PaletteColor => {
                return Err(unsupported("PALETTE COLOR images are not supported".into()));
            }
            other => {
                return Err(unsupported(format!(
                    "photometric interpretation {other} with one sample per pixel"
                )));
            }
        };
        let pixels = if signed {
            Pixels::I32((0..n).map(|k| sign_extend(raw(k))).collect())
        } else if bytes_per == 1 {
            Pixels::U8((0..n).map(|k| raw(k) as u8).collect())
        } else if bytes_per == 2 {
            Pixels::U16((0..n).map(|k| raw(k) as u16).collect())
        } else {
            Pixels::I32((0..n).map(|k| raw(k).min(i32::MAX as u64) as i32).collect())
        };
        let bits = if alloc == 1 { 8 } else { stored };
        let mut dec = Decoded::plain(w, h, pixels, bits);
        dec.photometric = photometric;
        dec.full_range = FullRange::Values;
        // Bits above Bits Stored are masked off, as the standard says; said, since a wrong
        // Bits Stored (7 over 10-bit data) silently cut the film's values (QA).
        if alloc > 1 && stored < alloc {
            let above = (0..n).filter(|&k| unmasked(k) & !mask != 0).count();
            if above > 0 {
                dec.notes.push(format!(
                    "{above} of {n} pixels had bits set above Bits Stored ({stored} of {alloc} bits): masked off, as the standard says (old files kept overlays there); if the film looks wrong, its Bits Stored may be wrong"
                ));
            }
        }
        return Ok(dec);
    }

    if spp != 3 || bytes_per > 2 {
        return Err(unsupported(format!("{spp} samples per pixel of {alloc} bits")));
    }
    // Colour: planar configuration 1 stores R…, G…, B… planes.
    let planar = d.planar_configuration() == PlanarConfiguration::PixelFirst;
    let idx = |p: usize, c: usize| if planar { c * n + p } else { p * 3 + c };
    let pi_name = pi.to_string();
    let (luma, colour): (Vec<u32>, bool) = match pi {
        PhotometricInterpretation::YbrFull | PhotometricInterpretation::YbrFull422 => {
            // Still in YCbCr (native data): the luminance is Y itself.
            ((0..n).map(|p| raw(idx(p, 0)) as u32).collect(), true)
        }
        _ => {
            let all_equal =
                (0..n).all(|p| raw(idx(p, 0)) == raw(idx(p, 1)) && raw(idx(p, 1)) == raw(idx(p, 2)));
            let luma = (0..n)
                .map(|p| {
                    let (r, g, b) = (raw(idx(p, 0)), raw(idx(p, 1)), raw(idx(p, 2)));
                    if all_equal {
                        r as u32
                    } else {
                        ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) as u32
                    }
                })
                .collect();
            (luma, !all_equal)
        }
    };
    let pixels = if bytes_per == 1 {
        Pixels::U8(luma.into_iter().map(|v| v.min(255) as u8).collect())
    } else {
        Pixels::U16(luma.into_iter().map(|v| v.min(65535) as u16).collect())
    };
    // A colour-encoded DICOM is always reported as converted, even when its channels
    // turn out equal (a gray film stored as YBR/RGB); the note says which.
    let mut dec = Decoded::plain(w, h, pixels, stored);
    dec.photometric = Photometric::Luminance;
    let orig = if d.samples_per_pixel() == 3 { original_pi.unwrap_or(&pi_name) } else { &pi_name };
    dec.notes.push(if colour {
        format!("colour image ({orig}) converted to luminance (Rec. 601: 0.299 R + 0.587 G + 0.114 B)")
    } else {
        format!("colour-encoded image ({orig}) with equal channels: converted to luminance (gray)")
    });
    Ok(dec)
}

#[cfg(test)]
mod tests {
    use super::jpeg_frame_stream;

    /// 12-bit JPEG (decode_jpeg12) reads frame k too: a frame a fragment, or
    /// a frame's fragments up to the one that ends in EOI (padding after it).
    #[test]
    fn the_jpeg_stream_of_frame_k_is_found_in_the_fragments() {
        let one_each: [&[u8]; 3] = [b"\xFF\xD8a\xFF\xD9", b"\xFF\xD8b\xFF\xD9", b"\xFF\xD8c\xFF\xD9"];
        assert_eq!(jpeg_frame_stream(&one_each, 3, 1).as_deref(), Some(&b"\xFF\xD8b\xFF\xD9"[..]));
        assert_eq!(jpeg_frame_stream(&one_each, 3, 3), None);
        let split: [&[u8]; 4] = [b"\xFF\xD8a", b"a\xFF\xD9\x00", b"\xFF\xD8b", b"b\xFF\xD9"];
        assert_eq!(jpeg_frame_stream(&split, 2, 0).as_deref(), Some(&b"\xFF\xD8aa\xFF\xD9\x00"[..]));
        assert_eq!(jpeg_frame_stream(&split, 2, 1).as_deref(), Some(&b"\xFF\xD8bb\xFF\xD9"[..]));
        assert_eq!(jpeg_frame_stream(&split, 2, 2), None);
    }
}
