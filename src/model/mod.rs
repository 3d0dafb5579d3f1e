//! CLIP in candle: configuration, the two transformer towers, tokenizer,
//! preprocessing and device choice.

pub mod clip;
pub mod config;
pub mod cpu_embed;
pub mod cpu_layer;
pub mod device;
pub mod layers;
pub mod linear;
pub mod preprocess;
pub mod random;
pub mod resample;
pub mod safetensors_file;
pub mod text;
pub mod tokenizer;
pub mod vision;

use std::path::PathBuf;

pub use clip::ClipModel;
pub use config::ClipConfig;
pub use device::{DevicePreference, arithmetic_label, device_label, select_device};

/// Whether every value of `t` is a finite number (a head or checkpoint that
/// diverged holds NaN or infinities).
pub fn all_finite(t: &candle_core::Tensor) -> bool {
    t.flatten_all().and_then(|t| t.to_dtype(candle_core::DType::F32)).and_then(|t| t.to_vec1::<f32>()).is_ok_and(|v| v.iter().all(|x| x.is_finite()))
}
pub use preprocess::Preprocessing;
pub use tokenizer::ClipTokenizer;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: the weights cannot be used: {reason}")]
    Weights { path: PathBuf, reason: String },
    #[error("{path}: the tokenizer cannot be used: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("cannot tokenise the prompt {text:?}: {reason}")]
    Prompt { text: String, reason: String },
    #[error("model computation failed: {0}")]
    Compute(#[from] candle_core::Error),
}
