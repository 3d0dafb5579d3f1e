//! The linear layer every transformer block is made of, `y = x Wᵀ + b`.
//!
//! Matrix multiplication is where inference spends its time (see
//! docs/PERFORMANCE.md). On the CPU, f32 weights are packed once, when the
//! model loads, for the `kneeclip-sgemm` kernel (crates/sgemm), and the
//! `[out, in]` tensor is dropped so the model is held in memory once. Other
//! devices and dtypes (CUDA, f16) keep the tensor and use candle's matmul.
//!
//! [`matmul_transposed`] and [`linear_transposed`] are the differentiable
//! products the trainer uses: the same kernel forward and backward, with the
//! weight packed per call because it changes every step, for the fastest
//! arithmetic the CPU has (bf16×3 on AMX tiles where there are some and the
//! product is at least 128 deep and wide, as for both towers' weights).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, Module, Result, Shape, Tensor};
use kneeclip_sgemm::{MatRef, PackedB};

/// How a CPU f32 weight is multiplied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arithmetic {
    /// f32 products.
    F32,
    /// The fastest products this CPU has: bf16×3 on AMX tiles where there
    /// are some (three bf16 products of split operands, ≈ 2⁻¹⁶ relative per
    /// term; crates/sgemm/src/amx.rs), else f32. Both towers take it: the
    /// vision tower's hidden states stay within 4.3e-5 of Hugging Face's and
    /// the text embeddings within 4.7e-5 (tests/parity.rs, full size;
    /// probabilities within 1.3e-6), and five anchors take half the time.
    Fastest,
}

#[derive(Clone, Debug)]
pub struct Linear {
    weight: Weight,
    bias: Option<Tensor>,
    out_features: usize,
    in_features: usize,
}

#[derive(Clone, Debug)]
enum Weight {
    /// CPU f32: Wᵀ packed for the kernel; the bias kept as plain values too,
    /// so it initialises the output instead of costing a second pass.
    Packed { packed: Arc<PackedB>, bias: Option<Arc<[f32]>> },
    /// Any other device or dtype: `[out, in]` as PyTorch stores it.
    Tensor(Tensor),
}

impl Linear {
    /// `weight` is `[out, in]`, `bias` `[out]`; f32 products.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self::with_arithmetic(weight, bias, Arithmetic::F32)
    }

    /// As [`new`](Self::new), with the products `arithmetic` says.
    pub fn with_arithmetic(weight: Tensor, bias: Option<Tensor>, arithmetic: Arithmetic) -> Self {
        Self::try_new(weight.clone(), bias.clone(), arithmetic).unwrap_or_else(|_| {
            // A weight that cannot be read back (an error of the device) keeps
            // the plain path; the first forward reports the device's error.
            let (out_features, in_features) = weight.dims2().unwrap_or((0, 0));
            Self { weight: Weight::Tensor(weight), bias, out_features, in_features }
        })
    }

    fn try_new(weight: Tensor, bias: Option<Tensor>, arithmetic: Arithmetic) -> Result<Self> {
        let (out_features, in_features) = weight.dims2()?;
        let cpu_f32 = weight.device().is_cpu() && weight.dtype() == DType::F32;
        let bias_ok = bias.as_ref().is_none_or(|b| b.device().is_cpu() && b.dtype() == DType::F32);
        let weight = if cpu_f32 && bias_ok {
            let values = weight.flatten_all()?.to_vec1::<f32>()?;
            let packed = Arc::new(match arithmetic {
                Arithmetic::F32 => PackedB::from_transposed(&values, out_features, in_features),
                Arithmetic::Fastest => PackedB::weights_from_transposed(&values, out_features, in_features),
            });
            let bias = match &bias {
                Some(b) => Some(Arc::from(b.flatten_all()?.to_vec1::<f32>()?)),
                None => None,
            };
            Weight::Packed { packed, bias }
        } else {
            Weight::Tensor(weight)
        };
        Ok(Self { weight, bias, out_features, in_features })
    }

    /// Stacks layers that read the same input (`[q; k; v]`) into one, so one
    /// product replaces several; the output columns follow the given order.
    pub fn concat(parts: &[(Tensor, Option<Tensor>)], arithmetic: Arithmetic) -> Result<Self> {
        let weights: Vec<&Tensor> = parts.iter().map(|(w, _)| w).collect();
        let weight = Tensor::cat(&weights, 0)?;
        let bias = if parts.iter().all(|(_, b)| b.is_some()) {
            let biases: Vec<&Tensor> = parts.iter().filter_map(|(_, b)| b.as_ref()).collect();
            Some(Tensor::cat(&biases, 0)?)
        } else if parts.iter().all(|(_, b)| b.is_none()) {
            None
        } else {
            candle_core::bail!("linear: cannot stack layers with and without bias")
        };
        Ok(Self::with_arithmetic(weight, bias, arithmetic))
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    pub fn device(&self) -> Device {
        match &self.weight {
            Weight::Packed { .. } => Device::Cpu,
            Weight::Tensor(w) => w.device().clone(),
        }
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The packed weight and plain bias, for code that runs the kernel on
    /// its own buffers (model/cpu_layer.rs); `None` off the CPU or for f16.
    pub fn packed(&self) -> Option<(&Arc<PackedB>, Option<&Arc<[f32]>>)> {
        match &self.weight {
            Weight::Packed { packed, bias } => Some((packed, bias.as_ref())),
            Weight::Tensor(_) => None,
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (&k, lead) = dims.split_last().ok_or_else(|| candle_core::Error::Msg("linear: scalar input".into()))?;
        if k != self.in_features {
            candle_core::bail!("linear: input has {k} features, the layer takes {}", self.in_features);
        }
        let rows: usize = lead.iter().product();
        let x2 = x.reshape((rows, k))?;
        let y = match &self.weight {
            Weight::Packed { packed, bias } if x.device().is_cpu() && x.dtype() == DType::F32 => {
                x2.apply_op1_no_bwd(&PackedProduct { packed, bias: bias.as_deref() })?
            }
            Weight::Packed { packed, .. } => {
                // An input on another device than the weights: unpack once
                // (never happens in the product; keeps the layer total).
                let w = Tensor::from_vec(packed.to_transposed(), (self.out_features, k), &Device::Cpu)?;
                add_bias(x2.matmul(&w.to_device(x.device())?.to_dtype(x.dtype())?.t()?)?, self.bias.as_ref())?
            }
            Weight::Tensor(w) => add_bias(x2.matmul(&w.t()?)?, self.bias.as_ref())?,
        };
        let mut out_dims = lead.to_vec();
        out_dims.push(self.out_features);
        y.reshape(out_dims)
    }
}

fn add_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// `x · Wᵀ + b` with a pre-packed W.
struct PackedProduct<'a> {
    packed: &'a PackedB,
    bias: Option<&'a [f32]>,
}

impl CustomOp1 for PackedProduct<'_> {
    fn name(&self) -> &'static str {
        "sgemm-packed-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let a = mat_ref(storage, layout)?;
        let y = kneeclip_sgemm::matmul(a, self.packed, self.bias);
        Ok((CpuStorage::F32(y), Shape::from((a.rows(), self.packed.n()))))
    }
}

/// A 2-D f32 operand as a strided view of its storage, without copying.
fn mat_ref<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<MatRef<'a>> {
    let (rows, cols) = layout.shape().dims2()?;
    let data = &storage.as_slice::<f32>()?[layout.start_offset()..];
    let stride = layout.stride();
    Ok(MatRef::strided(data, rows, cols, stride[0], stride[1]))
}

/// `a` [m, k] times `w` [n, k] transposed → [m, n], differentiable in both.
pub fn matmul_transposed(a: &Tensor, w: &Tensor) -> Result<Tensor> {
    if a.device().is_cpu() && a.dtype() == DType::F32 && w.dtype() == DType::F32 {
        return a.apply_op2(w, ProductNt);
    }
    a.matmul(&w.t()?)
}

/// `a` [m, k] times `w` [n, k] transposed, plus `b` [n] on every row →
/// [m, n], differentiable in all three. On the CPU the bias is the product's
/// initial value and its gradient the threaded column sums of the output's,
/// where a broadcast add took a pass of its own forward and a
/// single-threaded reduction (into a zeroed gradient) backward.
pub fn linear_transposed(a: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.device().is_cpu() && [a, w, b].iter().all(|t| t.dtype() == DType::F32) {
        return a.apply_op3(w, b, ProductNtBias);
    }
    matmul_transposed(a, w)?.broadcast_add(b)
}

/// Column sums of a 2-D f32 tensor ([m, n] → [n]): on the CPU
/// `kneeclip_sgemm::rows::column_sums` (threaded by columns, the same result
/// whatever the threads).
pub fn column_sums(g: &Tensor) -> Result<Tensor> {
    let (_, n) = g.dims2()?;
    if n == 0 {
        return Tensor::zeros(0, g.dtype(), g.device());
    }
    let g = g.contiguous()?;
    let sums = crate::model::cpu_layer::with_cpu_f32(&g, |values| kneeclip_sgemm::rows::column_sums(MatRef::row_major(values, values.len() / n, n)));
    match sums {
        Some(sums) => Tensor::from_vec(sums, n, g.device()),
        None => g.sum(0),
    }
}

/// C = A Bᵀ + bias for A [m, k], B [n, k] (any strides) and a bias [n].
struct ProductNtBias;

impl CustomOp3 for ProductNtBias {
    fn name(&self) -> &'static str {
        "sgemm-nt-bias"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, w) = (mat_ref(s1, l1)?, mat_ref(s2, l2)?);
        if a.cols() != w.cols() {
            candle_core::bail!("sgemm: inner sizes differ ({} and {})", a.cols(), w.cols());
        }
        let bias = match (l3.shape().dims1(), l3.contiguous_offsets()) {
            (Ok(n), Some((start, end))) if n == w.rows() => &s3.as_slice::<f32>()?[start..end],
            _ => candle_core::bail!("sgemm: a bias of shape {:?} for {} outputs", l3.shape().dims(), w.rows()),
        };
        let y = kneeclip_sgemm::matmul(a, &PackedB::fastest(w.t()), Some(bias));
        Ok((CpuStorage::F32(y), Shape::from((a.rows(), w.rows()))))
    }

    fn bwd(&self, a: &Tensor, w: &Tensor, _b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // d/dA = G W, d/dW = Gᵀ A, d/db = Σ_rows G.
        Ok((Some(matmul_cpu(grad, w)?), Some(matmul_cpu(&grad.t()?, a)?), Some(column_sums(grad)?)))
    }
}

/// `a` [m, k] times `b` [k, n] on the CPU kernel, packing `b` per call (no gradient).
pub fn matmul_cpu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.device().is_cpu() && a.dtype() == DType::F32 && b.dtype() == DType::F32 {
        return a.apply_op2_no_bwd(b, &ProductNn);
    }
    a.matmul(b)
}

/// C = A Bᵀ for A [m, k] and B [n, k], any strides.
struct ProductNt;

impl CustomOp2 for ProductNt {
    fn name(&self) -> &'static str {
        "sgemm-nt"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, w) = (mat_ref(s1, l1)?, mat_ref(s2, l2)?);
        if a.cols() != w.cols() {
            candle_core::bail!("sgemm: inner sizes differ ({} and {})", a.cols(), w.cols());
        }
        let y = kneeclip_sgemm::matmul(a, &PackedB::fastest(w.t()), None);
        Ok((CpuStorage::F32(y), Shape::from((a.rows(), w.rows()))))
    }

    fn bwd(&self, a: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // d(A Wᵀ)/dA = G W, d(A Wᵀ)/dW = Gᵀ A.
        Ok((Some(matmul_cpu(grad, w)?), Some(matmul_cpu(&grad.t()?, a)?)))
    }
}

/// C = A B for A [m, k] and B [k, n], any strides.
struct ProductNn;

impl CustomOp2 for ProductNn {
    fn name(&self) -> &'static str {
        "sgemm-nn"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (mat_ref(s1, l1)?, mat_ref(s2, l2)?);
        if a.cols() != b.rows() {
            candle_core::bail!("sgemm: inner sizes differ ({} and {})", a.cols(), b.rows());
        }
        let y = kneeclip_sgemm::matmul(a, &PackedB::fastest(b), None);
        Ok((CpuStorage::F32(y), Shape::from((a.rows(), b.cols()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    /// What `layer`'s arithmetic allows for `x · wᵀ`, as a share of the
    /// largest Σ|x|·|w|: for f32, 2⁻²⁰ (two summation orders of f32 differ
    /// by a few units of 2⁻²⁴ of it: a fixed 1e-5 failed now and then on
    /// sums near 100); for weights packed in bf16×3 (a CPU with AMX), 4·2⁻¹⁶.
    fn tolerance(layer: &Linear, x: &Tensor, w: &Tensor) -> f32 {
        let bf16x3 = layer.packed().is_some_and(|(p, _)| p.precision() == kneeclip_sgemm::Precision::Bf16x3);
        let k = w.dim(1).unwrap();
        let magnitude = x.abs().unwrap().reshape(((), k)).unwrap().matmul(&w.abs().unwrap().t().unwrap()).unwrap();
        let share = if bf16x3 { 4.0 * 2f32.powi(-16) } else { 2f32.powi(-20) };
        share * magnitude.max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn forward_matches_candle_matmul() {
        let d = Device::Cpu;
        // The second layer is wide enough for bf16×3 where the CPU has AMX.
        for (arithmetic, k, n) in [(Arithmetic::F32, 37, 19), (Arithmetic::Fastest, 160, 130)] {
            let x = Tensor::randn(0f32, 1.0, (2, 5, k), &d).unwrap();
            let w = Tensor::randn(0f32, 1.0, (n, k), &d).unwrap();
            let b = Tensor::randn(0f32, 1.0, n, &d).unwrap();
            let layer = Linear::with_arithmetic(w.clone(), Some(b.clone()), arithmetic);
            let ours = layer.forward(&x).unwrap();
            let tol = tolerance(&layer, &x, &w);
            let reference = candle_nn::Linear::new(w, Some(b)).forward(&x).unwrap();
            assert!(max_diff(&ours, &reference) < tol, "{arithmetic:?}: {} ≥ {tol}", max_diff(&ours, &reference));
        }
    }

    #[test]
    fn strided_input_is_read_in_place() {
        let d = Device::Cpu;
        // A transposed view: the product must honour its strides.
        let x = Tensor::randn(0f32, 1.0, (37, 7), &d).unwrap().t().unwrap();
        let w = Tensor::randn(0f32, 1.0, (11, 37), &d).unwrap();
        let layer = Linear::new(w.clone(), None);
        let ours = layer.forward(&x).unwrap();
        let reference = x.contiguous().unwrap().matmul(&w.t().unwrap()).unwrap();
        let tol = tolerance(&layer, &x, &w);
        assert!(max_diff(&ours, &reference) < tol, "{} ≥ {tol}", max_diff(&ours, &reference));
    }

    #[test]
    fn stacked_layers_equal_the_separate_ones() {
        let d = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (4, 9), &d).unwrap();
        let parts: Vec<(Tensor, Option<Tensor>)> = (0..3)
            .map(|_| (Tensor::randn(0f32, 1.0, (5, 9), &d).unwrap(), Some(Tensor::randn(0f32, 1.0, 5, &d).unwrap())))
            .collect();
        let stacked = Linear::concat(&parts, Arithmetic::F32).unwrap().forward(&x).unwrap();
        for (i, (w, b)) in parts.iter().enumerate() {
            let single = Linear::new(w.clone(), b.clone()).forward(&x).unwrap();
            assert!(max_diff(&stacked.narrow(1, i * 5, 5).unwrap(), &single) < 1e-6);
        }
    }

    #[test]
    fn wrong_input_width_is_an_error() {
        let d = Device::Cpu;
        let layer = Linear::new(Tensor::zeros((3, 4), DType::F32, &d).unwrap(), None);
        let err = layer.forward(&Tensor::zeros((2, 5), DType::F32, &d).unwrap()).unwrap_err();
        assert!(err.to_string().contains("5 features"), "{err}");
    }

    #[test]
    fn the_biased_product_and_its_gradients_match_candle() {
        let d = Device::Cpu;
        // 300 columns: more than one of column_sums' chunks, the last partial.
        let x = Var::randn(0f32, 1.0, (7, 6), &d).unwrap();
        let w = Var::randn(0f32, 1.0, (300, 6), &d).unwrap();
        let b = Var::randn(0f32, 1.0, 300, &d).unwrap();
        let ours = linear_transposed(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
        let reference = x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap().broadcast_add(b.as_tensor()).unwrap();
        assert!(max_diff(&ours, &reference) < 1e-4);
        // A weighting that differs per row and column, so every gradient is non-trivial.
        let weights = Tensor::randn(0f32, 1.0, (7, 300), &d).unwrap();
        let loss = |y: &Tensor| (y * &weights).unwrap().sqr().unwrap().sum_all().unwrap();
        let (g1, g2) = (loss(&ours).backward().unwrap(), loss(&reference).backward().unwrap());
        for v in [&x, &w, &b] {
            let (a, r) = (g1.get(v.as_tensor()).unwrap(), g2.get(v.as_tensor()).unwrap());
            assert_eq!(a.dims(), r.dims());
            assert!(max_diff(a, r) < 1e-3 * (1.0 + r.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()), "{}", max_diff(a, r));
        }
        // A strided (transposed) gradient is summed by its columns too.
        let g = Tensor::randn(0f32, 1.0, (300, 7), &d).unwrap();
        assert!(max_diff(&column_sums(&g.t().unwrap()).unwrap(), &g.t().unwrap().sum(0).unwrap()) < 1e-4);
    }

    #[test]
    fn products_wide_enough_for_amx_and_their_gradients_match_candle() {
        // Every product forward and backward is at least 128 deep and wide:
        // bf16×3 on AMX tiles where the CPU has them (f32 elsewhere).
        let d = Device::Cpu;
        let x = Var::randn(0f32, 1.0, (150, 160), &d).unwrap();
        let w = Var::randn(0f32, 1.0, (140, 160), &d).unwrap();
        let b = Var::randn(0f32, 1.0, 140, &d).unwrap();
        let ours = linear_transposed(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
        let reference = x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap().broadcast_add(b.as_tensor()).unwrap();
        let scale = |t: &Tensor| 1.0 + t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        // bf16×3 keeps ≈ 2⁻¹⁶ of each term: 160 terms of |x·w| ≤ ~10 stay below 1e-4 of the scale.
        assert!(max_diff(&ours, &reference) < 1e-4 * scale(&reference), "{}", max_diff(&ours, &reference));
        let weights = Tensor::randn(0f32, 1.0, (150, 140), &d).unwrap();
        let loss = |y: &Tensor| (y * &weights).unwrap().sqr().unwrap().sum_all().unwrap();
        let (g1, g2) = (loss(&ours).backward().unwrap(), loss(&reference).backward().unwrap());
        for v in [&x, &w, &b] {
            let (a, r) = (g1.get(v.as_tensor()).unwrap(), g2.get(v.as_tensor()).unwrap());
            assert_eq!(a.dims(), r.dims());
            assert!(max_diff(a, r) < 1e-4 * scale(r), "{} (scale {})", max_diff(a, r), scale(r));
        }
    }

    #[test]
    fn gradients_match_candle_matmul() {
        let d = Device::Cpu;
        let x = Var::randn(0f32, 1.0, (4, 6), &d).unwrap();
        let w = Var::randn(0f32, 1.0, (5, 6), &d).unwrap();
        let ours = matmul_transposed(x.as_tensor(), w.as_tensor()).unwrap().sqr().unwrap().sum_all().unwrap();
        let reference = x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap().sqr().unwrap().sum_all().unwrap();
        let (g1, g2) = (ours.backward().unwrap(), reference.backward().unwrap());
        for v in [&x, &w] {
            let (a, b) = (g1.get(v.as_tensor()).unwrap(), g2.get(v.as_tensor()).unwrap());
            assert!(max_diff(a, b) < 1e-4);
        }
    }
}
