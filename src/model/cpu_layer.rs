//! An encoder layer on the CPU as one pass over plain f32 buffers.
//!
//! Composed from candle's ops, the work between the matrix products (layer
//! norms, the attention's batched products and softmax, head transposes,
//! residual adds, bias broadcasts) ran mostly on one core and took about half
//! of a two-thread run's time once the products were fast (docs/PERFORMANCE.md).
//! Here every step is threaded (crates/sgemm: rows, attention, activation),
//! the residual and the bias initialise the output that out_proj and fc2
//! accumulate into, and nothing is copied between steps. The candle
//! composition in layers.rs stays for other devices and dtypes, and is the
//! reference the tests hold this to.

use std::sync::Arc;

use candle_core::{CpuStorage, DType, Device, Result, Storage, Tensor};
use candle_nn::LayerNorm;
use kneeclip_sgemm::attention::{Heads, self_attention};
use kneeclip_sgemm::{MatRef, PackedB, gemm, rows};

use super::linear::Linear;

/// A layer's weights as the kernels read them (shared with the `Linear`s).
#[derive(Clone, Debug)]
pub struct CpuLayer {
    norm1: Norm,
    qkv: Product,
    out_proj: Product,
    norm2: Norm,
    fc1: Product,
    fc2: Product,
    heads: usize,
}

#[derive(Clone, Debug)]
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

#[derive(Clone, Debug)]
struct Product {
    packed: Arc<PackedB>,
    bias: Option<Arc<[f32]>>,
}

/// The parts of a pre-norm block with quick GELU, as layers.rs holds them.
pub struct BlockParts<'a> {
    pub norm1: &'a LayerNorm,
    pub qkv: &'a Linear,
    pub out_proj: &'a Linear,
    pub norm2: &'a LayerNorm,
    pub fc1: &'a Linear,
    pub fc2: &'a Linear,
    pub heads: usize,
}

impl CpuLayer {
    /// `None` unless every weight is f32 on the CPU.
    pub fn new(parts: BlockParts<'_>) -> Option<Self> {
        let product = |l: &Linear| l.packed().map(|(packed, bias)| Product { packed: packed.clone(), bias: bias.cloned() });
        let norm = |n: &LayerNorm| -> Option<Norm> {
            let values = |t: &Tensor| (t.device().is_cpu() && t.dtype() == DType::F32).then(|| t.to_vec1::<f32>().ok()).flatten();
            Some(Norm { weight: values(n.weight())?, bias: values(n.bias()?)?, eps: n.eps() as f32 })
        };
        Some(Self {
            norm1: norm(parts.norm1)?,
            qkv: product(parts.qkv)?,
            out_proj: product(parts.out_proj)?,
            norm2: norm(parts.norm2)?,
            fc1: product(parts.fc1)?,
            fc2: product(parts.fc2)?,
            heads: parts.heads,
        })
    }

    /// The block on `xs` [batch, tokens, hidden] (see `EncoderLayer::forward_rows`
    /// for `mask`, `rows` and `keep_probs`), or `None` when the input is not a
    /// contiguous f32 CPU tensor or the mask is not `[tokens, tokens]`: the
    /// caller then takes candle's path.
    pub fn forward(&self, xs: &Tensor, mask: Option<&Tensor>, rows: Option<&Tensor>, keep_probs: bool) -> Result<Option<(Tensor, Option<Tensor>)>> {
        let (batch, tokens, hidden) = xs.dims3()?;
        let mask = match mask {
            None => None,
            Some(m) if m.dims() == [tokens, tokens] && m.dtype() == DType::F32 => Some(m.flatten_all()?.to_vec1::<f32>()?),
            Some(_) => return Ok(None),
        };
        let picks = match rows {
            None => None,
            Some(r) => Some(r.to_dtype(DType::U32)?.to_vec1::<u32>()?.into_iter().map(|i| i as usize).collect::<Vec<_>>()),
        };
        if picks.as_ref().is_some_and(|p| p.iter().any(|&i| i >= tokens)) {
            candle_core::bail!("encoder layer: a row index is outside the {tokens} tokens");
        }
        if hidden != self.qkv.packed.k() || hidden % self.heads != 0 {
            candle_core::bail!("encoder layer: input has {hidden} features, the layer takes {}", self.qkv.packed.k());
        }
        let shape = Heads { batch, tokens, heads: self.heads, head_dim: hidden / self.heads };
        let Some((y, probs)) = with_cpu_f32(xs, |x| self.run(x, shape, mask.as_deref(), picks.as_deref(), keep_probs)) else {
            return Ok(None);
        };
        let queries = picks.as_ref().map_or(tokens, Vec::len);
        let y = Tensor::from_vec(y, (batch, queries, hidden), &Device::Cpu)?;
        let probs = if keep_probs { Some(Tensor::from_vec(probs, (batch, self.heads, queries, tokens), &Device::Cpu)?) } else { None };
        Ok(Some((y, probs)))
    }

    /// x + attn(ln1(x)), then + mlp(ln2(·)), for the rows `picks` of each
    /// sequence (all when `None`). Returns the output and, with `keep_probs`,
    /// the attention probabilities (else an empty vector).
    fn run(&self, x: &[f32], shape: Heads, mask: Option<&[f32]>, picks: Option<&[usize]>, keep_probs: bool) -> (Vec<f32>, Vec<f32>) {
        let hidden = shape.hidden();
        // The residual plus out_proj's bias, made in one threaded pass, is
        // where out_proj accumulates.
        let residual = match picks {
            Some(picks) => std::borrow::Cow::Owned(rows::pick_rows(x, hidden, shape.tokens, picks)),
            None => std::borrow::Cow::Borrowed(x),
        };
        let mut x1 = match &self.out_proj.bias {
            Some(bias) => rows::with_row_added(&residual, bias),
            None => rows::copy_rows(&residual, hidden),
        };
        // Every token's attention, nothing kept: on the AMX tiles q, k and v
        // go straight from their product into the heads' tiles, and the
        // heads' outputs into out_proj's.
        let (norm, qkv, out_proj) = (&self.norm1, &self.qkv, &self.out_proj);
        let on_tiles = mask.is_none()
            && picks.is_none()
            && !keep_probs
            && kneeclip_sgemm::attention_block_after_layer_norm(x, &norm.weight, &norm.bias, norm.eps, &qkv.packed, qkv.bias.as_deref(), &out_proj.packed, &mut x1, shape);
        let probs = if on_tiles {
            Vec::new()
        } else {
            let attention = self_attention(&qkv.after_norm(norm, x), shape, mask, picks, keep_probs);
            let rows_out = attention.output.len() / hidden;
            gemm(MatRef::row_major(&attention.output, rows_out, hidden), &out_proj.packed, &mut x1, out_proj.packed.n());
            attention.probs
        };
        let (norm, fc1, fc2) = (&self.norm2, &self.fc1, &self.fc2);
        kneeclip_sgemm::mlp_after_layer_norm(&mut x1, &norm.weight, &norm.bias, norm.eps, &fc1.packed, fc1.bias.as_deref(), &fc2.packed, fc2.bias.as_deref());
        (x1, probs)
    }
}

/// `f` on the values of a contiguous f32 CPU tensor, read where they lie;
/// `None` for any other tensor.
pub fn with_cpu_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(values)), Some((start, end))) => Some(f(&values[start..end])),
        _ => None,
    }
}

/// `f` on the values of contiguous f32 CPU tensors, all read where they
/// lie while it runs; `None` if any is another kind of tensor.
pub fn with_cpu_f32_all<R>(tensors: &[&Tensor], f: impl FnOnce(&[&[f32]]) -> R) -> Option<R> {
    let held: Vec<_> = tensors.iter().map(|t| t.storage_and_layout()).collect();
    let values = held
        .iter()
        .map(|(storage, layout)| match (&**storage, layout.contiguous_offsets()) {
            (Storage::Cpu(CpuStorage::F32(values)), Some((start, end))) => Some(&values[start..end]),
            _ => None,
        })
        .collect::<Option<Vec<&[f32]>>>()?;
    Some(f(&values))
}

/// `f` on the values of a contiguous f32 CPU tensor, written where they
/// lie (every tensor sharing its storage sees the change, as after
/// `Var::set`); `None` for any other tensor.
pub fn with_cpu_f32_mut<R>(t: &Tensor, f: impl FnOnce(&mut [f32]) -> R) -> Option<R> {
    use std::cell::RefCell;
    /// candle's one door to a storage's values for writing: an in-place op.
    struct InPlace<F, R> {
        f: RefCell<Option<F>>,
        result: RefCell<Option<R>>,
    }
    impl<F: FnOnce(&mut [f32]) -> R, R> candle_core::InplaceOp1 for InPlace<F, R> {
        fn name(&self) -> &'static str {
            "with-cpu-f32-mut"
        }
        fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &candle_core::Layout) -> Result<()> {
            if let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets())
                && let Some(f) = self.f.borrow_mut().take()
            {
                *self.result.borrow_mut() = Some(f(&mut values[start..end]));
            }
            Ok(())
        }
    }
    if !t.device().is_cpu() {
        return None;
    }
    let op = InPlace { f: RefCell::new(Some(f)), result: RefCell::new(None) };
    t.inplace_op1(&op).ok()?;
    op.result.into_inner()
}

impl Product {
    /// `norm(x) · W + bias` for `x` [rows, in], as a new matrix (on the AMX
    /// tiles the rows are normalised as they are packed).
    fn after_norm(&self, norm: &Norm, x: &[f32]) -> Vec<f32> {
        kneeclip_sgemm::matmul_after_layer_norm(x, &norm.weight, &norm.bias, norm.eps, &self.packed, self.bias.as_deref())
    }
}
