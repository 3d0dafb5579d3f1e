//! Two AdamW steps on the tiny fixture model against PyTorch
//! (`tests/fixtures/tiny-clip/train_step.*`): losses, gradients, logits and
//! parameters within 1e-5; the two k_proj.bias tensors (analytically zero
//! gradient) checked with the README's bound |p_t − p_0(1−lr·wd)^t| ≤ 1.01·t·lr.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{assert_close, fixture_dir, load_tensors};
use kneeclip::model::ClipModel;
use kneeclip::training::adamw::{AdamW, AdamWConfig};
use kneeclip::training::forward::{FrozenTail, Params, cross_entropy, gradients, pass};

#[test]
fn two_adamw_steps_match_pytorch() {
    let dir = fixture_dir("tiny-clip");
    let dev = Device::Cpu;
    let model = ClipModel::load(&dir.join("config.json"), &dir.join("model.safetensors"), &dev).unwrap();
    let base = load_tensors(&dir.join("model.safetensors"));
    let head = load_tensors(&dir.join("head.safetensors"));
    let reference = load_tensors(&dir.join("train_step.safetensors"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("train_step.json")).unwrap()).unwrap();
    let order: Vec<String> = serde_json::from_value(json["optimizer_param_order"].clone()).unwrap();
    assert_eq!(order.len(), head.len(), "every head tensor is trained");

    let c = model.vision().config().clone();
    let tail = FrozenTail {
        post_ln_weight: base["vision_model.post_layernorm.weight"].clone(),
        post_ln_bias: base["vision_model.post_layernorm.bias"].clone(),
        projection: base["visual_projection.weight"].clone(),
    };
    let anchors = reference["anchors.embeddings"].clone();
    let labels: Vec<usize> = reference["batch.labels"].to_vec1::<i64>().unwrap().iter().map(|&l| l as usize).collect();
    let px = reference["batch.pixel_values_base"].clone();
    let w = px.dim(3).unwrap();
    let rev = Tensor::from_vec((0..w as u32).rev().collect::<Vec<_>>(), w, &dev).unwrap();
    let pixels = Tensor::cat(&[&px, &px.index_select(&rev, 3).unwrap()], 0).unwrap();

    // Frozen part once: embeddings + blocks 0..L-2.
    let first = c.num_hidden_layers - 2;
    let hidden = model.vision().run_blocks(&model.vision().embed(&pixels).unwrap(), 0..first).unwrap();

    let params: Params = order.iter().map(|n| (n.clone(), Var::from_tensor(&head[n]).unwrap())).collect();
    let vars: Vec<&Var> = order.iter().map(|n| &params[n]).collect();
    let cfg = AdamWConfig::default();
    let mut opt = AdamW::new(&vars, cfg).unwrap();
    let is_kbias = |n: &str| n.ends_with("k_proj.bias");

    for step in 0..=2 {
        let pass = pass(&params, &c, &tail, &anchors, &hidden, first).unwrap();
        let lg = pass.logits.clone();
        let loss = cross_entropy(&lg, &labels, None).unwrap();
        assert_close(&format!("step{step}.loss"), &loss, &reference[&format!("step{step}.loss")], 1e-5);
        // Logits are exp(logit_scale)·cos: the cosines (|cos| ≤ 1) are held to 1e-6,
        // so the logits to 1e-6 times the multiplier (50 in this fixture, at most 100), at least 1e-5.
        let r = &reference[&format!("step{step}.logits")];
        let multiplier = params["logit_scale"].as_tensor().exp().unwrap().to_scalar::<f32>().unwrap();
        assert_close(&format!("step{step}.logits (×{multiplier:.1})"), &lg, r, 1e-5f32.max(1e-6 * multiplier));
        if step > 0 {
            for n in &order {
                let ours = params[n].as_tensor();
                if is_kbias(n) {
                    let decayed = (&head[n] * (1.0 - cfg.lr * cfg.weight_decay).powi(step)).unwrap();
                    let drift = common::max_abs_diff(ours, &decayed);
                    assert!(drift as f64 <= 1.01 * step as f64 * cfg.lr, "{n} step{step}: drift {drift}");
                } else {
                    assert_close(&format!("step{step}.param.{n}"), ours, &reference[&format!("step{step}.param.{n}")], 1e-5);
                }
            }
        }
        if step == 2 {
            break;
        }
        let grads = loss.backward().unwrap();
        let mut by_name = gradients(&[&pass], &params, &grads).unwrap();
        let gs: Vec<Option<Tensor>> = order.iter().map(|n| by_name.remove(n)).collect();
        for (n, g) in order.iter().zip(&gs) {
            let g = g.clone().unwrap_or_else(|| head[n].zeros_like().unwrap());
            assert_close(&format!("step{step}.grad.{n}"), &g, &reference[&format!("step{step}.grad.{n}")], 1e-5);
        }
        opt.step(&vars, &gs, cfg.lr).unwrap();
    }
    assert_eq!(params["logit_scale"].dtype(), DType::F32);
}
