//! CLIP's text transformer. Prompts are packed into one sequence as a prefix
//! tree: no compute is spent on padding to 77 tokens, and the tokens several
//! prompts begin with alike (the start token, "grade" in the default anchors)
//! are computed once. Attention is causal, so a token's state depends on its
//! prefix alone and is the same in every prompt that shares that prefix.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

use super::config::TextConfig;
use super::layers::{Arithmetic, EncoderLayer, LayerShape, layer_norm};

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
            arithmetic: Arithmetic::Fastest,
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
        let tree = PromptTree::new(prompts, self.config.eos_token_id);
        let total = tree.ids.len();
        let mask = Tensor::from_vec(tree.mask(), (total, total), device)?;
        let PromptTree { ids, positions, pooled, .. } = tree;
        let ids = Tensor::from_vec(ids, total, device)?;
        let positions = Tensor::from_vec(positions, total, device)?;
        let hidden = (self.token_embedding.index_select(&ids, 0)?
            + self.position_embedding.index_select(&positions, 0)?)?
        .unsqueeze(0)?;
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

/// Where a prompt's feature is read, as Hugging Face does: configs from before
/// `eos_token_id` was fixed (the value 2) take the highest token id, the end token
/// of OpenAI's vocabulary; newer ones take the first end token.
fn pool_position(prompt: &[u32], eos_token_id: u32) -> usize {
    if eos_token_id == 2 {
        // First maximum, like torch.argmax.
        let max = prompt.iter().copied().max().unwrap_or(0);
        prompt.iter().position(|&id| id == max).unwrap_or(0)
    } else {
        prompt.iter().position(|&id| id == eos_token_id).unwrap_or(0)
    }
}

/// Prompts as one packed sequence of prefix-tree nodes: node `i` is a token
/// at depth `positions[i]`, reached from the start of one or more prompts
/// along the same tokens. Parents come before their children. Tokens after a
/// prompt's pooled one are left out: under a causal mask they cannot change it.
#[derive(Debug)]
struct PromptTree {
    ids: Vec<u32>,
    positions: Vec<u32>,
    parents: Vec<Option<usize>>,
    /// The node each prompt's feature is read from.
    pooled: Vec<u32>,
}

impl PromptTree {
    fn new(prompts: &[Vec<u32>], eos_token_id: u32) -> Self {
        let mut tree = Self { ids: Vec::new(), positions: Vec::new(), parents: Vec::new(), pooled: Vec::new() };
        let mut children: std::collections::HashMap<(Option<usize>, u32), usize> = std::collections::HashMap::new();
        for prompt in prompts {
            let mut parent = None;
            for (depth, &id) in prompt[..=pool_position(prompt, eos_token_id)].iter().enumerate() {
                let node = *children.entry((parent, id)).or_insert_with(|| {
                    tree.ids.push(id);
                    tree.positions.push(depth as u32);
                    tree.parents.push(parent);
                    tree.ids.len() - 1
                });
                parent = Some(node);
            }
            tree.pooled.push(parent.expect("a prompt has at least one token") as u32);
        }
        tree
    }

    /// Additive mask [nodes, nodes]: a node sees itself and its ancestors,
    /// which is each prompt's causal mask along its branch.
    fn mask(&self) -> Vec<f32> {
        let n = self.ids.len();
        let mut mask = vec![f32::NEG_INFINITY; n * n];
        for i in 0..n {
            let mut node = Some(i);
            while let Some(j) = node {
                mask[i * n + j] = 0.0;
                node = self.parents[j];
            }
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn pooling_follows_hugging_face_rules() {
        assert_eq!(pool_position(&[49406, 10, 49407], 2), 2);
        assert_eq!(pool_position(&[49406, 7, 8, 49407], 49407), 3);
        // A new-style config with a different end token pools at that token.
        assert_eq!(pool_position(&[5, 9, 3, 9], 9), 1);
    }

    #[test]
    fn shared_beginnings_are_one_branch_and_the_mask_follows_it() {
        // [S a b E], [S a c E] and a repeat of the first: S and a are shared,
        // the repeat adds nothing; the last prompt's tail after its end token
        // (legacy pooling reads the first maximum) is left out.
        let (s, e) = (49406, 49407);
        let prompts = vec![vec![s, 1, 2, e], vec![s, 1, 3, e], vec![s, 1, 2, e], vec![s, e, 4]];
        let tree = PromptTree::new(&prompts, 2);
        assert_eq!(tree.ids, vec![s, 1, 2, e, 3, e, e]);
        assert_eq!(tree.positions, vec![0, 1, 2, 3, 2, 3, 1]);
        assert_eq!(tree.parents, vec![None, Some(0), Some(1), Some(2), Some(1), Some(4), Some(0)]);
        assert_eq!(tree.pooled, vec![3, 5, 3, 6]);
        let mask = tree.mask();
        let seen = |i: usize| -> Vec<usize> { (0..7).filter(|&j| mask[i * 7 + j] == 0.0).collect() };
        assert_eq!(seen(0), vec![0]);
        assert_eq!(seen(3), vec![0, 1, 2, 3]);
        assert_eq!(seen(5), vec![0, 1, 4, 5]);
        assert_eq!(seen(6), vec![0, 6]);
        assert!(mask.iter().all(|&v| v == 0.0 || v == f32::NEG_INFINITY));
    }

    #[test]
    fn prompts_sharing_a_beginning_encode_as_they_do_alone() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-clip");
        let model = crate::model::ClipModel::load(&dir.join("config.json"), &dir.join("model.safetensors"), &Device::Cpu).unwrap();
        let eos = model.config().text_config.eos_token_id;
        let end = if eos == 2 { 49407 } else { eos };
        let prompts = vec![
            vec![49406, 320, 1000, 2000, end],
            vec![49406, 320, 1000, 3000, 17, end],
            vec![49406, 320, 1000, 2000, end],
            vec![49406, 5000, end],
        ];
        let together: Vec<Vec<f32>> = model.text_features(&prompts).unwrap().to_vec2().unwrap();
        for (m, prompt) in prompts.iter().enumerate() {
            let alone: Vec<Vec<f32>> = model.text_features(std::slice::from_ref(prompt)).unwrap().to_vec2().unwrap();
            let diff = together[m].iter().zip(&alone[0]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(diff < 1e-5, "prompt {m}: packed and alone differ by {diff}");
        }
        assert_eq!(together[0], together[2], "a repeated prompt reads the same node");
        assert_ne!(together[0], together[1]);
    }
}
