//! Cache of the frozen part's output (the hidden state entering block L−2)
//! per (film, view), kept in memory as f16 and computed lazily, within a
//! memory budget.
//!
//! Memory: tokens × hidden values per view, 2 bytes each. Full ViT-B/32:
//! 50 × 768 × 2 B = 76.8 KB per view; 10 views (flip × 5 angles) of the
//! 5778 OAI training films is ~4.4 GB if every view gets visited, ~0.44 GB
//! for the unaugmented validation/eval view of 5778 films. On a smaller
//! machine that would swap, or be killed half-way through a run; so the
//! cache holds at most [`FeatureCache::limit`] bytes (by default half of the
//! machine's memory) and views past it are computed again when next drawn.
//!
//! Every view goes through f16 whether it is kept or not, so a run's numbers
//! do not depend on the budget, only its speed.

use std::collections::{HashMap, HashSet};

use candle_core::{DType, Device, Result, Tensor};
use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

/// Values converted at a time, through a buffer on the stack.
const CONVERT: usize = 1024;

/// A tensor's values as f16 (IEEE rounding to nearest, as candle's
/// `to_dtype` does), converted on the threads where they lie on the CPU:
/// candle converts on one thread, 2.5 M values a 64-film batch.
fn to_f16(t: &Tensor) -> Result<Vec<f16>> {
    let converted = crate::model::cpu_layer::with_cpu_f32(t, |values| {
        let mut out: Vec<f16> = Vec::with_capacity(values.len());
        out.spare_capacity_mut()[..values.len()].par_chunks_mut(CONVERT).zip(values.par_chunks(CONVERT)).for_each(|(out, values)| {
            let mut buffer = [f16::ZERO; CONVERT];
            buffer[..values.len()].convert_from_f32_slice(values);
            out.iter_mut().zip(&buffer).for_each(|(o, &v)| {
                o.write(v);
            });
        });
        // SAFETY: each value was written, chunk by chunk, above.
        unsafe { out.set_len(values.len()) };
        out
    });
    match converted {
        Some(values) => Ok(values),
        None => t.to_dtype(DType::F16)?.flatten_all()?.to_vec1::<f16>(),
    }
}

/// The views `parts` (`view` values each), in order, as one f32 vector,
/// converted on the threads.
fn to_f32(parts: &[&[f16]], view: usize) -> Vec<f32> {
    let len = parts.len() * view;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len].par_chunks_mut(view).zip(parts).for_each(|(out, part)| {
        assert_eq!(part.len(), view, "feature cache: a view of {} values, not {view}", part.len());
        let mut buffer = [0f32; CONVERT];
        for (out, part) in out.chunks_mut(CONVERT).zip(part.chunks(CONVERT)) {
            part.convert_to_f32_slice(&mut buffer[..part.len()]);
            out.iter_mut().zip(&buffer).for_each(|(o, &v)| {
                o.write(v);
            });
        }
    });
    // SAFETY: every part holds `view` values (as the cache stores them), all
    // written above.
    unsafe { out.set_len(len) };
    out
}

/// Bytes per slab of cached features: each slab is one allocation this large,
/// which glibc maps on its own (above the 64 MiB threshold set in
/// allocator.rs) rather than placing it on the heap. Views cached one by one
/// on the heap, between a batch's large passing buffers, fragmented it: a
/// 30-epoch run of 400 films grew from 1.4 to 4.8 GB resident while holding
/// 297 MB of features.
const SLAB_BYTES: usize = 64 << 20;

/// The training views' and the validation films' features.
pub struct FeatureCache {
    /// Where each kept view lies: (slab, first value).
    index: HashMap<(usize, usize), (usize, usize)>,
    slabs: Vec<Vec<f16>>,
    /// (tokens, hidden) of a view, and the device features are handed out on.
    shape: Option<(usize, usize, Device)>,
    limit: u64,
    bytes: u64,
    pub hits: u64,
    pub misses: u64,
    /// Views computed but not kept: the budget was spent.
    pub not_kept: u64,
}

impl Default for FeatureCache {
    fn default() -> Self {
        Self::with_limit(Self::default_limit())
    }
}

impl FeatureCache {
    /// A cache holding at most `limit` bytes of features (0: none).
    pub fn with_limit(limit: u64) -> Self {
        Self { index: HashMap::new(), slabs: Vec::new(), shape: None, limit, bytes: 0, hits: 0, misses: 0, not_kept: 0 }
    }

    /// Half of this machine's memory (Linux: `MemTotal` in /proc/meminfo),
    /// else 4 GiB: the model, a batch's activations and the rest of the
    /// system keep the other half.
    pub fn default_limit() -> u64 {
        let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
        total.map_or(4 << 30, |bytes| bytes / 2)
    }

    /// The budget, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes of features held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Hidden states [n, tokens, hidden] (f32) for `keys` = (film, view);
    /// `compute` is called once with the missing keys and must return them
    /// stacked in that order.
    pub fn get_or_compute<F>(&mut self, keys: &[(usize, usize)], compute: F) -> Result<Tensor>
    where
        F: FnOnce(&[(usize, usize)]) -> Result<Tensor>,
    {
        if keys.is_empty() {
            candle_core::bail!("feature cache: no views asked for");
        }
        let missing: Vec<(usize, usize)> = {
            let mut seen = HashSet::new();
            keys.iter().copied().filter(|k| !self.index.contains_key(k) && seen.insert(*k)).collect()
        };
        self.hits += (keys.len() - missing.len()) as u64;
        self.misses += missing.len() as u64;
        // Views computed for this call only, once the budget is spent: their
        // place in `fresh`.
        let mut passing: HashMap<(usize, usize), usize> = HashMap::new();
        let mut fresh: Vec<f16> = Vec::new();
        if !missing.is_empty() {
            let computed = compute(&missing)?;
            let (n, tokens, hidden) = computed.dims3()?;
            if n != missing.len() {
                candle_core::bail!("feature cache: {n} views computed for {} asked", missing.len());
            }
            match &self.shape {
                None => self.shape = Some((tokens, hidden, computed.device().clone())),
                Some((t, h, _)) if (*t, *h) != (tokens, hidden) => {
                    candle_core::bail!("feature cache: views of {tokens}×{hidden} beside views of {t}×{h}")
                }
                Some(_) => {}
            }
            fresh = to_f16(&computed)?;
            let view = tokens * hidden;
            let size = (view * std::mem::size_of::<f16>()) as u64;
            for (i, k) in missing.iter().enumerate() {
                if self.bytes + size <= self.limit {
                    self.bytes += size;
                    let place = self.keep(&fresh[i * view..][..view]);
                    self.index.insert(*k, place);
                } else {
                    self.not_kept += 1;
                    passing.insert(*k, i);
                }
            }
        }
        let Some((tokens, hidden, device)) = &self.shape else { unreachable!("a view was computed or found") };
        let view = tokens * hidden;
        let parts: Vec<&[f16]> = keys
            .iter()
            .map(|k| match self.index.get(k) {
                Some(&(slab, start)) => &self.slabs[slab][start..start + view],
                None => &fresh[passing[k] * view..][..view],
            })
            .collect();
        Tensor::from_vec(to_f32(&parts, view), (keys.len(), *tokens, *hidden), device)
    }

    /// Copies one view's values into the last slab with room (a new one when
    /// none has): (slab, first value).
    fn keep(&mut self, view: &[f16]) -> (usize, usize) {
        let room = |slab: &Vec<f16>| slab.capacity() - slab.len() >= view.len();
        if !self.slabs.last().is_some_and(room) {
            // Rounded up: at least the threshold, so the slab is mapped.
            let views = (SLAB_BYTES / std::mem::size_of::<f16>()).div_ceil(view.len());
            self.slabs.push(Vec::with_capacity(views * view.len()));
        }
        let slab = self.slabs.len() - 1;
        let start = self.slabs[slab].len();
        self.slabs[slab].extend_from_slice(view);
        (slab, start)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Features [n, 2, 3] whose values name the key, as `compute` would return them.
    fn features(keys: &[(usize, usize)]) -> Result<Tensor> {
        let values: Vec<f32> = keys.iter().flat_map(|&(f, v)| (0..6).map(move |i| (f * 100 + v * 10 + i) as f32 + 0.1)).collect();
        Tensor::from_vec(values, (keys.len(), 2, 3), &Device::Cpu)
    }

    #[test]
    fn a_spent_budget_recomputes_with_the_same_values() {
        let view = 6 * 2; // bytes of one view in f16
        let mut cache = FeatureCache::with_limit(2 * view);
        let keys = [(1, 0), (2, 3), (1, 0), (3, 1)];
        let mut asked = Vec::new();
        let first = cache.get_or_compute(&keys, |k| {
            asked.push(k.to_vec());
            features(k)
        });
        let first = first.unwrap();
        assert_eq!(asked, [vec![(1, 0), (2, 3), (3, 1)]], "each missing view once");
        assert_eq!((cache.len(), cache.bytes(), cache.not_kept), (2, 2 * view, 1));
        // The kept views are hits; the one past the budget is computed again.
        let again = cache.get_or_compute(&keys, |k| {
            asked.push(k.to_vec());
            features(k)
        });
        let again = again.unwrap();
        assert_eq!(asked[1], [(3, 1)]);
        assert_eq!((cache.hits, cache.misses, cache.not_kept), (1 + 3, 3 + 1, 2));
        // The same numbers either way, rounded to f16 whether kept or not.
        let (a, b) = (first.flatten_all().unwrap().to_vec1::<f32>().unwrap(), again.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        assert_eq!(a, b);
        let want = features(&keys).unwrap().to_dtype(DType::F16).unwrap().to_dtype(DType::F32).unwrap();
        assert_eq!(a, want.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        assert_ne!(a[0], 100.1, "f16 rounding happened");
    }

    #[test]
    fn no_budget_keeps_nothing() {
        let mut cache = FeatureCache::with_limit(0);
        let out = cache.get_or_compute(&[(0, 0), (1, 1)], features).unwrap();
        assert_eq!(out.dims(), [2, 2, 3]);
        assert_eq!((cache.len(), cache.bytes(), cache.not_kept), (0, 0, 2));
    }

    #[test]
    fn the_default_budget_is_half_the_memory() {
        let limit = FeatureCache::default_limit();
        assert!(limit >= 256 << 20, "{limit} bytes");
        if let Ok(info) = std::fs::read_to_string("/proc/meminfo") {
            let kib: u64 = info.lines().find(|l| l.starts_with("MemTotal:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
            assert_eq!(limit, kib * 1024 / 2);
        }
    }
}
