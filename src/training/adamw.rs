//! AdamW exactly as PyTorch's `torch.optim.AdamW` (amsgrad off):
//! p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
//! p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε).
//! candle-nn 0.11's `AdamW` computes the same update (checked against its
//! source: decoupled decay, then m̂/(√v̂ + ε)), but keeps its moments private,
//! so they could not be checkpointed and restored; hence this small copy whose
//! moments are public. It also decays parameters whose gradient is missing
//! (treated as zero), as PyTorch does for a zero gradient.

use candle_core::{Result, Tensor, Var};

#[derive(Clone, Copy, Debug)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-5 }
    }
}

/// First and second moments of every parameter, and the step count.
#[derive(Debug)]
pub struct AdamW {
    pub config: AdamWConfig,
    pub step: u64,
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
}

impl AdamW {
    pub fn new(params: &[&Var], config: AdamWConfig) -> Result<Self> {
        let zeros = |p: &&Var| p.as_tensor().zeros_like();
        Ok(Self {
            config,
            step: 0,
            m: params.iter().map(zeros).collect::<Result<_>>()?,
            v: params.iter().map(zeros).collect::<Result<_>>()?,
        })
    }

    /// One step; `lr` overrides the configured rate (for schedules). A missing
    /// gradient counts as zero.
    pub fn step(&mut self, params: &[&Var], grads: &[Option<Tensor>], lr: f64) -> Result<()> {
        self.step_with(params, grads, lr, true).map(|_| ())
    }

    /// [`step`](Self::step), fused on the CPU where `fused` allows; returns
    /// how many parameters took the fused pass.
    fn step_with(&mut self, params: &[&Var], grads: &[Option<Tensor>], lr: f64, fused: bool) -> Result<usize> {
        let mut fused_count = 0;
        let c = self.config;
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        for (i, p) in params.iter().enumerate() {
            let constants = Constants {
                decay: (1.0 - lr * c.weight_decay) as f32,
                beta1: c.beta1 as f32,
                one_minus_beta1: (1.0 - c.beta1) as f32,
                beta2: c.beta2 as f32,
                one_minus_beta2: (1.0 - c.beta2) as f32,
                inv_bc2_sqrt: (1.0 / bc2_sqrt) as f32,
                eps: c.eps as f32,
                step_size: (lr / bc1) as f32,
            };
            if fused && fused_on_cpu(p.as_tensor(), grads[i].as_ref(), &self.m[i], &self.v[i], constants) {
                fused_count += 1;
                continue;
            }
            let g = match &grads[i] {
                Some(g) => g.clone(),
                None => p.as_tensor().zeros_like()?,
            };
            let decayed = (p.as_tensor() * (1.0 - lr * c.weight_decay))?;
            self.m[i] = ((&self.m[i] * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            self.v[i] = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((self.v[i].sqrt()? / bc2_sqrt)? + c.eps)?;
            let update = ((&self.m[i] / denom)? * (lr / bc1))?;
            p.set(&(decayed - update)?)?;
        }
        Ok(fused_count)
    }
}

/// The step's scalars, as f32 (what candle's ops above multiply and add by).
#[derive(Clone, Copy)]
struct Constants {
    decay: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    inv_bc2_sqrt: f32,
    eps: f32,
    step_size: f32,
}

/// [`AdamW::step`] for one parameter in one threaded pass over CPU f32
/// values, p, m and v updated where they lie; false (nothing done) for any
/// other tensors. The ops above make ≈ 13 passes and as many allocations:
/// ≈ 0.1 s an optimiser step for the 14 M trainable values of ViT-B/32;
/// new buffers for the results took 52 ms (their pages zeroed and faulted
/// in every step), in place 10–11.
fn fused_on_cpu(p: &Tensor, g: Option<&Tensor>, m: &Tensor, v: &Tensor, k: Constants) -> bool {
    use crate::model::cpu_layer::{with_cpu_f32, with_cpu_f32_mut};
    // Each tensor is locked for the pass; two sharing a storage would wait
    // on each other.
    let mut storages: Vec<Option<usize>> = [Some(p), Some(m), Some(v), g].into_iter().flatten().map(storage_address).collect();
    storages.sort();
    if storages.contains(&None) || storages.windows(2).any(|w| w[0] == w[1]) {
        return false;
    }
    with_cpu_f32_mut(p, |p| {
        with_cpu_f32_mut(m, |m| {
            with_cpu_f32_mut(v, |v| match g {
                Some(g) => with_cpu_f32(g, |g| fused_values(p, Some(g), m, v, k)).is_some(),
                None => {
                    fused_values(p, None, m, v, k);
                    true
                }
            })
        })
    })
    .flatten()
    .flatten()
    .unwrap_or(false)
}

/// Where a CPU f32 tensor's storage lies (the same for every tensor
/// sharing it), or `None` for any other tensor.
fn storage_address(t: &Tensor) -> Option<usize> {
    match &*t.storage_and_layout().0 {
        candle_core::Storage::Cpu(candle_core::CpuStorage::F32(values)) => Some(values.as_ptr() as usize),
        _ => None,
    }
}

fn fused_values(p: &mut [f32], g: Option<&[f32]>, m: &mut [f32], v: &mut [f32], k: Constants) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 14;
    let n = p.len();
    assert!(m.len() == n && v.len() == n && g.is_none_or(|g| g.len() == n), "adamw: a parameter, its gradient and moments differ in size");
    kneeclip_sgemm::on_pool(|| {
        p.par_chunks_mut(CHUNK).zip(m.par_chunks_mut(CHUNK)).zip(v.par_chunks_mut(CHUNK)).enumerate().for_each(|(c, ((p, m), v))| {
            let g = g.map(|g| &g[c * CHUNK..][..p.len()]);
            for j in 0..p.len() {
                let g = g.map_or(0.0, |g| g[j]);
                m[j] = m[j] * k.beta1 + g * k.one_minus_beta1;
                v[j] = v[j] * k.beta2 + g * g * k.one_minus_beta2;
                let denom = v[j].sqrt() * k.inv_bc2_sqrt + k.eps;
                p[j] = p[j] * k.decay - m[j] / denom * k.step_size;
            }
        })
    });
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;

    /// The fused pass against the op-by-op step, over three steps, with a
    /// missing gradient (decay alone) among them.
    #[test]
    fn the_fused_step_equals_the_composed_one() {
        let dev = Device::Cpu;
        let init = [Tensor::randn(0f32, 1.0, (70, 33), &dev).unwrap(), Tensor::randn(0f32, 1.0, 40_000, &dev).unwrap()];
        let config = AdamWConfig { lr: 1e-2, weight_decay: 0.1, ..Default::default() };
        let run = |fused: bool| {
            let vars: Vec<Var> = init.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
            let refs: Vec<&Var> = vars.iter().collect();
            let mut opt = AdamW::new(&refs, config).unwrap();
            for step in 0..3u32 {
                let grads: Vec<Option<Tensor>> = init
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (step != 1 || i == 0).then(|| (t.sin().unwrap() * (step + 1) as f64).unwrap()))
                    .collect();
                let fused_count = opt.step_with(&refs, &grads, 1e-2 / (step + 1) as f64, fused).unwrap();
                assert_eq!(fused_count, if fused { init.len() } else { 0 }, "every parameter takes the path asked for");
            }
            (vars.iter().map(|v| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect::<Vec<_>>(), opt)
        };
        let ((fused, fused_opt), (composed, composed_opt)) = (run(true), run(false));
        let close = |a: &[f32], b: &[f32], what: &str| {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()), "{what}: {x} vs {y}");
            }
        };
        for i in 0..init.len() {
            close(&fused[i], &composed[i], "parameter");
            close(&fused_opt.m[i].flatten_all().unwrap().to_vec1::<f32>().unwrap(), &composed_opt.m[i].flatten_all().unwrap().to_vec1::<f32>().unwrap(), "m");
            close(&fused_opt.v[i].flatten_all().unwrap().to_vec1::<f32>().unwrap(), &composed_opt.v[i].flatten_all().unwrap().to_vec1::<f32>().unwrap(), "v");
            assert_ne!(fused[i], init[i].flatten_all().unwrap().to_vec1::<f32>().unwrap(), "the parameters moved");
        }
    }

    /// The fused pass writes the parameter where it lies (as `Var::set`
    /// did), and leaves tensors that share a storage to the composed ops
    /// (locking one storage twice would wait forever).
    #[test]
    fn the_fused_step_writes_in_place_and_skips_shared_storage() {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::ones(8, DType::F32, &dev).unwrap()).unwrap();
        let view = var.as_tensor().clone();
        let grads = [Some(Tensor::full(0.5f32, 8, &dev).unwrap())];
        let mut opt = AdamW::new(&[&var], AdamWConfig::default()).unwrap();
        assert_eq!(opt.step_with(&[&var], &grads, 1e-2, true).unwrap(), 1);
        let moved = view.to_vec1::<f32>().unwrap();
        assert!(moved.iter().all(|&x| x < 1.0), "a clone of the parameter sees the step: {moved:?}");
        opt.v[0] = opt.m[0].clone();
        assert_eq!(opt.step_with(&[&var], &grads, 1e-2, true).unwrap(), 0, "m and v share a storage: the composed ops run");
    }
}
