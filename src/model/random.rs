//! Randomly initialised CLIP weights with the real tensor names and shapes, for
//! benchmarks and tests that need a model of full size but no download.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use super::ClipModel;
use super::config::ClipConfig;

/// Every tensor a Hugging Face `CLIPModel` with `config` stores, drawn from
/// N(0, 0.02²) (LayerNorm weights 1, biases 0), on `device`.
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
    let mut tensors = HashMap::new();
    for (name, shape) in shapes {
        let tensor = if name.contains("layer_norm") || name.contains("layrnorm") {
            if name.ends_with("weight") {
                Tensor::ones(shape, DType::F32, device)?
            } else {
                Tensor::zeros(shape, DType::F32, device)?
            }
        } else {
            Tensor::randn(0f32, 0.02, shape, device)?
        };
        tensors.insert(name, tensor);
    }
    tensors.insert(
        "logit_scale".into(),
        Tensor::new(config.logit_scale_init_value as f32, device)?,
    );
    Ok(tensors)
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
}
