//! Shared helpers for the integration tests: where the shared data and the
//! committed fixtures are, and tensor comparison.
#![allow(dead_code)]

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
