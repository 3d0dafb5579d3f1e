//! The pre-norm transformer block shared by CLIP's vision and text towers.

use candle_core::{CpuStorage, D, DType, InplaceOp1, Layout, Module, Result, Tensor};
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

    /// As [`apply`](Self::apply), but may overwrite `xs` with the result:
    /// for an activation nothing else reads, as the MLP's hidden layer. Quick
    /// GELU on the CPU then takes one vectorised pass (crates/sgemm).
    pub fn apply_in_place(self, xs: Tensor) -> Result<Tensor> {
        if matches!(self, Activation::QuickGelu) && xs.device().is_cpu() && xs.dtype() == DType::F32 && xs.is_contiguous() {
            xs.inplace_op1(&QuickGeluInPlace)?;
            return Ok(xs);
        }
        self.apply(&xs)
    }
}

/// `x · σ(1.702·x)` overwriting a contiguous f32 CPU tensor.
struct QuickGeluInPlace;

impl InplaceOp1 for QuickGeluInPlace {
    fn name(&self) -> &'static str {
        "quick-gelu-in-place"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("quick gelu in place: needs a contiguous f32 tensor");
        };
        kneeclip_sgemm::activation::quick_gelu_in_place(&mut values[start..end]);
        Ok(())
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
    /// q_proj, k_proj and v_proj stacked: one product instead of three.
    qkv_proj: Linear,
    out_proj: Linear,
    heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    pub fn load(hidden: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
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
            qkv_proj: Linear::concat(&[q, part("k_proj")?, part("v_proj")?])?,
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
    pub fn load(hidden: usize, inner: usize, activation: Activation, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(hidden, inner, true, vb.pp("fc1"))?,
            fc2: linear(inner, hidden, true, vb.pp("fc2"))?,
            activation,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        // fc1's output is this function's alone, so the activation may overwrite it.
        let hidden = self.activation.apply_in_place(self.fc1.forward(xs)?)?;
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
