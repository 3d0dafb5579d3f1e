//! The linear layer every transformer block is made of, `y = x Wᵀ + b`.
//!
//! Matrix multiplication is where inference spends its time (see
//! docs/PERFORMANCE.md). With the `openblas` feature, f32 products on the CPU go
//! to the system's OpenBLAS SGEMM, about three times faster than candle's own
//! kernel at the 50-token shapes of one film; everything else (CUDA, other
//! dtypes, builds without the feature) uses candle's matmul. Both paths are
//! differentiable, so training uses the same layer.

use candle_core::{Module, Result, Tensor};

#[derive(Clone, Debug)]
pub struct Linear {
    /// [out, in], as stored by PyTorch.
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (&k, lead) = dims.split_last().ok_or_else(|| candle_core::Error::Msg("linear: scalar input".into()))?;
        let rows: usize = lead.iter().product();
        let x2 = x.reshape((rows, k))?;
        let y = matmul_transposed(&x2, &self.weight)?;
        let y = match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        };
        let mut out_dims = lead.to_vec();
        out_dims.push(self.weight.dim(0)?);
        y.reshape(out_dims)
    }
}

/// `a` [m, k] times `w` [n, k] transposed → [m, n].
pub fn matmul_transposed(a: &Tensor, w: &Tensor) -> Result<Tensor> {
    #[cfg(feature = "openblas")]
    if a.device().is_cpu() && a.dtype() == candle_core::DType::F32 && w.dtype() == candle_core::DType::F32 {
        return a.contiguous()?.apply_op2(&w.contiguous()?, blas::SgemmNt);
    }
    a.matmul(&w.t()?)
}

#[cfg(feature = "openblas")]
mod blas {
    use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

    const ROW_MAJOR: i32 = 101;
    const NO_TRANS: i32 = 111;
    const TRANS: i32 = 112;

    #[link(name = "openblas")]
    unsafe extern "C" {
        fn cblas_sgemm(
            order: i32, trans_a: i32, trans_b: i32, m: i32, n: i32, k: i32, alpha: f32,
            a: *const f32, lda: i32, b: *const f32, ldb: i32, beta: f32, c: *mut f32, ldc: i32,
        );
    }

    /// C = A Bᵀ for row-major contiguous A [m, k] and B [n, k].
    pub struct SgemmNt;

    fn contiguous<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
        let (start, end) = l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("sgemm: operand is not contiguous".into()))?;
        Ok(&s.as_slice::<f32>()?[start..end])
    }

    impl CustomOp2 for SgemmNt {
        fn name(&self) -> &'static str {
            "openblas-sgemm-nt"
        }

        fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
            let (m, k) = l1.shape().dims2()?;
            let (n, k2) = l2.shape().dims2()?;
            if k != k2 {
                candle_core::bail!("sgemm: inner sizes differ ({k} and {k2})");
            }
            let (a, b) = (contiguous(s1, l1)?, contiguous(s2, l2)?);
            let mut c = vec![0f32; m * n];
            if m > 0 && n > 0 && k > 0 {
                // SAFETY: a is m×k, b is n×k and c is m×n, all row-major and
                // contiguous, matching the leading dimensions passed.
                unsafe {
                    cblas_sgemm(
                        ROW_MAJOR, NO_TRANS, TRANS, m as i32, n as i32, k as i32, 1.0,
                        a.as_ptr(), k as i32, b.as_ptr(), k as i32, 0.0, c.as_mut_ptr(), n as i32,
                    );
                }
            }
            Ok((CpuStorage::F32(c), Shape::from((m, n))))
        }

        fn bwd(&self, a: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
            // d(A Bᵀ)/dA = G B, d(A Bᵀ)/dB = Gᵀ A.
            Ok((Some(grad.matmul(b)?), Some(grad.t()?.matmul(a)?)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn forward_matches_candle_matmul() {
        let d = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 5, 7), &d).unwrap();
        let w = Tensor::randn(0f32, 1.0, (3, 7), &d).unwrap();
        let b = Tensor::randn(0f32, 1.0, 3, &d).unwrap();
        let ours = Linear::new(w.clone(), Some(b.clone())).forward(&x).unwrap();
        let reference = candle_nn::Linear::new(w, Some(b)).forward(&x).unwrap();
        let diff = (ours - reference).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "{diff}");
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
            let a = g1.get(v.as_tensor()).unwrap();
            let b = g2.get(v.as_tensor()).unwrap();
            let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-4, "{diff}");
        }
    }
}
