//! Where the model looked: attention rollout (Abnar & Zuidema 2020) over the
//! vision transformer's blocks, as a grid × grid map in [0, 1] over the square
//! region the model sees (the centre crop of the film after the shortest side was
//! resized to the model's input size).

use candle_core::Tensor;

use crate::grading::Grader;

/// A `grid` × `grid` map, row-major, values in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub grid: usize,
    pub values: Vec<f32>,
}

/// Attention rollout of one image. `layers[l]` holds block `l`'s attention
/// probabilities for that image, `heads × tokens × tokens` row-major (token 0 is
/// the class token, then `grid²` patches). Heads are averaged, the residual is
/// added (0.5·A + 0.5·I, rows renormalised) and the blocks are multiplied from
/// the first to the last; the class token's row over the patches, scaled to
/// [0, 1] by its minimum and maximum, is the map. `None` when the shapes do not
/// describe a square grid of patches.
pub fn rollout(layers: &[Vec<f32>], heads: usize, tokens: usize) -> Option<Heatmap> {
    let grid = (tokens.checked_sub(1)? as f64).sqrt().round() as usize;
    if heads == 0 || grid == 0 || grid * grid + 1 != tokens || layers.is_empty() {
        return None;
    }
    let t = tokens;
    let mut joint = identity(t);
    for layer in layers {
        if layer.len() != heads * t * t {
            return None;
        }
        let mut a = vec![0f32; t * t];
        for h in 0..heads {
            for (acc, v) in a.iter_mut().zip(&layer[h * t * t..(h + 1) * t * t]) {
                *acc += v / heads as f32;
            }
        }
        for i in 0..t {
            a[i * t + i] += 1.0;
            let row = &mut a[i * t..(i + 1) * t];
            let sum: f32 = row.iter().sum();
            if sum > 0.0 {
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
        joint = matmul(&a, &joint, t);
    }
    let cls = &joint[1..t];
    let (lo, hi) = cls.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let values = if hi - lo > f32::EPSILON && hi.is_finite() {
        cls.iter().map(|v| (v - lo) / (hi - lo)).collect()
    } else {
        vec![0.0; grid * grid]
    };
    Some(Heatmap { grid, values })
}

fn identity(t: usize) -> Vec<f32> {
    let mut m = vec![0f32; t * t];
    (0..t).for_each(|i| m[i * t + i] = 1.0);
    m
}

fn matmul(a: &[f32], b: &[f32], t: usize) -> Vec<f32> {
    let mut out = vec![0f32; t * t];
    for i in 0..t {
        for k in 0..t {
            let aik = a[i * t + k];
            if aik != 0.0 {
                for j in 0..t {
                    out[i * t + j] += aik * b[k * t + j];
                }
            }
        }
    }
    out
}

/// Runs the vision tower on one preprocessed film (`3 × size × size`) with the
/// grader's blocks (the fine-tuned head's last blocks when one is set) and
/// returns the rollout map.
pub fn heatmap(grader: &Grader, pixel_values: &[f32]) -> anyhow::Result<Heatmap> {
    let batch = grader.preprocessing().batch(&[pixel_values.to_vec()], grader.device())?;
    let mut attentions: Vec<Tensor> = Vec::new();
    grader.vision_hidden(&batch, Some(&mut attentions))?;
    let mut layers = Vec::with_capacity(attentions.len());
    let (mut heads, mut tokens) = (0, 0);
    for a in &attentions {
        let a = a.squeeze(0)?.to_dtype(candle_core::DType::F32)?;
        let (h, t, _) = a.dims3()?;
        (heads, tokens) = (h, t);
        layers.push(a.flatten_all()?.to_vec1::<f32>()?);
    }
    rollout(&layers, heads, tokens).ok_or_else(|| anyhow::anyhow!("attention maps of unexpected shape"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_of_a_hand_computed_stack() {
        // 2×2 patches + class token; two heads, two blocks.
        let t = 5;
        let eye = identity(t);
        // Block 1: both heads attend to themselves → A' = I.
        let block1 = [eye.clone(), eye.clone()].concat();
        // Block 2: head 0's class token attends [0, 1, 0, 0, 0], head 1's
        // [0, 0, .5, .5, 0]; the mean row is [0, .5, .25, .25, 0], plus I and
        // halved: [.5, .25, .125, .125, 0]. Other rows stay identity.
        let mut h0 = eye.clone();
        h0[..t].copy_from_slice(&[0.0, 1.0, 0.0, 0.0, 0.0]);
        let mut h1 = eye.clone();
        h1[..t].copy_from_slice(&[0.0, 0.0, 0.5, 0.5, 0.0]);
        let block2 = [h0, h1].concat();
        let map = rollout(&[block1, block2], 2, t).unwrap();
        assert_eq!(map.grid, 2);
        // Patches .25, .125, .125, 0 → scaled by min 0 and max .25.
        let expected = [1.0, 0.5, 0.5, 0.0];
        for (v, e) in map.values.iter().zip(expected) {
            assert!((v - e).abs() < 1e-6, "{:?}", map.values);
        }
    }

    #[test]
    fn bad_shapes_give_none() {
        assert_eq!(rollout(&[vec![0.0; 16]], 1, 4), None);
        assert_eq!(rollout(&[], 1, 5), None);
        assert_eq!(rollout(&[vec![0.0; 3]], 1, 5), None);
    }
}
