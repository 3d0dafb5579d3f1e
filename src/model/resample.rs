//! Bicubic resizing of 8-bit images, computed exactly as Pillow's `Image.resize`
//! (two separable passes, horizontal first, antialiased when shrinking, 8-bit
//! fixed-point weights). CLIP was trained on images resized this way and the
//! reference preprocessing uses it, so matching it bit for bit keeps our inputs
//! identical to the reference's.

/// Pillow's fixed-point precision for 8-bit images.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's bicubic kernel (a = -0.5), support 2.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output pixel: the first input pixel it reads and its fixed-point
/// weights.
struct Coefficients {
    taps: Vec<(usize, Vec<i32>)>,
}

impl Coefficients {
    fn new(in_size: usize, out_size: usize) -> Self {
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = scale.max(1.0);
        let support = 2.0 * filter_scale;
        let taps = (0..out_size)
            .map(|xx| {
                let center = (xx as f64 + 0.5) * scale;
                let inv = 1.0 / filter_scale;
                // Pillow truncates towards zero here, then clamps.
                let xmin = ((center - support + 0.5) as i64).max(0) as usize;
                let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
                let weights: Vec<f64> = (xmin..xmax)
                    .map(|x| bicubic((x as f64 - center + 0.5) * inv))
                    .collect();
                let sum: f64 = weights.iter().sum();
                let fixed = weights
                    .iter()
                    .map(|&w| {
                        let w = if sum != 0.0 { w / sum } else { w };
                        let scaled = w * (1u32 << PRECISION_BITS) as f64;
                        (if scaled < 0.0 { scaled - 0.5 } else { scaled + 0.5 }) as i32
                    })
                    .collect();
                (xmin, fixed)
            })
            .collect();
        Self { taps }
    }

    /// Rows of the input that the output rows read, as Pillow computes them.
    fn span(&self) -> (usize, usize) {
        let first = self.taps.first().map_or(0, |t| t.0);
        let last = self.taps.last().map_or(0, |t| t.0 + t.1.len());
        (first, last)
    }
}

fn clip8(acc: i32) -> u8 {
    if acc >= (1 << PRECISION_BITS << 8) {
        255
    } else if acc <= 0 {
        0
    } else {
        (acc >> PRECISION_BITS) as u8
    }
}

fn convolve(samples: impl Iterator<Item = u8>, weights: &[i32]) -> u8 {
    let mut acc: i32 = 1 << (PRECISION_BITS - 1);
    // Weights first: zip stops before drawing a sample past the last tap.
    for (&w, s) in weights.iter().zip(samples) {
        acc = acc.wrapping_add(s as i32 * w);
    }
    clip8(acc)
}

/// Resizes a row-major 8-bit gray image to `out_w` × `out_h`.
pub fn resize_bicubic_u8(data: &[u8], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    assert_eq!(data.len(), w * h, "image buffer does not match its size");
    let horizontal = Coefficients::new(w, out_w);
    let vertical = Coefficients::new(h, out_h);
    let need_horizontal = out_w != w;
    let need_vertical = out_h != h;

    // Horizontal pass over the rows the vertical pass will read.
    let (first_row, last_row) = if need_vertical { vertical.span() } else { (0, h) };
    let (tmp, tmp_w, row_offset) = if need_horizontal {
        let rows = last_row - first_row;
        let mut tmp = vec![0u8; out_w * rows];
        for r in 0..rows {
            let src = &data[(first_row + r) * w..(first_row + r + 1) * w];
            for (x, (start, weights)) in horizontal.taps.iter().enumerate() {
                tmp[r * out_w + x] = convolve(src[*start..].iter().copied(), weights);
            }
        }
        (tmp, out_w, first_row)
    } else {
        (data.to_vec(), w, 0)
    };
    if !need_vertical {
        return tmp;
    }
    let mut out = vec![0u8; out_w * out_h];
    for (y, (start, weights)) in vertical.taps.iter().enumerate() {
        let start = start - row_offset;
        for x in 0..out_w {
            let column = (start..).map(|r| tmp[r * tmp_w + x]);
            out[y * out_w + x] = convolve(column, weights);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_a_copy() {
        let data: Vec<u8> = (0..=255).collect();
        assert_eq!(resize_bicubic_u8(&data, 16, 16, 16, 16), data);
    }

    #[test]
    fn flat_image_stays_flat() {
        let data = vec![137u8; 37 * 23];
        let out = resize_bicubic_u8(&data, 37, 23, 11, 50);
        assert!(out.iter().all(|&v| v == 137));
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(300, 224), (224, 497), (7, 3)] {
            for (_, w) in Coefficients::new(i, o).taps {
                let sum: i32 = w.iter().sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() <= w.len() as i32, "{sum}");
            }
        }
    }
}
