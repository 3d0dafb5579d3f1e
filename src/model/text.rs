//! CLIP's text transformer. Prompts are packed end to end into one sequence with
//! a block-diagonal causal mask, so no compute is spent on padding to 77 tokens.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

use super::config::TextConfig;
use super::layers::{EncoderLayer, LayerShape, layer_norm};

#[derive(Clone, Debug)]
pub struct TextTransformer {
    config: TextConfig,
    token_embedding: Tensor,
    position_embedding: Tensor,
    layers: Vec<EncoderLayer>,
    final_layer_norm: LayerNorm,
}

impl TextTransformer {
    /// `vb` points at `text_model`.
    pub fn load(config: &TextConfig, vb: VarBuilder) -> Result<Self> {
        let c = config;
        let shape = LayerShape {
            hidden: c.hidden_size,
            inner: c.intermediate_size,
            heads: c.num_attention_heads,
            activation: c.hidden_act,
            eps: c.layer_norm_eps,
        };
        let emb = vb.pp("embeddings");
        Ok(Self {
            config: c.clone(),
            token_embedding: emb.get((c.vocab_size, c.hidden_size), "token_embedding.weight")?,
            position_embedding: emb
                .get((c.max_position_embeddings, c.hidden_size), "position_embedding.weight")?,
            layers: (0..c.num_hidden_layers)
                .map(|i| EncoderLayer::load(shape, vb.pp(format!("encoder.layers.{i}"))))
                .collect::<Result<Vec<_>>>()?,
            final_layer_norm: layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("final_layer_norm"))?,
        })
    }

    pub fn config(&self) -> &TextConfig {
        &self.config
    }

    /// Token ids of each prompt (with start and end tokens, at most
    /// `max_position_embeddings` long) → pooled features [prompts, hidden].
    pub fn forward(&self, prompts: &[Vec<u32>]) -> Result<Tensor> {
        let device = self.token_embedding.device();
        let max = self.config.max_position_embeddings;
        if prompts.is_empty() {
            return Tensor::zeros((0, self.config.hidden_size), DType::F32, device);
        }
        if let Some(p) = prompts.iter().find(|p| p.is_empty() || p.len() > max) {
            candle_core::bail!("a prompt has {} tokens; 1 to {max} are allowed", p.len());
        }
        if let Some(&id) = prompts.iter().flatten().find(|&&id| id as usize >= self.config.vocab_size) {
            candle_core::bail!("token id {id} is outside the vocabulary ({})", self.config.vocab_size);
        }
        let ids: Vec<u32> = prompts.iter().flatten().copied().collect();
        let positions: Vec<u32> = prompts.iter().flat_map(|p| 0..p.len() as u32).collect();
        let total = ids.len();
        let ids = Tensor::from_vec(ids, total, device)?;
        let positions = Tensor::from_vec(positions, total, device)?;
        let hidden = (self.token_embedding.index_select(&ids, 0)?
            + self.position_embedding.index_select(&positions, 0)?)?
        .unsqueeze(0)?;
        let mask = packed_causal_mask(prompts, device)?;
        let pooled: Vec<u32> = pool_positions(prompts, self.config.eos_token_id);
        let pooled = Tensor::from_vec(pooled, prompts.len(), device)?;
        // Only the pooled rows leave the last layer, so it computes just those.
        let last = self.layers.len().saturating_sub(1);
        let mut hidden = kneeclip_sgemm::on_pool(|| {
            let mut hidden = hidden;
            for (i, layer) in self.layers.iter().enumerate() {
                let rows = (i == last).then_some(&pooled);
                hidden = layer.forward_rows(&hidden, Some(&mask), rows, false)?.0;
            }
            Ok::<_, candle_core::Error>(hidden)
        })?;
        if self.layers.is_empty() {
            hidden = hidden.index_select(&pooled, 1)?;
        }
        self.final_layer_norm.forward(&hidden.squeeze(0)?)
    }
}

/// Where each prompt's feature is read, as Hugging Face does: configs from before
/// `eos_token_id` was fixed (the value 2) take the highest token id, the end token
/// of OpenAI's vocabulary; newer ones take the first end token. Indices are into
/// the packed sequence.
fn pool_positions(prompts: &[Vec<u32>], eos_token_id: u32) -> Vec<u32> {
    let mut offset = 0u32;
    prompts
        .iter()
        .map(|p| {
            let within = if eos_token_id == 2 {
                // First maximum, like torch.argmax.
                let max = p.iter().copied().max().unwrap_or(0);
                p.iter().position(|&id| id == max).unwrap_or(0)
            } else {
                p.iter().position(|&id| id == eos_token_id).unwrap_or(0)
            };
            let at = offset + within as u32;
            offset += p.len() as u32;
            at
        })
        .collect()
}

/// Additive mask [tokens, tokens]: a token sees itself and earlier tokens of its
/// own prompt only.
fn packed_causal_mask(prompts: &[Vec<u32>], device: &Device) -> Result<Tensor> {
    let total: usize = prompts.iter().map(Vec::len).sum();
    let mut mask = vec![f32::NEG_INFINITY; total * total];
    let mut start = 0;
    for p in prompts {
        for i in start..start + p.len() {
            for j in start..=i {
                mask[i * total + j] = 0.0;
            }
        }
        start += p.len();
    }
    Tensor::from_vec(mask, (total, total), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_follows_hugging_face_rules() {
        let prompts = vec![vec![49406, 10, 49407], vec![49406, 7, 8, 49407]];
        assert_eq!(pool_positions(&prompts, 2), vec![2, 6]);
        assert_eq!(pool_positions(&prompts, 49407), vec![2, 6]);
        // A new-style config with a different end token pools at that token.
        assert_eq!(pool_positions(&[vec![5, 9, 3, 9]], 9), vec![1]);
    }

    #[test]
    fn mask_is_block_diagonal_and_causal() {
        let mask = packed_causal_mask(&[vec![1, 2], vec![3]], &Device::Cpu).unwrap();
        let m: Vec<Vec<f32>> = mask.to_vec2().unwrap();
        assert_eq!(m[0], vec![0.0, f32::NEG_INFINITY, f32::NEG_INFINITY]);
        assert_eq!(m[1], vec![0.0, 0.0, f32::NEG_INFINITY]);
        assert_eq!(m[2], vec![f32::NEG_INFINITY, f32::NEG_INFINITY, 0.0]);
    }
}
