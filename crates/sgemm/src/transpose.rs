//! The 16 × 16 transpose of 32-bit values in AVX-512 registers, shared by
//! the AMX packing (a weight's columns, a gradient's transpose) and the
//! attention (a head's keys).

/// The 16 × 16 transpose of 32-bit values, a register per row: column c of
/// all 16 rows, by the usual unpack and lane-shuffle network (64 shuffles).
#[target_feature(enable = "avx512f")]
pub(crate) fn transpose_16x16(r: &[std::arch::x86_64::__m512; 16]) -> [std::arch::x86_64::__m512; 16] {
    use std::arch::x86_64::*;
    let zero = _mm512_setzero_ps();
    // Pairs of rows interleaved by 32 bits, then by 64: s[4i + m]
    // holds, in 128-bit lane L, column 4L + m of rows 4i..4i + 4.
    let mut t = [zero; 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut s = [zero; 16];
    for i in 0..4 {
        let d = |x: __m512| _mm512_castps_pd(x);
        let (a0, a1, a2, a3) = (d(t[4 * i]), d(t[4 * i + 1]), d(t[4 * i + 2]), d(t[4 * i + 3]));
        s[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        s[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        s[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        s[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    // Lanes gathered across the four groups.
    let mut columns = [zero; 16];
    for m in 0..4 {
        let u = _mm512_shuffle_f32x4::<0x88>(s[m], s[4 + m]);
        let v = _mm512_shuffle_f32x4::<0xdd>(s[m], s[4 + m]);
        let u2 = _mm512_shuffle_f32x4::<0x88>(s[8 + m], s[12 + m]);
        let v2 = _mm512_shuffle_f32x4::<0xdd>(s[8 + m], s[12 + m]);
        columns[m] = _mm512_shuffle_f32x4::<0x88>(u, u2);
        columns[4 + m] = _mm512_shuffle_f32x4::<0x88>(v, v2);
        columns[8 + m] = _mm512_shuffle_f32x4::<0xdd>(u, u2);
        columns[12 + m] = _mm512_shuffle_f32x4::<0xdd>(v, v2);
    }
    columns
}
