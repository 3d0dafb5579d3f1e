//! Ordinary images (real OAI PNGs and synthetic files) and bad inputs.

use std::path::{Path, PathBuf};

use image::{ImageBuffer, Luma, Rgb};
use kneeclip::imaging::{ImagingError, LoadLimits, Photometric, Pixels, Radiograph};

fn data_dir() -> PathBuf {
    std::env::var_os("KNEECLIP_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))
}

#[test]
fn oai_pngs_load_and_model_view_is_value_over_255() {
    let dir = data_dir().join("oai-kl");
    if !dir.is_dir() {
        eprintln!("skipped: OAI-KL data not found at {} (set KNEECLIP_DATA_DIR)", dir.display());
        return;
    }
    let mut checked = 0;
    for split in ["train", "val", "test"] {
        for grade in 0..=4 {
            let mut files: Vec<_> = std::fs::read_dir(dir.join(split).join(grade.to_string()))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "png"))
                .collect();
            files.sort();
            for path in files.iter().take(1) {
                let r = Radiograph::open(path).unwrap();
                assert_eq!((r.width(), r.height()), (224, 224), "{}", path.display());
                assert_eq!(r.photometric(), Photometric::Monochrome2);
                assert_eq!(r.bits_stored(), 8);
                assert!(r.dicom_tags().is_empty() && r.patient_label().is_none());
                let Pixels::U8(raw) = r.pixels() else { panic!("8-bit expected") };
                let view = r.model_view();
                for (v, &s) in view.data.iter().zip(raw) {
                    assert_eq!(*v, s as f32 / 255.0);
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 15);
}

#[test]
fn synthetic_gray8_renders_exactly() {
    let data: Vec<u8> = (0..=255u8).collect();
    let r = Radiograph::from_gray8(16, 16, data.clone(), "synthetic").unwrap();
    assert_eq!(r.default_window(), r.full_range_window());
    let view = r.model_view();
    for (v, s) in view.data.iter().zip(&data) {
        assert_eq!(*v, *s as f32 / 255.0);
    }
    let inv = r.render(r.default_window(), true);
    assert_eq!(inv.data[0], 1.0);
    assert_eq!(r.value_at(3, 1), Some(19.0));
    assert!(Radiograph::from_gray8(3, 3, vec![0; 8], "bad").is_err());
}

#[test]
fn png_16bit_keeps_full_depth() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("film16.png");
    let img = ImageBuffer::<Luma<u16>, _>::from_fn(64, 32, |x, y| Luma([(x * 1000 + y * 7) as u16]));
    img.save(&path).unwrap();
    let r = Radiograph::open(&path).unwrap();
    assert_eq!((r.width(), r.height()), (64, 32));
    assert_eq!(r.bits_stored(), 16);
    let Pixels::U16(px) = r.pixels() else { panic!("expected 16-bit pixels") };
    assert_eq!(px[(5 * 64 + 63) as usize], 63 * 1000 + 5 * 7);
    let w = r.default_window();
    assert_eq!((w.lower(), w.upper()), (0.0, 65535.0));
    let view = r.model_view();
    assert_eq!(view.data[(5 * 64 + 63) as usize], (63 * 1000 + 5 * 7) as f32 / 65535.0);
}

#[test]
fn rgb_with_equal_channels_stays_gray_and_colour_becomes_luminance() {
    let tmp = tempfile::tempdir().unwrap();
    let gray = tmp.path().join("gray_as_rgb.png");
    ImageBuffer::<Rgb<u8>, _>::from_fn(20, 10, |x, _| Rgb([x as u8 * 10; 3])).save(&gray).unwrap();
    let r = Radiograph::open(&gray).unwrap();
    assert_eq!(r.photometric(), Photometric::Monochrome2);
    assert!(r.notes().is_empty(), "{:?}", r.notes());
    assert_eq!(r.value_at(7, 3), Some(70.0));

    let colour = tmp.path().join("colour.png");
    ImageBuffer::<Rgb<u8>, _>::from_fn(20, 10, |_, _| Rgb([200, 100, 50])).save(&colour).unwrap();
    let r = Radiograph::open(&colour).unwrap();
    assert_eq!(r.photometric(), Photometric::Luminance);
    assert!(r.notes().iter().any(|n| n.contains("Rec. 601")), "{:?}", r.notes());
    // 0.299·200 + 0.587·100 + 0.114·50 = 124.2 → 124 (as Pillow's convert("L"))
    assert_eq!(r.value_at(0, 0), Some(124.0));

    // JPEG of an RGB-encoded grayscale film: stays gray (JPEG is lossy, so channels
    // may differ slightly; a gray JPEG decodes as one channel anyway).
    let jpg = tmp.path().join("film.jpg");
    ImageBuffer::<Luma<u8>, _>::from_fn(32, 16, |x, _| Luma([x as u8 * 8])).save(&jpg).unwrap();
    let r = Radiograph::open(&jpg).unwrap();
    assert_eq!((r.width(), r.height(), r.photometric()), (32, 16, Photometric::Monochrome2));
}

#[test]
fn wide_film_tiff_and_bmp_load_at_true_size() {
    let tmp = tempfile::tempdir().unwrap();
    let wide = tmp.path().join("both_knees.png");
    ImageBuffer::<Luma<u8>, _>::from_fn(448, 224, |x, y| Luma([((x + y) % 256) as u8])).save(&wide).unwrap();
    let r = Radiograph::open(&wide).unwrap();
    assert_eq!((r.width(), r.height()), (448, 224));
    assert_eq!(r.value_at(447, 0), Some(191.0));

    let tif = tmp.path().join("film.tif");
    ImageBuffer::<Luma<u16>, _>::from_fn(30, 20, |x, y| Luma([(x * 2000 + y) as u16])).save(&tif).unwrap();
    let r = Radiograph::open(&tif).unwrap();
    assert_eq!((r.width(), r.height(), r.bits_stored()), (30, 20, 16));
    assert_eq!(r.value_at(29, 19), Some((29 * 2000 + 19) as f64));

    let tif8 = tmp.path().join("film8.tiff");
    ImageBuffer::<Luma<u8>, _>::from_fn(30, 20, |x, _| Luma([x as u8])).save(&tif8).unwrap();
    assert_eq!(Radiograph::open(&tif8).unwrap().bits_stored(), 8);

    let bmp = tmp.path().join("film.bmp");
    ImageBuffer::<Rgb<u8>, _>::from_fn(25, 15, |x, _| Rgb([x as u8; 3])).save(&bmp).unwrap();
    let r = Radiograph::open(&bmp).unwrap();
    assert_eq!((r.width(), r.height(), r.photometric()), (25, 15, Photometric::Monochrome2));
    assert_eq!(r.value_at(24, 14), Some(24.0));

    // Content, not the extension, decides: a PNG named .dcm still opens.
    let misnamed = tmp.path().join("really_a_png.dcm");
    std::fs::copy(&wide, &misnamed).unwrap();
    assert_eq!(Radiograph::open(&misnamed).unwrap().width(), 448);
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

#[test]
fn png_claiming_huge_size_is_a_limit_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bomb.png");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit gray
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(&path, &png).unwrap();
    let err = Radiograph::open(&path).unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, ImagingError::TooManyPixels { .. }), "{err:?}");
    assert!(msg.contains("100000×100000") && msg.contains("100-megapixel"), "{msg}");
    assert!(msg.contains("bomb.png"));
}

#[test]
fn file_size_limit_is_checked_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.png");
    ImageBuffer::<Luma<u8>, _>::from_fn(64, 64, |x, _| Luma([x as u8])).save(&path).unwrap();
    let limits = LoadLimits { max_file_bytes: 10, ..LoadLimits::default() };
    let err = Radiograph::open_with_limits(&path, &limits).unwrap_err();
    assert!(matches!(err, ImagingError::FileTooLarge { .. }), "{err:?}");
    let limits = LoadLimits { max_pixels: 1000, ..LoadLimits::default() };
    let err = Radiograph::open_with_limits(&path, &limits).unwrap_err();
    assert!(err.to_string().contains("64×64"), "{err}");
}

#[test]
fn empty_file_directory_text_and_unknown_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let err = Radiograph::open(&empty).unwrap_err();
    assert!(matches!(err, ImagingError::EmptyFile { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.png") && err.to_string().contains("empty"));

    let err = Radiograph::open(tmp.path()).unwrap_err();
    assert!(matches!(err, ImagingError::NotAFile { .. }), "{err:?}");
    assert!(err.to_string().contains("folder"), "{err}");

    let text = tmp.path().join("notes.dcm");
    std::fs::write(&text, "this is not a radiograph\n").unwrap();
    let err = Radiograph::open(&text).unwrap_err();
    eprintln!("{err}");
    assert!(err.to_string().contains("notes.dcm") && err.to_string().contains("DICOM"), "{err}");

    let unknown = tmp.path().join("mystery.bin");
    std::fs::write(&unknown, [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]).unwrap();
    let err = Radiograph::open(&unknown).unwrap_err();
    assert!(matches!(err, ImagingError::UnknownFormat { .. }), "{err:?}");

    let missing = tmp.path().join("missing.png");
    let err = Radiograph::open(&missing).unwrap_err();
    assert!(matches!(err, ImagingError::Io { .. }) && err.to_string().contains("missing.png"));

    let garbage_png = tmp.path().join("cut.png");
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(ImageBuffer::from_fn(64, 64, |x, y| Luma([(x ^ y) as u8])))
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    std::fs::write(&garbage_png, &bytes[..bytes.len() / 2]).unwrap();
    let err = Radiograph::open(&garbage_png).unwrap_err();
    assert!(matches!(err, ImagingError::BadImage { .. }), "{err:?}");
}

#[test]
fn truncated_dicom_is_an_error_not_a_panic() {
    let src = data_dir().join("dicom").join("RG3_UNC");
    let Ok(bytes) = std::fs::read(&src) else {
        eprintln!("skipped: {} not found (set KNEECLIP_DATA_DIR)", src.display());
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for cut in [60, 131, 140, 400, 1000, bytes.len() / 2, bytes.len() - 1] {
        let path = tmp.path().join(format!("RG3_cut_{cut}.dcm"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = Radiograph::open(&path).expect_err("truncated file must not load");
        eprintln!("cut at {cut}: {err}");
        assert!(err.to_string().contains(&format!("RG3_cut_{cut}")), "{err}");
    }
    // From memory too, with a source name only.
    let err = Radiograph::from_bytes(&bytes[..bytes.len() - 100], Path::new("mem.dcm"), &LoadLimits::default())
        .unwrap_err();
    assert!(err.to_string().contains("mem.dcm"));
    // A "dual personality" file (a TIFF header in the preamble) cut before
    // its DICM marker is a cut-short DICOM file, not a damaged TIFF.
    let mut dual = b"II*\0\x08\0\0\0".to_vec();
    dual.resize(100, 0);
    let err = Radiograph::from_bytes(&dual, Path::new("dual.dcm"), &LoadLimits::default()).unwrap_err();
    assert!(matches!(err, ImagingError::InvalidDicom { .. }) && err.to_string().contains("ends after 100 bytes") && err.to_string().contains("cut short"), "{err}");
    // Named as a TIFF, the same bytes are a TIFF that cannot be read.
    let err = Radiograph::from_bytes(&dual, Path::new("dual.tif"), &LoadLimits::default()).unwrap_err();
    assert!(!matches!(err, ImagingError::InvalidDicom { .. }), "{err}");
}

#[test]
fn gray_alpha_png_and_rgb_jpeg_of_a_gray_film() {
    let tmp = tempfile::tempdir().unwrap();
    let la = tmp.path().join("gray_alpha.png");
    ImageBuffer::<image::LumaA<u8>, _>::from_fn(16, 8, |x, _| image::LumaA([x as u8 * 9, 255]))
        .save(&la)
        .unwrap();
    let r = Radiograph::open(&la).unwrap();
    assert_eq!((r.photometric(), r.value_at(5, 2)), (Photometric::Monochrome2, Some(45.0)));
    assert!(r.notes().is_empty(), "opaque alpha needs no note: {:?}", r.notes());

    let jpg = tmp.path().join("gray_as_rgb.jpg");
    ImageBuffer::<Rgb<u8>, _>::from_fn(64, 32, |x, y| Rgb([((x * 3 + y) % 256) as u8; 3])).save(&jpg).unwrap();
    let r = Radiograph::open(&jpg).unwrap();
    eprintln!("RGB JPEG of gray: {:?} notes {:?}", r.photometric(), r.notes());
    assert_eq!((r.width(), r.height()), (64, 32));
    assert_eq!(r.photometric(), Photometric::Monochrome2, "{:?}", r.notes());
}

/// An OAI crop's values ×16 in a 16-bit file: 12-bit data (0..4080), as clinic exports hold it.
fn oai_as_12bit(tmp: &Path, name: &str) -> Option<(PathBuf, PathBuf)> {
    let dir = data_dir().join("oai-kl/test/2");
    let Some(png8) = std::fs::read_dir(&dir).ok().and_then(|d| d.map(|e| e.unwrap().path()).min()) else {
        eprintln!("skipped: no OAI films under {}", dir.display());
        return None;
    };
    let gray = image::open(&png8).unwrap().to_luma8();
    let path = tmp.join(name);
    ImageBuffer::<Luma<u16>, _>::from_fn(gray.width(), gray.height(), |x, y| Luma([gray.get_pixel(x, y)[0] as u16 * 16])).save(&path).unwrap();
    Some((png8, path))
}

#[test]
fn a_16bit_file_holding_12bit_data_is_read_as_12bit() {
    // QA: such a film showed (and was graded) almost black under W 65535 / L 32768.
    let tmp = tempfile::tempdir().unwrap();
    for name in ["film12.png", "film12.tif"] {
        let Some((png8, path)) = oai_as_12bit(tmp.path(), name) else { return };
        let r = Radiograph::open(&path).unwrap();
        assert_eq!(r.bits_stored(), 16, "the file's own depth is still said");
        let w = r.default_window();
        assert_eq!((w.lower(), w.upper()), (0.0, 4095.0), "{name}");
        assert!(r.notes().iter().any(|n| n.starts_with("16-bit film with values up to ") && n.contains("read as 12-bit")), "{name}: {:?}", r.notes());
        // The model sees the 8-bit original, but for 4080/4095 against 255/255.
        let ours = r.model_view();
        let original = Radiograph::open(&png8).unwrap().model_view();
        let worst = ours.data.iter().zip(&original.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 0.004, "{name}: the model view differs from the 8-bit film's by up to {worst}");
    }
}

#[test]
fn a_16bit_file_holding_8bit_data_is_read_as_8bit() {
    // Review: read as 10-bit, it showed and was graded at a quarter of its brightness.
    let tmp = tempfile::tempdir().unwrap();
    let Some((png8, _)) = oai_as_12bit(tmp.path(), "unused.png") else { return };
    let gray = image::open(&png8).unwrap().to_luma8();
    let path = tmp.path().join("film8in16.png");
    ImageBuffer::<Luma<u16>, _>::from_fn(gray.width(), gray.height(), |x, y| Luma([gray.get_pixel(x, y)[0] as u16])).save(&path).unwrap();
    let r = Radiograph::open(&path).unwrap();
    let w = r.default_window();
    assert_eq!((w.lower(), w.upper()), (0.0, 255.0));
    assert!(r.notes().iter().any(|n| n.contains("read as 8-bit")), "{:?}", r.notes());
    assert_eq!(r.model_view().data, Radiograph::open(&png8).unwrap().model_view().data, "the model sees the 8-bit film");
}

/// `path` (a 16-bit PNG) with the pixels in `cells` (x, y) set to 65535.
fn with_bright(path: &Path, out: &Path, cells: impl Iterator<Item = (u32, u32)>) {
    let mut img = image::open(path).unwrap().to_luma16();
    for (x, y) in cells {
        img.put_pixel(x, y, Luma([65535]));
    }
    img.save(out).unwrap();
}

#[test]
fn a_few_hot_pixels_do_not_keep_12bit_data_at_16_bits() {
    // QA: one pixel above 4095 kept the film at 16 bits, shown and graded near black.
    let tmp = tempfile::tempdir().unwrap();
    let Some((_, clean)) = oai_as_12bit(tmp.path(), "film12.png") else { return };
    let hot = tmp.path().join("hot.png");
    // 20 of 50 176 pixels (a hot pixel, a burned-in marker's dots), under the 0.1 % allowed.
    with_bright(&clean, &hot, (0..20).map(|i| (10 + i * 9, 7 + i * 5)));
    let r = Radiograph::open(&hot).unwrap();
    let w = r.default_window();
    assert_eq!((w.lower(), w.upper()), (0.0, 4095.0));
    assert!(r.notes().iter().any(|n| n == "16-bit film with values up to 65535 (20 pixels above 4095 clipped): read as 12-bit (0..4095), the range of all but those"), "{:?}", r.notes());
    assert_eq!(r.value_at(10, 7), Some(65535.0), "the stored values are kept");
    // The model sees the clean film but for the 20 pixels, shown white.
    let (ours, reference) = (r.model_view(), Radiograph::open(&clean).unwrap().model_view());
    let differing: Vec<f32> = ours.data.iter().zip(&reference.data).filter(|(a, b)| a != b).map(|(a, _)| *a).collect();
    assert!(differing.len() <= 20 && differing.iter().all(|&v| v == 1.0), "{differing:?}");
}

#[test]
fn a_bright_region_above_4095_keeps_the_film_at_16_bits() {
    // 12-bit data with a 40×40 block at 65535 (3 % of the film): real data, not outliers.
    let tmp = tempfile::tempdir().unwrap();
    let Some((_, clean)) = oai_as_12bit(tmp.path(), "film12.png") else { return };
    let bright = tmp.path().join("bright.png");
    with_bright(&clean, &bright, (0..1600).map(|i| (100 + i % 40, 100 + i / 40)));
    let r = Radiograph::open(&bright).unwrap();
    let w = r.default_window();
    assert_eq!((w.lower(), w.upper()), (0.0, 65535.0));
    assert!(r.notes().is_empty(), "{:?}", r.notes());
}

#[test]
fn a_16bit_film_using_the_full_range_is_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("full16.png");
    // Largest value 64760: needs all 16 bits.
    ImageBuffer::<Luma<u16>, _>::from_fn(64, 32, |x, y| Luma([(x * 1024 + y * 8) as u16])).save(&path).unwrap();
    let r = Radiograph::open(&path).unwrap();
    let w = r.default_window();
    assert_eq!((w.lower(), w.upper()), (0.0, 65535.0));
    assert!(r.notes().is_empty(), "{:?}", r.notes());
    assert_eq!(r.model_view().data[63], (63 * 1024) as f32 / 65535.0);
}

/// A minimal uncompressed little-endian TIFF of one strip: `bits` per sample,
/// `samples` per pixel, SampleFormat `format` (1 unsigned, 3 float).
fn tiff(width: u32, height: u32, bits: u16, samples: u16, format: u16, data: &[u8]) -> Vec<u8> {
    let entries: [(u16, u16, u32, u32); 10] = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, bits as u32),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 8 + 2 + 12 * 10 + 4),
        (277, 3, 1, samples as u32),
        (278, 4, 1, height),
        (279, 4, 1, data.len() as u32),
        (339, 3, 1, format as u32),
    ];
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(count.to_le_bytes());
        out.extend(value.to_le_bytes()); // a SHORT sits in the first two bytes, little-endian
    }
    out.extend(0u32.to_le_bytes());
    out.extend(data);
    out
}

#[test]
fn a_floating_point_tiff_is_said_to_be_one_not_damaged() {
    // QA: "the TIFF image is damaged or cannot be decoded (... color type Unknown(32))".
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("float.tif");
    let data: Vec<u8> = (0..16 * 8).flat_map(|i| (i as f32 / 128.0).to_le_bytes()).collect();
    std::fs::write(&path, tiff(16, 8, 32, 1, 3, &data)).unwrap();
    let err = Radiograph::open(&path).unwrap_err().to_string();
    assert!(err.contains("float.tif") && err.contains("floating-point TIFF") && err.contains("export the film as an integer TIFF or PNG"), "{err}");
    assert!(!err.contains("damaged"), "{err}");
    // The same writer with integer samples gives a film: the TIFF itself is sound.
    let path = tmp.path().join("int.tif");
    std::fs::write(&path, tiff(16, 8, 16, 1, 1, &(0..16 * 8u16).flat_map(|v| (v * 500).to_le_bytes()).collect::<Vec<u8>>())).unwrap();
    assert_eq!(Radiograph::open(&path).unwrap().value_at(15, 7), Some(127.0 * 500.0));
}
