//! Shared helpers for the integration tests: where the shared data and the
//! committed fixtures are, and tensor comparison.
#![allow(dead_code)]

pub mod signals;
pub mod viewer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

/// `../shared/data` unless `KNEECLIP_DATA_DIR` says otherwise.
pub fn data_dir() -> PathBuf {
    std::env::var_os("KNEECLIP_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// The real CLIP tokenizer (not committed; read in place).
pub fn shared_tokenizer() -> Option<PathBuf> {
    let path = std::env::var_os("KNEECLIP_TOKENIZER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models/clip-vit-base-patch32/tokenizer.json")
        });
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipped: the CLIP tokenizer is not at {} (set KNEECLIP_TOKENIZER)", path.display());
        None
    }
}

pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn load_tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let a = a.to_dtype(candle_core::DType::F32).unwrap().flatten_all().unwrap();
    let b = b.to_dtype(candle_core::DType::F32).unwrap().flatten_all().unwrap();
    (a - b).unwrap().abs().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

pub fn assert_close(what: &str, ours: &Tensor, reference: &Tensor, tolerance: f32) -> f32 {
    let diff = max_abs_diff(ours, reference);
    eprintln!("{what}: max |diff| = {diff:.3e}");
    assert!(diff <= tolerance, "{what}: max |diff| {diff:e} > {tolerance:e}");
    diff
}

/// A model folder as a user would have it: the tiny fixture's config and
/// weights next to the real tokenizer (copied at test time, never committed).
pub fn model_dir(tmp: &Path) -> Option<PathBuf> {
    let tokenizer = shared_tokenizer()?;
    let dir = tmp.join("model");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture_dir("tiny-clip").join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(tokenizer, dir.join("tokenizer.json")).unwrap();
    Some(dir)
}

/// [`model_dir`] with its weights changed by `damage` (a NaN, a huge
/// logit scale): what a damaged download looks like to the loader.
pub fn damaged_model_dir(tmp: &Path, damage: impl FnOnce(&mut HashMap<String, Tensor>)) -> Option<PathBuf> {
    let dir = model_dir(tmp)?;
    let weights = dir.join("model.safetensors");
    let mut tensors = load_tensors(&weights);
    damage(&mut tensors);
    candle_core::safetensors::save(&tensors, &weights).unwrap();
    Some(dir)
}

/// `name`'s first value made NaN.
pub fn with_nan(tensors: &mut HashMap<String, Tensor>, name: &str) {
    let t = &tensors[name];
    let mut values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    values[0] = f32::NAN;
    tensors.insert(name.into(), Tensor::from_vec(values, t.shape(), &Device::Cpu).unwrap());
}

/// The first (by name) OAI test film of a grade; prints why when there is none.
pub fn first_png(grade: u8) -> Option<PathBuf> {
    let dir = data_dir().join(format!("oai-kl/test/{grade}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).ok()?.map(|e| e.unwrap().path()).collect();
    files.sort();
    let first = files.into_iter().next();
    if first.is_none() {
        eprintln!("skipped: no OAI films under {}", dir.display());
    }
    first
}

/// A DICOM of `<data>/dicom`; prints why when it is missing.
pub fn dicom_film(name: &str) -> Option<PathBuf> {
    let film = data_dir().join("dicom").join(name);
    if !film.is_file() {
        eprintln!("skipped: {} is missing", film.display());
        return None;
    }
    Some(film)
}

/// Runs the built `kneeclip` binary, ignoring the caller's KNEECLIP_MODEL_DIR,
/// with a cache of the tests' own (not the user's).
pub fn kneeclip(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(args)
        .env_remove("KNEECLIP_MODEL_DIR")
        .env("KNEECLIP_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("kneeclip-cache"))
        .output()
        .expect("kneeclip runs")
}

/// An 8-bit MONOCHROME2 DICOM (DX, explicit VR little endian) of `image`,
/// with the extra text attributes given (Image Laterality, View Position …).
pub fn gray8_dicom(image: &image::GrayImage, extra: &[(dicom_core::Tag, dicom_core::VR, &str)]) -> Vec<u8> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let mut obj = dicom_object::InMemDicomObject::new_empty();
    let text = |obj: &mut dicom_object::InMemDicomObject, tag, vr, value: &str| obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    text(&mut obj, tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.1.1");
    text(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, "2.25.1234567890");
    text(&mut obj, tags::MODALITY, VR::CS, "DX");
    text(&mut obj, tags::BODY_PART_EXAMINED, VR::CS, "KNEE");
    text(&mut obj, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    for (tag, vr, value) in extra {
        text(&mut obj, *tag, *vr, value);
    }
    for (tag, value) in [(tags::SAMPLES_PER_PIXEL, 1), (tags::ROWS, image.height() as u16), (tags::COLUMNS, image.width() as u16), (tags::BITS_ALLOCATED, 8), (tags::BITS_STORED, 8), (tags::HIGH_BIT, 7), (tags::PIXEL_REPRESENTATION, 0)] {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(image.as_raw().clone())));
    let meta = dicom_object::FileMetaTableBuilder::new().transfer_syntax("1.2.840.10008.1.2.1").media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.1.1").media_storage_sop_instance_uid("2.25.1234567890");
    let mut out = Vec::new();
    obj.with_meta(meta).unwrap().write_all(&mut out).unwrap();
    out
}

/// Two OAI test crops (KL 0 and KL 4) side by side: a 448×224 film of both knees.
pub fn both_knees() -> Option<image::GrayImage> {
    let (left, right) = (first_png(0)?, first_png(4)?);
    let mut both = image::GrayImage::new(448, 224);
    image::imageops::replace(&mut both, &image::open(left).unwrap().to_luma8(), 0, 0);
    image::imageops::replace(&mut both, &image::open(right).unwrap().to_luma8(), 224, 0);
    Some(both)
}

/// `per_grade` real OAI films per grade of `split` (train, val, test), the
/// first by name, copied into `out/<g>/`; None, saying it is skipped, without
/// the data.
#[allow(dead_code)] // not every test file uses it
pub fn oai_dataset(out: &Path, split: &str, per_grade: usize) -> Option<PathBuf> {
    for g in 0..5 {
        let src = data_dir().join(format!("oai-kl/{split}/{g}"));
        let Ok(entries) = std::fs::read_dir(&src) else {
            eprintln!("skipped: no OAI films under {}", src.display());
            return None;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        std::fs::create_dir_all(out.join(g.to_string())).unwrap();
        for f in files.iter().take(per_grade) {
            std::fs::copy(f, out.join(g.to_string()).join(f.file_name().unwrap())).unwrap();
        }
    }
    Some(out.to_path_buf())
}
