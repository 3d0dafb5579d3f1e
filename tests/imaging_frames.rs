//! Multi-frame DICOM (radiologist QA R6): any frame can be read, one at a
//! time; a frame the file lacks is an error naming the file and its count.

mod common;

use std::path::Path;

use kneeclip::imaging::{ImagingError, Pixels, Radiograph};

/// A native (explicit VR little endian) 16-bit MONOCHROME2 file of `frames`
/// frames of 5×4 pixels; pixel i of frame k (1-based) holds 1000·k + i.
fn native_multi_frame(frames: u32) -> Vec<u8> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let (w, h) = (5u16, 4u16);
    let mut obj = dicom_object::InMemDicomObject::new_empty();
    for (tag, vr, value) in [(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.1.1"), (tags::SOP_INSTANCE_UID, VR::UI, "2.25.424242"), (tags::MODALITY, VR::CS, "DX"), (tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2")] {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from(frames.to_string())));
    for (tag, value) in [(tags::SAMPLES_PER_PIXEL, 1), (tags::ROWS, h), (tags::COLUMNS, w), (tags::BITS_ALLOCATED, 16), (tags::BITS_STORED, 16), (tags::HIGH_BIT, 15), (tags::PIXEL_REPRESENTATION, 0)] {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    let samples: Vec<u16> = (1..=frames).flat_map(|k| (0..(w * h)).map(move |i| (1000 * k) as u16 + i)).collect();
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(samples.into())));
    let meta = dicom_object::FileMetaTableBuilder::new().transfer_syntax("1.2.840.10008.1.2.1").media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.1.1").media_storage_sop_instance_uid("2.25.424242");
    let mut out = Vec::new();
    obj.with_meta(meta).unwrap().write_all(&mut out).unwrap();
    out
}

#[test]
fn each_frame_of_a_native_multi_frame_file_is_its_own_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("three-frames.dcm");
    std::fs::write(&file, native_multi_frame(3)).unwrap();
    for k in 1..=3u32 {
        let film = Radiograph::open_frame(&file, k).unwrap_or_else(|e| panic!("frame {k}: {e}"));
        assert_eq!((film.frame(), film.frame_count()), (k, 3));
        let expected: Vec<u16> = (0..20).map(|i| (1000 * k) as u16 + i).collect();
        assert_eq!(film.pixels(), &Pixels::U16(expected), "frame {k}");
        assert!(film.notes().iter().any(|n| n.contains(&format!("frame {k} of 3"))), "{:?}", film.notes());
    }
    // Without a frame asked for: the first, as before.
    let first = Radiograph::open(&file).unwrap();
    assert_eq!((first.frame(), first.frame_count()), (1, 3));
    assert_eq!(first.pixels(), Radiograph::open_frame(&file, 1).unwrap().pixels());
    for bad in [0, 4, 96] {
        let e = Radiograph::open_frame(&file, bad).unwrap_err();
        assert!(matches!(e, ImagingError::NoSuchFrame { frame, frames: 3, .. } if frame == bad), "{e:?}");
        let message = e.to_string();
        assert!(message.contains("three-frames.dcm") && message.contains("3 frames"), "{message}");
    }
}

#[test]
fn a_single_frame_film_has_frame_one_only() {
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("knee.png");
    image::GrayImage::from_pixel(8, 8, image::Luma([7])).save(&png).unwrap();
    let film = Radiograph::open(&png).unwrap();
    assert_eq!((film.frame(), film.frame_count()), (1, 1));
    assert!(!film.notes().iter().any(|n| n.contains("frame")), "{:?}", film.notes());
    assert_eq!(Radiograph::open_frame(&png, 1).unwrap().pixels(), film.pixels());
    let message = Radiograph::open_frame(&png, 2).unwrap_err().to_string();
    assert!(message.contains("knee.png") && message.contains("no frame 2") && message.contains("one frame only"), "{message}");
}

/// The 96-frame XA (JPEG baseline, a fragment a frame): frame k is not frame
/// 1, and is what another decoder (the image crate's) makes of frame k's own
/// fragment, to its rounding (the two decoders' IDCTs differ by a level or two).
#[test]
fn a_frame_of_the_real_multi_frame_xa_matches_its_own_jpeg_fragment() {
    let Some(file) = common::dicom_film("HasFragmentSequence.dcm") else { return };
    let first = Radiograph::open(&file).unwrap();
    assert_eq!((first.frame(), first.frame_count()), (1, 96));
    let obj = dicom_object::open_file(&file).unwrap();
    let pixel_data = obj.element(dicom_dictionary_std::tags::PIXEL_DATA).unwrap();
    let fragments = pixel_data.value().fragments().expect("encapsulated");
    assert_eq!(fragments.len(), 96, "one fragment a frame");
    for k in [2u32, 50, 96] {
        let film = Radiograph::open_frame(&file, k).unwrap();
        assert_eq!((film.frame(), film.frame_count(), film.width(), film.height()), (k, 96, 512, 512));
        assert_ne!(film.pixels(), first.pixels(), "frame {k} is not frame 1");
        let Pixels::U8(ours) = film.pixels() else { panic!("8-bit frames") };
        let reference = image::load_from_memory_with_format(&fragments[(k - 1) as usize], image::ImageFormat::Jpeg).unwrap().to_luma8();
        let (max, mean) = differences(ours, reference.as_raw());
        assert!(max <= 4 && mean < 0.5, "frame {k} against its fragment: max {max}, mean {mean}");
        let Pixels::U8(frame1) = first.pixels() else { panic!("8-bit frames") };
        let (_, mean_to_first) = differences(frame1, reference.as_raw());
        assert!(mean_to_first > 10.0 * mean.max(0.05), "frame {k}'s fragment is nearer frame 1 ({mean_to_first}) than ours ({mean})");
    }
    let message = Radiograph::open_frame(&file, 97).unwrap_err().to_string();
    assert!(message.contains("HasFragmentSequence.dcm") && message.contains("96 frames"), "{message}");
}

/// Largest and mean absolute difference of two 8-bit images.
fn differences(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let max = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
    let sum: u64 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    (max, sum as f64 / a.len().max(1) as f64)
}

#[test]
fn reading_one_frame_does_not_keep_the_others() {
    // The film holds one frame's pixels, whatever the file holds.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("many.dcm");
    std::fs::write(&file, native_multi_frame(40)).unwrap();
    let film = Radiograph::open_frame(&file, 17).unwrap();
    assert_eq!(film.pixels().len(), 20);
    assert!(Path::new(&file).is_file());
}
