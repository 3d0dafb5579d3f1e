//! The report as a DICOM Secondary Capture image (`.dcm`), for a PACS: the
//! PNG report's pixels (RGB, 150 dpi, pages stacked) under a header that
//! files it beside the film.
//!
//! With patient data asked for, the header carries the source film's patient
//! and study (name, ID, birth date, sex; Study Instance UID, date, time, ID,
//! accession number, referring physician) and points back at the film's SOP
//! instance, so a PACS puts the report into the film's study as a new series.
//! Without it nothing ties the file to the patient: the patient module is
//! empty and the study is new, dated when the report was made. Every export gets new series and instance UIDs
//! (`2.25.` and a random UUID, PS3.5 B.2).

use std::io::Write as _;
use std::time::SystemTime;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use image::RgbImage;

use super::ReportInput;
use super::content::{Report, rfc3339_utc};
use crate::build_info::VERSION;
use crate::imaging::error_chain as chain;

/// Secondary Capture Image Storage.
pub const SECONDARY_CAPTURE_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.7";
const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// kneeclip's implementation class UID (a fixed UUID under `2.25`).
const IMPLEMENTATION_CLASS_UID: &str = "2.25.227540919620463391548236153447318364712";
/// The series number a report gets, apart from the film's own series.
const REPORT_SERIES_NUMBER: &str = "9001";

/// The patient and study attributes copied from the film with patient data.
const PATIENT_AND_STUDY: [(Tag, VR); 11] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_INSTANCE_UID, VR::UI),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    // So that every object of the study agrees (a PACS lists studies by it).
    (tags::STUDY_DESCRIPTION, VR::LO),
];

/// The DICOM file's bytes: `pages` (the PNG report's canvas) under a
/// Secondary Capture header built from `input` and `report`.
pub fn encode(input: &ReportInput<'_>, report: &Report, pages: &RgbImage) -> Result<Vec<u8>, String> {
    let film_tag = |tag: Tag| film_value(input, tag);
    let (date, time) = dicom_date_time(input.created);
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag: Tag, vr: VR, value: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, value));
    };
    let str_value = |s: &str| PrimitiveValue::from(s);

    // SOP common, and the character set when a copied name needs it.
    let instance_uid = new_uid()?;
    put(tags::SOP_CLASS_UID, VR::UI, str_value(SECONDARY_CAPTURE_IMAGE_STORAGE));
    put(tags::SOP_INSTANCE_UID, VR::UI, str_value(&instance_uid));
    put(tags::INSTANCE_CREATION_DATE, VR::DA, str_value(&date));
    put(tags::INSTANCE_CREATION_TIME, VR::TM, str_value(&time));
    put(tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH, str_value("+0000"));

    // Patient and study: the film's, or empty and new.
    let copied: Vec<(Tag, VR, String)> = if input.include_patient_data {
        PATIENT_AND_STUDY.iter().map(|&(tag, vr)| (tag, vr, film_tag(tag).unwrap_or_default())).collect()
    } else {
        PATIENT_AND_STUDY.iter().map(|&(tag, vr)| (tag, vr, String::new())).collect()
    };
    // UTF-8 when any text needs it (a name, or a caution's quotation marks).
    let (comments, derivation) = (summary(report), derivation(report));
    if copied.iter().any(|(_, _, v)| !v.is_ascii()) || !comments.is_ascii() || !derivation.is_ascii() {
        put(tags::SPECIFIC_CHARACTER_SET, VR::CS, str_value("ISO_IR 192"));
    }
    // No study to join: the report's own, made now.
    let new_study = copied.iter().any(|(tag, _, v)| *tag == tags::STUDY_INSTANCE_UID && v.is_empty());
    for (tag, vr, value) in copied {
        let value = match tag {
            t if new_study && t == tags::STUDY_INSTANCE_UID => new_uid()?,
            t if new_study && t == tags::STUDY_DATE => date.clone(),
            t if new_study && t == tags::STUDY_TIME => time.clone(),
            _ => value,
        };
        put(tag, vr, str_value(&value));
    }

    // Series and equipment: a report series of its own, made by kneeclip.
    put(tags::MODALITY, VR::CS, str_value("OT"));
    put(tags::SERIES_INSTANCE_UID, VR::UI, str_value(&new_uid()?));
    put(tags::SERIES_NUMBER, VR::IS, str_value(REPORT_SERIES_NUMBER));
    put(tags::SERIES_DESCRIPTION, VR::LO, str_value("kneeclip KL grading report"));
    // Type 2C for a paired structure: the film's side, else empty (unknown).
    let side = film_tag(tags::IMAGE_LATERALITY).or_else(|| film_tag(tags::LATERALITY)).filter(|s| matches!(s.as_str(), "R" | "L"));
    put(tags::LATERALITY, VR::CS, str_value(side.as_deref().unwrap_or("")));
    put(tags::MANUFACTURER, VR::LO, str_value("kneeclip"));
    put(tags::CONVERSION_TYPE, VR::CS, str_value("WSD"));
    put(tags::SECONDARY_CAPTURE_DEVICE_MANUFACTURER, VR::LO, str_value("kneeclip"));
    put(tags::SECONDARY_CAPTURE_DEVICE_MANUFACTURER_MODEL_NAME, VR::LO, str_value("kneeclip"));
    put(tags::SECONDARY_CAPTURE_DEVICE_SOFTWARE_VERSIONS, VR::LO, str_value(VERSION));
    put(tags::DATE_OF_SECONDARY_CAPTURE, VR::DA, str_value(&date));
    put(tags::TIME_OF_SECONDARY_CAPTURE, VR::TM, str_value(&time));

    // The image: what it is, and what its pixels say in words.
    put(tags::IMAGE_TYPE, VR::CS, PrimitiveValue::Strs(["DERIVED".to_string(), "SECONDARY".to_string()].into()));
    put(tags::INSTANCE_NUMBER, VR::IS, str_value("1"));
    // The page's rows and columns run as the film drawn on it: the letters as shown, not the film's stored value; empty (unknown) without them.
    put(tags::PATIENT_ORIENTATION, VR::CS, str_value(&shown_orientation(report).unwrap_or_default()));
    put(tags::CONTENT_DATE, VR::DA, str_value(&date));
    put(tags::CONTENT_TIME, VR::TM, str_value(&time));
    // YES when the page prints patient data or the film's own pixels may carry some: NO only when
    // the source says it has none (PACS and anonymisers trust this; the source's YES was lost before).
    let burned_in = input.include_patient_data || super::content::burned_in_annotation(input.film) != Some(false);
    put(tags::BURNED_IN_ANNOTATION, VR::CS, str_value(if burned_in { "YES" } else { "NO" }));
    put(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, str_value("00"));
    put(tags::DERIVATION_DESCRIPTION, VR::ST, str_value(&derivation));
    put(tags::IMAGE_COMMENTS, VR::LT, str_value(&comments));
    let (rows, columns) = (u16::try_from(pages.height()), u16::try_from(pages.width()));
    let (Ok(rows), Ok(columns)) = (rows, columns) else {
        return Err(format!("the report is {}×{} pixels, more than DICOM's 65535 a side", pages.width(), pages.height()));
    };
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(3_u16));
    put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, str_value("RGB"));
    put(tags::PLANAR_CONFIGURATION, VR::US, PrimitiveValue::from(0_u16));
    put(tags::ROWS, VR::US, PrimitiveValue::from(rows));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(columns));
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8_u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(8_u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(7_u16));
    put(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0_u16));
    let mut pixels = pages.as_raw().clone();
    if pixels.len() % 2 == 1 {
        pixels.push(0); // values are even-length in DICOM
    }
    put(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(pixels));

    // The film this report was made from, when it may be named.
    if input.include_patient_data {
        if let (Some(class), Some(instance)) = (film_tag(tags::SOP_CLASS_UID), film_tag(tags::SOP_INSTANCE_UID)) {
            let item = InMemDicomObject::from_element_iter([
                DataElement::new(tags::REFERENCED_SOP_CLASS_UID, VR::UI, PrimitiveValue::from(class.as_str())),
                DataElement::new(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(instance.as_str())),
            ]);
            obj.put(DataElement::new(tags::SOURCE_IMAGE_SEQUENCE, VR::SQ, DataSetSequence::from(vec![item])));
        }
    }

    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(concat!("KNEECLIP_", env!("CARGO_PKG_VERSION")));
    let file = obj.with_meta(meta).map_err(|e| chain(&e))?;
    let mut bytes = Vec::with_capacity(pages.as_raw().len() + 4096);
    file.write_all(&mut bytes).map_err(|e| chain(&e))?;
    bytes.flush().map_err(|e| chain(&e))?;
    Ok(bytes)
}

/// A top-level attribute of the film's DICOM header; `None` for ordinary
/// images, absent or blank values, and values the tag list shortened.
fn film_value(input: &ReportInput<'_>, tag: Tag) -> Option<String> {
    input.film.tag_value((tag.0, tag.1)).filter(|v| !v.ends_with('…'))
}

/// Patient Orientation of the film as drawn (`L\\F` for a stored `R\\F` flipped
/// left–right): toward the right edge, then toward the bottom; `None` without the film's tag.
fn shown_orientation(report: &Report) -> Option<String> {
    let (row, column) = crate::imaging::orientation::parse(report.film.patient_orientation.as_deref()?)?;
    let shown = report.film.transform().edges(&row, &column);
    Some(format!("{}\\{}", shown.right, shown.bottom))
}

/// ("YYYYMMDD", "HHMMSS") in UTC.
fn dicom_date_time(time: SystemTime) -> (String, String) {
    let text = rfc3339_utc(time); // "2026-05-01T12:34:56Z"
    (text[..10].replace('-', ""), text[11..19].replace(':', ""))
}

/// A new UID: `2.25.` and the decimal value of a random (version 4) UUID.
pub fn new_uid() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random numbers for a DICOM UID: {e}"))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(format!("2.25.{}", u128::from_be_bytes(bytes)))
}

/// Image Comments: each region's grade in words, and what to read it as.
fn summary(report: &Report) -> String {
    let mut parts: Vec<String> = report
        .regions
        .iter()
        .map(|r| {
            let borderline = r
                .borderline
                .map(|[a, b]| format!(", borderline KL {a}/{b}"))
                .or_else(|| r.uncertain.map(|[a, b]| format!(", uncertain: KL {a} and KL {b} score alike")))
                .unwrap_or_default();
            let flip = match r.mirrored_grade {
                Some(other) if other != r.grade => format!(", mirrored KL {other}: unsure"),
                _ => String::new(),
            };
            let grade = format!("KL {} ({}), p = {:.2}{borderline}{flip}", r.grade, r.grade_name, r.probabilities[r.grade]);
            if report.regions.len() > 1 { format!("{}: {grade}", r.label) } else { grade }
        })
        .collect();
    if report.anchors.edited {
        parts.push("anchors edited: probabilities not calibrated for them".into());
    }
    parts.extend(report.film.cautions.iter().map(|c| format!("caution: {c}")));
    parts.extend(report.warnings.iter().map(|w| format!("warning: {w}")));
    // The lengths drawn on the page, also as text a PACS can show.
    parts.extend(report.measurements.iter().map(|m| m.text()));
    parts.extend(report.film.transform().describe());
    parts.push(super::content::STATEMENT.into());
    parts.join("; ")
}

/// Derivation Description: what made the image (ST, at most 1024 characters).
fn derivation(report: &Report) -> String {
    let head = report.head.as_deref().map(|h| format!(", head {h}")).unwrap_or_default();
    let text = format!("kneeclip {} grading report; model {}{head}; anchors {}; {}", report.kneeclip_version, report.model, report.anchors.hash, report.arithmetic);
    text.chars().take(1024).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_valid_and_new_each_time() {
        let (a, b) = (new_uid().unwrap(), new_uid().unwrap());
        assert_ne!(a, b);
        for uid in [&a, &b] {
            assert!(uid.len() <= 64, "{uid}");
            assert!(uid.starts_with("2.25."), "{uid}");
            let number = &uid[5..];
            assert!(number.bytes().all(|c| c.is_ascii_digit()) && !number.starts_with('0'), "{uid}");
            // The UUID's version nibble is 4 and its variant bits 10.
            let value: u128 = number.parse().unwrap();
            assert_eq!((value >> 76) & 0xf, 4, "{uid}");
            assert_eq!((value >> 62) & 0b11, 0b10, "{uid}");
        }
    }

    #[test]
    fn dates_and_times_are_dicom_shaped() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_979_200 + 3 * 3600 + 4 * 60 + 5);
        assert_eq!(dicom_date_time(t), ("20251206".to_string(), "030405".to_string()));
    }
}
