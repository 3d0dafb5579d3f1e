//! From a displayed film to the model's input: CLIP's own preprocessing
//! (shortest side to the model's size with Pillow-exact bicubic, centre crop,
//! CLIP's per-channel mean and std), gray replicated to three channels.
//! The recipe is a value, saved with every trained head, so training and
//! inference always agree.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::resample::resize_bicubic_u8;

pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Side of the square model input.
    pub image_size: usize,
    /// "shortest_edge_bicubic_center_crop": the only recipe so far; named so a
    /// head trained with another one is recognised.
    pub recipe: String,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Preprocessing {
    pub const RECIPE: &'static str = "shortest_edge_bicubic_center_crop";

    pub fn clip(image_size: usize) -> Self {
        Self {
            image_size,
            recipe: Self::RECIPE.into(),
            mean: CLIP_MEAN,
            std: CLIP_STD,
        }
    }

    /// A film as displayed (row-major, 0 = black … 1 = white) → pixel values
    /// [3, size, size]. The film is quantised to 8 bits first, as every film the
    /// model saw in training was.
    pub fn pixel_values(&self, width: usize, height: usize, gray: &[f32]) -> Vec<f32> {
        self.pixel_values_u8(width, height, &quantised(gray))
    }

    pub fn pixel_values_u8(&self, width: usize, height: usize, gray: &[u8]) -> Vec<f32> {
        let s = self.image_size;
        let levels = self.gray_values_u8(width, height, gray);
        let mut out = vec![0f32; 3 * s * s];
        for c in 0..3 {
            let (mean, std) = (self.mean[c], self.std[c]);
            let plane = &mut out[c * s * s..(c + 1) * s * s];
            plane.iter_mut().zip(&levels).for_each(|(p, &v)| *p = (v - mean) / std);
        }
        out
    }

    /// The film resized and cropped as [`pixel_values`](Self::pixel_values)
    /// does, before the per-channel normalisation: [size, size] levels in
    /// 0–1, each channel's values being `(level − mean[c]) / std[c]`. The
    /// vision tower takes these for a gray film (`embed_gray`), with the
    /// normalisation folded into its patch weights.
    pub fn gray_values(&self, width: usize, height: usize, gray: &[f32]) -> Vec<f32> {
        self.gray_values_u8(width, height, &quantised(gray))
    }

    fn gray_values_u8(&self, width: usize, height: usize, gray: &[u8]) -> Vec<f32> {
        let s = self.image_size;
        let (new_w, new_h) = shortest_edge_size(width, height, s);
        // The shortest side becomes the model's size, so the crop is always full.
        assert!(new_w >= s && new_h >= s, "preprocessing: {width}×{height} resized to {new_w}×{new_h}, less than {s}");
        let resized = resize_bicubic_u8(gray, width, height, new_w, new_h);
        // Centre crop (Hugging Face's floor division for the offset).
        let top = (new_h - s) / 2;
        let left = (new_w - s) / 2;
        let mut out = vec![0f32; s * s];
        for y in 0..s {
            for x in 0..s {
                out[y * s + x] = resized[(top + y) * new_w + left + x] as f32 * (1.0 / 255.0);
            }
        }
        out
    }

    /// Stacks films' pixel values into one [batch, 3, size, size] tensor.
    pub fn batch(&self, pixel_values: &[Vec<f32>], device: &Device) -> candle_core::Result<Tensor> {
        let s = self.image_size;
        let flat: Vec<f32> = pixel_values.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (pixel_values.len(), 3, s, s), device)
    }
}

/// A displayed film's values (0 = black … 1 = white) as 8-bit levels.
fn quantised(gray: &[f32]) -> Vec<u8> {
    gray.iter().map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()
}

/// (width, height) after scaling the shortest side to `size`, the longer side
/// truncated as Hugging Face does.
pub fn shortest_edge_size(width: usize, height: usize, size: usize) -> (usize, usize) {
    if width <= height {
        (size, (size as f64 * height as f64 / width as f64) as usize)
    } else {
        ((size as f64 * width as f64 / height as f64) as usize, size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_side_becomes_the_model_size() {
        assert_eq!(shortest_edge_size(260, 300, 224), (224, 258));
        assert_eq!(shortest_edge_size(400, 180, 224), (497, 224));
        assert_eq!(shortest_edge_size(224, 224, 224), (224, 224));
    }

    #[test]
    fn mid_gray_normalises_per_channel() {
        let p = Preprocessing::clip(4);
        let values = p.pixel_values(4, 4, &[1.0; 16]);
        for c in 0..3 {
            let expected = (1.0 - CLIP_MEAN[c]) / CLIP_STD[c];
            assert!((values[c * 16] - expected).abs() < 1e-6);
        }
    }
}
