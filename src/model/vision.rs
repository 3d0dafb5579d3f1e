//! CLIP's vision transformer, written so that the blocks can be run in parts:
//! training runs the frozen first blocks once and the trainable last ones many
//! times; the viewer asks for the attention probabilities of every block.

use std::ops::Range;

use candle_core::{Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

use super::config::VisionConfig;
use super::cpu_embed::{self, EmbeddingParts};
use super::cpu_layer::with_cpu_f32_all;
use super::layers::{Arithmetic, EncoderLayer, LayerShape, Linear, layer_norm};

#[derive(Clone, Debug)]
pub struct VisionTransformer {
    config: VisionConfig,
    class_embedding: Tensor,
    /// The patch convolution as a matrix [hidden, channels·patch·patch]: a
    /// stride-`patch` convolution is a matmul over non-overlapping patches.
    patch_embedding: Linear,
    position_embedding: Tensor,
    pre_layrnorm: LayerNorm,
    layers: Vec<EncoderLayer>,
    post_layernorm: LayerNorm,
}

impl VisionTransformer {
    /// `vb` points at `vision_model`.
    pub fn load(config: &VisionConfig, vb: VarBuilder) -> Result<Self> {
        let c = config;
        let emb = vb.pp("embeddings");
        let class_embedding = emb.get(c.hidden_size, "class_embedding")?;
        let patch_weight = emb
            .get(
                (c.hidden_size, c.num_channels, c.patch_size, c.patch_size),
                "patch_embedding.weight",
            )?
            .reshape((c.hidden_size, ()))?;
        let position_embedding = emb.get((c.tokens(), c.hidden_size), "position_embedding.weight")?;
        let layers = (0..c.num_hidden_layers)
            .map(|i| EncoderLayer::load(Self::layer_shape(c), vb.pp(format!("encoder.layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: c.clone(),
            class_embedding,
            patch_embedding: Linear::with_arithmetic(patch_weight, None, Arithmetic::Fastest),
            position_embedding,
            pre_layrnorm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("pre_layrnorm"))?,
            layers,
            post_layernorm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("post_layernorm"))?,
        })
    }

    pub fn layer_shape(c: &VisionConfig) -> LayerShape {
        LayerShape {
            hidden: c.hidden_size,
            inner: c.intermediate_size,
            heads: c.num_attention_heads,
            activation: c.hidden_act,
            eps: c.layer_norm_eps,
            arithmetic: Arithmetic::Fastest,
        }
    }

    pub fn config(&self) -> &VisionConfig {
        &self.config
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn layers(&self) -> &[EncoderLayer] {
        &self.layers
    }

    /// Pixel values [batch, channels, size, size] → tokens [batch, 1 + grid², hidden],
    /// after `pre_layrnorm` (the input of block 0).
    pub fn embed(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let (_, channels, h, w) = pixel_values.dims4()?;
        if channels != c.num_channels || h != c.image_size || w != c.image_size {
            candle_core::bail!(
                "pixel values are {channels}×{h}×{w}, the model expects {}×{s}×{s}",
                c.num_channels,
                s = c.image_size
            );
        }
        match self.embed_on_cpu(pixel_values)? {
            Some(tokens) => Ok(tokens),
            None => self.embed_composed(pixel_values),
        }
    }

    /// [`embed`](Self::embed) composed of candle's ops, for any device and dtype.
    fn embed_composed(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let (batch, channels, _, _) = pixel_values.dims4()?;
        let (p, g) = (c.patch_size, c.grid());
        let patches = pixel_values
            .reshape((batch, channels, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((batch * g * g, channels * p * p))?
            .apply(&self.patch_embedding)?
            .reshape((batch, g * g, c.hidden_size))?;
        let class = self
            .class_embedding
            .reshape((1, 1, c.hidden_size))?
            .broadcast_as((batch, 1, c.hidden_size))?;
        let tokens = Tensor::cat(&[&class, &patches], 1)?.broadcast_add(&self.position_embedding)?;
        self.pre_layrnorm.forward(&tokens)
    }

    /// [`embed`](Self::embed) over plain buffers (`cpu_embed`), where the
    /// pixels and parameters are contiguous f32 values on the CPU and the
    /// patch weights are packed; `None` otherwise.
    fn embed_on_cpu(&self, pixel_values: &Tensor) -> Result<Option<Tensor>> {
        let c = &self.config;
        let (Some((packed, None)), Some(norm_bias)) = (self.patch_embedding.packed(), self.pre_layrnorm.bias()) else {
            return Ok(None);
        };
        let batch = pixel_values.dim(0)?;
        let tensors = [pixel_values, &self.class_embedding, &self.position_embedding, self.pre_layrnorm.weight(), norm_bias];
        let tokens = with_cpu_f32_all(&tensors, |v| {
            let parts = EmbeddingParts { patch: packed, class: v[1], positions: v[2], norm_weight: v[3], norm_bias: v[4], eps: self.pre_layrnorm.eps() as f32 };
            kneeclip_sgemm::on_pool(|| cpu_embed::embed(v[0], batch, c.num_channels, c.image_size, c.patch_size, &parts))
        });
        tokens.map(|t| Tensor::from_vec(t, (batch, c.tokens(), c.hidden_size), pixel_values.device())).transpose()
    }

    /// Runs blocks `range` of this model on `hidden`.
    pub fn run_blocks(&self, hidden: &Tensor, range: Range<usize>) -> Result<Tensor> {
        run_blocks(&self.layers[range], hidden, None)
    }

    /// post_layernorm of the class token: [batch, tokens, hidden] → [batch, hidden]
    /// (the class token is the first row, also of [`run_blocks_class_token`]'s output).
    pub fn pool(&self, hidden: &Tensor) -> Result<Tensor> {
        self.post_layernorm.forward(&hidden.narrow(1, 0, 1)?.squeeze(1)?)
    }

    /// The whole tower: pixel values → pooled [batch, hidden].
    pub fn forward(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let hidden = self.embed(pixel_values)?;
        let hidden = run_blocks_class_token(&self.layers, &hidden)?;
        self.pool(&hidden)
    }
}

/// Runs `layers` in turn; when `attentions` is given, pushes each block's
/// attention probabilities [batch, heads, tokens, tokens] onto it.
pub fn run_blocks(
    layers: &[EncoderLayer],
    hidden: &Tensor,
    mut attentions: Option<&mut Vec<Tensor>>,
) -> Result<Tensor> {
    kneeclip_sgemm::on_pool(|| {
        let mut hidden = hidden.clone();
        for layer in layers {
            let (next, probs) = layer.forward(&hidden, None, attentions.is_some())?;
            if let (Some(sink), Some(probs)) = (attentions.as_deref_mut(), probs) {
                sink.push(probs);
            }
            hidden = next;
        }
        Ok(hidden)
    })
}

/// Runs `layers` in turn, the last one for the class token only: what pooling
/// reads. Returns [batch, 1, hidden], equal to the first row of [`run_blocks`].
pub fn run_blocks_class_token(layers: &[EncoderLayer], hidden: &Tensor) -> Result<Tensor> {
    let Some((last, rest)) = layers.split_last() else {
        return hidden.narrow(1, 0, 1);
    };
    kneeclip_sgemm::on_pool(|| {
        let hidden = run_blocks(rest, hidden, None)?;
        let class_token = Tensor::new(&[0u32], hidden.device())?;
        Ok(last.forward_rows(&hidden, None, Some(&class_token), false)?.0)
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarBuilder;

    use super::*;
    use crate::model::ClipConfig;
    use crate::model::random::random_tensors;

    /// The embedding over plain buffers against candle's composition: the
    /// patches' channel and row order, the class token first, positions and
    /// the pre-layernorm (its weight and bias away from 1 and 0), on films
    /// of three channels that differ.
    #[test]
    fn the_embedding_on_buffers_matches_the_composition() {
        let dev = Device::Cpu;
        let mut config = ClipConfig::default();
        let v = &mut config.vision_config;
        (v.hidden_size, v.intermediate_size, v.num_hidden_layers, v.num_attention_heads, v.image_size, v.patch_size) = (128, 256, 1, 4, 64, 16);
        let mut tensors = random_tensors(&config, &dev).unwrap();
        for (name, std) in [("vision_model.pre_layrnorm.weight", 0.5), ("vision_model.pre_layrnorm.bias", 0.5), ("vision_model.embeddings.class_embedding", 1.0)] {
            let t = &tensors[name];
            let t = (t + Tensor::randn(0f32, std, t.shape(), &dev).unwrap()).unwrap();
            tensors.insert(name.into(), t);
        }
        let vision = VisionTransformer::load(&config.vision_config, VarBuilder::from_tensors(tensors, DType::F32, &dev).pp("vision_model")).unwrap();
        let pixels = Tensor::randn(0f32, 1.0, (3, 3, 64, 64), &dev).unwrap();
        let got = vision.embed_on_cpu(&pixels).unwrap().expect("the embedding runs on buffers for CPU f32 values");
        let want = vision.embed_composed(&pixels).unwrap();
        assert_eq!(got.dims(), want.dims());
        let diff = (&got - &want).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(diff <= 1e-5, "the embeddings differ by {diff}");
        assert_eq!(vision.embed(&pixels).unwrap().to_vec3::<f32>().unwrap(), got.to_vec3::<f32>().unwrap(), "embed takes the buffers' path on the CPU");
    }
}
