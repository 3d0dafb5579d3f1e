//! The trainable blocks forward and backward on plain f32 buffers (CPU).
//!
//! Through candle's autograd the trainable step's backward took ≈ 3× its
//! forward (9 of 11.7 ms per film), most of it outside the products: every
//! gradient is summed into a zeroed tensor, every head split and narrow is a
//! copy forward and a scatter backward. Here the two blocks keep what their
//! backward needs (a tape) and the backward is written out, on the same
//! kernels as inference (crates/sgemm: products, attention, layer norm,
//! quick GELU). The part after the blocks (post-layernorm, projection,
//! adapter, logits, loss) stays in candle, with the class token's output as
//! a leaf whose gradient starts this backward (forward.rs). The candle
//! composition in forward.rs remains the path for other devices and the
//! reference the tests hold this to.

use kneeclip_sgemm::attention::{Heads, self_attention, self_attention_backward};
use kneeclip_sgemm::{MatRef, PackedB, activation, gemm, gemm_overwrite, matmul, matmul_after_layer_norm, mlp_backward_through_quick_gelu, mlp_keeping_tape, rows};
use rayon::prelude::*;

/// One block's parameters, PyTorch's layouts (`[out, in]` weights).
pub struct BlockParams<'a> {
    pub ln1_weight: &'a [f32],
    pub ln1_bias: &'a [f32],
    pub q_weight: &'a [f32],
    pub q_bias: &'a [f32],
    pub k_weight: &'a [f32],
    pub k_bias: &'a [f32],
    pub v_weight: &'a [f32],
    pub v_bias: &'a [f32],
    pub out_weight: &'a [f32],
    pub out_bias: &'a [f32],
    pub ln2_weight: &'a [f32],
    pub ln2_bias: &'a [f32],
    pub fc1_weight: &'a [f32],
    pub fc1_bias: &'a [f32],
    pub fc2_weight: &'a [f32],
    pub fc2_bias: &'a [f32],
}

/// The parameter names of a block, in the order [`BlockGrads::into_named`] returns them.
pub const PARAM_NAMES: [&str; 16] = [
    "layer_norm1.weight",
    "layer_norm1.bias",
    "self_attn.q_proj.weight",
    "self_attn.q_proj.bias",
    "self_attn.k_proj.weight",
    "self_attn.k_proj.bias",
    "self_attn.v_proj.weight",
    "self_attn.v_proj.bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "layer_norm2.weight",
    "layer_norm2.bias",
    "mlp.fc1.weight",
    "mlp.fc1.bias",
    "mlp.fc2.weight",
    "mlp.fc2.bias",
];

/// A block's shape: `batch` sequences of `tokens`, `hidden` wide, `heads`
/// heads, an MLP `inner` wide; with `class_token_only` only the first
/// token's row comes out (all the last block needs to produce).
#[derive(Clone, Copy, Debug)]
pub struct BlockShape {
    pub batch: usize,
    pub tokens: usize,
    pub hidden: usize,
    pub heads: usize,
    pub inner: usize,
    pub eps: f32,
    pub class_token_only: bool,
}

impl BlockShape {
    fn heads(&self) -> Heads {
        Heads { batch: self.batch, tokens: self.tokens, heads: self.heads, head_dim: self.hidden / self.heads }
    }

    /// Token rows each sequence queries with.
    fn queries(&self) -> Option<&'static [usize]> {
        self.class_token_only.then_some(&[0])
    }

    /// Rows out: `batch` with `class_token_only`, else `batch · tokens`.
    pub fn rows_out(&self) -> usize {
        if self.class_token_only { self.batch } else { self.batch * self.tokens }
    }

    fn scale(&self) -> f32 {
        ((self.hidden / self.heads) as f32).powf(-0.5)
    }
}

/// What a block's backward needs of its forward.
pub struct Tape {
    shape: BlockShape,
    input: Vec<f32>,
    /// The first layer norm's output, where the forward wrote it (the last
    /// block's); the others' is made again if their backward needs it.
    normed1: Option<Vec<f32>>,
    qkv: Vec<f32>,
    probs: Vec<f32>,
    attention: Vec<f32>,
    mid: Vec<f32>,
    normed2: Vec<f32>,
    /// fc1's output before the activation, and after it (packed as fc2's
    /// weight gradient reads it).
    inner: Vec<f32>,
    activated: PackedB,
}

/// A block's parameter gradients, in [`PARAM_NAMES`]' order.
pub struct BlockGrads(pub Vec<Vec<f32>>);

/// `x Wᵀ` for `x` [rows, in] and `w` [out, in], on the fastest arithmetic
/// (as the inference path), into a new `[rows, out]` matrix with `bias`.
fn linear(x: MatRef<'_>, w: &[f32], bias: &[f32]) -> Vec<f32> {
    let (out, inp) = (bias.len(), x.cols());
    matmul(x, &PackedB::fastest(MatRef::row_major(w, out, inp).t()), Some(bias))
}

/// `residual + x Wᵀ + bias` as a new matrix [rows, out]: the residual and
/// the bias added in one threaded pass, then the product accumulated.
fn residual_linear(residual: &[f32], x: MatRef<'_>, w: &[f32], bias: &[f32]) -> Vec<f32> {
    let (out, inp) = (bias.len(), x.cols());
    let mut c = rows::with_row_added(residual, bias);
    gemm(x, &PackedB::fastest(MatRef::row_major(w, out, inp).t()), &mut c, out);
    c
}

/// `c = x Wᵀ + bias` on `c` [rows, out] at leading dimension `ldc`, which
/// is overwritten (it needs no zeroing).
fn linear_over(x: MatRef<'_>, w: &[f32], bias: &[f32], c: &mut [f32], ldc: usize) {
    let (out, inp) = (bias.len(), x.cols());
    gemm_overwrite(x, &PackedB::fastest(MatRef::row_major(w, out, inp).t()), Some(bias), c, ldc);
}

/// What a linear layer's backward does with the gradient of its input.
enum InputGrad<'a> {
    /// `dy W` as a new `[rows, in]` matrix (no zeroed buffer to add it to).
    New,
    /// `dx += dy W` into `dx` at leading dimension `ldx`.
    Add(&'a mut [f32], usize),
}

/// The gradients of `y = x Wᵀ + b` from `dy`: (dW = dyᵀ x, db = Σ_rows dy,
/// and with [`InputGrad::New`] dx = dy W).
fn linear_backward(x: MatRef<'_>, w: &[f32], dy: MatRef<'_>, dx: InputGrad<'_>) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    linear_backward_packed(&PackedB::fastest(x), w, dy, dx)
}

/// [`linear_backward`] with x already packed (q, k and v share theirs).
fn linear_backward_packed(x: &PackedB, w: &[f32], dy: MatRef<'_>, dx: InputGrad<'_>) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let (out, inp) = (dy.cols(), x.n());
    let dw = matmul(dy.t(), x, None);
    let db = rows::column_sums(dy);
    let w = PackedB::fastest(MatRef::row_major(w, out, inp));
    let dx = match dx {
        InputGrad::New => Some(matmul(dy, &w, None)),
        InputGrad::Add(dx, ldx) => {
            gemm(dy, &w, dx, ldx);
            None
        }
    };
    (dw, db, dx)
}

/// `mid + quick_gelu(normed2 W1ᵀ + b1) W2ᵀ + b2` for `rows` rows, and what
/// the backward reads: fc1's outputs, and the activated layer packed as
/// fc2's weight gradient reads it. On the AMX tiles the activated layer is
/// never written as f32: each block of fc1 is kept, activated and packed
/// as it leaves the kernel (docs/PERFORMANCE.md, item 35).
fn mlp_forward(p: &BlockParams<'_>, mid: &[f32], normed2: &[f32], rows: usize, inner_width: usize) -> (Vec<f32>, Vec<f32>, PackedB) {
    let h = mid.len() / rows.max(1);
    let fc1 = PackedB::fastest(MatRef::row_major(p.fc1_weight, inner_width, h).t());
    let fc2 = PackedB::fastest(MatRef::row_major(p.fc2_weight, h, inner_width).t());
    let mut out = rows::with_row_added(mid, p.fc2_bias);
    let x = MatRef::row_major(normed2, rows, h);
    if let Some(tape) = mlp_keeping_tape(x, &fc1, Some(p.fc1_bias), &fc2, &mut out, h) {
        return (out, tape.inner, tape.activated);
    }
    let inner = matmul(x, &fc1, Some(p.fc1_bias));
    let activated = activation::quick_gelu(&inner);
    let packed = MatRef::row_major(&activated, rows, inner_width);
    gemm(packed, &fc2, &mut out, h);
    (out, inner, PackedB::fastest(packed))
}

/// `ln1(x)·[Wq·scale; Wk; Wv]ᵀ + [bq·scale; bk; bv]`: q, k and v side by side
/// from one product, the layer norm applied as A is packed (bit for bit
/// `rows::layer_norm`) and q's scale folded into its weights and bias. For
/// a scale that is a power of two (1/√64 = 1/8) these are the values of
/// three products with q scaled after, to the bit; three products packed
/// the normalised rows three times, into a zeroed 3200 × 2304 matrix,
/// after a layer norm pass of their own (docs/PERFORMANCE.md, item 36).
fn stacked_qkv(p: &BlockParams<'_>, x: &[f32], h: usize, scale: f32, eps: f32) -> Vec<f32> {
    let mut weights = Vec::with_capacity(3 * h * h);
    weights.extend(p.q_weight.iter().map(|&w| w * scale));
    weights.extend_from_slice(p.k_weight);
    weights.extend_from_slice(p.v_weight);
    let bias: Vec<f32> = p.q_bias.iter().map(|&b| b * scale).chain(p.k_bias.iter().copied()).chain(p.v_bias.iter().copied()).collect();
    let packed = PackedB::fastest(MatRef::row_major(&weights, 3 * h, h).t());
    matmul_after_layer_norm(x, p.ln1_weight, p.ln1_bias, eps, &packed, Some(&bias))
}

/// The block on `x` [batch·tokens, hidden] → `[rows_out, hidden]`, and its tape.
pub fn forward(p: &BlockParams<'_>, s: BlockShape, x: Vec<f32>) -> (Vec<f32>, Tape) {
    let (h, t, b) = (s.hidden, s.tokens, s.batch);
    let rows_in = b * t;
    assert_eq!(x.len(), rows_in * h, "block: input holds {} values, the shape needs {}", x.len(), rows_in * h);
    // q, k, v side by side, as the attention reads them; q scaled by 1/√d
    // (only the class token's rows with `class_token_only`: the others are
    // never read).
    let scale = s.scale();
    let (normed1, qkv) = if s.class_token_only {
        let normed1 = rows::layer_norm(&x, h, p.ln1_weight, p.ln1_bias, s.eps);
        let all = MatRef::row_major(&normed1, rows_in, h);
        let mut qkv = rows::zeros(rows_in * 3 * h, 3 * h);
        linear_over(all, p.k_weight, p.k_bias, &mut qkv[h..], 3 * h);
        linear_over(all, p.v_weight, p.v_bias, &mut qkv[2 * h..], 3 * h);
        let q = linear(MatRef::strided(&normed1, b, h, t * h, 1), p.q_weight, p.q_bias);
        for (seq, q) in q.chunks_exact(h).enumerate() {
            qkv[seq * t * 3 * h..][..h].iter_mut().zip(q).for_each(|(o, &v)| *o = v * scale);
        }
        (Some(normed1), qkv)
    } else {
        (None, stacked_qkv(p, &x, h, scale, s.eps))
    };
    let attention = self_attention(&qkv, s.heads(), None, s.queries(), true);
    let rows_out = s.rows_out();
    let picked = s.class_token_only.then(|| rows::pick_rows(&x, h, t, &[0]));
    let mid = residual_linear(picked.as_deref().unwrap_or(&x), MatRef::row_major(&attention.output, rows_out, h), p.out_weight, p.out_bias);
    let normed2 = rows::layer_norm(&mid, h, p.ln2_weight, p.ln2_bias, s.eps);
    let (out, inner, activated) = mlp_forward(p, &mid, &normed2, rows_out, s.inner);
    let tape = Tape { shape: s, input: x, normed1, qkv, probs: attention.probs, attention: attention.output, mid, normed2, inner, activated };
    (out, tape)
}

/// The block's parameter gradients from its output's gradient `d_out`
/// [rows_out, hidden], and, with `input_grad`, the gradient of its input.
pub fn backward(p: &BlockParams<'_>, tape: &Tape, d_out: &[f32], input_grad: bool) -> (BlockGrads, Option<Vec<f32>>) {
    let s = tape.shape;
    let (h, t, b, f) = (s.hidden, s.tokens, s.batch, s.inner);
    let (rows_in, rows_out) = (b * t, s.rows_out());
    assert_eq!(d_out.len(), rows_out * h, "block backward: the output gradient holds {} values, the shape needs {}", d_out.len(), rows_out * h);
    let dy = MatRef::row_major(d_out, rows_out, h);
    // MLP: out = mid + gelu(ln2(mid) W1ᵀ + b1) W2ᵀ + b2.
    // The input gradients are new matrices, written by their products (a
    // zeroed buffer to add to cost a pass over 3200 × 3072 values).
    let d_fc2_w = matmul(dy.t(), &tape.activated, None);
    let d_fc2_b = rows::column_sums(dy);
    let w2 = PackedB::fastest(MatRef::row_major(p.fc2_weight, h, f));
    let w1 = PackedB::fastest(MatRef::row_major(p.fc1_weight, f, h));
    let normed2 = PackedB::fastest(MatRef::row_major(&tape.normed2, rows_out, h));
    // On the AMX tiles the hidden layer's gradient is never written out:
    // each block goes through the activation's gradient into both of fc1's
    // products as it leaves fc2's (docs/PERFORMANCE.md, item 34).
    let (d_fc1_w, d_fc1_b, d_normed2) = match mlp_backward_through_quick_gelu(dy, &w2, &tape.inner, &w1, &normed2) {
        Some(fc1) => (fc1.d_w1, fc1.d_b1, fc1.d_input),
        None => {
            let mut d_activated = matmul(dy, &w2, None);
            activation::quick_gelu_backward_in_place(&tape.inner, &mut d_activated);
            let g = MatRef::row_major(&d_activated, rows_out, f);
            (matmul(g.t(), &normed2, None), rows::column_sums(g), matmul(g, &w1, None))
        }
    };
    drop((w1, w2, normed2));
    let ln2 = rows::layer_norm_backward(&tape.mid, h, p.ln2_weight, &d_normed2, s.eps);
    let mut d_mid = ln2.x;
    d_mid.iter_mut().zip(d_out).for_each(|(d, &g)| *d += g);
    // Attention: mid = input (its queried rows) + attention Woᵀ + bo.
    let d_mid_ref = MatRef::row_major(&d_mid, rows_out, h);
    let (d_out_w, d_out_b, d_attention) = linear_backward(MatRef::row_major(&tape.attention, rows_out, h), p.out_weight, d_mid_ref, InputGrad::New);
    let d_attention = d_attention.expect("a new input gradient");
    let d_qkv = self_attention_backward(&tape.qkv, &tape.probs, &d_attention, s.heads(), s.queries(), s.scale());
    drop(d_attention);
    if !input_grad && !s.class_token_only {
        // The first trainable block: the blocks before it are frozen.
        let (ln1_weight, ln1_bias, [d_q_w, d_q_b, d_k_w, d_k_b, d_v_w, d_v_b]) = attention_inputs_backward_without_input(p, tape, &d_qkv);
        let grads = vec![
            ln1_weight, ln1_bias, d_q_w, d_q_b, d_k_w, d_k_b, d_v_w, d_v_b, d_out_w, d_out_b, ln2.weight, ln2.bias, d_fc1_w, d_fc1_b, d_fc2_w, d_fc2_b,
        ];
        return (BlockGrads(grads), None);
    }
    let made_again;
    let normed1 = match &tape.normed1 {
        Some(normed1) => normed1,
        None => {
            made_again = rows::layer_norm(&tape.input, h, p.ln1_weight, p.ln1_bias, s.eps);
            &made_again
        }
    };
    let all = MatRef::row_major(normed1, rows_in, h);
    let part = |i: usize| MatRef::strided(&d_qkv[i * h..], rows_in, h, 3 * h, 1);
    // The normed input is packed once for k's, v's (and q's) weight gradients.
    let all_packed = PackedB::fastest(all);
    let (d_k_w, d_k_b, d_normed1) = linear_backward_packed(&all_packed, p.k_weight, part(1), InputGrad::New);
    let mut d_normed1 = d_normed1.expect("a new input gradient");
    let (d_v_w, d_v_b, _) = linear_backward_packed(&all_packed, p.v_weight, part(2), InputGrad::Add(&mut d_normed1, h));
    let (d_q_w, d_q_b, _) = if s.class_token_only {
        // q came from the class tokens' rows alone (a stride of one sequence).
        let (x_q, dq) = (MatRef::strided(normed1, b, h, t * h, 1), MatRef::strided(&d_qkv, b, h, t * 3 * h, 1));
        linear_backward(x_q, p.q_weight, dq, InputGrad::Add(&mut d_normed1, t * h))
    } else {
        linear_backward_packed(&all_packed, p.q_weight, part(0), InputGrad::Add(&mut d_normed1, h))
    };
    drop(all_packed);
    drop(d_qkv);
    let ln1 = rows::layer_norm_backward(&tape.input, h, p.ln1_weight, &d_normed1, s.eps);
    let d_input = input_grad.then(|| {
        let mut dx = ln1.x;
        if s.class_token_only {
            for (seq, g) in d_mid.chunks_exact(h).enumerate() {
                dx[seq * t * h..][..h].iter_mut().zip(g).for_each(|(d, &g)| *d += g);
            }
        } else {
            dx.iter_mut().zip(&d_mid).for_each(|(d, &g)| *d += g);
        }
        dx
    });
    let grads = vec![
        ln1.weight, ln1.bias, d_q_w, d_q_b, d_k_w, d_k_b, d_v_w, d_v_b, d_out_w, d_out_b, ln2.weight, ln2.bias, d_fc1_w, d_fc1_b, d_fc2_w, d_fc2_b,
    ];
    (BlockGrads(grads), d_input)
}

/// The q/k/v projections' and the first layer norm's gradients of a block
/// whose input gradient nobody wants (the first trainable one: the blocks
/// before it are frozen). The norm's output gradient `d_qkv · W` would take
/// three products of the projections' size only for the norm's 2 × hidden
/// parameters. With x̂ the normalised rows (normed1 = x̂·γ + β), db the
/// bias gradients (column sums of d_qkv) and M = d_qkvᵀ·x̂, one product
/// where the weight gradients took three:
///   dW[o, j] = M[o, j]·γ[j] + db[o]·β[j],
///   ∂γ[j] = Σ_r (d_qkv·W)[r, j]·x̂[r, j] = Σ_o W[o, j]·M[o, j],
///   ∂β[j] = Σ_r (d_qkv·W)[r, j] = Σ_o W[o, j]·db[o].
/// Returns (∂γ, ∂β, [dWq, dbq, dWk, dbk, dWv, dbv]).
fn attention_inputs_backward_without_input(p: &BlockParams<'_>, tape: &Tape, d_qkv: &[f32]) -> (Vec<f32>, Vec<f32>, [Vec<f32>; 6]) {
    let s = tape.shape;
    let (h, rows_in) = (s.hidden, s.batch * s.tokens);
    let d_qkv = MatRef::row_major(d_qkv, rows_in, 3 * h);
    // x̂ by the forward's own formula (γ = 1, β = 0 leave it as it was).
    let normalised = rows::layer_norm(&tape.input, h, &vec![1.0; h], &vec![0.0; h], s.eps);
    let m = matmul(d_qkv.t(), &PackedB::fastest(MatRef::row_major(&normalised, rows_in, h)), None);
    drop(normalised);
    let db = rows::column_sums(d_qkv);
    let (gamma, beta) = (p.ln1_weight, p.ln1_bias);
    let weights = [p.q_weight, p.k_weight, p.v_weight];
    let mut dw = vec![0f32; 3 * h * h];
    dw.par_chunks_mut(h).zip(m.par_chunks(h)).enumerate().for_each(|(o, (dw_row, m_row))| {
        for j in 0..h {
            dw_row[j] = m_row[j] * gamma[j] + db[o] * beta[j];
        }
    });
    // ∂γ and ∂β by columns, each summed over the 3 × hidden rows in order
    // (in f64), so that a run gives the same values every time.
    const COLUMNS: usize = 64;
    let mut d_gamma = vec![0f64; h];
    let mut d_beta = vec![0f64; h];
    d_gamma.par_chunks_mut(COLUMNS).zip(d_beta.par_chunks_mut(COLUMNS)).enumerate().for_each(|(chunk, (g, b))| {
        let first = chunk * COLUMNS;
        for o in 0..3 * h {
            let w_row = &weights[o / h][(o % h) * h + first..][..g.len()];
            let m_row = &m[o * h + first..][..g.len()];
            for j in 0..g.len() {
                g[j] += w_row[j] as f64 * m_row[j] as f64;
                b[j] += w_row[j] as f64 * db[o] as f64;
            }
        }
    });
    let narrow = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    let part = |v: &[f32], i: usize, len: usize| v[i * len..(i + 1) * len].to_vec();
    let grads = [part(&dw, 0, h * h), part(&db, 0, h), part(&dw, 1, h * h), part(&db, 1, h), part(&dw, 2, h * h), part(&db, 2, h)];
    (narrow(d_gamma), narrow(d_beta), grads)
}
