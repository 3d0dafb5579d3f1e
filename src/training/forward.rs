//! The differentiable part of the model: the last two vision blocks, the
//! pooled post-layernorm, the projection, the adapter and the logit scale,
//! written with candle ops that have a backward pass (candle's fused layer
//! norm and `softmax_last_dim` have none); on the CPU, layer norm, quick
//! GELU and softmax are this crate's fused differentiable ops (fused.rs). The inference
//! path in `model::layers` is untouched.
//!
//! Parameters are looked up by their head-file names
//! (`vision_model.encoder.layers.{i}.…`, `adapter.{down,up}.{weight,bias}`,
//! `logit_scale`).

use std::collections::HashMap;

use candle_core::{D, Result, Tensor, Var};

use crate::model::config::{Activation, VisionConfig};
use crate::model::linear::{linear_transposed, matmul_transposed};

use super::fused;

/// Trainable tensors by head-file name.
pub type Params = HashMap<String, Var>;

/// Frozen tensors the trainable part needs after the blocks.
#[derive(Clone, Debug)]
pub struct FrozenTail {
    pub post_ln_weight: Tensor,
    pub post_ln_bias: Tensor,
    /// `visual_projection.weight` [projection, hidden].
    pub projection: Tensor,
}

fn p<'a>(params: &'a Params, name: &str) -> Result<&'a Tensor> {
    params
        .get(name)
        .map(|v| v.as_tensor())
        .ok_or_else(|| candle_core::Error::Msg(format!("missing trainable tensor {name}")))
}

/// Layer norm over the last axis (biased variance, like PyTorch): fused on
/// the CPU (training/fused.rs), else from primitive ops.
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    match fused::layer_norm(xs, weight, bias, eps)? {
        Some(y) => Ok(y),
        None => layer_norm_composed(xs, weight, bias, eps),
    }
}

/// [`layer_norm`] from primitive ops: any device.
pub fn layer_norm_composed(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = xs.mean_keepdim(D::Minus1)?;
    let xc = xs.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(weight)?.broadcast_add(bias)
}

/// `x W^T + b` for x of any rank, through the CPU kernel forward and backward.
fn linear(xs: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let dims = xs.dims().to_vec();
    let (&k, lead) = dims.split_last().ok_or_else(|| candle_core::Error::Msg("linear: scalar input".into()))?;
    let x2 = xs.reshape((lead.iter().product::<usize>(), k))?;
    let y = match b {
        Some(b) => linear_transposed(&x2, w, b)?,
        None => matmul_transposed(&x2, w)?,
    };
    let mut out = lead.to_vec();
    out.push(w.dim(0)?);
    y.reshape(out)
}

fn activation(a: Activation, xs: &Tensor) -> Result<Tensor> {
    match a {
        Activation::QuickGelu => match fused::quick_gelu(xs)? {
            Some(y) => Ok(y),
            None => quick_gelu_composed(xs),
        },
        Activation::Relu => xs.relu(),
        Activation::Gelu => xs.gelu_erf(),
        Activation::GeluNew => xs.gelu(),
        Activation::Silu => xs * ((xs.neg()?.exp()? + 1.0)?.recip()?),
    }
}

/// x·σ(1.702x) with σ(z) = 1/(1+e^{-z}) in primitive ops: any device.
pub fn quick_gelu_composed(xs: &Tensor) -> Result<Tensor> {
    xs * ((xs * -1.702)?.exp()? + 1.0)?.recip()?
}

/// One encoder block (pre-norm), differentiable with respect to `params`.
/// With `class_token_only` the output is the class token's row alone
/// ([batch, 1, hidden]): all the last block needs to produce, at a fraction
/// of the work forward and backward.
pub fn block(params: &Params, prefix: &str, c: &VisionConfig, xs: &Tensor, class_token_only: bool) -> Result<Tensor> {
    let g = |n: &str| p(params, &format!("{prefix}.{n}"));
    let (b, t, h) = xs.dims3()?;
    let heads = c.num_attention_heads;
    let hd = h / heads;
    let x = layer_norm(xs, g("layer_norm1.weight")?, g("layer_norm1.bias")?, c.layer_norm_eps)?;
    let split = |y: Tensor| -> Result<Tensor> { y.reshape((b, t, heads, hd))?.transpose(1, 2)?.contiguous() };
    let (x_q, rows) = if class_token_only { (x.narrow(1, 0, 1)?, 1) } else { (x.clone(), t) };
    let split_rows = |y: Tensor| -> Result<Tensor> { y.reshape((b, rows, heads, hd))?.transpose(1, 2)?.contiguous() };
    let q = split_rows((linear(&x_q, g("self_attn.q_proj.weight")?, Some(g("self_attn.q_proj.bias")?))? * (hd as f64).powf(-0.5))?)?;
    let k = split(linear(&x, g("self_attn.k_proj.weight")?, Some(g("self_attn.k_proj.bias")?))?)?;
    let v = split(linear(&x, g("self_attn.v_proj.weight")?, Some(g("self_attn.v_proj.bias")?))?)?;
    let scores = q.matmul(&k.t()?.contiguous()?)?;
    let probs = match fused::softmax_last_dim(&scores)? {
        Some(probs) => probs,
        None => candle_nn::ops::softmax(&scores, D::Minus1)?,
    };
    let attn = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, rows, h))?;
    let attn = linear(&attn, g("self_attn.out_proj.weight")?, Some(g("self_attn.out_proj.bias")?))?;
    let xs = if class_token_only { xs.narrow(1, 0, 1)? } else { xs.clone() };
    let xs = (xs + attn)?;
    let x = layer_norm(&xs, g("layer_norm2.weight")?, g("layer_norm2.bias")?, c.layer_norm_eps)?;
    let m = linear(&x, g("mlp.fc1.weight")?, Some(g("mlp.fc1.bias")?))?;
    let m = linear(&activation(c.hidden_act, &m)?, g("mlp.fc2.weight")?, Some(g("mlp.fc2.bias")?))?;
    xs + m
}

/// Logits [batch, 5] = exp(logit_scale) · cos(L(f), anchors), from the hidden
/// state entering block `first` (the output of the frozen blocks).
pub fn logits(
    params: &Params,
    c: &VisionConfig,
    tail: &FrozenTail,
    anchors: &Tensor,
    hidden: &Tensor,
    first: usize,
) -> Result<Tensor> {
    kneeclip_sgemm::on_pool(|| logits_on_this_thread(params, c, tail, anchors, hidden, first))
}

fn logits_on_this_thread(params: &Params, c: &VisionConfig, tail: &FrozenTail, anchors: &Tensor, hidden: &Tensor, first: usize) -> Result<Tensor> {
    let mut xs = hidden.clone();
    for i in first..c.num_hidden_layers {
        let last = i + 1 == c.num_hidden_layers;
        xs = block(params, &format!("vision_model.encoder.layers.{i}"), c, &xs, last)?;
    }
    let cls = xs.narrow(1, 0, 1)?.squeeze(1)?;
    let pooled = layer_norm(&cls, &tail.post_ln_weight, &tail.post_ln_bias, c.layer_norm_eps)?;
    let f = linear(&pooled, &tail.projection, None)?;
    let down = linear(&f, p(params, "adapter.down.weight")?, Some(p(params, "adapter.down.bias")?))?.relu()?;
    let z = (&f + linear(&down, p(params, "adapter.up.weight")?, Some(p(params, "adapter.up.bias")?))?)?;
    let zn = z.broadcast_div(&z.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)?;
    let cos = zn.matmul(&anchors.t()?)?;
    cos.broadcast_mul(&p(params, "logit_scale")?.exp()?)
}

/// Mean (optionally class-weighted: Σ w_y·ℓ / Σ w_y, like PyTorch) cross-entropy.
pub fn cross_entropy(logits: &Tensor, labels: &[usize], class_weights: Option<&[f32]>) -> Result<Tensor> {
    let (n, k) = logits.dims2()?;
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let logp = shifted.broadcast_sub(&shifted.exp()?.sum_keepdim(D::Minus1)?.log()?)?;
    let mut onehot = vec![0f32; n * k];
    let mut total = 0f32;
    for (i, &y) in labels.iter().enumerate() {
        let w = class_weights.map_or(1.0, |w| w[y]);
        onehot[i * k + y] = w;
        total += w;
    }
    let onehot = Tensor::from_vec(onehot, (n, k), logits.device())?;
    ((logp * onehot)?.sum_all()? * (-1.0 / total as f64))?.to_dtype(logits.dtype())
}
