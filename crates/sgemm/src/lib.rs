//! Single-precision matrix multiply for kneeclip's CPU path.
//!
//! Inference multiplies a few dozen token rows (50 for one film) by large,
//! fixed weight matrices. That shape wastes most general-purpose GEMMs: they
//! re-pack the weights on every call and block for large `m`. Here the weights
//! are packed once, when the model loads ([`PackedB`]), into the column panels
//! the micro-kernel streams through; each call packs only the small left-hand
//! side. On x86-64 with AVX-512 a 6×32 register-tiled kernel (two panels at
//! once) does the arithmetic, with AVX2 and FMA a 6×16 one; elsewhere a
//! portable kernel of the same shape (left to the compiler's vectoriser) keeps
//! results identical in layout and close in value.
//! Work is split across rayon's threads by column panels, so threads never
//! write the same memory and need no synchronisation.

pub mod activation;
pub mod amx;
pub mod attention;
mod head_products;
mod kernel;
mod pack;
pub mod rows;
#[cfg(target_arch = "x86_64")]
mod transpose;

use std::ops::Range;

pub use kernel::KERNEL_ENV;
pub use pack::{AMX_MIN_SIDE, PackedB, Precision};

/// Rows of A per micro-kernel call.
pub const MR: usize = 6;
/// Columns of B per micro-kernel call (two AVX registers).
pub const NR: usize = 16;
/// Depth of one block: a 16×256 panel of B (16 KiB) stays in L1.
const KC: usize = 256;
/// Rows of A per packed block (a multiple of `MR`): 192×256 floats (192 KiB)
/// stay in L2, and B is streamed once per block.
const MC: usize = 192;
/// Below this many flops a second thread costs more than it saves.
const PARALLEL_FLOPS: usize = 4_000_000;

/// Threads for an `m × k` by `k × n` product: one below [`PARALLEL_FLOPS`],
/// else the pool's.
fn threads_for(m: usize, k: usize, n: usize) -> usize {
    if 2 * m * k * n < PARALLEL_FLOPS { 1 } else { rayon::current_num_threads().max(1) }
}

/// A read-only strided view of an `rows × cols` f32 matrix.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub(crate) data: &'a [f32],
    rows: usize,
    cols: usize,
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A contiguous row-major matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// Element (i, j) is `data[i * row_stride + j * col_stride]`.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
            assert!(last < data.len(), "sgemm: a {rows}×{cols} view needs {} values, got {}", last + 1, data.len());
        }
        Self { data, rows, cols, row_stride, col_stride }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }

    /// Rows `range` of this view.
    pub(crate) fn row_range(self, range: Range<usize>) -> Self {
        assert!(range.start <= range.end && range.end <= self.rows, "sgemm: rows {range:?} of {}", self.rows);
        let data = if range.is_empty() { &self.data[..0] } else { &self.data[range.start * self.row_stride..] };
        Self { data, rows: range.len(), ..self }
    }

    /// The first `cols` columns of this view.
    pub(crate) fn first_cols(self, cols: usize) -> Self {
        assert!(cols <= self.cols, "sgemm: {cols} columns of {}", self.cols);
        Self { cols, ..self }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `i` as a slice where a row's values are contiguous (`None` otherwise).
    pub fn row(&self, i: usize) -> Option<&'a [f32]> {
        assert!(i < self.rows, "sgemm: row {i} of {}", self.rows);
        (self.col_stride == 1).then(|| &self.data[i * self.row_stride..i * self.row_stride + self.cols])
    }

    #[inline]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// Which kernels run on this CPU: the f32 one ("avx512", "avx2-fma" or
/// "portable"), followed by ", amx-bf16x3" where weights packed with
/// [`PackedB::weights_from_transposed`] are multiplied on AMX tiles.
pub fn kernel_name() -> &'static str {
    use std::sync::OnceLock;
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let f32_kernel = kernel::select().name;
        if amx::available() { format!("{f32_kernel}, amx-bf16x3") } else { f32_kernel.to_string() }
    })
}

/// How many threads a large product is split over (rayon's pool:
/// `RAYON_NUM_THREADS`, else one per core).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `f` on one of rayon's threads while the caller waits. The products
/// and tasks inside `f` then start on a thread of the pool, which takes a
/// share itself, instead of being handed over by a thread outside it that
/// sleeps until they finish: a transformer's forward pass starts a few
/// hundred of them (5–10 % of one film's time, measured).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() { f() } else { rayon::join(f, || ()).0 }
}

/// `C += A · B`, where C is row-major `m × n` with leading dimension `ldc`
/// (`m = a.rows()`, `n = b.n()`). Initialise C with zeros or the bias first.
///
/// # Panics
/// When the shapes disagree or `c` is too short: callers check shapes.
pub fn gemm(a: MatRef<'_>, b: &PackedB, c: &mut [f32], ldc: usize) {
    gemm_with(kernel::select(), a, b, c, ldc);
}

/// `C = A · B + bias` (zeros without a bias), C row-major `m × n` at
/// leading dimension `ldc`: C's values are overwritten, never read, so C
/// needs no zeroing first, and the bias costs no pass of its own (the
/// threads write it into their columns, on AMX tiles as the products start).
///
/// # Panics
/// As [`gemm`].
pub fn gemm_overwrite(a: MatRef<'_>, b: &PackedB, bias: Option<&[f32]>, c: &mut [f32], ldc: usize) {
    if let Some(bias) = bias {
        assert_eq!(bias.len(), b.n(), "sgemm: bias has {} values for {} columns", bias.len(), b.n());
    }
    check_c(a.rows, b.n(), c.len(), ldc);
    // SAFETY: C is exclusively borrowed and large enough (checked above).
    unsafe { gemm_into(kernel::select(), a, b, SharedOut(c.as_mut_ptr()), ldc, Init::Bias(bias)) };
}

/// `C += quick_gelu(A) · B` for A row-major `[rows, b.k()]` (an MLP's first
/// product before its activation) into C as [`gemm`]. On the AMX tiles the
/// activation is applied as A is packed, saving a pass over A in memory
/// (A is then left as it was); otherwise A is activated in place first.
///
/// # Panics
/// As [`gemm`], and when A's length is not a multiple of `b.k()`.
pub fn gemm_quick_gelu_a(a: &mut [f32], b: &PackedB, c: &mut [f32], ldc: usize) {
    let k = b.k();
    assert!(k > 0 && a.len().is_multiple_of(k), "sgemm: A holds {} values, not rows of {k}", a.len());
    let rows = a.len() / k;
    check_c(rows, b.n(), c.len(), ldc);
    if let Some(amx) = b.amx() {
        let threads = threads_for(rows, k, b.n());
        // SAFETY: C is exclusively borrowed and large enough (checked above).
        unsafe { amx::gemm(MatRef::row_major(a, rows, k), amx::Prologue::QuickGelu, amx, SharedOut(c.as_mut_ptr()), ldc, Init::Accumulate, threads, amx::available()) };
        return;
    }
    activation::quick_gelu_in_place(a);
    gemm(MatRef::row_major(a, rows, k), b, c, ldc);
}

/// `layer_norm(X) · B + bias` as a new row-major matrix, for X row-major
/// `[rows, b.k()]` and the norm's `weight`, `bias` and `eps` as
/// [`rows::layer_norm`] takes them (a pre-norm block's first product of
/// each half). On the AMX tiles the rows are normalised as they are packed,
/// so the normalised matrix is never written out and read back; otherwise
/// through [`rows::layer_norm`] first. The same values either way.
///
/// # Panics
/// When X's length is not a multiple of `b.k()`, or the norm's or the
/// product's bias has the wrong length.
pub fn matmul_after_layer_norm(x: &[f32], weight: &[f32], bias: &[f32], eps: f32, b: &PackedB, product_bias: Option<&[f32]>) -> Vec<f32> {
    let (k, n) = (b.k(), b.n());
    assert!(k > 0 && x.len().is_multiple_of(k), "sgemm: X holds {} values, not rows of {k}", x.len());
    assert!(weight.len() == k && bias.len() == k, "sgemm: the layer norm needs {k} weights and biases");
    let m = x.len() / k;
    let Some(amx) = b.amx() else {
        let normed = rows::layer_norm(x, k, weight, bias, eps);
        return matmul(MatRef::row_major(&normed, m, k), b, product_bias);
    };
    if let Some(product_bias) = product_bias {
        assert_eq!(product_bias.len(), n, "sgemm: bias has {} values for {n} columns", product_bias.len());
    }
    let mut c: Vec<f32> = Vec::with_capacity(m * n);
    if m == 0 || n == 0 {
        return c;
    }
    let threads = threads_for(m, k, n);
    let prologue = amx::Prologue::LayerNorm { weight, bias, eps };
    // SAFETY: C holds m·n values, each written by `Init::Bias` before the
    // product reads it, so all are initialised when the length is set.
    unsafe {
        amx::gemm(MatRef::row_major(x, m, k), prologue, amx, SharedOut(c.as_mut_ptr()), n, Init::Bias(product_bias), threads, amx::available());
        c.set_len(m * n);
    }
    c
}

/// A pre-norm block's self-attention over every token of `films` films:
/// `softmax(q·kᵀ)·v` per film and head, with q, k and v the columns of
/// `layer_norm(x) · B + product_bias` (q scaled by 1/√d already), as
/// [`matmul_after_layer_norm`] then [`attention::self_attention`] (no mask,
/// every query, no probabilities kept) compute it. On the AMX tiles q, k
/// and v never go to memory as f32: each block of their product goes
/// straight into its head's tiles, and both of a head's products run on
/// the tiles (`amx::heads`). `None` where that path does not take the
/// shape (no AMX layout, heads not 64 wide, more than 64 or an odd number
/// of tokens): the caller then takes the two steps. Returns `[films·tokens,
/// hidden]`, heads side by side.
///
/// # Panics
/// When `x` is not `films·tokens` rows of `b.k()`, or a norm or bias has
/// the wrong length.
pub fn attention_after_layer_norm(x: &[f32], weight: &[f32], bias: &[f32], eps: f32, b: &PackedB, product_bias: Option<&[f32]>, shape: attention::Heads) -> Option<Vec<f32>> {
    let amx = heads_on_tiles(x, weight, bias, b, product_bias, shape)?;
    let (m, k) = (shape.batch * shape.tokens, b.k());
    if m == 0 {
        return Some(Vec::new());
    }
    let prologue = amx::Prologue::LayerNorm { weight, bias, eps };
    Some(amx::heads_attention(MatRef::row_major(x, m, k), prologue, amx, product_bias, shape, threads_for(m, k, b.n()), amx::available()))
}

/// The q/k/v product on the tiles where the films' attention there takes
/// `shape`, after checking the operands' sizes (panicking as
/// [`attention_after_layer_norm`] says).
fn heads_on_tiles<'b>(x: &[f32], weight: &[f32], bias: &[f32], b: &'b PackedB, product_bias: Option<&[f32]>, shape: attention::Heads) -> Option<&'b amx::AmxB> {
    let amx = b.amx().filter(|amx| amx::heads_fit(amx, shape))?;
    let (m, k) = (shape.batch * shape.tokens, b.k());
    assert_eq!(x.len(), m * k, "sgemm: X holds {} values, the attention's {m} rows of {k} need {}", x.len(), m * k);
    assert!(weight.len() == k && bias.len() == k, "sgemm: the layer norm needs {k} weights and biases");
    if let Some(product_bias) = product_bias {
        assert_eq!(product_bias.len(), b.n(), "sgemm: bias has {} values for {} columns", product_bias.len(), b.n());
    }
    Some(amx)
}

/// A pre-norm block's attention half on its residual stream, in place:
/// `x1 += attention(layer_norm(x)) · W`, the attention as
/// [`attention_after_layer_norm`] computes it, `x1` holding the residual
/// (and W's bias) for every row. On the AMX tiles each head's output goes
/// straight into W's product's A tiles. Returns false, and leaves `x1` as
/// it was, where [`attention_after_layer_norm`] would return `None` or W
/// does not take the attention's output on the tiles: the caller then
/// takes the steps one by one.
///
/// # Panics
/// As [`attention_after_layer_norm`], or when `x1` is not `films·tokens`
/// rows of W's width.
#[allow(clippy::too_many_arguments)]
pub fn attention_block_after_layer_norm(x: &[f32], weight: &[f32], bias: &[f32], eps: f32, qkv: &PackedB, qkv_bias: Option<&[f32]>, w: &PackedB, x1: &mut [f32], shape: attention::Heads) -> bool {
    let (Some(amx), Some(w_amx)) = (heads_on_tiles(x, weight, bias, qkv, qkv_bias, shape), w.amx().filter(|_| w.k() == shape.hidden())) else {
        return false;
    };
    let (m, k) = (shape.batch * shape.tokens, qkv.k());
    assert_eq!(x1.len(), m * w.n(), "sgemm: the residual holds {} values, {m} rows of {} need {}", x1.len(), w.n(), m * w.n());
    if m == 0 {
        return true;
    }
    let prologue = amx::Prologue::LayerNorm { weight, bias, eps };
    // SAFETY: x1 holds m initialised rows of w.n() values, borrowed exclusively.
    unsafe { amx::heads_attention_projected(MatRef::row_major(x, m, k), prologue, amx, qkv_bias, shape, w_amx, SharedOut(x1.as_mut_ptr()), w.n(), threads_for(m, k, qkv.n()), amx::available()) };
    true
}

/// A pre-norm block's MLP on its residual stream, in place:
/// `x += quick_gelu(layer_norm(x) · B1 + bias1) · B2 + bias2` for `x`
/// row-major `[rows, b1.k()]`, the norm's `weight`, `bias` and `eps` as
/// [`rows::layer_norm`] takes them. On the AMX tiles the hidden layer never
/// goes to memory as f32 (`amx::mlp`); otherwise, and where the shapes do
/// not allow it, [`matmul_after_layer_norm`] then [`gemm_quick_gelu_a`].
/// The same values either way.
///
/// # Panics
/// When `x` is not rows of `b1.k()`, B2 does not take B1's output and give
/// rows of `b1.k()`, or a norm or bias has the wrong length.
#[allow(clippy::too_many_arguments)]
pub fn mlp_after_layer_norm(x: &mut [f32], weight: &[f32], bias: &[f32], eps: f32, b1: &PackedB, bias1: Option<&[f32]>, b2: &PackedB, bias2: Option<&[f32]>) {
    let (k, inner) = (b1.k(), b1.n());
    assert!(k > 0 && x.len().is_multiple_of(k), "sgemm: X holds {} values, not rows of {k}", x.len());
    assert!(b2.k() == inner && b2.n() == k, "sgemm: the MLP's second product is {}×{}, its first gives {inner} and its input {k} columns", b2.k(), b2.n());
    assert!(weight.len() == k && bias.len() == k, "sgemm: the layer norm needs {k} weights and biases");
    for (b, n) in [(bias1, inner), (bias2, k)] {
        if let Some(b) = b {
            assert_eq!(b.len(), n, "sgemm: bias has {} values for {n} columns", b.len());
        }
    }
    let m = x.len() / k;
    match (b1.amx(), b2.amx()) {
        (Some(amx1), Some(amx2)) if m > 0 && amx::mlp_fits(amx1, amx2) => {
            let threads = threads_for(m, k, inner);
            // The rows are read (normalised as they are packed) before the
            // bias, and then the products, are added to them.
            let packed = amx::mlp_input(MatRef::row_major(x, m, k), amx::Prologue::LayerNorm { weight, bias, eps }, amx1, threads);
            if let Some(bias2) = bias2 {
                rows::add_row(x, bias2);
            }
            // SAFETY: `x` is exclusively borrowed and holds m rows of k.
            unsafe { amx::mlp(packed, amx1, bias1, amx2, SharedOut(x.as_mut_ptr()), k, threads, amx::available()) };
        }
        _ => {
            let mut hidden = matmul_after_layer_norm(x, weight, bias, eps, b1, bias1);
            if let Some(bias2) = bias2 {
                rows::add_row(x, bias2);
            }
            gemm_quick_gelu_a(&mut hidden, b2, x, k);
        }
    }
}

/// What an MLP's forward keeps for its backward ([`mlp_keeping_tape`]).
pub struct MlpTape {
    /// fc1's outputs before the activation, `[rows, inner]`.
    pub inner: Vec<f32>,
    /// The activated layer packed as B (`rows × inner`), as
    /// `PackedB::fastest` packs it: fc2's weight gradient reads it.
    pub activated: PackedB,
}

/// `c += quick_gelu(x·B1 + bias1)·B2` (`c` rows of `b2.n()` at leading
/// dimension `ldc`, already holding what the sum starts from), keeping
/// fc1's outputs and the activated layer for the backward: on the AMX
/// tiles both are written as each block of fc1 leaves the kernel, and the
/// activated layer never goes to memory as f32 (`amx::mlp_keeping_tape`).
/// The same values, to the bit, as `matmul(x, b1, bias1)`,
/// `activation::quick_gelu`, `gemm` into `c` and `PackedB::fastest` of the
/// activated layer. `None` where these products do not run on the tiles,
/// or `PackedB::fastest` would not pack the activated layer for them (the
/// caller then takes those passes); `c` is then untouched.
///
/// # Panics
/// When the shapes do not agree.
pub fn mlp_keeping_tape(x: MatRef<'_>, b1: &PackedB, bias1: Option<&[f32]>, b2: &PackedB, c: &mut [f32], ldc: usize) -> Option<MlpTape> {
    let (m, inner) = (x.rows(), b1.n());
    assert!(x.cols() == b1.k() && b2.k() == inner, "sgemm: an MLP of {}-wide rows through {}×{inner} and {}×{} does not chain", x.cols(), b1.k(), b2.k(), b2.n());
    if let Some(bias) = bias1 {
        assert_eq!(bias.len(), inner, "sgemm: bias has {} values for {inner} columns", bias.len());
    }
    check_c(m, b2.n(), c.len(), ldc);
    let (amx1, amx2) = (b1.amx()?, b2.amx()?);
    if m.min(inner) < AMX_MIN_SIDE || !amx::mlp_fits(amx1, amx2) {
        return None;
    }
    let threads = threads_for(m, x.cols(), inner);
    let packed = amx::mlp_input(x, amx::Prologue::None, amx1, threads);
    // SAFETY: `c` is exclusively borrowed and holds m rows at `ldc` (checked).
    let (hidden, activated) = unsafe { amx::mlp_keeping_tape(packed, amx1, bias1, amx2, SharedOut(c.as_mut_ptr()), ldc, threads, amx::available()) };
    Some(MlpTape { inner: hidden, activated: PackedB::from_amx(m, b1.n(), activated) })
}

/// fc1's gradients in an MLP's backward, `y = quick_gelu(x·W1ᵀ + b1)·W2ᵀ + b2`.
pub struct MlpBackward {
    /// The gradient of fc1's input `x`, `[rows, x's width]`.
    pub d_input: Vec<f32>,
    /// The gradient of W1, `[inner, x's width]` (PyTorch's layout).
    pub d_w1: Vec<f32>,
    /// The gradient of b1, `[inner]`.
    pub d_b1: Vec<f32>,
}

/// An MLP's backward from its output's gradient `dy` `[rows, out]` to
/// fc1's gradients, where `w2` is W2 packed as it multiplies `dy` (`out ×
/// inner`), `inner` fc1's outputs `[rows, inner]` (before the activation),
/// `w1` W1 packed as it multiplies the hidden gradient (`inner × width`)
/// and `x` fc1's input packed as B (`rows × width`). On the AMX tiles the
/// hidden layer's gradient is never written as f32 (`amx::mlp_backward`);
/// the values are those of `matmul(dy, w2)`, `quick_gelu_backward_in_place`
/// with `inner`, then `matmul(g, w1)`, `matmul(gᵀ, x)` and
/// `rows::column_sums(g)`, to the bit. `None` where these products do not
/// run on the tiles (the caller then takes those passes).
///
/// # Panics
/// When the shapes do not agree.
pub fn mlp_backward_through_quick_gelu(dy: MatRef<'_>, w2: &PackedB, inner: &[f32], w1: &PackedB, x: &PackedB) -> Option<MlpBackward> {
    let rows = dy.rows();
    assert!(dy.cols() == w2.k() && w1.k() == w2.n() && x.k() == rows && x.n() == w1.n(), "sgemm: an MLP backward's shapes do not agree");
    assert_eq!(inner.len(), rows * w2.n(), "sgemm: fc1's outputs must be [rows, inner]");
    let (amx2, amx1, amx_x) = (w2.amx()?, w1.amx()?, x.amx()?);
    if rows == 0 || !amx::mlp_backward_fits(amx2, amx1, amx_x, rows) {
        return None;
    }
    let threads = threads_for(rows, w2.k(), w2.n());
    // SAFETY: the tiles only where AMX is available; the products fit (checked).
    Some(unsafe { amx::mlp_backward(dy, amx2, inner, amx1, amx_x, threads, amx::available()) })
}

/// Panics unless `len` values at leading dimension `ldc` hold an `m × n` C.
fn check_c(m: usize, n: usize, len: usize, ldc: usize) {
    assert!(ldc >= n, "sgemm: ldc {ldc} < n {n}");
    if m > 0 && n > 0 {
        assert!(len >= (m - 1) * ldc + n, "sgemm: C holds {len} values, needs {}", (m - 1) * ldc + n);
    }
}

fn gemm_with(kernels: kernel::Kernels, a: MatRef<'_>, b: &PackedB, c: &mut [f32], ldc: usize) {
    check_c(a.rows, b.n(), c.len(), ldc);
    // SAFETY: C is exclusively borrowed and large enough (checked above).
    unsafe { gemm_into(kernels, a, b, SharedOut(c.as_mut_ptr()), ldc, Init::Accumulate) };
}

/// What C holds before the product is added to it.
#[derive(Clone, Copy)]
pub(crate) enum Init<'a> {
    /// C's values (initialised by the caller).
    Accumulate,
    /// Zeros, or the bias in every row: written by the threads, each for its
    /// own columns, so C needs no initialised memory and no pass of its own.
    Bias(Option<&'a [f32]>),
}

/// The product on C at `c` (`m` rows, leading dimension `ldc`).
///
/// # Safety
/// `c` must be valid for writes of `(m − 1)·ldc + n` values and, with
/// `Init::Accumulate`, hold initialised values; no one else may access it
/// during the call.
unsafe fn gemm_into(kernels: kernel::Kernels, a: MatRef<'_>, b: &PackedB, c: SharedOut, ldc: usize, init: Init<'_>) {
    let (m, k, n) = (a.rows, a.cols, b.n());
    assert_eq!(k, b.k(), "sgemm: A has {k} columns but B has {} rows", b.k());
    if m == 0 || n == 0 {
        return;
    }
    let threads = threads_for(m, k, n);
    if let Some(amx) = b.amx() {
        // SAFETY: the caller's contract.
        unsafe { amx::gemm(a, amx::Prologue::None, amx, c, ldc, init, threads, amx::available()) };
        return;
    }
    let panels = b.panels();
    if threads == 1 {
        // SAFETY: the caller's contract.
        unsafe { multiply_block(kernels, a, b, c, ldc, 0..panels, init) };
        return;
    }
    // Threads split the columns: each reads only its share of B, the large
    // operand, which then stays in its core's L2 from one block of rows to
    // the next, and packs A itself where A needs packing. A wide kernel takes
    // panels in pairs, so shares start on even panels.
    let step = if kernels.wide.is_some() { 2 } else { 1 };
    let units = panels.div_ceil(step);
    let threads = threads.min(units);
    let boundary = |t: usize| (units * t / threads * step).min(panels);
    rayon::scope(|s| {
        for t in 0..threads {
            let cols = boundary(t)..boundary(t + 1);
            // SAFETY: each thread writes only its own columns of C.
            s.spawn(move |_| unsafe { multiply_block(kernels, a, b, c, ldc, cols, init) });
        }
    });
}

/// `A · B + bias` (bias broadcast over rows) as a new row-major `m × n` matrix.
pub fn matmul(a: MatRef<'_>, b: &PackedB, bias: Option<&[f32]>) -> Vec<f32> {
    let (m, n) = (a.rows, b.n());
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n, "sgemm: bias has {} values for {n} columns", bias.len());
    }
    let mut c: Vec<f32> = Vec::with_capacity(m * n);
    // SAFETY: the buffer holds m·n values; `Init::Bias` writes every one of
    // them (each thread its columns of every row) before the product reads
    // them, so all m·n are initialised when the length is set.
    unsafe {
        gemm_into(kernel::select(), a, b, SharedOut(c.as_mut_ptr()), n, Init::Bias(bias));
        if m > 0 && n > 0 {
            c.set_len(m * n);
        }
    }
    c
}

/// `A · B` for B's column panels `panels` only, on the calling thread, into
/// C at `c` (leading dimension `ldc`) initialised as `init` says. A may be
/// shallower than B: the product then reads B's first `a.cols()` rows.
/// Attention's tasks, which already occupy every thread, use it to skip the
/// keys a block of queries cannot see and to write each head's columns of one
/// output side by side.
///
/// # Safety
/// `c` must be valid for writes of the rows of A and the columns of
/// `panels` (up to B's width) at leading dimension `ldc`, hold initialised
/// values there with `Init::Accumulate`, and no one else may access them
/// during the call.
pub(crate) unsafe fn gemm_panels(a: MatRef<'_>, b: &PackedB, panels: Range<usize>, c: SharedOut, ldc: usize, init: Init<'_>) {
    assert!(b.amx().is_none(), "sgemm: a product on panels needs an f32-packed B");
    assert!(a.cols <= b.k() && panels.end <= b.panels(), "sgemm: {} rows of depth or panels {panels:?} of a {}×{} B", a.cols, b.k(), b.n());
    assert!(ldc >= (panels.end * NR).min(b.n()), "sgemm: ldc {ldc} is narrower than the panels");
    // SAFETY: the caller's contract.
    unsafe { multiply_block(kernel::select(), a, b, c, ldc, panels, init) };
}

/// The output pointer handed to the threads, each writing disjoint columns.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(pub(crate) *mut f32);
// SAFETY: threads write disjoint column ranges (see `gemm_into`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer `offset` values on. A method, so that closures capture the
    /// whole `Sync` wrapper rather than its raw pointer.
    ///
    /// # Safety
    /// As `pointer::add`: the result must lie inside the same buffer.
    pub(crate) unsafe fn add(self, offset: usize) -> *mut f32 {
        // SAFETY: the caller's contract.
        unsafe { self.0.add(offset) }
    }
}

/// Writes the bias (or zeros) into `columns` of C's `m` rows, for
/// `Init::Bias`; nothing for `Init::Accumulate`.
///
/// # Safety
/// `c` must be valid for writes of those columns of `m` rows at leading
/// dimension `ldc`, and no one else may access them during the call.
pub(crate) unsafe fn init_columns(c: SharedOut, ldc: usize, m: usize, columns: Range<usize>, init: Init<'_>) {
    if let Init::Bias(bias) = init {
        for i in 0..m {
            // SAFETY: row i's columns of this share lie inside C.
            let row = unsafe { std::slice::from_raw_parts_mut(c.0.add(i * ldc + columns.start), columns.len()) };
            match bias {
                Some(bias) => row.copy_from_slice(&bias[columns.clone()]),
                None => row.fill(0.0),
            }
        }
    }
}

thread_local! {
    /// Each thread's packed block of A, kept between calls (a product runs
    /// every few hundred microseconds in inference).
    static PACKED_A: std::cell::RefCell<Vec<f32>> = std::cell::RefCell::new(vec![0f32; MC * KC]);
}

/// The blocked loops for every row of C and the column panels `panels`,
/// after initialising those columns as `init` says.
///
/// # Safety
/// `c` must point to an `m × ldc` row-major buffer whose columns of `panels`
/// no other thread accesses during the call.
unsafe fn multiply_block(kernels: kernel::Kernels, a: MatRef<'_>, b: &PackedB, c: SharedOut, ldc: usize, panels: Range<usize>, init: Init<'_>) {
    let (m, k, n) = (a.rows, a.cols, b.n());
    let rows = 0..m;
    let columns = panels.start * NR..(panels.end * NR).min(n);
    // SAFETY: the caller's contract.
    unsafe { init_columns(c, ldc, m, columns, init) };
    // A row-major A is read where it lies; only a last, partial group of
    // rows is packed (zero-padded, so the kernel's MR rows stay in bounds).
    let direct = a.col_stride == 1;
    PACKED_A.with_borrow_mut(|packed_a| {
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            for ic in rows.clone().step_by(MC) {
                let mc = MC.min(rows.end - ic);
                let full = mc - mc % MR;
                if !direct {
                    pack::pack_a(a, ic, mc, pc, kc, packed_a);
                } else if full < mc {
                    pack::pack_a(a, ic + full, mc - full, pc, kc, &mut packed_a[full * kc..]);
                }
                let panel_of = |ir: usize| -> kernel::APanel {
                    if direct && ir < full {
                        let start = (ic + ir) * a.row_stride + pc;
                        kernel::APanel { ptr: a.data[start..].as_ptr(), rs: a.row_stride, cs: 1 }
                    } else {
                        kernel::APanel { ptr: packed_a[ir * kc..(ir + MR) * kc].as_ptr(), rs: 1, cs: MR }
                    }
                };
                let mut jp = panels.start;
                while jp < panels.end {
                    // Two panels at once where the kernel can and a pair is left.
                    let wide = kernels.wide.filter(|_| jp + 1 < panels.end);
                    let width = if wide.is_some() { 2 * NR } else { NR };
                    let cols = width.min(n - jp * NR);
                    let b0 = b.panel(jp, pc, kc).as_ptr();
                    let b1 = if wide.is_some() { b.panel(jp + 1, pc, kc).as_ptr() } else { b0 };
                    // The next panels of B are asked into L2 while these are
                    // multiplied, an equal slice of their rows per row group:
                    // one film's weights (350 MB) come from memory, and the
                    // first row group would otherwise wait for them.
                    let next = if jp + width / NR < panels.end {
                        Some((jp + width / NR, pc, kc))
                    } else if ic + MC >= m && pc + KC < k {
                        Some((panels.start, pc + KC, KC.min(k - pc - KC)))
                    } else {
                        None
                    };
                    let next: [&[f32]; 2] = match next {
                        Some((jn, pn, kn)) => [b.panel(jn, pn, kn), if jn + 1 < panels.end { b.panel(jn + 1, pn, kn) } else { &[] }],
                        None => [&[], &[]],
                    };
                    let next_rows = next[0].len() / NR;
                    let per_group = next_rows.div_ceil(mc.div_ceil(MR));
                    for ir in (0..mc).step_by(MR) {
                        let mr = MR.min(mc - ir);
                        let first = (ir / MR * per_group).min(next_rows);
                        let slice = first..(first + per_group).min(next_rows);
                        // The C tile of the next call: a large output (a
                        // batch's) has left the cache since its previous block
                        // of depth, and the kernel's final loads of C waited on
                        // it (3200 rows, two threads: 185–199 → 221–265 GFLOP/s).
                        let (next_row, next_panel) = if ir + MR < mc { (ic + ir + MR, jp) } else { (ic, jp + width / NR) };
                        let c_rows = if next_panel < panels.end { MR.min(m.saturating_sub(next_row)) } else { 0 };
                        let mut prefetch = kernel::Prefetch {
                            c: c.0.wrapping_add(next_row * ldc + next_panel * NR),
                            c_ld: ldc,
                            c_rows,
                            ..kernel::Prefetch::NONE
                        };
                        if !slice.is_empty() {
                            prefetch.p0 = next[0][first * NR..].as_ptr();
                            prefetch.p1 = if next[1].is_empty() { prefetch.p0 } else { next[1][first * NR..].as_ptr() };
                            prefetch.lines = slice.len();
                        }
                        // A wide kernel spreads these through its loop; for the
                        // others they are asked for here.
                        if wide.is_none() {
                            for row in slice {
                                kernel::prefetch_l2(next[0][row * NR..].as_ptr());
                                if let Some(line) = next[1].get(row * NR) {
                                    kernel::prefetch_l2(line);
                                }
                            }
                            (0..c_rows).for_each(|r| prefetch.c_row(r));
                        }
                        let a_panel = panel_of(ir);
                        // A last group of fewer than MR rows takes the wide
                        // kernel for exactly its rows where there is one.
                        let tail = kernels.wide_tail.filter(|_| mr < MR && wide.is_some()).map(|tails| tails[mr - 1]);
                        let run = |out: *mut f32, ldc: usize| match (tail, wide) {
                            // SAFETY: the panels hold kc·NR values each, the A
                            // panel MR rows of kc (read in place: rows ic+ir..
                            // +MR exist; packed: zero-padded; a tail kernel
                            // reads mr rows), and `out` has MR rows of `width`
                            // columns (see below).
                            (Some(tail), _) => unsafe { tail(kc, a_panel, b0, b1, out, ldc, prefetch) },
                            (None, Some(wide)) => unsafe { wide(kc, a_panel, b0, b1, out, ldc, prefetch) },
                            (None, None) => unsafe { (kernels.narrow)(kc, a_panel, b0, out, ldc) },
                        };
                        // SAFETY: rows ic+ir.. and columns jp*NR.. lie inside C
                        // (the caller's contract); partial tiles go through a
                        // full-size scratch tile.
                        unsafe {
                            let out = c.0.add((ic + ir) * ldc + jp * NR);
                            if (mr == MR || tail.is_some()) && cols == width {
                                run(out, ldc);
                            } else {
                                let mut tile = [0f32; MR * 2 * NR];
                                run(tile.as_mut_ptr(), width);
                                for r in 0..mr {
                                    for j in 0..cols {
                                        *out.add(r * ldc + j) += tile[r * width + j];
                                    }
                                }
                            }
                        }
                    }
                    jp += width / NR;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests;
