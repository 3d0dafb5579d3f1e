//! CLIP's vision transformer, written so that the blocks can be run in parts:
//! training runs the frozen first blocks once and the trainable last ones many
//! times; the viewer asks for the attention probabilities of every block.

use std::ops::Range;
use std::sync::Arc;

use candle_core::{Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use kneeclip_sgemm::PackedB;

use super::config::VisionConfig;
use super::cpu_embed::{self, EmbeddingParts};
use super::cpu_layer::with_cpu_f32_all;
use super::preprocess::{CLIP_MEAN, CLIP_STD};
use super::layers::{Arithmetic, EncoderLayer, LayerShape, Linear, layer_norm};

#[derive(Clone, Debug)]
pub struct VisionTransformer {
    config: VisionConfig,
    class_embedding: Tensor,
    /// The patch convolution as a matrix [hidden, channels·patch·patch]: a
    /// stride-`patch` convolution is a matmul over non-overlapping patches.
    patch_embedding: Linear,
    /// The patch weights with CLIP's per-channel normalisation folded in,
    /// for gray films ([`embed_gray`](Self::embed_gray)); on the CPU only.
    gray_patch: Option<Arc<GrayPatch>>,
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
        let patch_embedding = Linear::with_arithmetic(patch_weight.clone(), None, Arithmetic::Fastest);
        let gray_patch = match patch_embedding.packed() {
            Some(_) if c.num_channels == 3 => Some(Arc::new(GrayPatch::fold(&patch_weight, CLIP_MEAN, CLIP_STD)?)),
            _ => None,
        };
        let layers = (0..c.num_hidden_layers)
            .map(|i| EncoderLayer::load(Self::layer_shape(c), vb.pp(format!("encoder.layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: c.clone(),
            class_embedding,
            patch_embedding,
            gray_patch,
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
        match self.patch_embedding.packed() {
            Some((packed, None)) => self.embed_buffers(pixel_values, self.config.num_channels, packed, None, 0.0),
            _ => Ok(None),
        }
    }

    /// Films' `channels` planes [batch, channels, size, size] through the
    /// patch product `patch` (and its bias) to tokens, on plain buffers.
    fn embed_buffers(&self, pixels: &Tensor, channels: usize, patch: &PackedB, patch_bias: Option<&[f32]>, offset: f32) -> Result<Option<Tensor>> {
        let c = &self.config;
        let Some(norm_bias) = self.pre_layrnorm.bias() else {
            return Ok(None);
        };
        let batch = pixels.dim(0)?;
        let tensors = [pixels, &self.class_embedding, &self.position_embedding, self.pre_layrnorm.weight(), norm_bias];
        let tokens = with_cpu_f32_all(&tensors, |v| {
            let parts = EmbeddingParts { patch, patch_bias, offset, class: v[1], positions: v[2], norm_weight: v[3], norm_bias: v[4], eps: self.pre_layrnorm.eps() as f32 };
            kneeclip_sgemm::on_pool(|| cpu_embed::embed(v[0], batch, channels, c.image_size, c.patch_size, &parts))
        });
        tokens.map(|t| Tensor::from_vec(t, (batch, c.tokens(), c.hidden_size), pixels.device())).transpose()
    }

    /// Gray films' levels [batch, size, size] (0–1, as
    /// `Preprocessing::gray_values` gives them) → tokens, as [`embed`](Self::embed)
    /// on their pixel values `(level − mean[c]) / std[c]` in all three
    /// channels. On the CPU the normalisation is folded into the patch
    /// weights (`GrayPatch`), so the product is a third as deep (64 films:
    /// 3136 × 3072 × 768 → 3136 × 1024 × 768); elsewhere, or for another
    /// mean and std, the pixel values are made and embedded.
    pub fn embed_gray(&self, levels: &Tensor, mean: [f32; 3], std: [f32; 3]) -> Result<Tensor> {
        let (batch, h, w) = levels.dims3()?;
        let s = self.config.image_size;
        if h != s || w != s {
            candle_core::bail!("gray levels are {h}×{w}, the model expects {s}×{s}");
        }
        if let Some(gray) = self.gray_patch.as_deref().filter(|g| g.mean == mean && g.std == std) {
            let planes = levels.reshape((batch, 1, s, s))?;
            if let Some(tokens) = self.embed_buffers(&planes, 1, &gray.packed, Some(&gray.bias), GrayPatch::OFFSET)? {
                return Ok(tokens);
            }
        }
        let device = levels.device();
        let mean = Tensor::from_slice(&mean, (1, 3, 1, 1), device)?.to_dtype(levels.dtype())?;
        let std = Tensor::from_slice(&std, (1, 3, 1, 1), device)?.to_dtype(levels.dtype())?;
        let pixels = levels.unsqueeze(1)?.broadcast_sub(&mean)?.broadcast_div(&std)?;
        self.embed(&pixels)
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

/// The patch convolution for gray films. A film's three channels are
/// `(level − mean[c]) / std[c]`, so with levels centred, `x = level − ½`,
/// Σ_c W_c·(level − mean_c)/std_c = W'·x + b' for W' = Σ_c W_c / std_c and
/// b' = Σ_c Σ W_c·(½ − mean_c) / std_c (summed in f64). Centred, the
/// product's terms cancel about as little as on the normalised channels
/// (on levels 0–1 the bias cancelled most of W'·level, and the bf16×3
/// product's rounding grew to 3.7e-5 of the embeddings, against ≤ 1e-5).
#[derive(Debug)]
struct GrayPatch {
    mean: [f32; 3],
    std: [f32; 3],
    /// W'ᵀ packed, `[patch·patch, hidden]`.
    packed: PackedB,
    bias: Vec<f32>,
}

impl GrayPatch {
    /// What is taken from every level before the product.
    const OFFSET: f32 = 0.5;

    /// From the patch weights `[hidden, 3·patch·patch]` (channel-major within a row).
    fn fold(weight: &Tensor, mean: [f32; 3], std: [f32; 3]) -> Result<Self> {
        let (hidden, len) = weight.dims2()?;
        let area = len / 3;
        let w = weight.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let mut folded = vec![0f32; hidden * area];
        let mut bias = vec![0f32; hidden];
        for o in 0..hidden {
            let row = &w[o * len..(o + 1) * len];
            let mut b = 0f64;
            for q in 0..area {
                let mut sum = 0f64;
                for c in 0..3 {
                    let v = row[c * area + q] as f64 / std[c] as f64;
                    sum += v;
                    b += v * (Self::OFFSET as f64 - mean[c] as f64);
                }
                folded[o * area + q] = sum as f32;
            }
            bias[o] = b as f32;
        }
        Ok(Self { mean, std, packed: PackedB::weights_from_transposed(&folded, hidden, area), bias })
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

    /// A one-block tower, 128 wide, on 64 × 64 films of 16 × 16 patches,
    /// its pre-layernorm and class token moved away from their random
    /// initialisation's 1, 0 and small values.
    fn small_tower() -> VisionTransformer {
        let dev = Device::Cpu;
        let mut config = ClipConfig::default();
        let v = &mut config.vision_config;
        (v.hidden_size, v.intermediate_size, v.num_hidden_layers, v.num_attention_heads, v.image_size, v.patch_size) = (128, 256, 1, 4, 64, 16);
        // The text tower is not used: one small layer, not CLIP's 63 M values to draw.
        (config.text_config.vocab_size, config.text_config.num_hidden_layers) = (100, 1);
        let mut tensors = random_tensors(&config, &dev).unwrap();
        for (name, std) in [("vision_model.pre_layrnorm.weight", 0.5), ("vision_model.pre_layrnorm.bias", 0.5), ("vision_model.embeddings.class_embedding", 1.0)] {
            let t = &tensors[name];
            let t = (t + crate::model::random::seeded_normal(name, std, t.dims().to_vec(), &dev).unwrap()).unwrap();
            tensors.insert(name.into(), t);
        }
        VisionTransformer::load(&config.vision_config, VarBuilder::from_tensors(tensors, DType::F32, &dev).pp("vision_model")).unwrap()
    }

    /// The embedding over plain buffers against candle's composition: the
    /// patches' channel and row order, the class token first, positions and
    /// the pre-layernorm (its weight and bias away from 1 and 0), on films
    /// of three channels that differ.
    #[test]
    fn the_embedding_on_buffers_matches_the_composition() {
        let dev = Device::Cpu;
        let vision = small_tower();
        let pixels = Tensor::randn(0f32, 1.0, (3, 3, 64, 64), &dev).unwrap();
        let got = vision.embed_on_cpu(&pixels).unwrap().expect("the embedding runs on buffers for CPU f32 values");
        let want = vision.embed_composed(&pixels).unwrap();
        assert_eq!(got.dims(), want.dims());
        let diff = (&got - &want).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(diff <= 1e-5, "the embeddings differ by {diff}");
        assert_eq!(vision.embed(&pixels).unwrap().to_vec3::<f32>().unwrap(), got.to_vec3::<f32>().unwrap(), "embed takes the buffers' path on the CPU");
    }

    /// Gray films through the folded patch weights against their three
    /// normalised channels through `embed`; another mean and std take the
    /// pixel values' path and give `embed`'s values exactly.
    #[test]
    fn gray_films_embed_as_their_three_channels() {
        let dev = Device::Cpu;
        let vision = small_tower();
        assert!(vision.gray_patch.is_some(), "the folded weights are made on the CPU");
        // Fixed levels (a hash of the place), not `Tensor::rand`: bf16×3's
        // error depends on the values, and a bound checked on fresh random
        // ones each run failed one run in many (6.8e-5 once, in CI).
        let fixed: Vec<f32> = (0u64..2 * 64 * 64).map(|i| ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32) / (1u64 << 24) as f32).collect();
        let levels = Tensor::from_vec(fixed, (2, 64, 64), &dev).unwrap();
        let pixels_for = |mean: [f32; 3], std: [f32; 3]| {
            let values = levels.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let planes: Vec<f32> = values.chunks(64 * 64).flat_map(|film| (0..3).flat_map(move |c| film.iter().map(move |&l| (l - mean[c]) / std[c]))).collect();
            Tensor::from_vec(planes, (2, 3, 64, 64), &dev).unwrap()
        };
        let max_diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        let want = vision.embed(&pixels_for(CLIP_MEAN, CLIP_STD)).unwrap();
        let got = vision.embed_gray(&levels, CLIP_MEAN, CLIP_STD).unwrap();
        // In f32 the two agree to ≈ 2e-6; on AMX each is a bf16×3 product
        // (2e-5 from f32 here; on eight real films at full size, against
        // f32: embeddings 2.1e-5 three channels, 3.0e-5 folded, and after
        // ten blocks 3.8e-5 and 4.1e-5, of values up to 5.7).
        assert!(max_diff(&got, &want) <= 5e-5, "folded: the embeddings differ by {}", max_diff(&got, &want));
        let (mean, std) = ([0.5; 3], [0.25; 3]);
        let want = vision.embed(&pixels_for(mean, std)).unwrap();
        assert_eq!(vision.embed_gray(&levels, mean, std).unwrap().to_vec3::<f32>().unwrap(), want.to_vec3::<f32>().unwrap(), "another normalisation");
    }
}
