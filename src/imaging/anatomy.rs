//! Whether a DICOM film says it is something kneeclip does not grade: another
//! modality than a plain radiograph, or another body part than the knee.
//!
//! The model grades whatever it is given; a chest film still gets a KL grade.
//! A reader who opened the wrong series should be told so where the grade is
//! shown, not find out later. Only what the file states is used (Modality
//! (0008,0060) and Body Part Examined (0018,0015)): a film that says nothing,
//! or names a part this list does not know, gets no caution, so there are no
//! false alarms on the many films with blank or local values.

/// Modalities of plain projection radiographs (computed, digital, radiographic
/// imaging, the retired DR), and the generic "other" and "secondary capture"
/// a scanned or exported film often carries.
const RADIOGRAPHS: &[&str] = &["CR", "DX", "RG", "DR", "OT", "SC"];

/// Words in Body Part Examined that put the knee in the picture: DICOM's
/// defined terms (PS3.16 CID 4031) and the common local ones.
const KNEE_WORDS: &[&str] = &["KNEE", "KNEES", "LEG", "LEGS", "LOWEXM", "LOWERLIMB", "TIBIA", "FEMUR", "PATELLA", "KNIE", "GENOU", "GINOCCHIO", "RODILLA", "JOELHO"];

/// Words that name another region (only these give a caution).
const OTHER_WORDS: &[&str] = &[
    "CHEST", "THORAX", "LUNG", "LUNGS", "HEART", "ABDOMEN", "KUB", "PELVIS", "HIP", "HIPS", "SACRUM", "COCCYX", "SPINE", "CSPINE", "TSPINE", "LSPINE", "SSPINE", "NECK",
    "SKULL", "HEAD", "BRAIN", "FACE", "SINUS", "SINUSES", "ORBIT", "JAW", "MANDIBLE", "TMJ", "BREAST", "SHOULDER", "CLAVICLE", "SCAPULA", "RIB", "RIBS", "HUMERUS",
    "ELBOW", "FOREARM", "WRIST", "HAND", "HANDS", "FINGER", "FINGERS", "THUMB", "UPREXM", "UPPERLIMB", "ANKLE", "FOOT", "FEET", "TOE", "TOES", "HEEL", "CALCANEUS",
];

/// The cautions for a film whose DICOM header states `modality` and
/// `body_part` (either may be absent); empty when nothing says it is not a
/// knee radiograph.
pub(crate) fn cautions(modality: Option<&str>, body_part: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(modality) = modality.map(str::trim).filter(|m| !m.is_empty()) {
        if !RADIOGRAPHS.iter().any(|r| r.eq_ignore_ascii_case(modality)) {
            out.push(format!("DICOM Modality is {modality}: kneeclip grades plain knee radiographs (CR, DX), so this grade may mean nothing"));
        }
    }
    if let Some(part) = body_part.map(str::trim).filter(|p| !p.is_empty()) {
        let upper = part.to_ascii_uppercase();
        let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let joined: String = words.concat();
        let has = |list: &[&str]| words.iter().any(|w| list.contains(w)) || list.contains(&joined.as_str());
        if has(OTHER_WORDS) && !has(KNEE_WORDS) {
            out.push(format!("DICOM Body Part Examined is “{part}”: kneeclip grades knee radiographs, so this grade may mean nothing"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cautions;

    #[test]
    fn knee_radiographs_and_silent_headers_get_no_caution() {
        for (modality, part) in [
            (Some("CR"), Some("KNEE")),
            (Some("DX"), Some("LEG")),
            (Some("dx"), Some("Knee joint")),
            (Some("RG"), Some("LOWER_LIMB")),
            (Some("CR"), Some("EXTREMITY")),
            (Some("DX"), Some("KNIE LINKS")),
            (None, None),
            (Some(""), Some("  ")),
            (Some("OT"), Some("XYZ-123")),
            (Some("CR"), Some("KNEE AND HIP")),
        ] {
            assert!(cautions(modality, part).is_empty(), "{modality:?} {part:?}: {:?}", cautions(modality, part));
        }
    }

    #[test]
    fn another_region_or_modality_is_named_in_the_caution() {
        let chest = cautions(Some("CR"), Some("CHEST"));
        assert_eq!(chest.len(), 1);
        assert!(chest[0].contains("Body Part Examined") && chest[0].contains("CHEST"), "{chest:?}");
        for part in ["HIP", "hip joint", "L-SPINE", "UPPER_LIMB", "Hand", "PELVIS"] {
            assert_eq!(cautions(Some("DX"), Some(part)).len(), 1, "{part}");
        }
        let mr = cautions(Some("MR"), Some("KNEE"));
        assert_eq!(mr.len(), 1);
        assert!(mr[0].contains("Modality is MR"), "{mr:?}");
        assert_eq!(cautions(Some("CT"), Some("CHEST")).len(), 2);
    }
}
