//! The whole CLIP model: both towers and their projections into the shared
//! embedding space, loaded from a Hugging Face folder by the real tensor names.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;

use super::ModelError;
use super::config::ClipConfig;
use super::layers::{Arithmetic, Linear, linear};
use super::safetensors_file::SafetensorsFile;
use super::text::TextTransformer;
use super::vision::VisionTransformer;

#[derive(Clone, Debug)]
pub struct ClipModel {
    config: ClipConfig,
    vision: VisionTransformer,
    text: TextTransformer,
    visual_projection: Linear,
    text_projection: Linear,
    logit_scale: f32,
    device: Device,
}

impl ClipModel {
    /// Loads `config.json` and `model.safetensors` (f32, f16 or bf16 on disk;
    /// computed in f32), one tensor at a time.
    pub fn load(config_path: &Path, weights_path: &Path, device: &Device) -> Result<Self, ModelError> {
        let config = ClipConfig::from_file(config_path)?;
        // The error names the file already: its reason does not repeat it.
        let prefix = format!("{}: ", weights_path.display());
        let weights_error = |e: candle_core::Error| ModelError::Weights {
            path: weights_path.to_owned(),
            reason: describe_weights_error(&e).replacen(&prefix, "", 1),
        };
        let file = SafetensorsFile::open(weights_path).map_err(weights_error)?;
        // A config with fewer layers than the weights would load (the extra
        // layers unread) and grade with a truncated model.
        for (tower, layers) in [("vision_model", config.vision_config.num_hidden_layers), ("text_model", config.text_config.num_hidden_layers)] {
            if file.contains_tensor(&format!("{tower}.encoder.layers.{layers}.layer_norm1.weight")) {
                return Err(ModelError::Weights {
                    path: weights_path.to_owned(),
                    reason: format!("the weights hold more {tower} layers than the {layers} its config.json ({}) names: the config does not describe these weights", config_path.display()),
                });
            }
        }
        let vb = VarBuilder::from_backend(Box::new(file), DType::F32, device.clone());
        let model = Self::from_var_builder(config, vb, device).map_err(weights_error)?;
        // A damaged scale (NaN, or one whose exp overflows) made every probability NaN and every grade KL 0.
        if !model.logit_scale.is_finite() || !model.logit_scale.exp().is_finite() {
            return Err(ModelError::Weights {
                path: weights_path.to_owned(),
                reason: format!("the weights produce non-finite values (logit_scale = {}, whose exp is {}): is the file damaged? Download it again or use another copy", model.logit_scale, model.logit_scale.exp()),
            });
        }
        Ok(model)
    }

    pub fn from_var_builder(config: ClipConfig, vb: VarBuilder, device: &Device) -> candle_core::Result<Self> {
        let vision = VisionTransformer::load(&config.vision_config, vb.pp("vision_model"))?;
        let text = TextTransformer::load(&config.text_config, vb.pp("text_model"))?;
        let p = config.projection_dim;
        let visual_projection = linear(config.vision_config.hidden_size, p, false, Arithmetic::F32, vb.pp("visual_projection"))?;
        let text_projection = linear(config.text_config.hidden_size, p, false, Arithmetic::F32, vb.pp("text_projection"))?;
        let logit_scale = vb.get((), "logit_scale")?.to_scalar::<f32>()?;
        Ok(Self {
            config,
            vision,
            text,
            visual_projection,
            text_projection,
            logit_scale,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn vision(&self) -> &VisionTransformer {
        &self.vision
    }

    /// The learned temperature as stored (CLIP multiplies cosines by its exp).
    pub fn logit_scale(&self) -> f32 {
        self.logit_scale
    }

    /// Pixel values [batch, 3, size, size] → image embeddings [batch, projection],
    /// not normalised.
    pub fn image_features(&self, pixel_values: &Tensor) -> candle_core::Result<Tensor> {
        self.project_image(&self.vision.forward(pixel_values)?)
    }

    /// Pooled vision output [batch, hidden] → embeddings [batch, projection].
    pub fn project_image(&self, pooled: &Tensor) -> candle_core::Result<Tensor> {
        self.visual_projection.forward(pooled)
    }

    /// Token ids per prompt → text embeddings [prompts, projection], not normalised.
    pub fn text_features(&self, prompts: &[Vec<u32>]) -> candle_core::Result<Tensor> {
        self.text_projection.forward(&self.text.forward(prompts)?)
    }
}

/// Turns candle's messages about missing or misshapen tensors into a sentence
/// that says what the file lacks.
fn describe_weights_error(e: &candle_core::Error) -> String {
    let e = without_backtrace_or_path(e);
    let text = e.to_string();
    if text.contains("cannot find tensor") {
        format!("{text} — this is not a CLIP model in Hugging Face layout, or config.json does not match it")
    } else if text.contains("shape mismatch") || text.contains("unexpected shape") {
        format!("{text} — config.json does not describe these weights")
    } else if matches!(e, candle_core::Error::SafeTensor(_)) {
        format!("not a valid safetensors file ({text}); it may be truncated or damaged")
    } else {
        text
    }
}

/// The error itself: our message already names the file, and a backtrace
/// (captured when RUST_BACKTRACE is set) is no help to a reader.
pub(crate) fn without_backtrace_or_path(e: &candle_core::Error) -> &candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } | candle_core::Error::WithPath { inner, .. } => {
            without_backtrace_or_path(inner)
        }
        other => other,
    }
}
