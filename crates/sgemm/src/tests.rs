use super::*;

/// A deterministic pseudo-random matrix (no rand dependency needed).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// C = A·B + bias in f64, the reference.
fn reference(a: MatRef<'_>, b: MatRef<'_>, bias: Option<&[f32]>) -> Vec<f64> {
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = bias.map_or(0.0, |bias| bias[j] as f64);
            for p in 0..k {
                s += a.at(i, p) as f64 * b.at(p, j) as f64;
            }
            c[i * n + j] = s;
        }
    }
    c
}

fn assert_close(got: &[f32], want: &[f64], k: usize, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    // Values are in [-1, 1]; the f32 error of a k-term sum grows like √k·ε.
    let tol = 1e-5 * (k as f64).sqrt().max(1.0) * 4.0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((*g as f64 - w).abs() <= tol, "{what}: element {i}: {g} vs {w} (tol {tol})");
    }
}

#[test]
fn every_kernel_matches_the_reference_on_edge_shapes() {
    // Shapes straddle MR, NR, MC and KC so every partial tile and block runs.
    let shapes = [(1, 1, 1), (5, 7, 3), (6, 16, 8), (7, 17, 9), (13, 33, 257), (50, 48, 300), (97, 20, 513), (200, 40, 70), (12, 64, 31), (18, 96, 300), (9, 64, 40), (10, 64, 40)];
    for kernels in kernel::all() {
        let name = kernels.name;
        for &(m, n, k) in &shapes {
            let a = values(m * k, 1);
            let w = values(n * k, 2);
            let bias = values(n, 3);
            let packed = PackedB::from_transposed(&w, n, k);
            let want = reference(MatRef::row_major(&a, m, k), MatRef::row_major(&w, n, k).t(), Some(&bias));
            // Row-major A is read in place; the same A stored column-major
            // (a transposed view) goes through packing.
            let mut got = bias.repeat(m);
            gemm_with(kernels, MatRef::row_major(&a, m, k), &packed, &mut got, n);
            assert_close(&got, &want, k, &format!("{name} {m}×{n}×{k}"));
            let a_columns: Vec<f32> = (0..k).flat_map(|p| (0..m).map(move |i| (i, p))).map(|(i, p)| a[i * k + p]).collect();
            let mut got = bias.repeat(m);
            gemm_with(kernels, MatRef::row_major(&a_columns, k, m).t(), &packed, &mut got, n);
            assert_close(&got, &want, k, &format!("{name} {m}×{n}×{k}, packed A"));
        }
    }
}

#[test]
fn a_row_comes_out_the_same_whatever_rows_are_beside_it() {
    // 50 rows are eight full groups and a tail of two; every row of the
    // product must equal that row multiplied alone (a tail of one), bit for bit.
    let (m, n, k) = (50, 96, 300);
    let a = values(m * k, 4);
    let packed = PackedB::from_transposed(&values(n * k, 5), n, k);
    for kernels in kernel::all() {
        let mut together = vec![0f32; m * n];
        gemm_with(kernels, MatRef::row_major(&a, m, k), &packed, &mut together, n);
        for i in [0, 5, 6, 47, 48, 49] {
            let mut alone = vec![0f32; n];
            gemm_with(kernels, MatRef::row_major(&a[i * k..(i + 1) * k], 1, k), &packed, &mut alone, n);
            assert_eq!(&together[i * n..(i + 1) * n], &alone[..], "{}: row {i}", kernels.name);
        }
    }
}

#[test]
fn the_widest_kernel_this_cpu_supports_is_chosen() {
    let names: Vec<&str> = kernel::all().iter().map(|k| k.name).collect();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            assert!(names.contains(&"avx512"), "{names:?}");
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            assert!(names.contains(&"avx2-fma"), "{names:?}");
        }
    }
    assert_eq!(names[0], "portable");
    if std::env::var(KERNEL_ENV).is_err() {
        let f32_kernel = *names.last().unwrap();
        let want = if amx::available() { format!("{f32_kernel}, amx-bf16x3") } else { f32_kernel.to_string() };
        assert_eq!(kernel_name(), want);
    }
}

#[test]
fn strided_and_transposed_operands() {
    let (m, n, k) = (23, 29, 31);
    // A stored transposed (k × m), B stored row-major (k × n), C with padding.
    let at = values(k * m, 4);
    let b = values(k * n, 5);
    let a = MatRef::row_major(&at, k, m).t();
    let want = reference(a, MatRef::row_major(&b, k, n), None);
    let ldc = n + 3;
    let mut c = vec![0f32; m * ldc];
    gemm(a, &PackedB::new(MatRef::row_major(&b, k, n)), &mut c, ldc);
    let got: Vec<f32> = c.chunks(ldc).flat_map(|row| row[..n].to_vec()).collect();
    assert_close(&got, &want, k, "transposed A");
    assert!(c.chunks(ldc).all(|row| row[n..].iter().all(|&v| v == 0.0)), "padding columns were written");
}

#[test]
fn threaded_split_matches_the_reference() {
    // Large enough to run on several threads (2·m·n·k above the threshold);
    // 13 panels split three ways, and 3 panels (fewer pairs than threads).
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    for (m, n, k) in [(64, 200, 400), (200, 40, 400)] {
        let a = values(m * k, 6);
        let w = values(n * k, 7);
        let packed = PackedB::from_transposed(&w, n, k);
        let got = pool.install(|| matmul(MatRef::row_major(&a, m, k), &packed, None));
        let want = reference(MatRef::row_major(&a, m, k), MatRef::row_major(&w, n, k).t(), None);
        assert_close(&got, &want, k, &format!("3 threads, {m}×{n}×{k}"));
        // Each thread writes the bias into its own columns first.
        let bias = values(n, 9);
        let got = pool.install(|| matmul(MatRef::row_major(&a, m, k), &packed, Some(&bias)));
        let want = reference(MatRef::row_major(&a, m, k), MatRef::row_major(&w, n, k).t(), Some(&bias));
        assert_close(&got, &want, k, &format!("3 threads with bias, {m}×{n}×{k}"));
    }
}

#[test]
fn accumulates_into_c() {
    let (m, n, k) = (3, 5, 4);
    let a = values(m * k, 8);
    let w = values(n * k, 9);
    let packed = PackedB::from_transposed(&w, n, k);
    let mut c = vec![1.5f32; m * n];
    gemm(MatRef::row_major(&a, m, k), &packed, &mut c, n);
    let want: Vec<f64> =
        reference(MatRef::row_major(&a, m, k), MatRef::row_major(&w, n, k).t(), None).iter().map(|v| v + 1.5).collect();
    assert_close(&c, &want, k, "C += A·B");
}

#[test]
fn packing_round_trips_the_weight() {
    let (n, k) = (37, 11);
    let w = values(n * k, 10);
    let packed = PackedB::from_transposed(&w, n, k);
    assert_eq!(packed.to_transposed(), w);
    assert_eq!((packed.n(), packed.k()), (n, k));
}

#[test]
fn empty_shapes_do_nothing() {
    let packed = PackedB::from_transposed(&[], 0, 4);
    assert!(matmul(MatRef::row_major(&[0.0; 8], 2, 4), &packed, None).is_empty());
    let packed = PackedB::from_transposed(&[], 3, 0);
    assert_eq!(matmul(MatRef::row_major(&[], 2, 0), &packed, Some(&[1.0, 2.0, 3.0])), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
}

#[test]
#[should_panic(expected = "A has 3 columns but B has 4 rows")]
fn mismatched_shapes_are_refused() {
    let packed = PackedB::from_transposed(&[0.0; 8], 2, 4);
    matmul(MatRef::row_major(&[0.0; 6], 2, 3), &packed, None);
}

#[test]
fn packing_reads_every_layout_of_b_alike() {
    // The same 9×21 matrix stored row-major with padding, column-major, and
    // with neither stride 1 (every other value of a larger buffer).
    let (k, n) = (9, 21);
    let value = |p: usize, j: usize| (p * 100 + j) as f32;
    let mut row_major = vec![-1f32; k * (n + 3)];
    let mut col_major = vec![-1f32; n * k];
    let mut spread = vec![-1f32; 2 * k * n];
    for p in 0..k {
        for j in 0..n {
            row_major[p * (n + 3) + j] = value(p, j);
            col_major[j * k + p] = value(p, j);
            spread[2 * (p * n + j)] = value(p, j);
        }
    }
    let want = PackedB::new(MatRef::strided(&row_major, k, n, n + 3, 1)).to_transposed();
    assert_eq!(PackedB::new(MatRef::strided(&col_major, k, n, 1, k)).to_transposed(), want);
    assert_eq!(PackedB::new(MatRef::strided(&spread, k, n, 2 * n, 2)).to_transposed(), want);
    assert_eq!(want[3 * k + 4], value(4, 3), "to_transposed is [n, k]");
}

#[test]
fn bf16_halves_keep_sixteen_bits() {
    for (i, &x) in values(10_000, 11).iter().enumerate() {
        let x = x * 10f32.powi(i as i32 % 9 - 4);
        let (hi, lo) = amx::split(x);
        let back = f32::from_bits((hi as u32) << 16) + f32::from_bits((lo as u32) << 16);
        assert!((back - x).abs() <= x.abs() * 2f32.powi(-16), "{x} split as {hi:#06x} + {lo:#06x} = {back}");
        assert_eq!(hi & 0x8000, (x.to_bits() >> 16) as u16 & 0x8000, "sign of {x}");
    }
    assert_eq!(amx::split(1.0), (0x3f80, 0));
    assert_eq!(amx::split(0.0), (0, 0));
    assert_eq!(amx::split(f32::INFINITY), (0x7f80, 0));
    assert_eq!(amx::split(f32::NEG_INFINITY), (0xff80, 0));
    let (nan, lo) = amx::split(f32::NAN);
    assert!(f32::from_bits((nan as u32) << 16).is_nan() && lo == 0);
    // Ties go to even: 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷.
    assert_eq!(amx::split(1.0 + 2f32.powi(-8)).0, 0x3f80);
    assert_eq!(amx::split(1.0 + 3.0 * 2f32.powi(-8)).0, 0x3f82);
}

/// The bf16×3 product against f64: each term may be off by ≈ 3·2⁻¹⁶ of
/// |a|·|b| (the dropped lo·lo and the rounding of the halves).
fn assert_close_bf16x3(got: &[f32], want: &[f64], a: MatRef<'_>, b: MatRef<'_>, what: &str) {
    let (m, n) = (a.rows(), b.cols());
    assert_eq!(got.len(), m * n, "{what}: length");
    for i in 0..m {
        for j in 0..n {
            let magnitude: f64 = (0..a.cols()).map(|p| (a.at(i, p) as f64 * b.at(p, j) as f64).abs()).sum();
            let tol = magnitude * 4.0 * 2f64.powi(-16) + 1e-6;
            let (g, w) = (got[i * n + j] as f64, want[i * n + j]);
            assert!((g - w).abs() <= tol, "{what}: ({i}, {j}): {g} vs {w} (tol {tol:e})");
        }
    }
}

#[test]
fn bf16x3_products_match_the_reference_on_edge_shapes() {
    // Shapes straddle the 32-row blocks, 32-column panels, 32-deep chunks,
    // the 768-deep blocks of depth and the 256-row passes.
    let shapes = [(1, 1, 1), (5, 7, 3), (16, 16, 32), (33, 31, 33), (50, 48, 300), (64, 64, 800), (97, 20, 513), (300, 70, 40), (7, 100, 1600)];
    eprintln!("bf16×3 on {}", if amx::available() { "AMX tiles" } else { "the scalar emulation (no AMX here)" });
    for &(m, n, k) in &shapes {
        let a = values(m * k, 1);
        let w = values(n * k, 2);
        let bias = values(n, 3);
        let b = MatRef::row_major(&w, n, k).t();
        let packed = PackedB::with_precision(b, Precision::Bf16x3);
        assert_eq!(packed.precision(), Precision::Bf16x3);
        let want = reference(MatRef::row_major(&a, m, k), b, Some(&bias));
        let got = matmul(MatRef::row_major(&a, m, k), &packed, Some(&bias));
        assert_close_bf16x3(&got, &want, MatRef::row_major(&a, m, k), b, &format!("{m}×{n}×{k}"));
        // Without a bias C starts from zeros, whatever its memory held.
        let got = matmul(MatRef::row_major(&a, m, k), &packed, None);
        let want_unbiased = reference(MatRef::row_major(&a, m, k), b, None);
        assert_close_bf16x3(&got, &want_unbiased, MatRef::row_major(&a, m, k), b, &format!("{m}×{n}×{k}, no bias"));
        // A column-major A (a transposed view) packs through the strided path,
        // and C += A·B accumulates onto what C holds.
        let a_columns: Vec<f32> = (0..k).flat_map(|p| (0..m).map(move |i| (i, p))).map(|(i, p)| a[i * k + p]).collect();
        let mut got = bias.repeat(m);
        gemm(MatRef::row_major(&a_columns, k, m).t(), &packed, &mut got, n);
        assert_close_bf16x3(&got, &want, MatRef::row_major(&a, m, k), b, &format!("{m}×{n}×{k}, column-major A, accumulated"));
        // B given row-major (k × n) and with a gap between values pack alike.
        let b_rows: Vec<f32> = (0..k).flat_map(|p| (0..n).map(move |j| (p, j))).map(|(p, j)| w[j * k + p]).collect();
        let spread: Vec<f32> = b_rows.iter().flat_map(|&v| [v, f32::NAN]).collect();
        for (layout, b) in [("row-major B", MatRef::row_major(&b_rows, k, n)), ("strided B", MatRef::strided(&spread, k, n, 2 * n, 2))] {
            let packed = PackedB::with_precision(b, Precision::Bf16x3);
            let got = matmul(MatRef::row_major(&a, m, k), &packed, Some(&bias));
            assert_close_bf16x3(&got, &want, MatRef::row_major(&a, m, k), b, &format!("{m}×{n}×{k}, {layout}"));
        }
    }
}

#[test]
fn amx_tiles_agree_with_their_emulation() {
    if !amx::available() {
        eprintln!("no AMX on this CPU (or {} is off): the emulation alone is checked, by the test above", amx::AMX_ENV);
        return;
    }
    // A partial last panel, two blocks of depth, and C starting from what it
    // holds, from zeros and from a bias.
    let (m, n, k) = (70, 100, 1000);
    let (a, w, bias) = (values(m * k, 4), values(n * k, 5), values(n, 6));
    let packed = PackedB::with_precision(MatRef::row_major(&w, n, k).t(), Precision::Bf16x3);
    for (what, init) in [("accumulated", Init::Accumulate), ("from zeros", Init::Bias(None)), ("from the bias", Init::Bias(Some(&bias)))] {
        let run = |tiles: bool| {
            let mut c = values(m * n, 7);
            // SAFETY: C holds m·n initialised values, borrowed exclusively.
            unsafe { amx::gemm(MatRef::row_major(&a, m, k), amx::Prologue::None, packed.amx().unwrap(), SharedOut(c.as_mut_ptr()), n, init, 2, tiles) };
            c
        };
        let (tiles, emulated) = (run(true), run(false));
        for (i, (t, e)) in tiles.iter().zip(&emulated).enumerate() {
            // The same exact products, summed in another order.
            assert!((t - e).abs() <= 1e-4, "{what}, element {i}: tiles {t}, emulation {e}");
        }
    }
}

#[test]
fn bf16x3_weights_unpack_to_within_their_precision() {
    let (n, k) = (40, 70);
    let w: Vec<f32> = values(n * k, 6).iter().map(|v| v * 3.0).collect();
    let packed = PackedB::with_precision(MatRef::row_major(&w, n, k).t(), Precision::Bf16x3);
    let back = packed.to_transposed();
    for (x, y) in w.iter().zip(&back) {
        assert!((x - y).abs() <= x.abs() * 2f32.powi(-16), "{x} unpacked as {y}");
    }
    assert_eq!(packed.size_bytes(), 2 * 3 * 64 * 64, "two 32-column panels × three 32-deep chunks × four 1 KiB tiles");
}

#[test]
fn overwriting_products_ignore_what_c_held() {
    // C strided inside a wider buffer full of NaN: the product's columns get
    // A·B + bias (as `matmul` computes it), the others keep their NaN.
    for (m, n, k, precision) in [(5, 40, 20, Precision::F32), (70, 100, 1000, Precision::Bf16x3), (3, 33, 64, Precision::Bf16x3)] {
        let (a, w, bias) = (values(m * k, 21), values(n * k, 22), values(n, 23));
        let packed = PackedB::with_precision(MatRef::row_major(&w, n, k).t(), precision);
        let a = MatRef::row_major(&a, m, k);
        for bias in [Some(&bias[..]), None] {
            let want = matmul(a, &packed, bias);
            let (ldc, offset) = (n + 9, 4);
            let mut c = vec![f32::NAN; m * ldc + offset];
            gemm_overwrite(a, &packed, bias, &mut c[offset..], ldc);
            for i in 0..m {
                let row = &c[offset + i * ldc..][..ldc];
                assert_eq!(&row[..n], &want[i * n..][..n], "{m}×{n}×{k} {precision:?}, row {i}");
                assert!(row[n..].iter().all(|v| v.is_nan()), "columns past C untouched");
            }
            assert!(c[..offset].iter().all(|v| v.is_nan()));
        }
    }
}

#[test]
fn a_product_after_quick_gelu_equals_the_activation_then_the_product() {
    // Whole and partial blocks of rows and chunks of depth, on both
    // arithmetics; values up to ±8 so that the activation bends them. On
    // the AMX path the activation happens inside A's packing, bit for bit
    // the activation of `quick_gelu_in_place`.
    for (m, n, k, precision) in [(5, 40, 20, Precision::F32), (70, 100, 1000, Precision::Bf16x3), (3, 33, 64, Precision::Bf16x3), (64, 64, 96, Precision::Bf16x3)] {
        let a: Vec<f32> = values(m * k, 31).iter().map(|v| v * 8.0).collect();
        let (w, start) = (values(n * k, 32), values(m * n, 33));
        let packed = PackedB::with_precision(MatRef::row_major(&w, n, k).t(), precision);
        let mut activated = a.clone();
        activation::quick_gelu_in_place(&mut activated);
        let mut want = start.clone();
        gemm(MatRef::row_major(&activated, m, k), &packed, &mut want, n);
        let (mut input, mut got) = (a.clone(), start.clone());
        gemm_quick_gelu_a(&mut input, &packed, &mut got, n);
        assert!(got == want, "{m}×{n}×{k} {precision:?}: the products differ");
        assert!(input == a || input == activated, "A is left as it was or activated");
        assert_ne!(got, start, "the product was added");
    }
}

#[test]
fn a_product_after_layer_norm_equals_the_norm_then_the_product() {
    // Whole and partial blocks of rows and chunks of depth, on both
    // arithmetics, with the product's bias and without. On the AMX path the
    // rows are normalised inside A's packing, bit for bit `rows::layer_norm`,
    // each column with its own weight and bias (k = 70 and 1000 end in a
    // partial chunk of depth).
    for (m, n, k, precision, with_bias) in [(5, 40, 20, Precision::F32, true), (70, 100, 1000, Precision::Bf16x3, true), (3, 33, 70, Precision::Bf16x3, false), (64, 64, 96, Precision::Bf16x3, true)] {
        let x: Vec<f32> = values(m * k, 41).iter().enumerate().map(|(i, v)| v * 4.0 + (i / k) as f32).collect();
        let (w, norm_weight, norm_bias, bias) = (values(n * k, 42), values(k, 43), values(k, 44), values(n, 45));
        let bias = with_bias.then_some(&bias[..]);
        let packed = PackedB::with_precision(MatRef::row_major(&w, n, k).t(), precision);
        let normed = rows::layer_norm(&x, k, &norm_weight, &norm_bias, 1e-5);
        let want = matmul(MatRef::row_major(&normed, m, k), &packed, bias);
        let got = matmul_after_layer_norm(&x, &norm_weight, &norm_bias, 1e-5, &packed, bias);
        assert!(got == want, "{m}×{n}×{k} {precision:?}: the products differ");
        assert_ne!(got, matmul(MatRef::row_major(&x, m, k), &packed, bias), "the rows were normalised");
    }
}

#[test]
fn an_mlp_on_the_residual_equals_its_steps_one_after_another() {
    // `x += quick_gelu(ln(x) W1ᵀ + b1) W2ᵀ + b2`, fused (on the AMX layout:
    // the hidden layer activated and packed block by block as the first
    // product leaves it) against the norm, the product, the activation and
    // the second product in turn, bit for bit. Whole and partial blocks of
    // rows (50, 70, 3), a hidden layer ending in a partial panel (100), an
    // input deeper than one block of depth (800, which takes the unfused
    // path), both arithmetics, with biases and without.
    for (m, k, f, precision, with_bias) in [
        (5, 20, 40, Precision::F32, true),
        (50, 64, 96, Precision::Bf16x3, true),
        (70, 96, 100, Precision::Bf16x3, true),
        (3, 70, 33, Precision::Bf16x3, false),
        (40, 800, 64, Precision::Bf16x3, true),
    ] {
        let x: Vec<f32> = values(m * k, 51).iter().enumerate().map(|(i, v)| v * 4.0 + (i / k) as f32).collect();
        let (w1, w2) = (values(f * k, 52).iter().map(|v| v * 4.0).collect::<Vec<f32>>(), values(k * f, 53));
        let (norm_weight, norm_bias, b1, b2) = (values(k, 54), values(k, 55), values(f, 56), values(k, 57));
        let (b1, b2) = (with_bias.then_some(&b1[..]), with_bias.then_some(&b2[..]));
        let fc1 = PackedB::with_precision(MatRef::row_major(&w1, f, k).t(), precision);
        let fc2 = PackedB::with_precision(MatRef::row_major(&w2, k, f).t(), precision);
        let normed = rows::layer_norm(&x, k, &norm_weight, &norm_bias, 1e-5);
        let mut hidden = matmul(MatRef::row_major(&normed, m, k), &fc1, b1);
        activation::quick_gelu_in_place(&mut hidden);
        let mut want = x.clone();
        if let Some(b2) = b2 {
            rows::add_row(&mut want, b2);
        }
        gemm(MatRef::row_major(&hidden, m, f), &fc2, &mut want, k);
        let mut got = x.clone();
        mlp_after_layer_norm(&mut got, &norm_weight, &norm_bias, 1e-5, &fc1, b1, &fc2, b2);
        assert!(got == want, "{m}×{k}×{f} {precision:?}: the MLPs differ");
        assert!(hidden.iter().any(|&v| v < 0.0) && hidden.iter().any(|&v| v > 1.0), "the activation bent the hidden layer");
    }
}

#[test]
fn an_mlp_keeping_its_tape_equals_its_steps_one_after_another() {
    // `c += quick_gelu(x W1ᵀ + b1) W2ᵀ`, keeping fc1's outputs and the
    // activated layer packed as B, fused against the product, the
    // activation, the second product and `PackedB::fastest` in turn, bit
    // for bit (the packed layer through a product that reads it). Whole and
    // partial blocks of rows (128, 150), a hidden layer ending in a partial
    // panel (144); below 128 rows `fastest` would not pack for the tiles.
    for (m, k, f) in [(128, 64, 128), (150, 96, 144), (256, 32, 256)] {
        let x = values(m * k, 81);
        let (w1, w2, b1) = (values(f * k, 82).iter().map(|v| v * 4.0).collect::<Vec<f32>>(), values(k * f, 83), values(f, 84));
        let fc1 = PackedB::with_precision(MatRef::row_major(&w1, f, k).t(), Precision::Bf16x3);
        let fc2 = PackedB::with_precision(MatRef::row_major(&w2, k, f).t(), Precision::Bf16x3);
        let start = values(m * k, 85);
        let inner = matmul(MatRef::row_major(&x, m, k), &fc1, Some(&b1));
        let activated = activation::quick_gelu(&inner);
        let mut want = start.clone();
        gemm(MatRef::row_major(&activated, m, f), &fc2, &mut want, k);
        let mut got = start.clone();
        let tape = mlp_keeping_tape(MatRef::row_major(&x, m, k), &fc1, Some(&b1), &fc2, &mut got, k).expect("bf16×3 products take the fused path");
        assert!(got == want, "{m}×{k}×{f}: the MLPs differ");
        assert!(tape.inner == inner, "{m}×{k}×{f}: fc1's outputs differ");
        let dy = values(m * k, 86);
        let through = |b: &PackedB| matmul(MatRef::row_major(&dy, m, k).t(), b, None);
        assert!(through(&tape.activated) == through(&PackedB::with_precision(MatRef::row_major(&activated, m, f), Precision::Bf16x3)), "{m}×{k}×{f}: the activated layers differ");
        assert!(inner.iter().any(|&v| v < -1.0), "the activation bent the hidden layer");
    }
    let mut c = values(64 * 32, 87);
    let small = PackedB::with_precision(MatRef::row_major(&values(32 * 128, 88), 32, 128), Precision::Bf16x3);
    let back = PackedB::with_precision(MatRef::row_major(&values(128 * 32, 89), 128, 32), Precision::Bf16x3);
    assert!(mlp_keeping_tape(MatRef::row_major(&values(64 * 32, 90), 64, 32), &small, None, &back, &mut c, 32).is_none(), "64 rows take the passes");
}

#[test]
fn an_mlp_backward_equals_its_passes_one_after_another() {
    // fc1's gradients from the MLP's output gradient, fused (the hidden
    // gradient taken through quick GELU's gradient and packed for both
    // products, block by block, as fc2's input gradient leaves the kernel)
    // against fc2's input gradient, the activation's backward, the two
    // products and the column sums in turn, bit for bit. Whole and partial
    // blocks of rows (64, 70, 3), a hidden layer ending in a partial panel
    // (100); the f32 arithmetic has no fused path.
    for (m, k, f) in [(64, 64, 96), (70, 96, 100), (3, 32, 64), (50, 64, 128)] {
        let dy = values(m * k, 71);
        let inner: Vec<f32> = values(m * f, 72).iter().map(|v| v * 6.0).collect();
        let (w1, w2, x) = (values(f * k, 73), values(k * f, 74), values(m * k, 75));
        let w2p = PackedB::with_precision(MatRef::row_major(&w2, k, f), Precision::Bf16x3);
        let w1p = PackedB::with_precision(MatRef::row_major(&w1, f, k), Precision::Bf16x3);
        let xp = PackedB::with_precision(MatRef::row_major(&x, m, k), Precision::Bf16x3);
        let dy = MatRef::row_major(&dy, m, k);
        let mut g = matmul(dy, &w2p, None);
        activation::quick_gelu_backward_in_place(&inner, &mut g);
        let want_input = matmul(MatRef::row_major(&g, m, f), &w1p, None);
        let want_w1 = matmul(MatRef::row_major(&g, m, f).t(), &xp, None);
        let want_b1 = rows::column_sums(MatRef::row_major(&g, m, f));
        let got = mlp_backward_through_quick_gelu(dy, &w2p, &inner, &w1p, &xp).expect("bf16×3 products take the fused path");
        assert!(got.d_input == want_input, "{m}×{k}×{f}: fc1's input gradients differ");
        assert!(got.d_w1 == want_w1, "{m}×{k}×{f}: fc1's weight gradients differ");
        assert!(got.d_b1 == want_b1, "{m}×{k}×{f}: fc1's bias gradients differ");
        assert!(g.iter().any(|&v| v != 0.0) && inner.iter().any(|&v| v < -1.0), "the gradient went through the activation's bend");
    }
    let (w, x) = (values(32 * 64, 76), values(8 * 32, 77));
    let f32s = |b: MatRef<'_>| PackedB::with_precision(b, Precision::F32);
    let fused = mlp_backward_through_quick_gelu(MatRef::row_major(&values(8 * 32, 78), 8, 32), &f32s(MatRef::row_major(&w, 32, 64)), &values(8 * 64, 79), &f32s(MatRef::row_major(&w, 64, 32)), &f32s(MatRef::row_major(&x, 8, 32)));
    assert!(fused.is_none(), "the f32 arithmetic takes the passes one after another");
}

#[test]
#[should_panic(expected = "second product")]
fn an_mlp_whose_products_do_not_chain_is_refused() {
    let (w1, w2) = (values(40 * 20, 61), values(20 * 30, 62));
    let fc1 = PackedB::with_precision(MatRef::row_major(&w1, 40, 20).t(), Precision::Bf16x3);
    let fc2 = PackedB::with_precision(MatRef::row_major(&w2, 20, 30).t(), Precision::Bf16x3);
    let mut x = values(3 * 20, 63);
    mlp_after_layer_norm(&mut x, &values(20, 64), &values(20, 65), 1e-5, &fc1, None, &fc2, None);
}

#[test]
fn attention_on_the_tiles_equals_the_product_then_self_attention() {
    // Films of 50 tokens (ViT-B/32's) whose rows straddle the product's
    // blocks, a film of 64 and of 2, one of 34 (a second block of one
    // pair), 32 (one block exactly); depth in whole and partial chunks; one
    // to three heads. The products differ from the f32 attention's by bf16×3's
    // rounding alone.
    for (films, tokens, heads, k, with_bias) in [(3, 50, 2, 96, true), (1, 64, 1, 64, false), (2, 2, 2, 40, true), (5, 34, 1, 70, true), (4, 32, 3, 128, true)] {
        let (m, n) = (films * tokens, 3 * heads * 64);
        let x: Vec<f32> = values(m * k, 61).iter().enumerate().map(|(i, v)| v * 3.0 + (i / k % 7) as f32).collect();
        let w: Vec<f32> = values(n * k, 62).iter().map(|v| v * 0.3).collect();
        let (norm_weight, norm_bias, bias) = (values(k, 63), values(k, 64), values(n, 65));
        let bias = with_bias.then_some(&bias[..]);
        let packed = PackedB::with_precision(MatRef::row_major(&w, n, k).t(), Precision::Bf16x3);
        let shape = attention::Heads { batch: films, tokens, heads, head_dim: 64 };
        let qkv = matmul_after_layer_norm(&x, &norm_weight, &norm_bias, 1e-5, &packed, bias);
        let want = attention::self_attention(&qkv, shape, None, None, false).output;
        let got = attention_after_layer_norm(&x, &norm_weight, &norm_bias, 1e-5, &packed, bias, shape).expect("the tiles take films of up to 64 tokens");
        assert_eq!(got.len(), want.len(), "{films} films of {tokens}: the output's length");
        let scale = want.iter().fold(1f32, |s, v| s.max(v.abs()));
        let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-4 * scale, "{films} films of {tokens} tokens, {heads} heads, depth {k}: off by {worst} (values up to {scale})");
        // Not the same as no attention at all: v's rows were mixed.
        assert!(got.iter().zip(&qkv.chunks_exact(n).flat_map(|row| &row[2 * heads * 64..]).copied().collect::<Vec<_>>()).any(|(g, v)| (g - v).abs() > 1e-3));
    }
}

#[test]
fn attention_on_the_tiles_refuses_what_it_does_not_take() {
    let (k, heads) = (64, 1);
    let w = values(3 * heads * 64 * k, 66);
    let ones = vec![1f32; k];
    let zeros = vec![0f32; k];
    let tiles = PackedB::with_precision(MatRef::row_major(&w, 3 * heads * 64, k).t(), Precision::Bf16x3);
    let f32_loops = PackedB::with_precision(MatRef::row_major(&w, 3 * heads * 64, k).t(), Precision::F32);
    let shape = |tokens, head_dim| attention::Heads { batch: 2, tokens, heads, head_dim };
    let x = |tokens: usize| values(2 * tokens * k, 67);
    // An odd token count (v's token pairs would span two films), more than 64 tokens, f32 weights.
    assert!(attention_after_layer_norm(&x(49), &ones, &zeros, 1e-5, &tiles, None, shape(49, 64)).is_none());
    assert!(attention_after_layer_norm(&x(66), &ones, &zeros, 1e-5, &tiles, None, shape(66, 64)).is_none());
    assert!(attention_after_layer_norm(&x(50), &ones, &zeros, 1e-5, &f32_loops, None, shape(50, 64)).is_none());
    assert!(attention_after_layer_norm(&x(50), &ones, &zeros, 1e-5, &tiles, None, shape(50, 64)).is_some());
}

#[test]
fn attention_into_the_projection_equals_the_attention_then_the_product() {
    // The heads' outputs split straight into the projection's A tiles are
    // those `gemm` packs from the attention's f32 output: the same values,
    // accumulated onto the residual; a partial last row block (3 × 50 rows).
    for (films, tokens, heads, k) in [(3, 50, 2, 96), (2, 64, 1, 64)] {
        let (m, n, hidden) = (films * tokens, 3 * heads * 64, heads * 64);
        let x: Vec<f32> = values(m * k, 71).iter().enumerate().map(|(i, v)| v * 3.0 + (i / k % 5) as f32).collect();
        let w: Vec<f32> = values(n * k, 72).iter().map(|v| v * 0.3).collect();
        let (norm_weight, norm_bias, bias) = (values(k, 73), values(k, 74), values(n, 75));
        let projection: Vec<f32> = values(hidden * 40, 76);
        let qkv = PackedB::with_precision(MatRef::row_major(&w, n, k).t(), Precision::Bf16x3);
        let out_proj = PackedB::with_precision(MatRef::row_major(&projection, 40, hidden).t(), Precision::Bf16x3);
        let shape = attention::Heads { batch: films, tokens, heads, head_dim: 64 };
        let residual = values(m * 40, 77);
        let attention = attention_after_layer_norm(&x, &norm_weight, &norm_bias, 1e-5, &qkv, Some(&bias), shape).expect("the tiles take the shape");
        let mut want = residual.clone();
        gemm(MatRef::row_major(&attention, m, hidden), &out_proj, &mut want, 40);
        let mut got = residual.clone();
        assert!(attention_block_after_layer_norm(&x, &norm_weight, &norm_bias, 1e-5, &qkv, Some(&bias), &out_proj, &mut got, shape));
        assert!(got == want, "{films} films of {tokens} tokens: the projected attention differs from its steps");
        assert_ne!(got, residual, "the attention was added");
        // Where the tiles do not take the shape, nothing is done.
        let f32_weights = PackedB::with_precision(MatRef::row_major(&w, n, k).t(), Precision::F32);
        let mut untouched = residual.clone();
        assert!(!attention_block_after_layer_norm(&x, &norm_weight, &norm_bias, 1e-5, &f32_weights, Some(&bias), &out_proj, &mut untouched, shape));
        assert!(untouched == residual);
    }
}
