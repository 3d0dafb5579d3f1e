//! Real DICOM files from `<data>/dicom` (see shared/data/README.md).

use std::path::PathBuf;

use kneeclip::imaging::{ImagingError, LoadLimits, Photometric, Pixels, Radiograph};

fn dicom_dir() -> Option<PathBuf> {
    let base = std::env::var_os("KNEECLIP_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
    let dir = base.join("dicom");
    if dir.join("RG3_UNC").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: DICOM test data not found at {} (set KNEECLIP_DATA_DIR)", dir.display());
        None
    }
}

fn open(dir: &std::path::Path, name: &str) -> Radiograph {
    Radiograph::open(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn stored_u16(r: &Radiograph) -> &[u16] {
    match r.pixels() {
        Pixels::U16(v) => v,
        other => panic!("{}: expected 16-bit stored values, got {:?}", r.source().display(), std::mem::discriminant(other)),
    }
}

#[test]
fn lossless_rg3_variants_match_uncompressed_exactly() {
    let Some(dir) = dicom_dir() else { return };
    let unc = open(&dir, "RG3_UNC");
    assert_eq!((unc.width(), unc.height()), (1760, 1760));
    assert_eq!(unc.bits_stored(), 10);
    let reference = stored_u16(&unc);
    for name in ["RG3_RLE", "RG3_JPLL", "RG3_JLSL", "RG3_J2KR"] {
        let r = open(&dir, name);
        assert_eq!((r.width(), r.height()), (1760, 1760), "{name}");
        assert_eq!(r.photometric(), Photometric::Monochrome1, "{name}");
        let px = stored_u16(&r);
        let differing = px.iter().zip(reference).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 0, "{name}: {differing} pixels differ from RG3_UNC");
    }
}

/// RG3_JPLY's scan header says spectral selection 0..0 where a sequential
/// JPEG has 0..63. libjpeg (and so DCMTK) warns and decodes it as
/// sequential; so do we, with a note, and the result is the film: close to
/// the uncompressed RG3_UNC, as the repaired RG2_JPLY is to its lossless copy.
#[test]
fn a_jpeg_with_a_nonstandard_scan_header_decodes_with_a_note() {
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "RG3_JPLY");
    assert_eq!((r.width(), r.height()), (1760, 1760));
    assert!(r.notes().iter().any(|n| n.contains("spectral selection 0..0") && n.contains("read as sequential")), "{:?}", r.notes());
    let reference = open(&dir, "RG3_UNC");
    let mad = mean_abs_diff(stored_u16(&r), stored_u16(&reference));
    eprintln!("RG3_JPLY: mean |Δ| vs RG3_UNC = {mad:.3}");
    assert!(mad < 8.0, "{mad}");
}

fn mean_abs_diff(a: &[u16], b: &[u16]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).abs()).sum::<f64>() / a.len() as f64
}

#[test]
fn lossy_rg3_variants_are_close_to_uncompressed() {
    let Some(dir) = dicom_dir() else { return };
    let unc = open(&dir, "RG3_UNC");
    let reference = stored_u16(&unc);
    // Measured: JLSN ≈ {jlsn}, J2KI ≈ {j2ki} (10-bit values, 0..1023).
    for (name, bound) in [("RG3_JLSN", 3.0), ("RG3_J2KI", 8.0)] {
        let r = open(&dir, name);
        assert_eq!((r.width(), r.height()), (1760, 1760), "{name}");
        let mad = mean_abs_diff(stored_u16(&r), reference);
        eprintln!("{name}: mean |Δ| vs RG3_UNC = {mad:.3}");
        assert!(mad > 0.0, "{name} is lossy, expected some difference");
        assert!(mad < bound, "{name}: mean |Δ| {mad} over {bound}");
    }
}

/// (file, width, height, photometric)
const TABLE: &[(&str, u32, u32, Photometric)] = &[
    ("RG3_UNC", 1760, 1760, Photometric::Monochrome1),
    ("RG2_JPLL", 1760, 2140, Photometric::Monochrome2),
    ("RG2_J2KI", 1760, 2140, Photometric::Monochrome2),
    ("CR-MONO1-10-chest", 440, 440, Photometric::Monochrome1),
    ("CR-ModalitySequenceLUT.dcm", 1976, 1576, Photometric::Monochrome1),
    ("966_fixed.dcm", 2000, 2128, Photometric::Monochrome1),
    ("HasFragmentSequence.dcm", 512, 512, Photometric::Monochrome2),
    ("vpop_jpeg-baseline.dcm", 1296, 2421, Photometric::Luminance),
];

#[test]
fn every_other_file_opens_with_the_right_size() {
    let Some(dir) = dicom_dir() else { return };
    for &(name, w, h, pi) in TABLE {
        let r = open(&dir, name);
        let view = r.model_view();
        eprintln!(
            "{name}: {}×{} {:?} bits {} range {:?} presets {:?} default {:?} spacing {:?} notes {:?}",
            r.width(), r.height(), r.photometric(), r.bits_stored(), r.value_range(),
            r.window_presets(), r.default_window(), r.pixel_spacing_mm(), r.notes()
        );
        // The README table gives rows×columns.
        assert_eq!((r.width(), r.height()), (w, h), "{name} size");
        assert_eq!(r.photometric(), pi, "{name} photometric");
        assert_eq!(view.data.len(), (r.width() * r.height()) as usize);
        let (lo, hi) = view.data.iter().fold((1f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(hi > lo, "{name}: model view is flat");
        assert!(!r.dicom_tags().is_empty(), "{name}: no tags");
    }
}

#[test]
fn monochrome1_shows_high_values_dark() {
    let Some(dir) = dicom_dir() else { return };
    for name in ["RG3_UNC", "CR-MONO1-10-chest"] {
        let r = open(&dir, name);
        assert_eq!(r.photometric(), Photometric::Monochrome1);
        let (imin, imax) = argmin_max(&r);
        for window in [r.default_window(), r.full_range_window()] {
            let v = r.render(window, false);
            assert!(
                v.data[imax] < v.data[imin],
                "{name}: highest stored value must display darker than the lowest"
            );
        }
        let full = r.render(r.full_range_window(), false);
        assert_eq!(full.data[imax], 0.0, "{name}: max stored value is black");
        assert_eq!(full.data[imin], 1.0, "{name}: min stored value is white");
        // The manual toggle flips it back.
        let inv = r.render(r.full_range_window(), true);
        assert_eq!(inv.data[imax], 1.0);
    }
}

fn argmin_max(r: &Radiograph) -> (usize, usize) {
    let n = (r.width() * r.height()) as usize;
    let vals: Vec<f64> = (0..n)
        .map(|i| r.value_at(i as u32 % r.width(), i as u32 / r.width()).unwrap())
        .collect();
    let imin = (0..n).min_by(|&a, &b| vals[a].total_cmp(&vals[b])).unwrap();
    let imax = (0..n).max_by(|&a, &b| vals[a].total_cmp(&vals[b])).unwrap();
    (imin, imax)
}

#[test]
fn presentation_lut_inverse_with_monochrome1_inverts_once() {
    // DX requires INVERSE with MONOCHROME1 (PS3.3 C.8.11.6.1.2): it restates the
    // inversion. Applying both would show this chest with white lungs.
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "966_fixed.dcm");
    assert_eq!(r.photometric(), Photometric::Monochrome1);
    assert!(r.presentation_inverse());
    assert!(r.notes().iter().any(|n| n.contains("INVERSE")), "{:?}", r.notes());
    let (imin, imax) = argmin_max(&r);
    let full = r.render(r.full_range_window(), false);
    assert_eq!(full.data[imax], 0.0, "high stored value displays black");
    assert_eq!(full.data[imin], 1.0);
    // Lungs (upper middle of each half) are darker than the spine (centre column, lower third).
    let view = r.model_view();
    let mean = |x0: u32, x1: u32, y0: u32, y1: u32| {
        let mut s = 0.0;
        for y in y0..y1 {
            for x in x0..x1 {
                s += view.get(x, y).unwrap() as f64;
            }
        }
        s / ((x1 - x0) * (y1 - y0)) as f64
    };
    let (w, h) = (r.width(), r.height());
    let lung = mean(w / 5, w / 3, h / 4, h / 2);
    let mediastinum = mean(w / 2 - w / 30, w / 2 + w / 30, h / 4, h / 2);
    eprintln!("966_fixed: lung {lung:.3}, mediastinum {mediastinum:.3}");
    assert!(lung < mediastinum, "lungs must look dark: lung {lung} vs mediastinum {mediastinum}");
}

#[test]
fn multi_frame_file_shows_first_frame_with_a_note() {
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "HasFragmentSequence.dcm");
    assert!(matches!(r.pixels(), Pixels::U8(_)));
    assert!(
        r.notes().iter().any(|n| n.contains("frame 1 of 96")),
        "notes: {:?}",
        r.notes()
    );
}

#[test]
fn ybr_jpeg_becomes_luminance() {
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "vpop_jpeg-baseline.dcm");
    assert_eq!(r.photometric(), Photometric::Luminance);
    assert!(matches!(r.pixels(), Pixels::U8(_)));
    assert!(r.notes().iter().any(|n| n.contains("luminance")), "{:?}", r.notes());
}

#[test]
fn modality_lut_sequence_is_applied() {
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "CR-ModalitySequenceLUT.dcm");
    assert!(r.notes().iter().any(|n| n.contains("modality LUT")), "{:?}", r.notes());
    // Somewhere the modality value differs from the stored value.
    let (w, h) = (r.width(), r.height());
    let differs = (0..h).step_by(7).any(|y| {
        (0..w).step_by(7).any(|x| {
            let stored = r.pixels().get((y * w + x) as usize).unwrap();
            r.value_at(x, y).unwrap() != stored
        })
    });
    assert!(differs, "modality LUT table changed nothing");
}

#[test]
fn no_preamble_no_meta_file_opens() {
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "CR-MONO1-10-chest");
    assert_eq!((r.width(), r.height()), (440, 440));
    assert_eq!(r.bits_stored(), 10);
    // From memory as well.
    let bytes = std::fs::read(dir.join("CR-MONO1-10-chest")).unwrap();
    let m = Radiograph::from_bytes(&bytes, std::path::Path::new("chest"), &LoadLimits::default()).unwrap();
    assert_eq!(m.pixels(), r.pixels());
}

#[test]
fn window_presets_and_pixel_spacing_come_from_the_file() {
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "RG2_JPLL");
    let presets = r.window_presets();
    assert_eq!(presets.len(), 1, "{presets:?}");
    assert_eq!((presets[0].window.center, presets[0].window.width), (511.0, 1024.0));
    assert!(!presets[0].name.is_empty());
    assert_eq!(r.default_window(), presets[0].window);
    assert_eq!(r.pixel_spacing_mm(), Some((0.2, 0.2)));

    let r = open(&dir, "966_fixed.dcm");
    assert_eq!(r.default_window().center, 2048.0);
    assert_eq!(r.default_window().width, 4096.0);
    assert_eq!(r.pixel_spacing_mm(), Some((0.16, 0.16)));

    // No window in the file: the default is the full range of the values.
    let r = open(&dir, "HasFragmentSequence.dcm");
    assert!(r.window_presets().is_empty());
    assert_eq!(r.default_window(), r.full_range_window());
    let v = r.model_view();
    let (lo, hi) = v.data.iter().fold((1f32, 0f32), |(a, b), &x| (a.min(x), b.max(x)));
    assert_eq!((lo, hi), (0.0, 1.0));
}

#[test]
fn tags_and_patient_label() {
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "RG2_JPLL");
    let tags = r.dicom_tags();
    let find = |t: (u16, u16)| tags.iter().find(|x| x.tag == t);
    let rows = find((0x0028, 0x0010)).expect("Rows tag");
    assert_eq!(rows.name, "Rows");
    assert_eq!(rows.vr, "US");
    assert_eq!(rows.value, "2140");
    assert!(!rows.identifying);
    let ts = find((0x0002, 0x0010)).expect("transfer syntax in the meta group");
    assert!(ts.value.starts_with("1.2.840.10008.1.2.4.70"), "{}", ts.value);
    assert!(ts.value.ends_with("(JPEG Lossless (Process 14, SV1))"), "the syntax is named: {}", ts.value);
    assert!(!ts.identifying);
    // Hidden with the patient data: dates, times, instance UIDs (not class UIDs).
    for (tag, identifying) in [((0x0008, 0x0012), true), ((0x0008, 0x0013), true), ((0x0008, 0x0018), true), ((0x0020, 0x000D), true), ((0x0002, 0x0003), true), ((0x0008, 0x0016), false), ((0x0002, 0x0002), false)] {
        let t = find(tag).unwrap_or_else(|| panic!("RG2_JPLL has {tag:04X?}"));
        assert_eq!(t.identifying, identifying, "{tag:04X?} {}", t.name);
    }
    if let Some(name) = find((0x0010, 0x0010)) {
        assert!(name.identifying);
        let label = r.patient_label().expect("label");
        // The label names a person; the tag keeps the raw PN.
        assert!(label.starts_with(&kneeclip::imaging::person_name(&name.value)) && !label.contains('^'), "{label} vs {}", name.value);
    }
    let pixel_data = find((0x7FE0, 0x0010)).expect("pixel data listed");
    assert!(pixel_data.value.contains("fragment"), "{}", pixel_data.value);
}

#[test]
fn render_is_fast_enough() {
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "RG2_JPLL");
    let t = std::time::Instant::now();
    let n = 5;
    for i in 0..n {
        let w = kneeclip::imaging::Window { center: 400.0 + i as f64, width: 800.0 };
        std::hint::black_box(r.render(w, i % 2 == 0));
    }
    let per = t.elapsed() / n;
    eprintln!("render 1760×2140: {per:?} per frame (debug build of kneeclip)");
    assert!(per < std::time::Duration::from_millis(500), "{per:?}");
}

#[test]
fn jpeg_extended_12bit_decodes_and_is_close_to_lossless() {
    let Some(dir) = dicom_dir() else { return };
    let r = open(&dir, "RG2_JPLY_fixed.dcm");
    assert_eq!((r.width(), r.height()), (1760, 2140));
    assert_eq!(r.photometric(), Photometric::Monochrome2);
    let reference = open(&dir, "RG2_JPLL");
    let mad = mean_abs_diff(stored_u16(&r), stored_u16(&reference));
    eprintln!("RG2_JPLY_fixed: mean |Δ| vs RG2_JPLL = {mad:.3}");
    assert!(mad < 8.0, "{mad}");
}

#[test]
fn unknown_transfer_syntax_is_named() {
    let Some(dir) = dicom_dir() else { return };
    let mut bytes = std::fs::read(dir.join("RG3_UNC")).unwrap();
    let from = b"1.2.840.10008.1.2.1\0";
    let at = bytes.windows(from.len()).position(|w| w == from).expect("TS UID in meta");
    bytes[at..at + from.len()].copy_from_slice(b"1.2.840.10008.1.2.9\0");
    let err = Radiograph::from_bytes(&bytes, std::path::Path::new("odd_ts.dcm"), &LoadLimits::default())
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(msg.contains("odd_ts.dcm") && msg.contains("1.2.840.10008.1.2.9"), "{msg}");
    assert!(matches!(err, ImagingError::UnsupportedTransferSyntax { .. }), "{err:?}");
}

/// Fuzz finding (`tools/fuzz.sh 600 dicom`, 2026-12-02): a header declaring a ~4 GB value
/// in a small file made the loader allocate and zero 4 GB. Built here byte by byte (the
/// fuzzer's input was a mutated shared film); the file must be refused before parsing.
#[test]
fn a_declared_length_beyond_the_file_is_refused_without_allocating_it() {
    fn element(tag: (u16, u16), vr: &[u8; 2], long: Option<u32>, value: &[u8]) -> Vec<u8> {
        let mut out = [tag.0.to_le_bytes(), tag.1.to_le_bytes()].concat();
        out.extend(vr);
        match long {
            Some(len) => out.extend([0, 0].into_iter().chain(len.to_le_bytes())),
            None => out.extend((value.len() as u16).to_le_bytes()),
        }
        out.extend(value);
        out
    }
    let mut bytes = vec![0u8; 128];
    bytes.extend(b"DICM");
    bytes.extend(element((0x0002, 0x0010), b"UI", None, b"1.2.840.10008.1.2.1\0"));
    bytes.extend(element((0x0008, 0x0060), b"CS", None, b"CR"));
    bytes.extend(element((0xFFFF, 0xFF03), b"OB", Some(4_278_451_971), &[0; 157]));
    let error = Radiograph::from_bytes(&bytes, std::path::Path::new("bomb.dcm"), &LoadLimits::default())
        .expect_err("a 4 GB value in a 339-byte file");
    let message = error.to_string();
    assert!(matches!(error, ImagingError::InvalidDicom { .. }), "{message}");
    assert!(message.contains("bomb.dcm"), "{message}");
    assert!(
        message.contains("element (FFFF,FF03) at byte 170 declares a value of 4278451971 bytes but only 157 bytes follow"),
        "{message}"
    );
}

#[test]
fn films_of_other_body_parts_carry_a_caution_and_knee_films_none() {
    // Body Part Examined as the files state it: CHEST (966, CR-MONO1-10-chest),
    // HIP (the RG2 films); the caution names the part.
    let Some(dir) = dicom_dir() else { return };
    for (name, part) in [("966_fixed.dcm", "CHEST"), ("CR-MONO1-10-chest", "CHEST"), ("RG2_JPLL", "HIP")] {
        let r = open(&dir, name);
        assert_eq!(r.cautions().len(), 1, "{name}: {:?}", r.cautions());
        assert!(r.cautions()[0].contains("Body Part Examined") && r.cautions()[0].contains(part), "{name}: {:?}", r.cautions());
    }
}

#[test]
fn a_description_naming_another_region_is_a_caution_when_the_body_part_says_nothing() {
    // The RG3 films say Body Part EXTREMITY but Study Description "Non-ossifying
    // fibroma of distal tibia": the ankle end of the tibia, not the knee's.
    // CR-ModalitySequenceLUT.dcm (no body part) is a dental panoramic: "MODALITYLUT - TEETH".
    let Some(dir) = dicom_dir() else { return };
    for (name, quoted) in [("RG3_UNC", "Study Description names “distal tibia”"), ("RG3_JPLL", "Study Description names “distal tibia”"), ("CR-ModalitySequenceLUT.dcm", "Study Description and Series Description name “teeth”")] {
        let r = open(&dir, name);
        assert_eq!(r.cautions().len(), 1, "{name}: {:?}", r.cautions());
        assert!(r.cautions()[0].contains(quoted) && r.cautions()[0].contains("may mean nothing"), "{name}: {:?}", r.cautions());
    }
    // RG2's "HIP JOINT" does not repeat its body part's caution; the canine
    // stifle (vpop) and 966's series "pa" name no region.
    assert_eq!(open(&dir, "RG2_JPLL").cautions().len(), 1);
    // The canine stifle is said to be a dog's (its Patient Species Description), not another region.
    let vpop = open(&dir, "vpop_jpeg-baseline.dcm");
    assert!(vpop.cautions().len() == 1 && vpop.cautions()[0].contains("Patient Species Description is “Canine”"), "{:?}", vpop.cautions());
    assert!(!vpop.names_another_region());
}

/// RG3_UNC with one pixel-description attribute changed, written to `dir`.
fn rg3_with(dir: &std::path::Path, name: &str, tag: dicom_core::Tag, value: u16) -> Option<PathBuf> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let source = dicom_dir()?.join("RG3_UNC");
    let mut obj = dicom_object::open_file(&source).unwrap();
    obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    let path = dir.join(name);
    obj.write_to_file(&path).unwrap();
    Some(path)
}

#[test]
fn a_pixel_description_that_contradicts_itself_is_refused_by_its_attribute() {
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    // Each was read one way or another without a word: 17 bits of 16 as 16,
    // three samples of a MONOCHROME1 film as a truncated file.
    for (name, tag, value, attribute, says) in [
        ("bits17.dcm", tags::BITS_STORED, 17, "Bits Stored (0028,0101)", "it is 17, but Bits Allocated (0028,0100) is 16"),
        ("highbit16.dcm", tags::HIGH_BIT, 16, "High Bit (0028,0102)", "it is 16, but Bits Allocated (0028,0100) is 16"),
        ("spp3.dcm", tags::SAMPLES_PER_PIXEL, 3, "Samples per Pixel (0028,0002)", "it is 3, but Photometric Interpretation MONOCHROME1 has 1 sample per pixel"),
    ] {
        let Some(path) = rg3_with(tmp.path(), name, tag, value) else { return };
        match Radiograph::open(&path) {
            Err(e @ ImagingError::BadAttribute { .. }) => {
                let m = e.to_string();
                assert!(m.contains(name) && m.contains(attribute) && m.contains(says), "{m}");
            }
            other => panic!("{name}: expected a bad attribute, got {:?}", other.map(|r| r.width())),
        }
    }
    // Fewer bits stored than allocated is what the film has (10 of 16): read.
    let path = rg3_with(tmp.path(), "bits12.dcm", tags::BITS_STORED, 12).unwrap();
    let twelve = Radiograph::open(&path).unwrap();
    assert!(!twelve.notes().iter().any(|n| n.contains("above Bits Stored")), "10-bit values fit in 12: {:?}", twelve.notes());
    // Fewer than the data uses (7 over 10-bit values): masked as the standard says, and said.
    let path = rg3_with(tmp.path(), "bits7.dcm", tags::BITS_STORED, 7).unwrap();
    let seven = Radiograph::open(&path).unwrap();
    assert!(seven.notes().iter().any(|n| n.contains("pixels had bits set above Bits Stored (7 of 16 bits): masked off")), "{:?}", seven.notes());
}

#[test]
fn a_file_window_without_width_is_left_out_and_said() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let Some(dir) = dicom_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut obj = dicom_object::open_file(dir.join("RG3_UNC")).unwrap();
    obj.put(DataElement::new(tags::WINDOW_CENTER, VR::DS, PrimitiveValue::from("550")));
    obj.put(DataElement::new(tags::WINDOW_WIDTH, VR::DS, PrimitiveValue::from("0")));
    let path = tmp.path().join("ww0.dcm");
    obj.write_to_file(&path).unwrap();
    let r = Radiograph::open(&path).unwrap();
    assert!(r.window_presets().iter().all(|p| !p.name.starts_with("File window")), "{:?}", r.window_presets().iter().map(|p| &p.name).collect::<Vec<_>>());
    assert!(r.notes().iter().any(|n| n == "the file's window 1 (center 550, width 0) has no width: left out"), "{:?}", r.notes());
    // The film's own window (1024 wide) is no such note.
    assert!(!open(&dir, "RG3_UNC").notes().iter().any(|n| n.contains("window")));
}
