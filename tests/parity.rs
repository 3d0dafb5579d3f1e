//! Parity with the Hugging Face reference implementation. The fixtures (tiny
//! random CLIP models and their reference outputs) are written by
//! `tools/make_fixtures.py` with `transformers` + `torch`; see tests/fixtures/README.md.
//!
//! `KNEECLIP_PARITY_DIR=DIR` runs the same checks on a full-size model written
//! by `python tools/make_fixtures.py --full --out DIR`.

mod common;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::{assert_close, fixture_dir, load_tensors, shared_tokenizer};
use kneeclip::grading::{FineTunedHead, Grader, TextAnchors};

const TOLERANCE: f32 = 1e-4;
const ANCHORS: usize = 5;

struct Case {
    grader: Grader,
    reference: std::collections::HashMap<String, Tensor>,
    prompts: Vec<String>,
    dir: std::path::PathBuf,
}

fn case(dir: &Path) -> Option<Case> {
    let tokenizer = shared_tokenizer()?;
    let grader = Grader::load(
        &dir.join("config.json"),
        &dir.join("model.safetensors"),
        &tokenizer,
        "fixture",
        &Device::Cpu,
    )
    .expect("fixture model loads");
    let reference = load_tensors(&dir.join("reference.safetensors"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let prompts = json["prompts"]
        .as_array()
        .expect("reference.json lists its prompts")
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    Some(Case { grader, reference, prompts, dir: dir.to_owned() })
}

impl Case {
    fn get(&self, name: &str) -> &Tensor {
        self.reference.get(name).unwrap_or_else(|| panic!("reference has no {name}"))
    }

    fn films(&self) -> usize {
        self.get("pixel_values").dim(0).unwrap()
    }
}

fn check_tokens_and_text(c: &Case) {
    let tokenizer = kneeclip::model::ClipTokenizer::from_file(&shared_tokenizer().unwrap(), 77).unwrap();
    let ids: Vec<Vec<u32>> = tokenizer.encode_all(&c.prompts).unwrap();
    for (m, ids_m) in ids.iter().enumerate() {
        let reference: Vec<i64> = c.get(&format!("text.input_ids.{m}")).to_vec1().unwrap();
        let reference: Vec<u32> = reference.into_iter().map(|v| v as u32).collect();
        assert_eq!(ids_m, &reference, "token ids of prompt {m}");
    }
    let text = c.grader.model().text_features(&ids).unwrap();
    assert_close("text embeddings", &text, c.get("text_embeds"), TOLERANCE);
    // A prompt's embedding hardly depends on the prompts encoded beside it
    // (the cache reuses one anchor's embedding beside newly edited ones).
    // Not bit for bit: the batch pads to its longest prompt, which changes
    // the attention's sums (full size: ≤ 3.0e-6 in f32, ≤ 1.3e-5 on the AMX
    // tiles, for embeddings up to 3.7).
    for (m, ids_m) in ids.iter().enumerate() {
        let alone = c.grader.model().text_features(std::slice::from_ref(ids_m)).unwrap();
        assert_close(&format!("prompt {m} alone against in the batch"), &alone.get(0).unwrap(), &text.get(m).unwrap(), TOLERANCE / 4.0);
    }
}

fn check_preprocessing(c: &Case) {
    let p = c.grader.preprocessing();
    for i in 0..c.films() {
        let film = c.get(&format!("films.{i}"));
        let (h, w) = film.dims2().unwrap();
        let bytes: Vec<u8> = film.flatten_all().unwrap().to_vec1().unwrap();
        let ours = p.pixel_values_u8(w, h, &bytes);
        let s = p.image_size;
        let ours = Tensor::from_vec(ours, (3, s, s), &Device::Cpu).unwrap();
        let reference = c.get("pixel_values").get(i).unwrap();
        assert_close(&format!("pixel values of film {i} ({h}×{w})"), &ours, &reference, TOLERANCE);
    }
}

fn check_vision(c: &Case) {
    let pixels = c.get("pixel_values");
    let vision = c.grader.model().vision();
    let mut hidden = vision.embed(pixels).unwrap();
    assert_close("embeddings (hidden state 0)", &hidden, c.get("vision.hidden_states.0"), TOLERANCE);
    for k in 0..vision.num_layers() {
        let mut attentions = Vec::new();
        hidden = kneeclip::model::vision::run_blocks(&vision.layers()[k..k + 1], &hidden, Some(&mut attentions)).unwrap();
        assert_close(&format!("attention {k}"), &attentions[0], c.get(&format!("vision.attentions.{k}")), TOLERANCE);
        assert_close(&format!("hidden state {}", k + 1), &hidden, c.get(&format!("vision.hidden_states.{}", k + 1)), TOLERANCE);
    }
    let pooled = vision.pool(&hidden).unwrap();
    assert_close("pooled", &pooled, c.get("vision.pooled"), TOLERANCE);
    let embeds = c.grader.model().image_features(pixels).unwrap();
    assert_close("image embeddings", &embeds, c.get("image_embeds"), TOLERANCE);
}

fn pixel_rows(c: &Case) -> Vec<Vec<f32>> {
    (0..c.films())
        .map(|i| c.get("pixel_values").get(i).unwrap().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

fn assessments_as_tensors(assessments: &[kneeclip::grading::Assessment]) -> (Tensor, Tensor) {
    let n = assessments.len();
    let cos: Vec<f32> = assessments.iter().flat_map(|a| a.similarities).collect();
    let probs: Vec<f32> = assessments.iter().flat_map(|a| a.probabilities).collect();
    (
        Tensor::from_vec(cos, (n, ANCHORS), &Device::Cpu).unwrap(),
        Tensor::from_vec(probs, (n, ANCHORS), &Device::Cpu).unwrap(),
    )
}

fn check_grades(c: &mut Case) {
    let anchors: [String; ANCHORS] = c.prompts[..ANCHORS].to_vec().try_into().unwrap();
    c.grader.set_anchors(TextAnchors::new(anchors).unwrap());
    let rows = pixel_rows(c);
    let assessments = c.grader.grade_pixel_values(&rows).unwrap();
    let (cos, probs) = assessments_as_tensors(&assessments);
    assert_close("anchor cosines", &cos, c.get("cosine"), TOLERANCE);
    assert_close("probabilities", &probs, c.get("probs"), TOLERANCE);
    let reference_grades: Vec<u32> = c.get("probs").argmax(1).unwrap().to_vec1().unwrap();
    let grades: Vec<u32> = assessments.iter().map(|a| a.grade as u32).collect();
    assert_eq!(grades, reference_grades);

    // Free-text queries through the same path.
    let batch = c.grader.preprocessing().batch(&rows, &Device::Cpu).unwrap();
    let images = c.grader.image_embeddings(&batch).unwrap();
    let queries = &c.prompts[ANCHORS..];
    let mut ours = Vec::new();
    for i in 0..c.films() {
        ours.extend(c.grader.query_similarities(&images.get(i).unwrap().unsqueeze(0).unwrap(), queries).unwrap());
    }
    let ours = Tensor::from_vec(ours, (c.films(), queries.len()), &Device::Cpu).unwrap();
    assert_close("query cosines", &ours, c.get("query_cosine"), TOLERANCE);
}

fn check_head(c: &mut Case) {
    let head = FineTunedHead::load(&c.dir.join("head.safetensors"), c.grader.model()).expect("head loads");
    let pixels = c.get("pixel_values").clone();
    // The frozen prefix the head starts from.
    let vision = c.grader.model().vision();
    let frozen = vision.num_layers() - 2;
    let prefix = vision.run_blocks(&vision.embed(&pixels).unwrap(), 0..frozen).unwrap();
    assert_close("head input (frozen prefix)", &prefix, c.get("head.hidden_in"), TOLERANCE);

    c.grader.set_head(Some(head)).unwrap();
    let adapted = c.grader.image_embeddings(&pixels).unwrap();
    let reference = kneeclip::model::layers::l2_normalize(c.get("head.image_embeds")).unwrap();
    assert_close("head image embeddings (normalised)", &adapted, &reference, TOLERANCE);
    let assessments = c.grader.grade_pixel_values(&pixel_rows(c)).unwrap();
    let (cos, probs) = assessments_as_tensors(&assessments);
    assert_close("head cosines", &cos, c.get("head.cosine"), TOLERANCE);
    assert_close("head probabilities", &probs, c.get("head.probs"), TOLERANCE);
    assert!(assessments[0].provenance.head.as_deref().unwrap().starts_with("head@"));
    c.grader.set_head(None).unwrap();
}

fn check_all(dir: &Path) {
    let Some(mut c) = case(dir) else { return };
    assert_eq!(c.get("pixel_values").dtype(), DType::F32);
    check_tokens_and_text(&c);
    check_preprocessing(&c);
    check_vision(&c);
    check_grades(&mut c);
    check_head(&mut c);
}

#[test]
fn tiny_clip_quick_gelu_matches_hugging_face() {
    check_all(&fixture_dir("tiny-clip"));
}

#[test]
fn tiny_clip_gelu_new_style_eos_matches_hugging_face() {
    check_all(&fixture_dir("tiny-clip-gelu"));
}

#[test]
fn full_size_model_matches_hugging_face_when_given() {
    match std::env::var_os("KNEECLIP_PARITY_DIR") {
        Some(dir) => check_all(Path::new(&dir)),
        None => eprintln!("skipped: set KNEECLIP_PARITY_DIR to a folder from `make_fixtures.py --full`"),
    }
}
