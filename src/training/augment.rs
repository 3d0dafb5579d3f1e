//! Training-time augmentation on the film as the model would see it (gray,
//! 0..1, 8-bit steps): horizontal flip and rotation about the centre.
//!
//! Rotation: inverse mapping with bilinear interpolation of the 8-bit values,
//! rounded back to 8 bits (so the result is again an 8-bit film); pixels
//! falling outside the original are black (0). Preprocessing (Pillow-exact
//! bicubic resize + centre crop) follows, exactly as at inference.

/// One augmented view: mirrored or not, rotated by `degrees` (counter-clockwise).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    pub flip: bool,
    pub degrees: f32,
}

impl View {
    pub const IDENTITY: View = View { flip: false, degrees: 0.0 };
}

/// The finite, seeded set of views a training film can take: flip × angles.
/// Default angles −10, −5, 0, 5, 10 degrees (the ±10° range in 5° steps).
pub fn view_set(angles: &[f32]) -> Vec<View> {
    let mut v = Vec::new();
    for &flip in &[false, true] {
        for &degrees in angles {
            v.push(View { flip, degrees });
        }
    }
    v
}

pub fn apply(view: View, width: usize, height: usize, gray: &[f32]) -> Vec<f32> {
    let mut out = if view.degrees == 0.0 { gray.to_vec() } else { rotate(width, height, gray, view.degrees) };
    if view.flip {
        for row in out.chunks_mut(width) {
            row.reverse();
        }
    }
    out
}

fn rotate(width: usize, height: usize, gray: &[f32], degrees: f32) -> Vec<f32> {
    // With SSE4.1 (every x86-64 CPU since 2008, but not the baseline target)
    // `floor` and `round` are instructions rather than calls into libm, the
    // same values: three calls per output pixel made half the rotation's time.
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("sse4.1") {
        #[target_feature(enable = "sse4.1")]
        fn with_sse41(width: usize, height: usize, gray: &[f32], degrees: f32) -> Vec<f32> {
            rotate_body(width, height, gray, degrees)
        }
        // SAFETY: the CPU has SSE4.1.
        return unsafe { with_sse41(width, height, gray, degrees) };
    }
    rotate_body(width, height, gray, degrees)
}

#[inline(always)]
fn rotate_body(width: usize, height: usize, gray: &[f32], degrees: f32) -> Vec<f32> {
    let (s, c) = (degrees as f64).to_radians().sin_cos();
    let (cx, cy) = ((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0);
    // The film's 8-bit levels, rounded once per pixel rather than at each of
    // the four reads of every output pixel (a libm call each: ≈ 2 % of a
    // cold epoch's time went to rounding here).
    let levels: Vec<f64> = gray.iter().map(|&g| (g as f64 * 255.0).round()).collect();
    let px = |x: isize, y: isize| -> f64 {
        if x < 0 || y < 0 || x >= width as isize || y >= height as isize {
            0.0
        } else {
            levels[y as usize * width + x as usize]
        }
    };
    let mut out = vec![0f32; width * height];
    for y in 0..height {
        for x in 0..width {
            // Inverse rotation of the output pixel (image y grows downwards, so
            // a positive angle turns the picture counter-clockwise on screen).
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            let sx = c * dx - s * dy + cx;
            let sy = s * dx + c * dy + cy;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let v = px(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + px(x0 + 1, y0) * fx * (1.0 - fy)
                + px(x0, y0 + 1) * (1.0 - fx) * fy
                + px(x0 + 1, y0 + 1) * fx * fy;
            out[y * width + x] = (v.round().clamp(0.0, 255.0) / 255.0) as f32;
        }
    }
    out
}
