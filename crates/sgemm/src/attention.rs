//! Multi-head self-attention on the output of a stacked q/k/v projection.
//!
//! Every (sequence, head) pair is one task on rayon's threads: `q·kᵀ` (plus
//! the additive mask, which initialises the scores), a softmax per row, then
//! `probs·v`, both products on this crate's kernel with k and v packed per
//! call (a head's k is only 64 × tokens). A single film's twelve heads thus
//! run on every core, where batched products split nothing. Each head writes
//! its columns of the output in place, and under a causal mask the queries go
//! in blocks that skip the keys they cannot see (`QUERY_BLOCK`).

use rayon::prelude::*;

use crate::head_products::{self, Rows, WIDTH};
use crate::{Init, MatRef, NR, PackedB, SharedOut, activation, gemm_panels};

/// Queries multiplied at a time. Under a causal mask (a prompt's, or a tree
/// of prompts') a block's rows see only the keys up to its last row, so the
/// products and the softmax skip the rest: about half of the work for the
/// prompts, none for films, which have no mask.
const QUERY_BLOCK: usize = 12;

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
    /// `[batch, heads, queries, tokens]`; empty unless asked for.
    pub probs: Vec<f32>,
}

/// `qkv` is `[batch·tokens, 3·hidden]`: q (already scaled by 1/√d), k and v
/// side by side. `mask` is additive, `[tokens, tokens]` (query row, key
/// column), the same for every sequence. `queries` picks the token rows that
/// ask (every token is still attended to); `None` means all of them. The
/// probabilities are returned with `keep_probs` (the heatmap and the
/// trainer's backward read them; a forward pass alone need not write them).
///
/// # Panics
/// When the buffers do not have the sizes `shape` implies.
pub fn self_attention(qkv: &[f32], shape: Heads, mask: Option<&[f32]>, queries: Option<&[usize]>, keep_probs: bool) -> Attention {
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
    let all_queries = nq == tokens && queries.iter().enumerate().all(|(i, &t)| i == t);
    // The keys each query can see lead its row: those up to its last one the
    // mask does not hide (all, without a mask or when it hides every one).
    let visible: Vec<usize> = queries
        .iter()
        .map(|&t| mask.and_then(|m| m[t * tokens..(t + 1) * tokens].iter().rposition(|&v| v != f32::NEG_INFINITY)).map_or(tokens, |last| last + 1))
        .collect();
    let (probs_len, output_len) = (batch * heads * nq * tokens, batch * nq * hidden);
    if probs_len == 0 || output_len == 0 {
        return Attention { output: vec![0f32; output_len], probs: vec![0f32; if keep_probs { probs_len } else { 0 }] };
    }
    // Both buffers start uninitialised: each task writes its own part (its
    // scores and its head's columns of the output) before anything reads it.
    // The film path below writes the probabilities only when they are
    // kept; the general one computes its scores in them.
    let film_heads = mask.is_none() && d == WIDTH && tokens <= WIDTH && nq <= WIDTH;
    let mut probs: Vec<f32> = Vec::with_capacity(if film_heads && !keep_probs { 0 } else { probs_len });
    let mut output: Vec<f32> = Vec::with_capacity(output_len);
    let (probs_at, output_at) = (SharedOut(probs.as_mut_ptr()), SharedOut(output.as_mut_ptr()));
    let row = 3 * hidden;
    if film_heads {
        // A film's heads: the products on one head's matrices where they lie.
        (0..batch * heads).into_par_iter().for_each(|task| {
            let (b, h) = (task / heads, task % heads);
            let seq = &qkv[b * tokens * row..(b + 1) * tokens * row];
            let part = |part: usize| Rows { data: &seq[part * hidden + h * d..], stride: row };
            let gathered = (!all_queries).then(|| gather_queries(seq, queries, row, h * d, d));
            let q = gathered.as_deref().map_or(part(0), |g| Rows { data: g, stride: d });
            head_products::with_scratch(2 * WIDTH * WIDTH, |scratch| {
                let (keys_t, scores) = scratch.split_at_mut(WIDTH * WIDTH);
                let scores = &mut scores[..nq * WIDTH];
                head_products::transpose_padded(tokens, d, part(1), keys_t);
                // SAFETY (both products): the scratch is this thread's; the
                // output's rows of sequence b, head h's 64 columns, are
                // written by this task alone.
                unsafe {
                    head_products::multiply(nq, d, q, Rows { data: keys_t, stride: WIDTH }, scores.as_mut_ptr(), WIDTH, false);
                    activation::softmax_row_prefixes_in_place(scores, WIDTH, tokens);
                    head_products::multiply(nq, tokens, Rows { data: scores, stride: WIDTH }, part(2), output_at.add(b * nq * hidden + h * d), hidden, false);
                }
                for (i, p) in scores.chunks_exact(WIDTH).enumerate().filter(|_| keep_probs) {
                    // SAFETY: row i of this task's block of `probs`, written by it alone.
                    unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), probs_at.add((task * nq + i) * tokens), tokens) };
                }
            });
        });
        // SAFETY: every task wrote its block of `probs` and its columns of
        // every output row.
        unsafe {
            if keep_probs {
                probs.set_len(probs_len);
            }
            output.set_len(output_len);
        }
        return Attention { output, probs };
    }
    (0..batch * heads).into_par_iter().for_each(|task| {
        let (b, h) = (task / heads, task % heads);
        let seq = &qkv[b * tokens * row..(b + 1) * tokens * row];
        let view = |part: usize| MatRef::strided(&seq[part * hidden + h * d..], tokens, d, row, 1);
        // All queries are read where they lie; chosen ones are gathered [nq, d].
        let gathered = (!all_queries).then(|| gather_queries(seq, queries, row, h * d, d));
        let q = gathered.as_deref().map_or(view(0), |g| MatRef::row_major(g, nq, d));
        // SAFETY: tasks own disjoint `nq × tokens` blocks of `probs`, which
        // holds `probs_len` values; the block is written in full here before
        // the products read it.
        let scores = unsafe { std::slice::from_raw_parts_mut(probs_at.add(task * nq * tokens), nq * tokens) };
        match mask {
            Some(mask) => {
                for (line, &t) in scores.chunks_exact_mut(tokens).zip(queries) {
                    line.copy_from_slice(&mask[t * tokens..(t + 1) * tokens]);
                }
            }
            None => scores.fill(0.0),
        }
        let (keys, values) = (PackedB::new(view(1).t()), PackedB::new(view(2)));
        let block_rows = if mask.is_some() { QUERY_BLOCK } else { nq };
        for block in (0..nq).step_by(block_rows) {
            let rows = block..(block + block_rows).min(nq);
            let seen = rows.clone().map(|r| visible[r]).max().unwrap_or(tokens);
            let block_scores = &mut scores[rows.start * tokens..rows.end * tokens];
            // SAFETY (both products): the block's rows of this task's scores,
            // and of sequence b's output rows, head h's d columns
            // ([batch, queries, heads·d]); no other task writes either.
            unsafe {
                // q·kᵀ for the keys the block can see (the others keep the mask's −∞).
                gemm_panels(q.row_range(rows.clone()), &keys, 0..seen.div_ceil(NR), SharedOut(block_scores.as_mut_ptr()), tokens, Init::Accumulate);
                activation::softmax_row_prefixes_in_place(block_scores, tokens, seen);
                let probs = MatRef::row_major(block_scores, rows.len(), tokens).first_cols(seen);
                gemm_panels(probs, &values, 0..values.panels(), SharedOut(output_at.add((b * nq + rows.start) * hidden + h * d)), hidden, Init::Bias(None));
            }
        }
    });
    // SAFETY: the tasks wrote every value of both (each (sequence, head) its
    // scores and its columns of the sequence's rows).
    unsafe {
        probs.set_len(probs_len);
        output.set_len(output_len);
    }
    if !keep_probs {
        probs = Vec::new();
    }
    Attention { output, probs }
}

/// A head's `d` values (from column `column`) of the rows `queries` of one
/// sequence whose rows are `row` apart: `[queries, d]`.
fn gather_queries(seq: &[f32], queries: &[usize], row: usize, column: usize, d: usize) -> Vec<f32> {
    queries.iter().flat_map(|&t| seq[t * row + column..t * row + column + d].iter().copied()).collect()
}

/// The gradient of [`self_attention`] (without a mask) with respect to its
/// `qkv` input, given `probs` (as it returned them), the output's gradient
/// `d_output` (`[batch·queries, hidden]`) and the same `queries`. Returns
/// `[batch·tokens, 3·hidden]` laid out as `qkv`; the q part is the gradient
/// with respect to q before its scaling by `scale` (zero in the rows that
/// asked no query).
///
/// Per (sequence, head), with P the probabilities and dO the head's output
/// gradient: `dP = dO·vᵀ`, `dS = P ⊙ (dP − Σ_row dP ⊙ P)`, `dq = scale·dS·k`,
/// `dk = dSᵀ·q`, `dv = Pᵀ·dO`.
///
/// # Panics
/// When the buffers do not have the sizes `shape` implies.
pub fn self_attention_backward(qkv: &[f32], probs: &[f32], d_output: &[f32], shape: Heads, queries: Option<&[usize]>, scale: f32) -> Vec<f32> {
    let Heads { batch, tokens, heads, head_dim: d } = shape;
    let hidden = shape.hidden();
    let row = 3 * hidden;
    assert_eq!(qkv.len(), batch * tokens * row, "attention backward: q/k/v holds {} values, the shape needs {}", qkv.len(), batch * tokens * row);
    let all: Vec<usize> = (0..tokens).collect();
    let queries = queries.unwrap_or(&all);
    assert!(queries.iter().all(|&t| t < tokens), "attention backward: a query row is outside the {tokens} tokens");
    let nq = queries.len();
    assert_eq!(probs.len(), batch * heads * nq * tokens, "attention backward: probabilities must be [batch, heads, queries, tokens]");
    assert_eq!(d_output.len(), batch * nq * hidden, "attention backward: the output gradient must be [batch·queries, hidden]");
    if batch * tokens * row == 0 || nq == 0 {
        return vec![0f32; batch * tokens * row];
    }
    let all_queries = nq == tokens && queries.iter().enumerate().all(|(i, &t)| i == t);
    if d == WIDTH && tokens <= WIDTH && nq <= WIDTH {
        // A film's heads: the products on one head's matrices where they lie.
        // Every value of the gradient is written below (the q part of rows
        // that asked nothing as zeros).
        let mut grad: Vec<f32> = Vec::with_capacity(batch * tokens * row);
        let grad_at = SharedOut(grad.as_mut_ptr());
        (0..batch * heads).into_par_iter().for_each(|task| {
            let (b, h) = (task / heads, task % heads);
            let seq = &qkv[b * tokens * row..(b + 1) * tokens * row];
            let part = |part: usize| Rows { data: &seq[part * hidden + h * d..], stride: row };
            let p = &probs[task * nq * tokens..(task + 1) * nq * tokens];
            let d_out = Rows { data: &d_output[b * nq * hidden + h * d..], stride: hidden };
            let gathered = (!all_queries).then(|| gather_queries(seq, queries, row, h * d, d));
            let q = gathered.as_deref().map_or(part(0), |g| Rows { data: g, stride: d });
            head_products::with_scratch(4 * WIDTH * WIDTH, |scratch| {
                let (values_t, rest) = scratch.split_at_mut(WIDTH * WIDTH);
                let (ds, rest) = rest.split_at_mut(WIDTH * WIDTH);
                let (ds_t, p_t) = rest.split_at_mut(WIDTH * WIDTH);
                let ds = &mut ds[..nq * WIDTH];
                head_products::transpose_padded(tokens, d, part(2), values_t);
                // SAFETY (all products): the scratch is this thread's; sequence
                // b's rows, head h's 64 columns of each part of `grad`, are
                // written by this task alone and lie inside it.
                unsafe {
                    // dS, from dP = dO·vᵀ, row by row (zero past the tokens).
                    head_products::multiply(nq, d, d_out, Rows { data: values_t, stride: WIDTH }, ds.as_mut_ptr(), WIDTH, false);
                    for (ds, p) in ds.chunks_exact_mut(WIDTH).zip(p.chunks_exact(tokens)) {
                        let dot: f32 = ds.iter().zip(p).map(|(g, p)| g * p).sum();
                        for (g, &p) in ds.iter_mut().zip(p) {
                            *g = p * (*g - dot);
                        }
                        ds[tokens..].fill(0.0);
                    }
                    head_products::transpose_padded(nq, tokens, Rows { data: ds, stride: WIDTH }, ds_t);
                    head_products::transpose_padded(nq, tokens, Rows { data: p, stride: tokens }, p_t);
                    let base = grad_at.add(b * tokens * row + h * d);
                    head_products::multiply(tokens, nq, Rows { data: ds_t, stride: WIDTH }, q, base.add(hidden), row, false);
                    head_products::multiply(tokens, nq, Rows { data: p_t, stride: WIDTH }, d_out, base.add(2 * hidden), row, false);
                    // dq = scale·dS·k: in place for all rows, else zeros but for the rows asked.
                    if all_queries {
                        head_products::multiply(nq, tokens, Rows { data: ds, stride: WIDTH }, part(1), base, row, false);
                        for t in 0..tokens {
                            std::slice::from_raw_parts_mut(base.add(t * row), d).iter_mut().for_each(|g| *g *= scale);
                        }
                    } else {
                        for t in 0..tokens {
                            std::slice::from_raw_parts_mut(base.add(t * row), d).fill(0.0);
                        }
                        let dq = ds_t; // its last use is above
                        head_products::multiply(nq, tokens, Rows { data: ds, stride: WIDTH }, part(1), dq.as_mut_ptr(), WIDTH, false);
                        for (i, &t) in queries.iter().enumerate() {
                            let out = std::slice::from_raw_parts_mut(base.add(t * row), d);
                            out.iter_mut().zip(&dq[i * WIDTH..i * WIDTH + d]).for_each(|(o, &g)| *o += scale * g);
                        }
                    }
                }
            });
        });
        // SAFETY: the tasks wrote every value (each (sequence, head) its
        // columns of q, k and v in every row of its sequence).
        unsafe { grad.set_len(batch * tokens * row) };
        return grad;
    }
    // Any other head width: the general kernel, B packed per product. Zeros
    // first: the q part of rows that asked nothing stays zero, and each task
    // adds its head's columns into rows it alone writes.
    let mut grad = vec![0f32; batch * tokens * row];
    let grad_at = SharedOut(grad.as_mut_ptr());
    (0..batch * heads).into_par_iter().for_each(|task| {
        let (b, h) = (task / heads, task % heads);
        let seq = &qkv[b * tokens * row..(b + 1) * tokens * row];
        let view = |part: usize| MatRef::strided(&seq[part * hidden + h * d..], tokens, d, row, 1);
        let p = &probs[task * nq * tokens..(task + 1) * nq * tokens];
        let d_out = MatRef::strided(&d_output[b * nq * hidden + h * d..], nq, d, hidden, 1);
        // dS, from dP = dO·vᵀ, row by row.
        let mut ds = crate::matmul(d_out, &PackedB::new(view(2).t()), None);
        for (ds, p) in ds.chunks_exact_mut(tokens).zip(p.chunks_exact(tokens)) {
            let dot: f32 = ds.iter().zip(p).map(|(g, p)| g * p).sum();
            for (g, &p) in ds.iter_mut().zip(p) {
                *g = p * (*g - dot);
            }
        }
        let q = gather_queries(seq, queries, row, h * d, d);
        let dq = crate::matmul(MatRef::row_major(&ds, nq, tokens), &PackedB::new(view(1)), None);
        let dk = crate::matmul(MatRef::row_major(&ds, nq, tokens).t(), &PackedB::new(MatRef::row_major(&q, nq, d)), None);
        let dv = crate::matmul(MatRef::row_major(p, nq, tokens).t(), &PackedB::new(d_out), None);
        // SAFETY: sequence b's rows, head h's d columns of each part: no
        // other task writes them, and all lie inside `grad`.
        unsafe {
            let base = grad_at.add(b * tokens * row + h * d);
            for (i, &t) in queries.iter().enumerate() {
                let out = std::slice::from_raw_parts_mut(base.add(t * row), d);
                out.iter_mut().zip(&dq[i * d..(i + 1) * d]).for_each(|(o, &g)| *o += scale * g);
            }
            for t in 0..tokens {
                std::ptr::copy_nonoverlapping(dk[t * d..].as_ptr(), base.add(t * row + hidden), d);
                std::ptr::copy_nonoverlapping(dv[t * d..].as_ptr(), base.add(t * row + 2 * hidden), d);
            }
        }
    });
    grad
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
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let got = pool.install(|| self_attention(&qkv, shape, mask, queries, true));
        // Without the probabilities: the same output, and none returned.
        let output_only = pool.install(|| self_attention(&qkv, shape, mask, queries, false));
        assert!(output_only.output == got.output && output_only.probs.is_empty(), "{shape:?}: the output alone differs");
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
        // A film's shape (64-wide heads, unmasked): the head products, all
        // queries or chosen ones, and a sequence of a full 64 tokens.
        check(Heads { batch: 3, tokens: 50, heads: 2, head_dim: 64 }, None, None);
        check(Heads { batch: 3, tokens: 50, heads: 2, head_dim: 64 }, None, Some(&[0]));
        check(Heads { batch: 2, tokens: 64, heads: 3, head_dim: 64 }, None, Some(&[5, 0, 63]));
        // Query counts that leave every size of last block of rows (4, 2).
        check(Heads { batch: 1, tokens: 14, heads: 2, head_dim: 64 }, None, None);
        check(Heads { batch: 1, tokens: 14, heads: 2, head_dim: 64 }, None, Some(&[13, 2]));
    }

    #[test]
    fn a_causal_mask_hides_later_tokens() {
        let tokens = 9;
        let mask: Vec<f32> = (0..tokens * tokens).map(|i| if i % tokens > i / tokens { f32::NEG_INFINITY } else { 0.0 }).collect();
        let shape = Heads { batch: 1, tokens, heads: 3, head_dim: 8 };
        check(shape, Some(&mask), None);
        let n = tokens * 3 * shape.hidden();
        let qkv: Vec<f32> = (0..n).map(|i| (i % 13) as f32 * 0.1).collect();
        let got = self_attention(&qkv, shape, Some(&mask), None, true);
        for (i, p) in got.probs.chunks(tokens).enumerate() {
            let t = i % tokens;
            assert!(p[t + 1..].iter().all(|&v| v == 0.0), "token {t} sees a later token");
        }
    }

    #[test]
    fn masks_over_several_query_blocks_match_the_reference() {
        let tokens = 3 * QUERY_BLOCK + 5;
        let shape = Heads { batch: 2, tokens, heads: 2, head_dim: 16 };
        let causal: Vec<f32> = (0..tokens * tokens).map(|i| if i % tokens > i / tokens { f32::NEG_INFINITY } else { 0.0 }).collect();
        check(shape, Some(&causal), None);
        check(shape, Some(&causal), Some(&[tokens - 1, 0, 2 * QUERY_BLOCK + 1, 3]));
        // A prefix tree of prompts: each token sees itself and its ancestors,
        // here every other earlier token, so a row's visible keys have gaps.
        let tree: Vec<f32> = (0..tokens * tokens).map(|i| if i % tokens == i / tokens || (i % tokens < i / tokens && (i % tokens) % 2 == 0) { 0.0 } else { f32::NEG_INFINITY }).collect();
        check(shape, Some(&tree), None);
        // A mask that hides nothing of a row's end computes every key.
        let open: Vec<f32> = (0..tokens * tokens).map(|i| if (i % tokens) % 3 == 1 { f32::NEG_INFINITY } else { 0.0 }).collect();
        check(shape, Some(&open), None);
    }

    #[test]
    fn chosen_query_rows_equal_those_rows_of_the_full_attention() {
        check(Heads { batch: 2, tokens: 11, heads: 2, head_dim: 6 }, None, Some(&[0, 10, 4]));
    }

    /// The backward pass against central differences of an f64 forward:
    /// L = Σ dO ⊙ O over the rows asked, with q entering as `scale · q_raw`.
    #[test]
    fn backward_matches_finite_differences() {
        for (queries, head_dim) in [(None, 4), (Some(&[0usize][..]), 4), (Some(&[2, 0][..]), 4), (None, 64), (Some(&[0usize][..]), 64)] {
            let shape = Heads { batch: 2, tokens: 5, heads: 2, head_dim };
            let (hidden, row) = (shape.hidden(), 3 * shape.hidden());
            let n = shape.batch * shape.tokens * row;
            let raw: Vec<f64> = (0..n).map(|i| ((i * 7919) % 997) as f64 / 997.0 - 0.5).collect();
            let scale = 0.7f64;
            let scaled = |raw: &[f64]| -> Vec<f32> { raw.iter().enumerate().map(|(i, &v)| if i % row < hidden { v * scale } else { v } as f32).collect() };
            let asked: Vec<usize> = queries.map_or((0..shape.tokens).collect(), <[usize]>::to_vec);
            let d_out: Vec<f32> = (0..shape.batch * asked.len() * hidden).map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.4).collect();
            let loss = |raw: &[f64]| -> f64 {
                let qkv: Vec<f64> = raw.iter().enumerate().map(|(i, &v)| if i % row < hidden { v * scale } else { v }).collect();
                let mut total = 0.0;
                for b in 0..shape.batch {
                    for h in 0..shape.heads {
                        for (qi, &t) in asked.iter().enumerate() {
                            let d = shape.head_dim;
                            let at = |tok: usize, part: usize, c: usize| qkv[(b * shape.tokens + tok) * row + part * hidden + h * d + c];
                            let scores: Vec<f64> = (0..shape.tokens).map(|j| (0..d).map(|c| at(t, 0, c) * at(j, 1, c)).sum()).collect();
                            let max = scores.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                            let e: Vec<f64> = scores.iter().map(|&v| (v - max).exp()).collect();
                            let sum: f64 = e.iter().sum();
                            for c in 0..d {
                                let o: f64 = (0..shape.tokens).map(|j| e[j] / sum * at(j, 2, c)).sum();
                                total += d_out[(b * asked.len() + qi) * hidden + h * d + c] as f64 * o;
                            }
                        }
                    }
                }
                total
            };
            let qkv = scaled(&raw);
            let forward = self_attention(&qkv, shape, None, queries, true);
            let grad = self_attention_backward(&qkv, &forward.probs, &d_out, shape, queries, scale as f32);
            for i in 0..n {
                let (mut up, mut down) = (raw.clone(), raw.clone());
                up[i] += 1e-4;
                down[i] -= 1e-4;
                let want = (loss(&up) - loss(&down)) / 2e-4;
                assert!((grad[i] as f64 - want).abs() < 1e-4, "{queries:?}: value {i} (part {}): {} vs {want}", i % row / hidden, grad[i]);
            }
        }
    }
}
