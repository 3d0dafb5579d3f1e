//! Packing: B once per weight matrix, A once per block of each call.

use crate::amx::AmxB;
use crate::{MR, MatRef, NR};

/// The arithmetic a packed B is multiplied with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// f32 products on the AVX-512, AVX2 or portable kernels.
    F32,
    /// Three bf16 products of split operands on AMX tiles (see the `amx`
    /// module): ≈ 2⁻¹⁶ relative per term, ≈ 2.8× the f32 rate per core.
    /// Without AMX the product is emulated (slowly): only tests ask for it there.
    Bf16x3,
}

/// The smallest depth and width packed for AMX by [`PackedB::fastest`]:
/// narrower products lose more to the 32-wide tiles' padding and the split
/// than the tiles win (the throughput example, two threads, f32 against
/// bf16×3: 50 rows by 32×32 weights 109 against 67 GFLOP/s, 800 rows by
/// 64×64 94 against 64; but 50 rows by 128×128 139 against 199, by 768×768
/// 198 against 588).
pub const AMX_MIN_SIDE: usize = 128;

/// B (`k × n`) as column panels of `NR` columns; panel `j` holds its `k` rows
/// of `NR` consecutive values (the last panel zero-padded). This is the order
/// in which the micro-kernel reads B, so a panel streams through the cache
/// once per block. Packed for [`Precision::Bf16x3`], B is held in the AMX
/// layout instead (as many bytes) and `data` is empty.
#[derive(Clone, Debug)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<f32>,
    amx: Option<AmxB>,
}

impl PackedB {
    /// Packs any `k × n` matrix.
    pub fn new(b: MatRef<'_>) -> Self {
        let (k, n) = (b.rows(), b.cols());
        let panels = n.div_ceil(NR);
        let mut data = vec![0f32; panels * k * NR];
        for jp in 0..panels {
            let cols = NR.min(n - jp * NR);
            let panel = &mut data[jp * k * NR..(jp + 1) * k * NR];
            let j0 = jp * NR;
            if b.col_stride == 1 {
                // Row-major B: each row of the panel is a slice.
                for p in 0..k {
                    let start = p * b.row_stride + j0;
                    panel[p * NR..p * NR + cols].copy_from_slice(&b.data[start..start + cols]);
                }
            } else if b.row_stride == 1 {
                // Column-major B (Wᵀ of a PyTorch weight): each column is a slice.
                for j in 0..cols {
                    let start = (j0 + j) * b.col_stride;
                    for (p, &v) in b.data[start..start + k].iter().enumerate() {
                        panel[p * NR + j] = v;
                    }
                }
            } else {
                for p in 0..k {
                    for j in 0..cols {
                        panel[p * NR + j] = b.at(p, j0 + j);
                    }
                }
            }
        }
        Self { k, n, data, amx: None }
    }

    /// Packs B for `precision`.
    pub fn with_precision(b: MatRef<'_>, precision: Precision) -> Self {
        match precision {
            Precision::F32 => Self::new(b),
            Precision::Bf16x3 => Self { k: b.rows(), n: b.cols(), data: Vec::new(), amx: Some(AmxB::new(b)) },
        }
    }

    /// Packs B for the fastest arithmetic this CPU has:
    /// [`Precision::Bf16x3`] where [`crate::amx::available`] and B is at least
    /// [`AMX_MIN_SIDE`] deep and wide, else f32.
    pub fn fastest(b: MatRef<'_>) -> Self {
        let precision = if crate::amx::available() && b.rows().min(b.cols()) >= AMX_MIN_SIDE { Precision::Bf16x3 } else { Precision::F32 };
        Self::with_precision(b, precision)
    }

    /// [`fastest`](Self::fastest) for fixed weights in PyTorch's `[n, k]`
    /// layout (as [`from_transposed`](Self::from_transposed)).
    pub fn weights_from_transposed(w: &[f32], n: usize, k: usize) -> Self {
        Self::fastest(MatRef::row_major(w, n, k).t())
    }

    /// The arithmetic this B is multiplied with.
    pub fn precision(&self) -> Precision {
        if self.amx.is_some() { Precision::Bf16x3 } else { Precision::F32 }
    }

    /// B (`k × n`) already packed for the AMX tiles.
    pub(crate) fn from_amx(k: usize, n: usize, amx: AmxB) -> Self {
        Self { k, n, data: Vec::new(), amx: Some(amx) }
    }

    pub(crate) fn amx(&self) -> Option<&AmxB> {
        self.amx.as_ref()
    }

    /// Packs `Wᵀ` for a weight stored as PyTorch's linear layers store it:
    /// row-major `[n, k]` (out features × in features).
    pub fn from_transposed(w: &[f32], n: usize, k: usize) -> Self {
        Self::new(MatRef::row_major(w, n, k).t())
    }

    /// Rows of B (the shared dimension).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of B (the output width).
    pub fn n(&self) -> usize {
        self.n
    }

    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Rows `pc..pc + kc` of panel `jp`.
    pub(crate) fn panel(&self, jp: usize, pc: usize, kc: usize) -> &[f32] {
        let start = jp * self.k * NR + pc * NR;
        &self.data[start..start + kc * NR]
    }

    /// B back as PyTorch's `[n, k]` weight layout (for [`Precision::Bf16x3`]
    /// the halves' sums: B to within 2⁻¹⁶ relative, not exactly).
    pub fn to_transposed(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.n * self.k];
        if let Some(amx) = &self.amx {
            for col in 0..self.n {
                for p in 0..self.k {
                    w[col * self.k + p] = amx.approximate(p, col);
                }
            }
            return w;
        }
        for col in 0..self.n {
            let (jp, j) = (col / NR, col % NR);
            for p in 0..self.k {
                w[col * self.k + p] = self.data[jp * self.k * NR + p * NR + j];
            }
        }
        w
    }

    /// Bytes held.
    pub fn size_bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<f32>() + self.amx.as_ref().map_or(0, AmxB::size_bytes)
    }
}

/// Rows `ic..ic + mc`, columns `pc..pc + kc` of A as micro-panels of `MR`
/// rows: panel `i` holds, for each of the `kc` columns, its `MR` values
/// (rows past the end are zero).
pub(crate) fn pack_a(a: MatRef<'_>, ic: usize, mc: usize, pc: usize, kc: usize, out: &mut [f32]) {
    for (block, first) in (0..mc).step_by(MR).enumerate() {
        let rows = MR.min(mc - first);
        let panel = &mut out[block * MR * kc..(block + 1) * MR * kc];
        if rows < MR {
            panel.fill(0.0);
        }
        let i0 = ic + first;
        if a.row_stride == 1 && a.col_stride != 1 {
            // Column-major A (a transposed view, as the trainer's weight
            // gradients Gᵀ·X read): each depth's `rows` values are adjacent.
            for p in 0..kc {
                let start = (pc + p) * a.col_stride + i0;
                panel[p * MR..p * MR + rows].copy_from_slice(&a.data[start..start + rows]);
            }
            continue;
        }
        if a.col_stride == 1 {
            // Row-major A (the usual case): the panel's row slices read in
            // step, the panel written in order (rows past the end stay zero).
            let lines: [&[f32]; MR] = std::array::from_fn(|r| {
                let start = (i0 + r) * a.row_stride + pc;
                if r < rows { &a.data[start..start + kc] } else { &[] }
            });
            for (p, out) in panel.chunks_exact_mut(MR).enumerate() {
                for (o, line) in out[..rows].iter_mut().zip(&lines[..rows]) {
                    *o = line[p];
                }
            }
            continue;
        }
        for r in 0..rows {
            for p in 0..kc {
                panel[p * MR + r] = a.at(i0 + r, pc + p);
            }
        }
    }
}
