//! Differentiable fused ops for training on the CPU: quick GELU, layer norm
//! and softmax, each one pass forward and one backward (crates/sgemm), where the
//! primitive composition in forward.rs takes five to seven candle ops forward
//! and twice that backward, every one a pass over a batch's activations
//! ([3200, 3072] values for the MLP of a batch of 64). Other devices and
//! dtypes keep the composition, which is also the tests' reference.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};
use kneeclip_sgemm::{activation, rows};
use rayon::prelude::*;

use crate::model::cpu_layer::with_cpu_f32;

/// Whether the fused ops can take these tensors.
fn on_cpu_f32(tensors: &[&Tensor]) -> bool {
    tensors.iter().all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// `x · σ(1.702·x)`; `None` where the fused op does not apply.
pub fn quick_gelu(xs: &Tensor) -> Result<Option<Tensor>> {
    if !on_cpu_f32(&[xs]) {
        return Ok(None);
    }
    Ok(Some(xs.contiguous()?.apply_op1(QuickGelu)?))
}

/// Layer norm over the last axis (biased variance, like PyTorch); `None`
/// where the fused op does not apply.
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Option<Tensor>> {
    if !on_cpu_f32(&[xs, weight, bias]) {
        return Ok(None);
    }
    Ok(Some(xs.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, LayerNorm { eps: eps as f32 })?))
}

/// Softmax over the last axis; `None` where the fused op does not apply.
pub fn softmax_last_dim(xs: &Tensor) -> Result<Option<Tensor>> {
    if !on_cpu_f32(&[xs]) || xs.rank() == 0 {
        return Ok(None);
    }
    Ok(Some(xs.contiguous()?.apply_op1(Softmax)?))
}

/// Rows per task: a batch's attention scores are 38 400 rows of 50.
const SOFTMAX_ROWS: usize = 512;

/// The values of a contiguous f32 CPU storage.
fn values<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((start, end))) => Ok(&v[start..end]),
        _ => candle_core::bail!("{what}: needs a contiguous f32 tensor"),
    }
}

struct QuickGelu;

impl CustomOp1 for QuickGelu {
    fn name(&self) -> &'static str {
        "fused-quick-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let mut out = values(storage, layout, self.name())?.to_vec();
        activation::quick_gelu_in_place(&mut out);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &QuickGeluGrad)?))
    }
}

/// The gradient through quick GELU at `x` (first operand) given the output's (second).
struct QuickGeluGrad;

impl CustomOp2 for QuickGeluGrad {
    fn name(&self) -> &'static str {
        "fused-quick-gelu-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(s1, l1, self.name())?;
        let mut grad = values(s2, l2, self.name())?.to_vec();
        if grad.len() != x.len() {
            candle_core::bail!("{}: {} inputs, {} gradients", self.name(), x.len(), grad.len());
        }
        activation::quick_gelu_backward_in_place(x, &mut grad);
        Ok((CpuStorage::F32(grad), l1.shape().clone()))
    }
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "fused-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let width = layout.shape().dims().last().copied().unwrap_or(0);
        let mut out = values(storage, layout, self.name())?.to_vec();
        if width > 0 {
            out.par_chunks_mut(SOFTMAX_ROWS * width).for_each(|rows| activation::softmax_rows_in_place(rows, width));
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxGrad)?))
    }
}

/// The gradient through softmax given its output y (first operand) and the
/// output's gradient g (second): y ⊙ (g − Σ g ⊙ y) per row.
struct SoftmaxGrad;

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "fused-softmax-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let width = l1.shape().dims().last().copied().unwrap_or(0);
        let y = values(s1, l1, self.name())?;
        let mut grad = values(s2, l2, self.name())?.to_vec();
        if grad.len() != y.len() {
            candle_core::bail!("{}: {} outputs, {} gradients", self.name(), y.len(), grad.len());
        }
        if width > 0 {
            grad.par_chunks_mut(SOFTMAX_ROWS * width).zip(y.par_chunks(SOFTMAX_ROWS * width)).for_each(|(g, y)| {
                for (g, y) in g.chunks_exact_mut(width).zip(y.chunks_exact(width)) {
                    let dot: f32 = g.iter().zip(y).map(|(g, y)| g * y).sum();
                    g.iter_mut().zip(y).for_each(|(g, y)| *g = y * (*g - dot));
                }
            });
        }
        Ok((CpuStorage::F32(grad), l1.shape().clone()))
    }
}

struct LayerNorm {
    eps: f32,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let width = l1.shape().dims().last().copied().unwrap_or(0);
        let (x, weight, bias) = (values(s1, l1, self.name())?, values(s2, l2, self.name())?, values(s3, l3, self.name())?);
        if width == 0 || weight.len() != width || bias.len() != width {
            candle_core::bail!("{}: rows of {width} with {} weights and {} biases", self.name(), weight.len(), bias.len());
        }
        Ok((CpuStorage::F32(rows::layer_norm(x, width, weight, bias, self.eps)), l1.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, weight: &Tensor, bias: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let width = weight.elem_count();
        let grad = grad.contiguous()?;
        let grads = with_cpu_f32(x, |x| with_cpu_f32(weight, |w| with_cpu_f32(&grad, |g| rows::layer_norm_backward(x, width, w, g, self.eps))))
            .flatten()
            .flatten()
            .ok_or_else(|| candle_core::Error::Msg(format!("{}: needs contiguous f32 CPU tensors", self.name())))?;
        Ok((
            Some(Tensor::from_vec(grads.x, x.shape(), x.device())?),
            Some(Tensor::from_vec(grads.weight, weight.shape(), weight.device())?),
            Some(Tensor::from_vec(grads.bias, bias.shape(), bias.device())?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::training::forward::{layer_norm_composed, quick_gelu_composed};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// Values and gradients (of Σ c·f) of `fused` and `composed` agree for
    /// every input.
    fn same_values_and_gradients(vars: &[Var], fused: impl Fn(&[&Tensor]) -> Tensor, composed: impl Fn(&[&Tensor]) -> Tensor) {
        let inputs: Vec<&Tensor> = vars.iter().map(Var::as_tensor).collect();
        let (a, b) = (fused(&inputs), composed(&inputs));
        assert!(max_diff(&a, &b) < 1e-5, "values differ by {}", max_diff(&a, &b));
        let c = Tensor::randn(0f32, 1.0, a.shape(), a.device()).unwrap();
        let ga = (a * &c).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (b * &c).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, v) in vars.iter().enumerate() {
            let (x, y) = (ga.get(v.as_tensor()).unwrap(), gb.get(v.as_tensor()).unwrap());
            assert!(max_diff(x, y) < 1e-4, "gradient {i} differs by {}", max_diff(x, y));
        }
    }

    #[test]
    fn fused_layer_norm_equals_the_composed_one() {
        let d = Device::Cpu;
        let vars = [
            Var::randn(0.5f32, 2.0, (3, 40, 24), &d).unwrap(),
            Var::randn(1f32, 0.3, 24, &d).unwrap(),
            Var::randn(0f32, 0.3, 24, &d).unwrap(),
        ];
        same_values_and_gradients(
            &vars,
            |t| layer_norm(t[0], t[1], t[2], 1e-5).unwrap().expect("f32 CPU tensors take the fused op"),
            |t| layer_norm_composed(t[0], t[1], t[2], 1e-5).unwrap(),
        );
    }

    #[test]
    fn fused_quick_gelu_equals_the_composed_one() {
        let d = Device::Cpu;
        let vars = [Var::randn(0f32, 3.0, (2, 50, 70), &d).unwrap()];
        same_values_and_gradients(
            &vars,
            |t| quick_gelu(t[0]).unwrap().expect("f32 CPU tensors take the fused op"),
            |t| quick_gelu_composed(t[0]).unwrap(),
        );
    }

    #[test]
    fn fused_softmax_equals_candles() {
        let d = Device::Cpu;
        // More rows than one task takes, and a row width that is no multiple of 16.
        let vars = [Var::randn(0f32, 3.0, (3, 4, 50, 50), &d).unwrap()];
        same_values_and_gradients(
            &vars,
            |t| softmax_last_dim(t[0]).unwrap().expect("f32 CPU tensors take the fused op"),
            |t| candle_nn::ops::softmax(t[0], candle_core::D::Minus1).unwrap(),
        );
    }

    #[test]
    fn other_dtypes_take_the_composed_path() {
        let x = Tensor::zeros((2, 3), DType::F64, &Device::Cpu).unwrap();
        assert!(quick_gelu(&x).unwrap().is_none());
        assert!(softmax_last_dim(&x).unwrap().is_none());
        assert!(layer_norm(&x, &x.get(0).unwrap(), &x.get(0).unwrap(), 1e-5).unwrap().is_none());
    }
}
