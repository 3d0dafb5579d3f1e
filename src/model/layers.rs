//! The pre-norm transformer block shared by CLIP's vision and text towers.

use candle_core::{D, Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

pub use super::linear::{Arithmetic, Linear};

use super::config::Activation;
use super::cpu_layer::{BlockParts, CpuLayer};

impl Activation {
    pub fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
            Activation::Gelu => xs.gelu_erf(),
            Activation::GeluNew => xs.gelu(),
            Activation::Relu => xs.relu(),
            Activation::Silu => xs.silu(),
        }
    }
}

pub fn layer_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    let weight = vb.get(size, "weight")?;
    let bias = vb.get(size, "bias")?;
    Ok(LayerNorm::new(weight, bias, eps))
}

pub fn linear(in_dim: usize, out_dim: usize, bias: bool, arithmetic: Arithmetic, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get((out_dim, in_dim), "weight")?;
    let bias = if bias { Some(vb.get(out_dim, "bias")?) } else { None };
    Ok(Linear::with_arithmetic(weight, bias, arithmetic))
}

/// Multi-head self-attention that can hand back its attention probabilities
/// (the viewer's heatmap is built from them).
#[derive(Clone, Debug)]
pub struct SelfAttention {
    /// q_proj, k_proj and v_proj stacked: one product instead of three.
    qkv_proj: Linear,
    out_proj: Linear,
    heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    pub fn load(hidden: usize, heads: usize, arithmetic: Arithmetic, vb: VarBuilder) -> Result<Self> {
        let part = |name: &str| -> Result<(Tensor, Option<Tensor>)> {
            let vb = vb.pp(name);
            Ok((vb.get((hidden, hidden), "weight")?, Some(vb.get(hidden, "bias")?)))
        };
        // The attention scale 1/√d is folded into q's weight and bias, saving
        // a pass over q on every call (for d = 64 it is 1/8, so exact).
        let scale = ((hidden / heads) as f64).powf(-0.5);
        let (wq, bq) = part("q_proj")?;
        let q = ((wq * scale)?, bq.map(|b| b * scale).transpose()?);
        Ok(Self {
            qkv_proj: Linear::concat(&[q, part("k_proj")?, part("v_proj")?], arithmetic)?,
            out_proj: linear(hidden, hidden, true, arithmetic, vb.pp("out_proj"))?,
            heads,
            head_dim: hidden / heads,
        })
    }

    /// `xs`: [batch, tokens, hidden]; `mask`: additive, broadcastable to
    /// [batch, heads, tokens, tokens]. Returns the output and, when asked, the
    /// attention probabilities [batch, heads, tokens, tokens].
    pub fn forward(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
        keep_probs: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        self.forward_rows(xs, mask, None, keep_probs)
    }

    /// As [`forward`](Self::forward), but only the token rows in `rows` ask
    /// (every token is still attended to); the output is [batch, rows, hidden].
    pub fn forward_rows(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
        rows: Option<&Tensor>,
        keep_probs: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (batch, tokens, hidden) = xs.dims3()?;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((batch, tokens, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let qkv = self.qkv_proj.forward(xs)?; // q already scaled by 1/√d
        let mut q = split(qkv.narrow(2, 0, hidden)?)?;
        let k = split(qkv.narrow(2, hidden, hidden)?)?;
        let v = split(qkv.narrow(2, 2 * hidden, hidden)?)?;
        let mut mask = mask.cloned();
        if let Some(rows) = rows {
            q = q.index_select(rows, 2)?;
            if let Some(m) = &mask {
                // The mask's query dimension is the second to last.
                let query_dim = m.rank() - 2;
                mask = Some(if m.dim(query_dim)? == 1 { m.clone() } else { m.index_select(rows, query_dim)? });
            }
        }
        let queries = q.dim(2)?;
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(mask) = &mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, queries, hidden))?;
        let out = self.out_proj.forward(&out)?;
        Ok((out, keep_probs.then_some(probs)))
    }
}

#[derive(Clone, Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
    activation: Activation,
}

impl Mlp {
    pub fn load(hidden: usize, inner: usize, activation: Activation, arithmetic: Arithmetic, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(hidden, inner, true, arithmetic, vb.pp("fc1"))?,
            fc2: linear(inner, hidden, true, arithmetic, vb.pp("fc2"))?,
            activation,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        // On the CPU in f32 the layer runs in model/cpu_layer.rs instead.
        let hidden = self.activation.apply(&self.fc1.forward(xs)?)?;
        self.fc2.forward(&hidden)
    }
}

/// One CLIP encoder layer: x + attn(ln1(x)), then x + mlp(ln2(x)).
#[derive(Clone, Debug)]
pub struct EncoderLayer {
    self_attn: SelfAttention,
    layer_norm1: LayerNorm,
    mlp: Mlp,
    layer_norm2: LayerNorm,
    /// The same layer on plain buffers (model/cpu_layer.rs): f32 weights on
    /// the CPU with quick GELU, which is CLIP's activation.
    cpu: Option<CpuLayer>,
}

/// Shape of an encoder layer, read from the tower's config.
#[derive(Clone, Copy, Debug)]
pub struct LayerShape {
    pub hidden: usize,
    pub inner: usize,
    pub heads: usize,
    pub activation: Activation,
    pub eps: f64,
    /// The products of the layer's linear maps on the CPU.
    pub arithmetic: Arithmetic,
}

impl EncoderLayer {
    pub fn load(shape: LayerShape, vb: VarBuilder) -> Result<Self> {
        let self_attn = SelfAttention::load(shape.hidden, shape.heads, shape.arithmetic, vb.pp("self_attn"))?;
        let layer_norm1 = layer_norm(shape.hidden, shape.eps, vb.pp("layer_norm1"))?;
        let mlp = Mlp::load(shape.hidden, shape.inner, shape.activation, shape.arithmetic, vb.pp("mlp"))?;
        let layer_norm2 = layer_norm(shape.hidden, shape.eps, vb.pp("layer_norm2"))?;
        let cpu = matches!(shape.activation, Activation::QuickGelu)
            .then(|| {
                CpuLayer::new(BlockParts {
                    norm1: &layer_norm1,
                    qkv: &self_attn.qkv_proj,
                    out_proj: &self_attn.out_proj,
                    norm2: &layer_norm2,
                    fc1: &mlp.fc1,
                    fc2: &mlp.fc2,
                    heads: shape.heads,
                })
            })
            .flatten();
        Ok(Self { self_attn, layer_norm1, mlp, layer_norm2, cpu })
    }

    pub fn forward(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
        keep_probs: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        self.forward_rows(xs, mask, None, keep_probs)
    }

    /// The block's output for the token rows in `rows` only ([batch, rows,
    /// hidden]), equal to those rows of [`forward`](Self::forward). The last
    /// block needs no more when only the class token (image) or the end
    /// tokens (text) are read: its MLP and output projection then run on a
    /// few rows instead of every token.
    pub fn forward_rows(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
        rows: Option<&Tensor>,
        keep_probs: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        if let Some(cpu) = &self.cpu
            && let Some(result) = cpu.forward(xs, mask, rows, keep_probs)?
        {
            return Ok(result);
        }
        self.forward_rows_composed(xs, mask, rows, keep_probs)
    }

    /// [`forward_rows`](Self::forward_rows) composed from candle's ops: any device or dtype.
    fn forward_rows_composed(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
        rows: Option<&Tensor>,
        keep_probs: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (attn, probs) = self
            .self_attn
            .forward_rows(&self.layer_norm1.forward(xs)?, mask, rows, keep_probs)?;
        let xs = match rows {
            Some(rows) => xs.index_select(rows, 1)?,
            None => xs.clone(),
        };
        let xs = (xs + attn)?;
        let xs = (&xs + self.mlp.forward(&self.layer_norm2.forward(&xs)?)?)?;
        Ok((xs, probs))
    }
}

/// L2-normalises the rows of a [n, d] tensor.
pub fn l2_normalize(xs: &Tensor) -> Result<Tensor> {
    let norm = xs.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    xs.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// A layer of CLIP's shape at a small width, random weights.
    fn random_layer(hidden: usize, heads: usize) -> EncoderLayer {
        let d = Device::Cpu;
        let mut tensors = std::collections::HashMap::new();
        let mut put = |name: &str, shape: &[usize], scale: f32| {
            tensors.insert(name.to_string(), (Tensor::randn(0f32, 1.0, shape, &d).unwrap() * scale as f64).unwrap());
        };
        for p in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            put(&format!("self_attn.{p}.weight"), &[hidden, hidden], 0.3);
            put(&format!("self_attn.{p}.bias"), &[hidden], 0.1);
        }
        for n in ["layer_norm1", "layer_norm2"] {
            put(&format!("{n}.weight"), &[hidden], 1.0);
            put(&format!("{n}.bias"), &[hidden], 0.1);
        }
        put("mlp.fc1.weight", &[4 * hidden, hidden], 0.3);
        put("mlp.fc1.bias", &[4 * hidden], 0.1);
        put("mlp.fc2.weight", &[hidden, 4 * hidden], 0.2);
        put("mlp.fc2.bias", &[hidden], 0.1);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &d);
        let shape = LayerShape { hidden, inner: 4 * hidden, heads, activation: Activation::QuickGelu, eps: 1e-5, arithmetic: Arithmetic::F32 };
        let layer = EncoderLayer::load(shape, vb).unwrap();
        assert!(layer.cpu.is_some(), "f32 CPU weights take the plain-buffer path");
        layer
    }

    #[test]
    fn the_cpu_path_equals_the_composed_layer() {
        let d = Device::Cpu;
        let layer = random_layer(32, 4);
        let xs = Tensor::randn(0f32, 1.0, (3, 10, 32), &d).unwrap();
        // Every token, with the attention probabilities (the viewer's heatmap).
        let (fast, fast_probs) = layer.forward_rows(&xs, None, None, true).unwrap();
        let (slow, slow_probs) = layer.forward_rows_composed(&xs, None, None, true).unwrap();
        assert_eq!(fast.dims(), slow.dims());
        assert!(max_diff(&fast, &slow) < 1e-4, "{}", max_diff(&fast, &slow));
        assert!(max_diff(&fast_probs.unwrap(), &slow_probs.unwrap()) < 1e-5);
        // Chosen rows under a causal mask (the text tower's last layer).
        let mask: Vec<f32> = (0..100).map(|i| if i % 10 > i / 10 { f32::NEG_INFINITY } else { 0.0 }).collect();
        let mask = Tensor::from_vec(mask, (10, 10), &d).unwrap();
        let rows = Tensor::new(&[9u32, 0, 4], &d).unwrap();
        let (fast, _) = layer.forward_rows(&xs, Some(&mask), Some(&rows), false).unwrap();
        let (slow, _) = layer.forward_rows_composed(&xs, Some(&mask), Some(&rows), false).unwrap();
        assert_eq!(fast.dims(), &[3, 3, 32]);
        assert!(max_diff(&fast, &slow) < 1e-4, "{}", max_diff(&fast, &slow));
    }

    #[test]
    fn inputs_the_cpu_path_cannot_take_go_the_composed_way() {
        let d = Device::Cpu;
        let layer = random_layer(16, 2);
        // A non-contiguous input and a mask broadcast over heads.
        let xs = Tensor::randn(0f32, 1.0, (5, 2, 16), &d).unwrap().transpose(0, 1).unwrap();
        let mask = Tensor::zeros((1, 1, 5, 5), DType::F32, &d).unwrap();
        let (got, _) = layer.forward_rows(&xs, Some(&mask), None, false).unwrap();
        let (want, _) = layer.forward_rows_composed(&xs.contiguous().unwrap(), None, None, false).unwrap();
        assert!(max_diff(&got, &want) < 1e-4);
    }
}
