//! Where a training step's time goes at full ViT-B/32 size (random weights in
//! /tmp/kneeclip-full): the frozen first blocks vs the trainable part's
//! forward + backward. Ignored by default; run with
//! `cargo test --test training_timing -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use kneeclip::model::ClipModel;
use kneeclip::training::forward::{FrozenTail, Params, cross_entropy, logits};

#[test]
#[ignore]
fn frozen_versus_trainable_time_at_full_size() {
    let dir = std::path::Path::new("/tmp/kneeclip-full");
    if !dir.join("model.safetensors").is_file() {
        return;
    }
    let dev = Device::Cpu;
    let model = ClipModel::load(&dir.join("config.json"), &dir.join("model.safetensors"), &dev).unwrap();
    let base = common::load_tensors(&dir.join("model.safetensors"));
    let c = model.vision().config().clone();
    let n = 16;
    let px = Tensor::randn(0f32, 1.0, (n, 3, 224, 224), &dev).unwrap();
    let first = c.num_hidden_layers - 2;
    let t = Instant::now();
    let hidden = model.vision().run_blocks(&model.vision().embed(&px).unwrap(), 0..first).unwrap();
    let frozen = t.elapsed().as_secs_f64();
    let mut params: Params = Params::new();
    for (k, v) in &base {
        if k.starts_with(&format!("vision_model.encoder.layers.{first}.")) || k.starts_with(&format!("vision_model.encoder.layers.{}.", first + 1)) {
            params.insert(k.clone(), Var::from_tensor(v).unwrap());
        }
    }
    let dim = model.config().projection_dim;
    params.insert("adapter.down.weight".into(), Var::from_tensor(&Tensor::randn(0f32, 0.02, (128, dim), &dev).unwrap()).unwrap());
    params.insert("adapter.down.bias".into(), Var::zeros(128, DType::F32, &dev).unwrap());
    params.insert("adapter.up.weight".into(), Var::zeros((dim, 128), DType::F32, &dev).unwrap());
    params.insert("adapter.up.bias".into(), Var::zeros(dim, DType::F32, &dev).unwrap());
    params.insert("logit_scale".into(), Var::from_tensor(&Tensor::new(4.6f32, &dev).unwrap()).unwrap());
    let tail = FrozenTail {
        post_ln_weight: base["vision_model.post_layernorm.weight"].clone(),
        post_ln_bias: base["vision_model.post_layernorm.bias"].clone(),
        projection: base["visual_projection.weight"].clone(),
    };
    let anchors = Tensor::randn(0f32, 1.0, (5, dim), &dev).unwrap();
    let labels: Vec<usize> = (0..n).map(|i| i % 5).collect();
    let t = Instant::now();
    let lg = logits(&params, &c, &tail, &anchors, &hidden, first).unwrap();
    let loss = cross_entropy(&lg, &labels, None).unwrap();
    let _grads = loss.backward().unwrap();
    let trainable = t.elapsed().as_secs_f64();
    eprintln!(
        "{n} films: frozen embed + blocks 0..{first}: {frozen:.2} s ({:.0} ms/film); trainable fwd+bwd: {trainable:.2} s ({:.0} ms/film)",
        frozen * 1e3 / n as f64,
        trainable * 1e3 / n as f64
    );
}
