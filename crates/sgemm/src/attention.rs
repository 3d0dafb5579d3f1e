//! Multi-head self-attention on the output of a stacked q/k/v projection.
//!
//! Every (sequence, head) pair is one task on rayon's threads: `q·kᵀ` (plus
//! the additive mask, which initialises the scores), a softmax per row, then
//! `probs·v`, both products on this crate's kernel with k and v packed per
//! call (a head's k is only 64 × tokens). A single film's twelve heads thus
//! run on every core, where batched products split nothing.

use rayon::prelude::*;

use crate::{MatRef, PackedB, activation, gemm};

/// The shape of a batch of sequences split into heads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
    /// Sequences (films, or one packed run of prompts).
    pub batch: usize,
    /// Tokens per sequence.
    pub tokens: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl Heads {
    pub fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// The attention's results for the query rows asked for.
#[derive(Clone, Debug)]
pub struct Attention {
    /// `[batch·queries, hidden]`, heads side by side as out_proj reads them.
    pub output: Vec<f32>,
    /// `[batch, heads, queries, tokens]`.
    pub probs: Vec<f32>,
}

/// `qkv` is `[batch·tokens, 3·hidden]`: q (already scaled by 1/√d), k and v
/// side by side. `mask` is additive, `[tokens, tokens]` (query row, key
/// column), the same for every sequence. `queries` picks the token rows that
/// ask (every token is still attended to); `None` means all of them.
///
/// # Panics
/// When the buffers do not have the sizes `shape` implies.
pub fn self_attention(qkv: &[f32], shape: Heads, mask: Option<&[f32]>, queries: Option<&[usize]>) -> Attention {
    let Heads { batch, tokens, heads, head_dim: d } = shape;
    let hidden = shape.hidden();
    assert_eq!(qkv.len(), batch * tokens * 3 * hidden, "attention: q/k/v holds {} values, the shape needs {}", qkv.len(), batch * tokens * 3 * hidden);
    if let Some(mask) = mask {
        assert_eq!(mask.len(), tokens * tokens, "attention: the mask must be tokens × tokens");
    }
    let all: Vec<usize>;
    let queries = match queries {
        Some(q) => {
            assert!(q.iter().all(|&t| t < tokens), "attention: a query row is outside the {tokens} tokens");
            q
        }
        None => {
            all = (0..tokens).collect();
            &all
        }
    };
    let nq = queries.len();
    let mut probs = vec![0f32; batch * heads * nq * tokens];
    let mut by_head = vec![0f32; batch * heads * nq * d];
    if probs.is_empty() || by_head.is_empty() {
        return Attention { output: vec![0f32; batch * nq * hidden], probs };
    }
    let row = 3 * hidden;
    probs.par_chunks_mut(nq * tokens).zip(by_head.par_chunks_mut(nq * d)).enumerate().for_each(|(task, (scores, out))| {
        let (b, h) = (task / heads, task % heads);
        let seq = &qkv[b * tokens * row..(b + 1) * tokens * row];
        let view = |part: usize| MatRef::strided(&seq[part * hidden + h * d..], tokens, d, row, 1);
        // The queries asked for, gathered [nq, d].
        let q: Vec<f32> = queries.iter().flat_map(|&t| &seq[t * row + h * d..t * row + (h + 1) * d]).copied().collect();
        if let Some(mask) = mask {
            for (line, &t) in scores.chunks_exact_mut(tokens).zip(queries) {
                line.copy_from_slice(&mask[t * tokens..(t + 1) * tokens]);
            }
        }
        gemm(MatRef::row_major(&q, nq, d), &PackedB::new(view(1).t()), scores, tokens);
        activation::softmax_rows_in_place(scores, tokens);
        gemm(MatRef::row_major(scores, nq, tokens), &PackedB::new(view(2)), out, d);
    });
    // [batch, heads, queries, d] → [batch, queries, heads·d].
    let mut output = vec![0f32; batch * nq * hidden];
    output.par_chunks_mut(nq * hidden).zip(by_head.par_chunks(heads * nq * d)).for_each(|(dst, src)| {
        for (h, head) in src.chunks_exact(nq * d).enumerate() {
            for (q, values) in head.chunks_exact(d).enumerate() {
                dst[q * hidden + h * d..q * hidden + (h + 1) * d].copy_from_slice(values);
            }
        }
    });
    Attention { output, probs }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward f64 attention for one (sequence, head, query).
    fn reference(qkv: &[f32], s: Heads, mask: Option<&[f32]>, b: usize, h: usize, t: usize) -> (Vec<f64>, Vec<f64>) {
        let (hidden, d) = (s.hidden(), s.head_dim);
        let at = |tok: usize, part: usize, c: usize| qkv[(b * s.tokens + tok) * 3 * hidden + part * hidden + h * d + c] as f64;
        let scores: Vec<f64> = (0..s.tokens)
            .map(|j| (0..d).map(|c| at(t, 0, c) * at(j, 1, c)).sum::<f64>() + mask.map_or(0.0, |m| m[t * s.tokens + j] as f64))
            .collect();
        let max = scores.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let e: Vec<f64> = scores.iter().map(|&v| (v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / sum).collect();
        let out = (0..d).map(|c| (0..s.tokens).map(|j| p[j] * at(j, 2, c)).sum()).collect();
        (p, out)
    }

    fn check(shape: Heads, mask: Option<&[f32]>, queries: Option<&[usize]>) {
        let n = shape.batch * shape.tokens * 3 * shape.hidden();
        let qkv: Vec<f32> = (0..n).map(|i| ((i * 7919) % 997) as f32 / 997.0 - 0.5).collect();
        let got = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(|| self_attention(&qkv, shape, mask, queries));
        let asked: Vec<usize> = queries.map_or((0..shape.tokens).collect(), <[usize]>::to_vec);
        let nq = asked.len();
        for b in 0..shape.batch {
            for h in 0..shape.heads {
                for (qi, &t) in asked.iter().enumerate() {
                    let (p, out) = reference(&qkv, shape, mask, b, h, t);
                    let got_p = &got.probs[((b * shape.heads + h) * nq + qi) * shape.tokens..][..shape.tokens];
                    let got_out = &got.output[(b * nq + qi) * shape.hidden() + h * shape.head_dim..][..shape.head_dim];
                    for (g, w) in got_p.iter().zip(&p).chain(got_out.iter().zip(&out)) {
                        assert!((*g as f64 - w).abs() < 1e-5, "{shape:?} b {b} h {h} token {t}: {g} vs {w}");
                    }
                }
            }
        }
    }

    #[test]
    fn matches_the_reference_for_every_head_and_sequence() {
        check(Heads { batch: 3, tokens: 50, heads: 4, head_dim: 16 }, None, None);
        check(Heads { batch: 1, tokens: 7, heads: 2, head_dim: 5 }, None, None);
    }

    #[test]
    fn a_causal_mask_hides_later_tokens() {
        let tokens = 9;
        let mask: Vec<f32> = (0..tokens * tokens).map(|i| if i % tokens > i / tokens { f32::NEG_INFINITY } else { 0.0 }).collect();
        let shape = Heads { batch: 1, tokens, heads: 3, head_dim: 8 };
        check(shape, Some(&mask), None);
        let n = tokens * 3 * shape.hidden();
        let qkv: Vec<f32> = (0..n).map(|i| (i % 13) as f32 * 0.1).collect();
        let got = self_attention(&qkv, shape, Some(&mask), None);
        for (i, p) in got.probs.chunks(tokens).enumerate() {
            let t = i % tokens;
            assert!(p[t + 1..].iter().all(|&v| v == 0.0), "token {t} sees a later token");
        }
    }

    #[test]
    fn chosen_query_rows_equal_those_rows_of_the_full_attention() {
        check(Heads { batch: 2, tokens: 11, heads: 2, head_dim: 6 }, None, Some(&[0, 10, 4]));
    }
}
