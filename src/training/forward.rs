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

use candle_core::backprop::GradStore;
use candle_core::{D, DType, Result, Tensor, Var};

use crate::model::config::{Activation, VisionConfig};
use crate::model::linear::{linear_transposed, matmul_transposed};

use super::{cpu_blocks, fused};

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
    Ok(pass(params, c, tail, anchors, hidden, first)?.logits)
}

/// A batch through the trainable part: its logits, and what turns the
/// loss's gradients into every trainable tensor's ([`gradients`]).
pub struct Pass {
    pub logits: Tensor,
    /// On the CPU: the blocks ran on plain buffers (cpu_blocks.rs); the class
    /// token's output is the leaf `cls` of candle's graph, and the tapes
    /// (last block first) carry its gradient back through the blocks.
    blocks: Option<BlockTapes>,
}

struct BlockTapes {
    cls: Var,
    /// Each block's name prefix, parameters (in [`cpu_blocks::PARAM_NAMES`]'
    /// order; the trainable tensors themselves, read where they lie) and
    /// tape, last block first.
    tapes: Vec<(String, Vec<Tensor>, cpu_blocks::Tape)>,
}

/// [`logits`], keeping what the backward pass needs.
pub fn pass(params: &Params, c: &VisionConfig, tail: &FrozenTail, anchors: &Tensor, hidden: &Tensor, first: usize) -> Result<Pass> {
    pass_with(params, c, tail, anchors, hidden, first, true)
}

/// [`pass`], the blocks on plain buffers where `cpu_blocks` allows and the tensors are on the CPU.
fn pass_with(params: &Params, c: &VisionConfig, tail: &FrozenTail, anchors: &Tensor, hidden: &Tensor, first: usize, cpu_blocks: bool) -> Result<Pass> {
    kneeclip_sgemm::on_pool(|| {
        let on_buffers = if cpu_blocks { cpu_blocks_forward(params, c, hidden, first)? } else { None };
        let (cls, blocks) = match on_buffers {
            Some(blocks) => (blocks.cls.as_tensor().clone(), Some(blocks)),
            None => {
                let mut xs = hidden.clone();
                for i in first..c.num_hidden_layers {
                    let last = i + 1 == c.num_hidden_layers;
                    xs = block(params, &format!("vision_model.encoder.layers.{i}"), c, &xs, last)?;
                }
                (xs.narrow(1, 0, 1)?.squeeze(1)?, None)
            }
        };
        Ok(Pass { logits: head_logits(params, c, tail, anchors, &cls)?, blocks })
    })
}

/// The blocks `first..` on the CPU's plain buffers, or `None` where the
/// hidden state or a parameter is not f32 on the CPU (candle's ops then).
fn cpu_blocks_forward(params: &Params, c: &VisionConfig, hidden: &Tensor, first: usize) -> Result<Option<BlockTapes>> {
    let layers = first..c.num_hidden_layers;
    let prefixes: Vec<String> = layers.clone().map(|i| format!("vision_model.encoder.layers.{i}")).collect();
    let on_cpu = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous();
    let all_cpu = on_cpu(hidden)
        && prefixes.iter().all(|prefix| cpu_blocks::PARAM_NAMES.iter().all(|n| params.get(&format!("{prefix}.{n}")).is_some_and(|v| on_cpu(v.as_tensor()))));
    let heads = c.num_attention_heads;
    if !all_cpu || layers.is_empty() || c.hidden_act != Activation::QuickGelu || heads == 0 || hidden.dim(2)? % heads != 0 {
        return Ok(None);
    }
    let (batch, tokens, h) = hidden.dims3()?;
    let mut x = hidden.flatten_all()?.to_vec1::<f32>()?;
    let mut tapes = Vec::with_capacity(prefixes.len());
    for (i, prefix) in prefixes.iter().enumerate() {
        // The parameters are read where they lie (copying them out took
        // ≈ 4 ms a block every step), forward here and again backward.
        let tensors: Vec<Tensor> = cpu_blocks::PARAM_NAMES.iter().map(|n| Ok(p(params, &format!("{prefix}.{n}"))?.clone())).collect::<Result<_>>()?;
        let shape = cpu_blocks::BlockShape {
            batch,
            tokens,
            hidden: h,
            heads,
            inner: c.intermediate_size,
            eps: c.layer_norm_eps as f32,
            class_token_only: i + 1 == prefixes.len(),
        };
        let (out, tape) = with_block_params(&tensors, |params| cpu_blocks::forward(params, shape, x))?;
        x = out;
        tapes.push((prefix.clone(), tensors, tape));
    }
    tapes.reverse();
    let cls = Var::from_tensor(&Tensor::from_vec(x, (batch, h), hidden.device())?)?;
    Ok(Some(BlockTapes { cls, tapes }))
}

/// `f` on a block's parameters (`tensors` in [`cpu_blocks::PARAM_NAMES`]'
/// order, f32 on the CPU), read where they lie.
fn with_block_params<R>(tensors: &[Tensor], f: impl FnOnce(&cpu_blocks::BlockParams<'_>) -> R) -> Result<R> {
    let refs: Vec<&Tensor> = tensors.iter().collect();
    crate::model::cpu_layer::with_cpu_f32_all(&refs, |values| f(&block_params(values)))
        .ok_or_else(|| candle_core::Error::Msg("a trainable block's parameter is not a contiguous f32 CPU tensor".into()))
}

fn block_params<'a>(v: &[&'a [f32]]) -> cpu_blocks::BlockParams<'a> {
    cpu_blocks::BlockParams {
        ln1_weight: v[0],
        ln1_bias: v[1],
        q_weight: v[2],
        q_bias: v[3],
        k_weight: v[4],
        k_bias: v[5],
        v_weight: v[6],
        v_bias: v[7],
        out_weight: v[8],
        out_bias: v[9],
        ln2_weight: v[10],
        ln2_bias: v[11],
        fc1_weight: v[12],
        fc1_bias: v[13],
        fc2_weight: v[14],
        fc2_bias: v[15],
    }
}

/// Every trainable tensor's gradient, by name, from the loss's `grads`
/// (the loss built on the logits of `passes`, whose contributions add up).
/// A tensor the loss does not depend on has none.
pub fn gradients(passes: &[&Pass], params: &Params, grads: &GradStore) -> Result<HashMap<String, Tensor>> {
    let mut out: HashMap<String, Tensor> = params.iter().filter_map(|(n, v)| grads.get(v.as_tensor()).map(|g| (n.clone(), g.clone()))).collect();
    kneeclip_sgemm::on_pool(|| {
        for blocks in passes.iter().filter_map(|p| p.blocks.as_ref()) {
            let Some(d_cls) = grads.get(blocks.cls.as_tensor()) else { continue };
            let mut d_out = d_cls.flatten_all()?.to_vec1::<f32>()?;
            let count = blocks.tapes.len();
            for (i, (prefix, tensors, tape)) in blocks.tapes.iter().enumerate() {
                let (block_grads, d_input) = with_block_params(tensors, |params| cpu_blocks::backward(params, tape, &d_out, i + 1 < count))?;
                for (name, (g, tensor)) in cpu_blocks::PARAM_NAMES.iter().zip(block_grads.0.into_iter().zip(tensors)) {
                    let name = format!("{prefix}.{name}");
                    let g = Tensor::from_vec(g, tensor.shape(), d_cls.device())?;
                    let sum = match out.remove(&name) {
                        Some(previous) => (previous + g)?,
                        None => g,
                    };
                    out.insert(name, sum);
                }
                if let Some(d) = d_input {
                    d_out = d;
                }
            }
        }
        Ok(out)
    })
}

/// Post-layernorm, projection, adapter and scaled cosines from the class
/// token's output `cls` [batch, hidden].
fn head_logits(params: &Params, c: &VisionConfig, tail: &FrozenTail, anchors: &Tensor, cls: &Tensor) -> Result<Tensor> {
    let pooled = layer_norm(cls, &tail.post_ln_weight, &tail.post_ln_bias, c.layer_norm_eps)?;
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

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::model::ClipConfig;
    use crate::model::random::random_tensors;

    /// A small vision tower (128 wide, three blocks, the last two
    /// trainable), its trainable parameters with an adapter, the frozen
    /// tail and five anchors. With `norms_moved`, the trainable layer norms
    /// are moved away from 1 and 0, so that their gradients count.
    fn small_trainable(norms_moved: bool, first: usize) -> (VisionConfig, Params, FrozenTail, Tensor) {
        let dev = Device::Cpu;
        let mut config = ClipConfig::default();
        let v = &mut config.vision_config;
        (v.hidden_size, v.intermediate_size, v.num_hidden_layers, v.num_attention_heads, v.image_size, v.patch_size) = (128, 256, 3, 4, 64, 16);
        // The text tower is not used: one small layer, not CLIP's 63 M values to draw.
        (config.text_config.vocab_size, config.text_config.num_hidden_layers) = (100, 1);
        let c = config.vision_config.clone();
        let tensors = random_tensors(&config, &dev).unwrap();
        let mut params = Params::new();
        for (name, t) in &tensors {
            if (first..c.num_hidden_layers).any(|i| name.starts_with(&format!("vision_model.encoder.layers.{i}."))) {
                let t = if norms_moved && name.contains("layer_norm") { (t + Tensor::randn(0f32, 0.3, t.shape(), &dev).unwrap()).unwrap() } else { t.clone() };
                params.insert(name.clone(), Var::from_tensor(&t).unwrap());
            }
        }
        let dim = config.projection_dim;
        params.insert("adapter.down.weight".into(), Var::randn(0f32, 0.05, (16, dim), &dev).unwrap());
        params.insert("adapter.down.bias".into(), Var::randn(0f32, 0.05, 16, &dev).unwrap());
        params.insert("adapter.up.weight".into(), Var::randn(0f32, 0.05, (dim, 16), &dev).unwrap());
        params.insert("adapter.up.bias".into(), Var::zeros(dim, DType::F32, &dev).unwrap());
        params.insert("logit_scale".into(), Var::from_tensor(&Tensor::new(2.0f32, &dev).unwrap()).unwrap());
        let tail = FrozenTail {
            post_ln_weight: tensors["vision_model.post_layernorm.weight"].clone(),
            post_ln_bias: tensors["vision_model.post_layernorm.bias"].clone(),
            projection: tensors["visual_projection.weight"].clone(),
        };
        let anchors = Tensor::randn(0f32, 1.0, (5, dim), &dev).unwrap();
        (c, params, tail, anchors)
    }

    /// The blocks on plain buffers against candle's composition (and its
    /// autograd): logits and every trainable tensor's gradient, at a size
    /// where the products take the AMX tiles on CPUs that have them; with
    /// two trainable blocks, and with three (the middle one then carries
    /// its input's gradient back, its first norm made again from its input).
    #[test]
    fn blocks_on_buffers_match_candles_composition_forward_and_backward() {
        for first in [1, 0] {
            blocks_on_buffers_match_candles_composition(first);
        }
    }

    fn blocks_on_buffers_match_candles_composition(first: usize) {
        let dev = Device::Cpu;
        let (c, params, tail, anchors) = small_trainable(true, first);
        let hidden = Tensor::randn(0f32, 1.0, (3, c.tokens(), c.hidden_size), &dev).unwrap();
        let labels = [0, 3, 4];
        let run = |on_buffers: bool| {
            let pass = pass_with(&params, &c, &tail, &anchors, &hidden, first, on_buffers).unwrap();
            assert_eq!(pass.blocks.is_some(), on_buffers);
            let grads = cross_entropy(&pass.logits, &labels, None).unwrap().backward().unwrap();
            (pass.logits.clone(), gradients(&[&pass], &params, &grads).unwrap())
        };
        let ((logits, grads), (want_logits, want_grads)) = (run(true), run(false));
        let max_diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        let max_abs = |a: &Tensor| a.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(max_diff(&logits, &want_logits) <= 1e-4, "logits differ by {}", max_diff(&logits, &want_logits));
        assert_eq!(grads.len(), params.len(), "every trainable tensor has a gradient");
        // The logit scale's gradient, Σ (p − y)·logit / n, is a sum whose
        // terms cancel: its error scales with them, not with the sum (a
        // random draw once left 0.0135 of terms ≈ 10× larger, and the two
        // paths' ≈ 1e-5 logits then differed by 1.3e-4 of it).
        let onehot = Tensor::from_vec((0..15).map(|i| if labels[i / 5] == i % 5 { 1f32 } else { 0.0 }).collect::<Vec<_>>(), (3, 5), &dev).unwrap();
        let probs = candle_nn::ops::softmax(&want_logits, D::Minus1).unwrap();
        let scale_terms = ((probs - onehot).unwrap() * &want_logits).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() / 3.0;
        for (name, want) in &want_grads {
            let got = &grads[name];
            assert_eq!(got.dims(), want.dims(), "{name}");
            // The same products (bf16×3 where there are AMX tiles) summed in
            // another order: ≈ 1e-6 of the largest gradient seen.
            let scale = if name == "logit_scale" { scale_terms } else { max_abs(want) };
            let tol = 1e-4 * scale.max(1e-3);
            assert!(max_diff(got, want) <= tol, "{name}: gradients differ by {} (largest {}, tolerance {tol})", max_diff(got, want), max_abs(want));
        }
    }

    /// A training run gives the same head every time: the blocks' backward
    /// on plain buffers, threaded, returns the same gradients bit for bit
    /// however the threads share the work (every sum runs in an order of
    /// its own, never in the order rayon's splits happen to take).
    #[test]
    fn the_blocks_backward_gives_the_same_gradients_every_run() {
        let dev = Device::Cpu;
        let (c, params, tail, anchors) = small_trainable(false, 1);
        let hidden = Tensor::randn(0f32, 1.0, (16, c.tokens(), c.hidden_size), &dev).unwrap();
        let labels: Vec<usize> = (0..16).map(|i| i % 5).collect();
        let run = || {
            let pass = pass_with(&params, &c, &tail, &anchors, &hidden, 1, true).unwrap();
            let grads = cross_entropy(&pass.logits, &labels, None).unwrap().backward().unwrap();
            let mut by_name: Vec<(String, Vec<u32>)> = gradients(&[&pass], &params, &grads)
                .unwrap()
                .into_iter()
                .map(|(n, g)| (n, g.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()))
                .collect();
            by_name.sort();
            by_name
        };
        let first = run();
        assert_eq!(first.len(), params.len());
        for _ in 0..8 {
            assert!(run() == first, "a run's gradients differ from the first run's");
        }
    }
}
