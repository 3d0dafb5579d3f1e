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
        let c = self.config;
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        for (i, p) in params.iter().enumerate() {
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
        Ok(())
    }
}
