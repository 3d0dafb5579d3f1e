//! The Hugging Face `CLIPConfig` (`config.json`), with Hugging Face's defaults for
//! every field a file may leave out, so any config `CLIPModel` accepts loads here.

use serde::{Deserialize, Serialize};
use std::path::Path;

use super::ModelError;

/// Non-linearity between the two MLP layers (`hidden_act`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// x · σ(1.702 x), OpenAI CLIP's.
    QuickGelu,
    /// Exact GELU (erf).
    Gelu,
    /// Tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    #[serde(alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    Relu,
    #[serde(alias = "swish")]
    Silu,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    pub eos_token_id: u32,
    pub bos_token_id: u32,
    pub pad_token_id: u32,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
            bos_token_id: 49406,
            pad_token_id: 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        }
    }
}

impl VisionConfig {
    /// Patches per side of the square input.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Tokens per image: the class token and one per patch.
    pub fn tokens(&self) -> usize {
        self.grid() * self.grid() + 1
    }
}

/// Upper bounds [`ClipConfig::validate`] accepts.
const MAX_WIDTH: usize = 1 << 14;
const MAX_LAYERS: usize = 256;
const MAX_IMAGE_SIZE: usize = 2048;
const MAX_VOCAB: usize = 1 << 21;
const MAX_POSITIONS: usize = 1 << 14;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClipConfig {
    pub text_config: TextConfig,
    pub vision_config: VisionConfig,
    pub projection_dim: usize,
    pub logit_scale_init_value: f64,
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self {
            text_config: TextConfig::default(),
            vision_config: VisionConfig::default(),
            projection_dim: 512,
            logit_scale_init_value: 2.6592,
        }
    }
}

impl ClipConfig {
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        Self::from_json(&text).map_err(|reason| ModelError::Config {
            path: path.to_owned(),
            reason,
        })
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let config: ClipConfig =
            serde_json::from_str(text).map_err(|e| format!("not a CLIP config: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects shapes no model can have, before any tensor is read. The upper
    /// bounds are far above any CLIP (ViT-bigG has 1664 hidden, 48 layers, 336²
    /// pixels) but keep every size product within memory: a config that lies
    /// about sizes fails here with its reason, not in an allocation.
    pub fn validate(&self) -> Result<(), String> {
        let v = &self.vision_config;
        let t = &self.text_config;
        let checks = [
            (v.patch_size == 0 || v.image_size % v.patch_size != 0, "vision image_size must be a multiple of patch_size"),
            (v.num_attention_heads == 0 || v.hidden_size % v.num_attention_heads != 0, "vision hidden_size must be a multiple of num_attention_heads"),
            (t.num_attention_heads == 0 || t.hidden_size % t.num_attention_heads != 0, "text hidden_size must be a multiple of num_attention_heads"),
            (v.num_hidden_layers < 2, "the vision transformer needs at least two layers (the last two are fine-tuned)"),
            (t.num_hidden_layers == 0, "the text transformer needs at least one layer"),
            (self.projection_dim == 0 || v.hidden_size == 0 || t.hidden_size == 0, "sizes must be positive"),
            (v.intermediate_size == 0 || t.intermediate_size == 0 || t.vocab_size == 0, "sizes must be positive"),
            (t.max_position_embeddings < 2, "text max_position_embeddings must be at least 2"),
            (v.num_channels != 3, "vision num_channels must be 3 (films are given to the model as RGB)"),
            (!(v.layer_norm_eps > 0.0 && v.layer_norm_eps < 1.0), "vision layer_norm_eps must be between 0 and 1"),
            (!(t.layer_norm_eps > 0.0 && t.layer_norm_eps < 1.0), "text layer_norm_eps must be between 0 and 1"),
            (!self.logit_scale_init_value.is_finite(), "logit_scale_init_value must be a finite number"),
        ];
        if let Some((_, why)) = checks.iter().find(|(bad, _)| *bad) {
            return Err(why.to_string());
        }
        let limits = [
            ("vision hidden_size", v.hidden_size, MAX_WIDTH),
            ("vision intermediate_size", v.intermediate_size, MAX_WIDTH * 8),
            ("vision num_hidden_layers", v.num_hidden_layers, MAX_LAYERS),
            ("vision image_size", v.image_size, MAX_IMAGE_SIZE),
            ("text hidden_size", t.hidden_size, MAX_WIDTH),
            ("text intermediate_size", t.intermediate_size, MAX_WIDTH * 8),
            ("text num_hidden_layers", t.num_hidden_layers, MAX_LAYERS),
            ("text vocab_size", t.vocab_size, MAX_VOCAB),
            ("text max_position_embeddings", t.max_position_embeddings, MAX_POSITIONS),
            ("projection_dim", self.projection_dim, MAX_WIDTH),
        ];
        match limits.iter().find(|(_, value, max)| value > max) {
            Some((name, value, max)) => Err(format!("{name} is {value}, too large for a CLIP model (at most {max})")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(edit: impl Fn(&mut serde_json::Value)) -> Result<ClipConfig, String> {
        let mut json = serde_json::to_value(ClipConfig::default()).unwrap();
        edit(&mut json);
        ClipConfig::from_json(&json.to_string())
    }

    #[test]
    fn sizes_that_no_memory_holds_are_refused_with_the_field_named() {
        assert!(with(|_| {}).is_ok());
        // A multiple of the 12 heads, so only its size is wrong.
        let err = with(|c| c["vision_config"]["hidden_size"] = (12u64 << 36).into()).unwrap_err();
        assert!(err.contains("vision hidden_size is 824633720832, too large"), "{err}");
        let err = with(|c| {
            c["vision_config"]["image_size"] = (1u64 << 33).into();
            c["vision_config"]["patch_size"] = 1.into();
        })
        .unwrap_err();
        assert!(err.contains("vision image_size"), "{err}");
        let err = with(|c| c["text_config"]["vocab_size"] = u64::MAX.into()).unwrap_err();
        assert!(err.contains("text vocab_size"), "{err}");
    }

    #[test]
    fn nonsense_values_are_refused() {
        let err = with(|c| c["vision_config"]["layer_norm_eps"] = (-1.0).into()).unwrap_err();
        assert!(err.contains("layer_norm_eps"), "{err}");
        let err = with(|c| c["vision_config"]["num_channels"] = 1.into()).unwrap_err();
        assert!(err.contains("num_channels"), "{err}");
        let err = with(|c| c["text_config"]["intermediate_size"] = 0.into()).unwrap_err();
        assert!(err.contains("positive"), "{err}");
    }
}
