//! DICOM metadata: modality LUT, VOI presets, presentation LUT shape, pixel spacing,
//! the tag list for the tag panel, and the patient overlay label.

use std::path::Path;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::Header;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::{DefaultDicomObject, InMemDicomObject};

use super::radiograph::Decoded;
use super::voi::{ModalityLut, VoiFunction, VoiLutTable};
use super::{DicomTag, ImagingError, PixelSpacing, SpacingSource, Window, WindowPreset};

type Obj = InMemDicomObject;

pub(crate) fn get_str(obj: &Obj, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok().flatten()?;
    let s = e.to_str().ok()?;
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0').to_string();
    (!s.is_empty()).then_some(s)
}

pub(crate) fn get_u32(obj: &Obj, tag: Tag) -> Option<u32> {
    obj.element_opt(tag).ok().flatten()?.to_int::<u32>().ok()
}

fn get_f64s(obj: &Obj, tag: Tag) -> Vec<f64> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_float64().ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.is_finite())
        .collect()
}

fn get_strs(obj: &Obj, tag: Tag) -> Vec<String> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_str().ok().map(|v| v.to_vec()))
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.trim_matches(|c: char| c.is_whitespace() || c == '\0').to_string())
        .collect()
}

/// Words of LUT Data (0028,3006), however the parser stored them.
fn lut_words(obj: &Obj) -> Option<Vec<u16>> {
    let e = obj.element_opt(tags::LUT_DATA).ok().flatten()?;
    match e.value() {
        Value::Primitive(PrimitiveValue::U16(v)) => Some(v.to_vec()),
        Value::Primitive(PrimitiveValue::I16(v)) => Some(v.iter().map(|&x| x as u16).collect()),
        Value::Primitive(PrimitiveValue::U8(v)) => {
            Some(v.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
        }
        _ => None,
    }
}

/// (entries, first mapped value, bits) from a LUT Descriptor, plus the table.
fn read_lut(item: &Obj, signed_input: bool) -> Option<(f64, u16, Vec<u16>)> {
    let desc = item.element_opt(tags::LUT_DESCRIPTOR).ok().flatten()?;
    let d: Vec<i64> = desc.to_multi_int::<i64>().ok()?;
    if d.len() < 3 {
        return None;
    }
    let entries = if d[0] == 0 { 65536 } else { (d[0] as u64 & 0xFFFF) as usize };
    let first = if signed_input { d[1] as u16 as i16 as f64 } else { (d[1] as u64 & 0xFFFF) as f64 };
    let bits = (d[2] as u16).clamp(1, 16);
    let mut words = lut_words(item)?;
    if bits <= 8 && words.len() * 2 == entries {
        // 8-bit entries packed two per word.
        words = words.iter().flat_map(|w| [w & 0xFF, w >> 8]).collect();
    }
    words.truncate(entries);
    (!words.is_empty()).then_some((first, bits, words))
}

fn first_item(obj: &Obj, tag: Tag) -> Vec<&Obj> {
    match obj.element_opt(tag).ok().flatten().map(|e| e.value()) {
        Some(Value::Sequence(seq)) => seq.items().iter().collect(),
        _ => Vec::new(),
    }
}

/// Modality LUT, VOI presets and function, presentation LUT shape.
pub(crate) fn apply_grayscale_metadata(
    obj: &DefaultDicomObject,
    dec: &mut Decoded,
    _path: &Path,
) -> Result<(), ImagingError> {
    let signed = get_u32(obj, tags::PIXEL_REPRESENTATION) == Some(1);

    // Modality LUT: the sequence wins over rescale slope/intercept.
    if let Some(item) = first_item(obj, tags::MODALITY_LUT_SEQUENCE).first() {
        if let Some((first, _bits, data)) = read_lut(item, signed) {
            dec.modality = ModalityLut::Table {
                first_mapped: first,
                data: data.into_iter().map(f64::from).collect(),
            };
            let what = get_str(item, tags::LUT_EXPLANATION)
                .or_else(|| get_str(item, tags::MODALITY_LUT_TYPE))
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            dec.notes.push(format!("modality LUT table applied{what}"));
        }
    } else {
        let slope = get_f64s(obj, tags::RESCALE_SLOPE).first().copied().unwrap_or(1.0);
        let intercept = get_f64s(obj, tags::RESCALE_INTERCEPT).first().copied().unwrap_or(0.0);
        let slope = if slope == 0.0 { 1.0 } else { slope };
        dec.modality = ModalityLut::Rescale { slope, intercept };
    }

    dec.voi_function = get_str(obj, tags::VOILUT_FUNCTION)
        .map(|s| VoiFunction::parse(&s))
        .unwrap_or(VoiFunction::Linear);

    // VOI LUT tables first (as dicom-pixeldata prefers them), then windows.
    let mut presets = Vec::new();
    let modality_is_table = matches!(dec.modality, ModalityLut::Table { .. });
    for (i, item) in first_item(obj, tags::VOILUT_SEQUENCE).into_iter().enumerate() {
        // The VOI LUT input is the modality output; signed only if that can be negative.
        let signed_in = signed && !modality_is_table;
        if let Some((first, bits, data)) = read_lut(item, signed_in) {
            let table = VoiLutTable { first_mapped: first, bits, data };
            let name = match get_str(item, tags::LUT_EXPLANATION) {
                Some(e) => format!("VOI LUT: {e}"),
                None => format!("VOI LUT {}", i + 1),
            };
            presets.push((WindowPreset { name, window: table.input_window() }, Some(table)));
        }
    }
    let centers = get_f64s(obj, tags::WINDOW_CENTER);
    let widths = get_f64s(obj, tags::WINDOW_WIDTH);
    let explanations = get_strs(obj, tags::WINDOW_CENTER_WIDTH_EXPLANATION);
    for (i, (&center, &width)) in centers.iter().zip(&widths).enumerate() {
        // A window needs a width (PS3.3 C.11.2.1.2). Said, not silently
        // dropped, so the reader knows why the film opens at another window.
        if width <= 0.0 {
            dec.notes.push(format!("the file's window {} (center {center}, width {width}) has no width: left out", i + 1));
            continue;
        }
        let name = explanations
            .get(i)
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("File window {}", i + 1));
        presets.push((WindowPreset { name, window: Window { center, width } }, None));
    }
    dec.presets = presets;

    dec.presentation_inverse = get_str(obj, tags::PRESENTATION_LUT_SHAPE)
        .is_some_and(|s| s.eq_ignore_ascii_case("INVERSE"));
    if dec.presentation_inverse {
        let note = if dec.photometric == super::Photometric::Monochrome1 {
            "presentation LUT shape INVERSE (restates MONOCHROME1: inverted once)"
        } else {
            "presentation LUT shape INVERSE: display inverted"
        };
        dec.notes.push(note.into());
    }
    Ok(())
}

/// (row, column) spacing in mm: Pixel Spacing, else Imager Pixel Spacing.
pub(crate) fn pixel_spacing(obj: &Obj) -> Option<PixelSpacing> {
    [(tags::PIXEL_SPACING, SpacingSource::PixelSpacing), (tags::IMAGER_PIXEL_SPACING, SpacingSource::ImagerPixelSpacing)]
        .into_iter()
        .find_map(|(t, source)| {
            let v = get_f64s(obj, t);
            let (row_mm, column_mm) = match v.as_slice() {
                [r, c, ..] if *r > 0.0 && *c > 0.0 => (*r, *c),
                [s] if *s > 0.0 => (*s, *s),
                _ => return None,
            };
            Some(PixelSpacing { row_mm, column_mm, source })
        })
}

/// Hidden by "Hide patient data": DICOM's confidentiality profile ([`super::confidentiality`]).
use super::confidentiality::is_identifying;

const MAX_VALUE_CHARS: usize = 200;

fn format_value<I, P>(tag: Tag, vr: VR, value: &Value<I, P>) -> String {
    match value {
        Value::Sequence(seq) => format!("(sequence of {} item(s))", seq.items().len()),
        Value::PixelSequence(seq) => {
            format!("(encapsulated pixel data, {} fragment(s))", seq.fragments().len())
        }
        Value::Primitive(p) => {
            let binary = matches!(vr, VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN)
                || tag == tags::PIXEL_DATA;
            if binary {
                return format!("({} bytes)", p.calculate_byte_len());
            }
            if p.multiplicity() > 32 {
                return format!("({} values)", p.multiplicity());
            }
            let s = p.to_str();
            let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
            if s.chars().count() > MAX_VALUE_CHARS {
                let mut t: String = s.chars().take(MAX_VALUE_CHARS).collect();
                t.push('…');
                t
            } else {
                s.to_string()
            }
        }
    }
}

fn tag_name(tag: Tag) -> String {
    match StandardDataDictionary.by_tag(tag) {
        Some(entry) => entry.alias().to_string(),
        None if tag.0 % 2 == 1 => "(private)".into(),
        None => "(unknown)".into(),
    }
}

/// Every top-level attribute: the file meta group, then the data set.
pub(crate) fn tag_list(obj: &DefaultDicomObject) -> Vec<DicomTag> {
    let mut out = Vec::new();
    for e in obj.meta().to_element_iter() {
        let tag = e.tag();
        let mut value = format_value(tag, e.vr(), e.value());
        if tag == tags::TRANSFER_SYNTAX_UID {
            // A bare UID tells a reader nothing.
            let name = super::dicom::transfer_syntax_name(&value).0;
            value = format!("{value} ({name})");
        }
        out.push(DicomTag {
            tag: (tag.0, tag.1),
            name: tag_name(tag),
            vr: e.vr().to_string().to_string(),
            value,
            identifying: is_identifying(tag, e.vr()),
        });
    }
    for e in obj.iter() {
        let tag = e.tag();
        out.push(DicomTag {
            tag: (tag.0, tag.1),
            name: tag_name(tag),
            vr: e.vr().to_string().to_string(),
            value: format_value(tag, e.vr(), e.value()),
            identifying: is_identifying(tag, e.vr()),
        });
    }
    out
}

/// "Family, Given · ID 123 · 2001-01-01" from whatever of the three is present.
pub(crate) fn patient_label(obj: &Obj) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(name) = get_str(obj, tags::PATIENT_NAME).map(|n| person_name(&n)).filter(|n| !n.is_empty()) {
        parts.push(name);
    }
    if let Some(id) = get_str(obj, tags::PATIENT_ID) {
        parts.push(format!("ID {id}"));
    }
    // Labelled: the overlay shows the study date under it.
    if let Some(dob) = get_str(obj, tags::PATIENT_BIRTH_DATE).and_then(|d| birth_date(&d)) {
        parts.push(format!("born {dob}"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// A DICOM PN as a person's name: "Family^Given^Middle^Prefix^Suffix" →
/// "Family, Prefix Given Middle, Suffix" (empty components dropped). The
/// first value, its alphabetic group (else the first group that has a name).
pub fn person_name(raw: &str) -> String {
    let value = raw.split('\\').next().unwrap_or_default();
    let group = value.split('=').find(|g| g.split('^').any(|c| !c.trim().is_empty())).unwrap_or_default();
    let c: Vec<&str> = group.split('^').map(str::trim).collect();
    let part = |i: usize| c.get(i).copied().unwrap_or_default();
    let given: Vec<&str> = [part(3), part(1), part(2)].into_iter().filter(|s| !s.is_empty()).collect();
    let name: Vec<String> = [part(0).to_string(), given.join(" "), part(4).to_string()].into_iter().filter(|s| !s.is_empty()).collect();
    name.join(", ")
}

/// A birth date to show: [`dicom_date`] of a value made of digits and dots
/// (a partial "1979" too), none for anything else: de-identification tools
/// put hashes there (QA: "born d14a028c2a3a…" in 966_fixed's overlay).
pub fn birth_date(raw: &str) -> Option<String> {
    let d = raw.trim();
    (!d.is_empty() && d.len() <= 10 && d.bytes().all(|b| b.is_ascii_digit() || b == b'.')).then(|| dicom_date(d))
}

/// A DICOM DA "YYYYMMDD" (or the old "YYYY.MM.DD") as "YYYY-MM-DD"; anything else as it is.
pub fn dicom_date(raw: &str) -> String {
    let d: String = raw.trim().chars().filter(|&c| c != '.').collect();
    if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) && (raw.trim().len() == 8 || raw.trim().len() == 10) {
        format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..])
    } else {
        raw.trim().to_owned()
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn person_names_read_as_names() {
        assert_eq!(person_name("CompressedSamples^RG3"), "CompressedSamples, RG3");
        assert_eq!(person_name("Doe^Jane^Sentinel"), "Doe, Jane Sentinel");
        assert_eq!(person_name("Doe^John^A^Dr^Jr"), "Doe, Dr John A, Jr");
        assert_eq!(person_name(" Doe ^ Jane ^^^ "), "Doe, Jane");
        assert_eq!(person_name("Doe"), "Doe");
        assert_eq!(person_name("^Jane"), "Jane");
        assert_eq!(person_name("^^^"), "");
        assert_eq!(person_name("Yamada^Tarou=山田^太郎=やまだ^たろう"), "Yamada, Tarou");
        assert_eq!(person_name("=山田^太郎"), "山田, 太郎");
        assert_eq!(person_name("Doe^Jane\\Roe^Richard"), "Doe, Jane");
    }

    #[test]
    fn dicom_dates_read_as_iso_dates() {
        assert_eq!(dicom_date("20040826"), "2004-08-26");
        assert_eq!(dicom_date("2004.08.26"), "2004-08-26");
        assert_eq!(dicom_date("2004"), "2004");
        assert_eq!(dicom_date("20040826-20050101"), "20040826-20050101");
        assert_eq!(dicom_date("2004082"), "2004082");
        assert_eq!(birth_date("19790408").as_deref(), Some("1979-04-08"));
        assert_eq!(birth_date(" 1979 ").as_deref(), Some("1979"));
        assert_eq!(birth_date("d14a028c2a3a35f3a2d8b3c6e8f24e9fa1b0f1c9a2b2f0e1d6c7b8a9"), None);
        assert_eq!(birth_date(""), None);
    }
}
