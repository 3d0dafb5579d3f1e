//! Shared helpers for the integration tests: where the shared data and the
//! committed fixtures are, and tensor comparison.
#![allow(dead_code)]

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
