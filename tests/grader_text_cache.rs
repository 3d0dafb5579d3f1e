//! Editing one anchor encodes only that text: the cached embeddings of the
//! others are reused and equal a fresh encoding.

mod common;

use candle_core::Device;
use kneeclip::grading::{Grader, TextAnchors};

#[test]
fn cached_text_embeddings_equal_fresh_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(dir) = common::model_dir(tmp.path()) else { return };
    let mut grader = Grader::load(
        &dir.join("config.json"),
        &dir.join("model.safetensors"),
        &dir.join("tokenizer.json"),
        "tiny",
        &Device::Cpu,
    )
    .unwrap();
    let defaults = TextAnchors::default();
    let before: Vec<Vec<f32>> = grader.anchor_embeddings().unwrap().to_vec2().unwrap();

    let mut edited = defaults.clone();
    edited.anchors[3] = "Large osteophytes and marked joint space narrowing".into();
    grader.set_anchors(edited.clone());
    let after: Vec<Vec<f32>> = grader.anchor_embeddings().unwrap().to_vec2().unwrap();
    let fresh: Vec<Vec<f32>> = grader.encode_texts(&edited.anchors).unwrap().to_vec2().unwrap();

    for grade in [0, 1, 2, 4] {
        assert_eq!(after[grade], before[grade], "grade {grade}: the unchanged anchor was re-encoded differently");
    }
    assert_ne!(after[3], before[3], "the edited anchor kept its old embedding");
    for (grade, (cached, encoded)) in after.iter().zip(&fresh).enumerate() {
        let diff = cached.iter().zip(encoded).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-6, "grade {grade}: cached and fresh embeddings differ by {diff}");
    }
}
