//! What each fuzz target does with its input, shared with `tests/robustness.rs`
//! (which includes this file by path) so every crash found by fuzzing is replayed
//! by `cargo test` exactly as the fuzzer ran it.
//!
//! Each entry point follows a film or a model folder the way the application does:
//! load, then use everything the viewer and `kneeclip grade` use. An `Err` is a
//! correct answer to a bad input; a panic, an abort or an out-of-memory is a bug.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use kneeclip::grading::regions::{crop_region, regions_for};
use kneeclip::imaging::{LoadLimits, Radiograph};
use kneeclip::model::{ClipConfig, ClipModel, Preprocessing};

/// Smaller than the default limits so one input cannot take a gigabyte of memory
/// (libFuzzer runs with -rss_limit_mb=2048); every limit check is still exercised.
pub fn fuzz_limits() -> LoadLimits {
    LoadLimits { max_file_bytes: 64 << 20, max_pixels: 16_000_000, ..LoadLimits::default() }
}

/// A film's bytes → `Radiograph` → everything `grade` and the viewer compute from it.
/// Returns the error message when the film is refused.
pub fn film(bytes: &[u8], name: &str) -> Result<(), String> {
    let source = Path::new(name);
    let film = Radiograph::from_bytes(bytes, source, &fuzz_limits()).map_err(|e| {
        let message = e.to_string();
        // Every refusal names the file it is about.
        assert!(message.contains(name), "the message does not name the file: {message}");
        message
    })?;
    // The viewer: windows, inversion, readout, tags, overlay label.
    for preset in film.window_presets() {
        let _ = film.render(preset.window, false);
    }
    let _ = film.render(film.min_max_window(), true);
    let _ = film.render(film.full_range_window(), false);
    let _ = film.value_at(film.width() / 2, film.height() / 2);
    let _ = (film.dicom_tags().len(), film.patient_label(), film.notes().len());
    // `grade`: the model view, split into knees when wide, preprocessed for CLIP.
    let view = film.model_view();
    assert_eq!(view.data.len(), view.width as usize * view.height as usize);
    let (width, height) = (view.width as usize, view.height as usize);
    let preprocessing = Preprocessing::clip(224);
    for region in regions_for(width, height) {
        let (w, gray) = crop_region(width, &view.data, region);
        let values = preprocessing.pixel_values(w, height, &gray);
        assert_eq!(values.len(), 3 * 224 * 224);
    }
    Ok(())
}

/// Separates `config.json` from the safetensors bytes in a model input.
pub const MODEL_SEPARATOR: &[u8] = b"\n--safetensors--\n";

/// `config.json` + separator + `model.safetensors` → validated config → model →
/// one image and one prompt through it. Without a separator the whole input is
/// the config. Returns the error message when the model is refused.
pub fn model(bytes: &[u8]) -> Result<(), String> {
    let (config, weights) = match bytes.windows(MODEL_SEPARATOR.len()).position(|w| w == MODEL_SEPARATOR) {
        Some(at) => (&bytes[..at], &bytes[at + MODEL_SEPARATOR.len()..]),
        None => (bytes, &[][..]),
    };
    let config = std::str::from_utf8(config).map_err(|e| format!("config.json is not UTF-8: {e}"))?;
    let config = ClipConfig::from_json(config)?;
    let device = Device::Cpu;
    let vb = VarBuilder::from_buffered_safetensors(weights.to_vec(), DType::F32, &device)
        .map_err(|e| e.to_string())?;
    let model = ClipModel::from_var_builder(config.clone(), vb, &device).map_err(|e| e.to_string())?;
    let v = &config.vision_config;
    let pixels = Tensor::zeros((1, v.num_channels, v.image_size, v.image_size), DType::F32, &device)
        .map_err(|e| e.to_string())?;
    let _ = model.image_features(&pixels).map_err(|e| e.to_string())?;
    let t = &config.text_config;
    let _ = model.text_features(&[vec![t.bos_token_id, t.eos_token_id]]).map_err(|e| e.to_string())?;
    Ok(())
}
