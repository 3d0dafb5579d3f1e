//! Cache of the frozen part's output (the hidden state entering block L−2)
//! per (film, view), kept in memory as f16 and computed lazily.
//!
//! Memory: tokens × hidden values per view, 2 bytes each. Full ViT-B/32:
//! 50 × 768 × 2 B = 76.8 KB per view; 10 views (flip × 5 angles) of the
//! 5778 OAI training films is ~4.4 GB if every view gets visited, ~0.44 GB
//! for the unaugmented validation/eval view of 5778 films. Fewer angles
//! shrink it proportionally.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor};

#[derive(Default)]
pub struct FeatureCache {
    map: HashMap<(usize, usize), Tensor>,
    pub hits: u64,
    pub misses: u64,
}

impl FeatureCache {
    /// Hidden states [n, tokens, hidden] (f32) for `keys` = (film, view);
    /// `compute` is called once with the missing keys and must return them
    /// stacked in that order.
    pub fn get_or_compute<F>(&mut self, keys: &[(usize, usize)], compute: F) -> Result<Tensor>
    where
        F: FnOnce(&[(usize, usize)]) -> Result<Tensor>,
    {
        let missing: Vec<(usize, usize)> = {
            let mut m: Vec<_> = keys.iter().copied().filter(|k| !self.map.contains_key(k)).collect();
            m.dedup();
            m
        };
        self.hits += (keys.len() - missing.len()) as u64;
        self.misses += missing.len() as u64;
        if !missing.is_empty() {
            let fresh = compute(&missing)?;
            for (i, k) in missing.iter().enumerate() {
                self.map.insert(*k, fresh.get(i)?.to_dtype(DType::F16)?);
            }
        }
        let parts: Vec<Tensor> = keys.iter().map(|k| self.map[k].clone()).collect();
        Tensor::stack(&parts, 0)?.to_dtype(DType::F32)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
