//! The pre-norm transformer block shared by CLIP's vision and text towers.

use candle_core::{D, Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

pub use super::linear::Linear;

use super::config::Activation;

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

pub fn linear(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get((out_dim, in_dim), "weight")?;
    let bias = if bias { Some(vb.get(out_dim, "bias")?) } else { None };
    Ok(Linear::new(weight, bias))
}

/// Multi-head self-attention that can hand back its attention probabilities
/// (the viewer's heatmap is built from them).
#[derive(Clone, Debug)]
pub struct SelfAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    pub fn load(hidden: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            q_proj: linear(hidden, hidden, true, vb.pp("q_proj"))?,
            k_proj: linear(hidden, hidden, true, vb.pp("k_proj"))?,
            v_proj: linear(hidden, hidden, true, vb.pp("v_proj"))?,
            out_proj: linear(hidden, hidden, true, vb.pp("out_proj"))?,
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
        let (batch, tokens, hidden) = xs.dims3()?;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((batch, tokens, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let scale = (self.head_dim as f64).powf(-0.5);
        let q = split((self.q_proj.forward(xs)? * scale)?)?;
        let k = split(self.k_proj.forward(xs)?)?;
        let v = split(self.v_proj.forward(xs)?)?;
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, tokens, hidden))?;
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
    pub fn load(hidden: usize, inner: usize, activation: Activation, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(hidden, inner, true, vb.pp("fc1"))?,
            fc2: linear(inner, hidden, true, vb.pp("fc2"))?,
            activation,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = self.fc1.forward(xs)?;
        self.fc2.forward(&self.activation.apply(&xs)?)
    }
}

/// One CLIP encoder layer: x + attn(ln1(x)), then x + mlp(ln2(x)).
#[derive(Clone, Debug)]
pub struct EncoderLayer {
    self_attn: SelfAttention,
    layer_norm1: LayerNorm,
    mlp: Mlp,
    layer_norm2: LayerNorm,
}

/// Shape of an encoder layer, read from the tower's config.
#[derive(Clone, Copy, Debug)]
pub struct LayerShape {
    pub hidden: usize,
    pub inner: usize,
    pub heads: usize,
    pub activation: Activation,
    pub eps: f64,
}

impl EncoderLayer {
    pub fn load(shape: LayerShape, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            self_attn: SelfAttention::load(shape.hidden, shape.heads, vb.pp("self_attn"))?,
            layer_norm1: layer_norm(shape.hidden, shape.eps, vb.pp("layer_norm1"))?,
            mlp: Mlp::load(shape.hidden, shape.inner, shape.activation, vb.pp("mlp"))?,
            layer_norm2: layer_norm(shape.hidden, shape.eps, vb.pp("layer_norm2"))?,
        })
    }

    pub fn forward(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
        keep_probs: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (attn, probs) = self
            .self_attn
            .forward(&self.layer_norm1.forward(xs)?, mask, keep_probs)?;
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
