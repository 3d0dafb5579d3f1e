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

    /// Rejects shapes no model can have, before any tensor is read.
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
            (t.max_position_embeddings < 2, "text max_position_embeddings must be at least 2"),
        ];
        match checks.iter().find(|(bad, _)| *bad) {
            Some((_, why)) => Err(why.to_string()),
            None => Ok(()),
        }
    }
}
