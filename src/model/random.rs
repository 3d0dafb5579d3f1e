//! Randomly initialised CLIP weights with the real tensor names and shapes, for
//! benchmarks and tests that need a model of full size but no download. The
//! draws are seeded by each tensor's name, so every run builds the same model:
//! a test's tolerance is checked on the values it was set on, not on new ones
//! each run (candle's CPU generator cannot be seeded).

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::ClipModel;
use super::config::ClipConfig;

/// Every tensor a Hugging Face `CLIPModel` with `config` stores, drawn from
/// N(0, 0.02²) (LayerNorm weights 1, biases 0), on `device`; the same each run.
pub fn random_tensors(config: &ClipConfig, device: &Device) -> Result<HashMap<String, Tensor>> {
    let mut shapes: Vec<(String, Vec<usize>)> = Vec::new();
    let mut block = |prefix: &str, hidden: usize, inner: usize| {
        for p in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            shapes.push((format!("{prefix}.self_attn.{p}.weight"), vec![hidden, hidden]));
            shapes.push((format!("{prefix}.self_attn.{p}.bias"), vec![hidden]));
        }
        for ln in ["layer_norm1", "layer_norm2"] {
            shapes.push((format!("{prefix}.{ln}.weight"), vec![hidden]));
            shapes.push((format!("{prefix}.{ln}.bias"), vec![hidden]));
        }
        shapes.push((format!("{prefix}.mlp.fc1.weight"), vec![inner, hidden]));
        shapes.push((format!("{prefix}.mlp.fc1.bias"), vec![inner]));
        shapes.push((format!("{prefix}.mlp.fc2.weight"), vec![hidden, inner]));
        shapes.push((format!("{prefix}.mlp.fc2.bias"), vec![hidden]));
    };
    let (v, t) = (&config.vision_config, &config.text_config);
    for i in 0..v.num_hidden_layers {
        block(&format!("vision_model.encoder.layers.{i}"), v.hidden_size, v.intermediate_size);
    }
    for i in 0..t.num_hidden_layers {
        block(&format!("text_model.encoder.layers.{i}"), t.hidden_size, t.intermediate_size);
    }
    let d = v.hidden_size;
    shapes.extend([
        ("vision_model.embeddings.class_embedding".into(), vec![d]),
        ("vision_model.embeddings.patch_embedding.weight".into(), vec![d, v.num_channels, v.patch_size, v.patch_size]),
        ("vision_model.embeddings.position_embedding.weight".into(), vec![v.tokens(), d]),
        ("vision_model.pre_layrnorm.weight".into(), vec![d]),
        ("vision_model.pre_layrnorm.bias".into(), vec![d]),
        ("vision_model.post_layernorm.weight".into(), vec![d]),
        ("vision_model.post_layernorm.bias".into(), vec![d]),
        ("visual_projection.weight".into(), vec![config.projection_dim, d]),
        ("text_model.embeddings.token_embedding.weight".into(), vec![t.vocab_size, t.hidden_size]),
        ("text_model.embeddings.position_embedding.weight".into(), vec![t.max_position_embeddings, t.hidden_size]),
        ("text_model.final_layer_norm.weight".into(), vec![t.hidden_size]),
        ("text_model.final_layer_norm.bias".into(), vec![t.hidden_size]),
        ("text_projection.weight".into(), vec![config.projection_dim, t.hidden_size]),
    ]);
    let made: Vec<Result<(String, Tensor)>> = shapes
        .into_par_iter()
        .map(|(name, shape)| {
            let tensor = if name.contains("layer_norm") || name.contains("layrnorm") {
                if name.ends_with("weight") {
                    Tensor::ones(shape, DType::F32, device)?
                } else {
                    Tensor::zeros(shape, DType::F32, device)?
                }
            } else {
                seeded_normal(&name, 0.02, shape, device)?
            };
            Ok((name, tensor))
        })
        .collect();
    let mut tensors: HashMap<String, Tensor> = made.into_iter().collect::<Result<_>>()?;
    tensors.insert(
        "logit_scale".into(),
        Tensor::new(config.logit_scale_init_value as f32, device)?,
    );
    Ok(tensors)
}

/// Values drawn from N(0, `std`²) in `shape`, the same for the same `seed`
/// (any text: a tensor's name): SplitMix64 and Box–Muller, in blocks of
/// 64 Ki values seeded by their place, drawn in parallel (a full text
/// tower's token embedding alone is 25 M values).
pub fn seeded_normal(seed: &str, std: f32, shape: Vec<usize>, device: &Device) -> Result<Tensor> {
    const BLOCK: usize = 1 << 16;
    let seed = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    let n: usize = shape.iter().product();
    let mut values = vec![0f32; n];
    values.par_chunks_mut(BLOCK).enumerate().for_each(|(block, out)| {
        let mut state = seed ^ (block as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            // 53 bits, in (0, 1]: the logarithm never sees 0.
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 + f64::EPSILON / 2.0
        };
        for pair in out.chunks_mut(2) {
            let (r, theta) = ((-2.0 * next().ln()).sqrt(), std::f64::consts::TAU * next());
            pair[0] = (r * theta.cos()) as f32 * std;
            if let Some(second) = pair.get_mut(1) {
                *second = (r * theta.sin()) as f32 * std;
            }
        }
    });
    Tensor::from_vec(values, shape, device)
}

/// A full model with random weights.
pub fn random_model(config: &ClipConfig, device: &Device) -> Result<ClipModel> {
    let vb = VarBuilder::from_tensors(random_tensors(config, device)?, DType::F32, device);
    ClipModel::from_var_builder(config.clone(), vb, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_model_has_every_tensor_the_loader_asks_for() {
        let mut config = ClipConfig::default();
        config.vision_config.num_hidden_layers = 2;
        config.text_config.num_hidden_layers = 1;
        config.text_config.vocab_size = 100;
        let model = random_model(&config, &Device::Cpu).unwrap();
        let pixels = Tensor::zeros((1, 3, 224, 224), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(model.image_features(&pixels).unwrap().dims(), &[1, 512]);
        assert_eq!(model.text_features(&[vec![1, 2, 3]]).unwrap().dims(), &[1, 512]);
    }

    #[test]
    fn seeded_draws_repeat_and_have_the_asked_spread() {
        let draw = |seed: &str| seeded_normal(seed, 0.02, vec![301, 333], &Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (a, b) = (draw("fc1.weight"), draw("fc2.weight"));
        assert_eq!(a, draw("fc1.weight"), "the same seed, the same values");
        assert_ne!(a, b);
        let n = a.len() as f64;
        let mean = a.iter().map(|&x| x as f64).sum::<f64>() / n;
        let std = (a.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        // 100 233 draws: the mean within 4 standard errors of 0, the spread within 1 %.
        assert!(mean.abs() < 4.0 * 0.02 / n.sqrt() && (std / 0.02 - 1.0).abs() < 0.01, "mean {mean}, std {std}");
        assert!(a.iter().all(|x| x.is_finite()));
    }
}
