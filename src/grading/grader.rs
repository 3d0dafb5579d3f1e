//! The `Grader`: a film in, a KL grade with five probabilities and five anchor
//! similarities out, together with what produced them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{D, Device, Tensor};
use serde::Serialize;

use super::GradeError;
use super::anchors::{GRADES, TextAnchors};
use super::head::{FineTunedHead, TRAINED_BLOCKS};
use crate::model::layers::l2_normalize;
use crate::model::vision::{run_blocks, run_blocks_class_token};
use crate::model::{ClipModel, ClipTokenizer, Preprocessing};

/// What produced an assessment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Provenance {
    pub model: String,
    pub head: Option<String>,
    pub anchors_hash: String,
    /// The anchors differ from those the probabilities were calibrated with.
    pub anchors_edited: bool,
    /// Where and in which arithmetic the products ran
    /// ([`crate::model::device::arithmetic_label`]).
    pub arithmetic: String,
}

/// Adjacent grades whose probabilities are this close are reported as
/// "borderline KL n/n+1" — by the command line and the viewer alike.
pub const BORDERLINE_MARGIN: f32 = 0.10;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    pub grade: usize,
    pub probabilities: [f32; GRADES],
    /// Cosine between the (adapted) image embedding and each anchor's embedding.
    pub similarities: [f32; GRADES],
    pub provenance: Provenance,
}

impl Assessment {
    /// The runner-up grade when it is adjacent to the top grade and its
    /// probability is within `margin` of it ("borderline KL n/n+1").
    pub fn borderline(&self, margin: f32) -> Option<(usize, usize)> {
        self.close_runner_up(margin).filter(|(lo, hi)| hi - lo == 1)
    }

    /// The top two grades when they are within `margin` but not neighbours
    /// (KL 0 against KL 3): the model is torn between readings no reader
    /// would confuse, which says more about its doubt than a borderline.
    pub fn uncertain(&self, margin: f32) -> Option<(usize, usize)> {
        self.close_runner_up(margin).filter(|(lo, hi)| hi - lo > 1)
    }

    /// The top grade and the runner-up, lower first, when within `margin`.
    fn close_runner_up(&self, margin: f32) -> Option<(usize, usize)> {
        let mut order: Vec<usize> = (0..GRADES).collect();
        order.sort_by(|&a, &b| self.probabilities[b].total_cmp(&self.probabilities[a]));
        let (top, second) = (order[0], order[1]);
        let close = self.probabilities[top] - self.probabilities[second] <= margin;
        close.then(|| (top.min(second), top.max(second)))
    }
}

/// The largest temperature a head's fit tries (training/calibration.rs). A
/// fit that ends there wanted flatter probabilities still: the head separates
/// the grades hardly at all.
pub const MOST_TEMPERATURE: f64 = 20.0;

/// Whether a fitted temperature stopped at [`MOST_TEMPERATURE`].
pub fn at_most_temperature(temperature: f64) -> bool {
    temperature >= MOST_TEMPERATURE * 0.98
}

/// Texts embedded so far, by text: editing one anchor, or scoring a query
/// again, encodes only what is new. Cleared when it grows past the limit.
#[derive(Default)]
struct TextCache {
    embeddings: HashMap<String, Vec<f32>>,
}

const TEXT_CACHE_LIMIT: usize = 512;

pub struct Grader {
    model: ClipModel,
    tokenizer: ClipTokenizer,
    preprocessing: Preprocessing,
    model_id: String,
    head: Option<FineTunedHead>,
    anchors: TextAnchors,
    text_cache: Mutex<TextCache>,
    /// The base weights' file, hashed once when a head asks which base it is.
    weights: Option<PathBuf>,
    weights_sha256: std::sync::OnceLock<Result<String, String>>,
}

impl Grader {
    pub fn new(model: ClipModel, tokenizer: ClipTokenizer, model_id: impl Into<String>) -> Self {
        let preprocessing = Preprocessing::clip(model.config().vision_config.image_size);
        Self {
            model,
            tokenizer,
            preprocessing,
            model_id: model_id.into(),
            head: None,
            anchors: TextAnchors::default(),
            text_cache: Mutex::default(),
            weights: None,
            weights_sha256: std::sync::OnceLock::new(),
        }
    }

    /// Loads the base model and its tokenizer from Hugging Face files.
    pub fn load(
        config: &Path,
        weights: &Path,
        tokenizer: &Path,
        model_id: impl Into<String>,
        device: &Device,
    ) -> Result<Self, GradeError> {
        let model = ClipModel::load(config, weights, device)?;
        let max_len = model.config().text_config.max_position_embeddings;
        let tokenizer = ClipTokenizer::from_file(tokenizer, max_len)?;
        Ok(Self { weights: Some(weights.to_owned()), ..Self::new(model, tokenizer, model_id) })
    }

    pub fn model(&self) -> &ClipModel {
        &self.model
    }

    pub fn device(&self) -> &Device {
        self.model.device()
    }

    pub fn preprocessing(&self) -> &Preprocessing {
        &self.preprocessing
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The SHA-256 of the base weights file (hex), worked out once and
    /// remembered by the file's size and time; None for a model built in
    /// memory or a file that cannot be read.
    pub fn weights_sha256(&self) -> Option<&str> {
        self.weights_hash()?.as_ref().ok().map(String::as_str)
    }

    fn weights_hash(&self) -> Option<&Result<String, String>> {
        let weights = self.weights.as_ref()?;
        let memo = crate::weights::default_cache_dir().map(|d| d.join("weights-sha256.json"));
        Some(self.weights_sha256.get_or_init(|| crate::weights::sha256_file_remembered(weights, memo.as_deref()).map_err(|e| format!("{}: {e}", weights.display()))))
    }

    pub fn head(&self) -> Option<&FineTunedHead> {
        self.head.as_ref()
    }

    /// Overlays a fine-tuned head (or removes it), refusing one trained on
    /// other base weights. A head that records its anchors (the classifier it
    /// was trained and calibrated with) brings them along; set other anchors
    /// after this to grade with those. Anchor embeddings stay valid: the head
    /// changes only the image side.
    pub fn set_head(&mut self, head: Option<FineTunedHead>) -> Result<(), GradeError> {
        if let Some(head) = &head {
            self.check_base_of(head)?;
            if let Some(anchors) = head.metadata().anchors.clone().and_then(|a| a.try_into().ok()).and_then(|a| TextAnchors::new(a).ok()) {
                self.anchors = anchors;
            }
        }
        self.head = head;
        Ok(())
    }

    /// A head's last two blocks continue the first ten of the weights it was
    /// trained on; on any other base its grades mean nothing.
    fn check_base_of(&self, head: &FineTunedHead) -> Result<(), GradeError> {
        let (Some(trained_on), Some(weights)) = (&head.metadata().base_weights_sha256, &self.weights) else { return Ok(()) };
        let Some(hash) = self.weights_hash() else { return Ok(()) };
        let hash = hash.as_ref().map_err(|e| GradeError::Head { path: head.path().to_owned(), reason: format!("cannot check its base weights: {e}") })?;
        if trained_on.is_empty() || !hash.starts_with(trained_on.as_str()) {
            return Err(GradeError::Head {
                path: head.path().to_owned(),
                reason: format!(
                    "it was trained on other base weights (SHA-256 {trained_on}…) than {} ({}…); its grades would mean nothing. Grade with the base model it was trained on{}",
                    weights.display(),
                    &hash[..trained_on.len().clamp(12, hash.len())],
                    // Where that model was, so the user knows what to give (QA: only hashes were named).
                    head.metadata().base_model.as_deref().map(|b| {
                        let give = if std::path::Path::new(b).is_dir() { format!(" (--model-dir {})", crate::files::shell_quote(b)) } else { String::new() };
                        format!(": its sidecar {} records the base model {b}{give}", head.path().with_extension("json").display())
                    }).unwrap_or_default()
                ),
            });
        }
        Ok(())
    }

    pub fn anchors(&self) -> &TextAnchors {
        &self.anchors
    }

    pub fn set_anchors(&mut self, anchors: TextAnchors) {
        self.anchors = anchors;
    }

    /// The anchors the probabilities were calibrated with: the head's own when
    /// it records them, else the defaults.
    fn calibration_anchors(&self) -> TextAnchors {
        self.head
            .as_ref()
            .and_then(|h| h.metadata().anchors.clone())
            .and_then(|a| a.try_into().ok())
            .and_then(|a| TextAnchors::new(a).ok())
            .unwrap_or_default()
    }

    pub fn provenance(&self) -> Provenance {
        Provenance {
            model: self.model_id.clone(),
            head: self.head.as_ref().map(|h| h.id().to_owned()),
            anchors_hash: self.anchors.hash(),
            anchors_edited: self.anchors != self.calibration_anchors(),
            arithmetic: crate::model::device::arithmetic_label(self.device()),
        }
    }

    /// What the reader should know of the anchors in use: any too long for
    /// the text model, any two that are one text.
    /// What to doubt about the fine-tuned head in use: no sidecar beside it
    /// (uncalibrated, its anchors and base unknown), or a temperature fitted
    /// at its limit, so its probabilities are nearly flat (training said so
    /// once; every grade made with the head says it again).
    pub fn head_warnings(&self) -> Vec<String> {
        let Some(head) = self.head() else { return Vec::new() };
        let mut warnings = Vec::new();
        if !head.has_sidecar() {
            // Every head `train` writes has one; a head copied without it grades differently.
            warnings.push(format!(
                "head {}: no sidecar {} beside it, so it grades without its fitted temperature (its probabilities are not calibrated) or the anchors it was trained with, and with its base weights unchecked; copy the .json with its head",
                head.id(),
                // The name alone: reports made without patient data carry this warning, and a
                // whole path may name the user's home folder.
                head.path().with_extension("json").file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            ));
        }
        if let Some(t) = head.metadata().temperature.filter(|&t| at_most_temperature(t as f64)) {
            warnings.push(format!(
                "head {}: its temperature was fitted at its limit ({t:.1}): its probabilities are nearly flat and it hardly tells the grades apart; train it longer or on more films",
                head.id()
            ));
        }
        warnings
    }

    /// The head's warnings, then the anchors': what `grade`, `eval` and reports say.
    pub fn warnings(&self) -> Vec<String> {
        self.head_warnings().into_iter().chain(self.anchor_warnings()).collect()
    }

    pub fn anchor_warnings(&self) -> Vec<String> {
        let mut warnings = self.overlong(&self.anchors.anchors);
        warnings.extend(self.anchors.repeated());
        warnings
    }

    /// Tokens past the 77 CLIP reads in `text` (0 for most texts).
    pub fn tokens_ignored(&self, text: &str) -> usize {
        self.tokenizer.tokens_cut(text)
    }

    /// Warnings for texts too long for the text model: CLIP reads 77 tokens
    /// (about 60 words); the rest of a longer anchor changes nothing, and
    /// anchors that differ only there score the same.
    pub fn overlong<S: AsRef<str>>(&self, texts: &[S]) -> Vec<String> {
        texts
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let cut = self.tokenizer.tokens_cut(t.as_ref());
                (cut > 0).then(|| format!("anchor KL {i} is {cut} tokens longer than the {} CLIP reads; its end is ignored", self.tokenizer.max_len()))
            })
            .collect()
    }

    /// Normalised text embeddings [texts, projection].
    pub fn encode_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tensor, GradeError> {
        let ids = self.tokenizer.encode_all(texts)?;
        Ok(l2_normalize(&self.model.text_features(&ids)?)?)
    }

    /// The five anchor embeddings; only anchors not seen before are encoded.
    pub fn anchor_embeddings(&mut self) -> Result<Tensor, GradeError> {
        let texts = self.anchors.anchors.clone();
        self.text_embeddings(&texts)
    }

    /// Normalised embeddings of `texts` [n, projection], encoding only those not
    /// embedded before (all of them in one packed pass).
    pub fn text_embeddings<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tensor, GradeError> {
        let mut cache = self.text_cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut missing: Vec<&str> = Vec::new();
        for text in texts.iter().map(AsRef::as_ref) {
            if !cache.embeddings.contains_key(text) && !missing.contains(&text) {
                missing.push(text);
            }
        }
        if !missing.is_empty() {
            let fresh: Vec<Vec<f32>> = self.encode_texts(&missing)?.to_vec2()?;
            if cache.embeddings.len() + missing.len() > TEXT_CACHE_LIMIT {
                cache.embeddings.clear();
            }
            for (text, embedding) in missing.into_iter().zip(fresh) {
                cache.embeddings.insert(text.to_owned(), embedding);
            }
        }
        let dim = self.model.config().projection_dim;
        let rows: Vec<f32> = texts.iter().flat_map(|t| cache.embeddings[t.as_ref()].iter().copied()).collect();
        Ok(Tensor::from_vec(rows, (texts.len(), dim), self.device())?)
    }

    /// Film as displayed (0 = black … 1 = white) → model input [3, size, size].
    pub fn pixel_values(&self, width: usize, height: usize, gray: &[f32]) -> Vec<f32> {
        self.preprocessing.pixel_values(width, height, gray)
    }

    /// Pixel values [batch, 3, size, size] → the vision tower's last hidden
    /// state, through the head's blocks when one is set. The one place that
    /// decides which blocks run: grading and the heatmap both come through here.
    /// With `attentions`, each block's attention probabilities are pushed onto it
    /// and every token's row is returned; without, only the class token's
    /// ([batch, 1, hidden]), which is all that pooling reads.
    pub fn vision_hidden(
        &self,
        pixel_values: &Tensor,
        attentions: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor, GradeError> {
        let vision = self.model.vision();
        let hidden = vision.embed(pixel_values)?;
        let (frozen, tail) = match &self.head {
            None => (vision.layers(), &[][..]),
            Some(head) => (&vision.layers()[..vision.num_layers() - TRAINED_BLOCKS], head.blocks()),
        };
        // Without attentions to keep, the last block computes the class token only.
        Ok(match attentions {
            Some(sink) => {
                let hidden = run_blocks(frozen, &hidden, Some(&mut *sink))?;
                run_blocks(tail, &hidden, Some(sink))?
            }
            None if tail.is_empty() => run_blocks_class_token(frozen, &hidden)?,
            None => run_blocks_class_token(tail, &run_blocks(frozen, &hidden, None)?)?,
        })
    }

    /// Pixel values [batch, 3, size, size] → normalised image embeddings
    /// [batch, projection], through the head's blocks and adapter when one is set.
    pub fn image_embeddings(&self, pixel_values: &Tensor) -> Result<Tensor, GradeError> {
        let hidden = self.vision_hidden(pixel_values, None)?;
        let embeds = self.model.project_image(&self.model.vision().pool(&hidden)?)?;
        let embeds = match &self.head {
            None => embeds,
            Some(head) => head.adapter().forward(&embeds)?,
        };
        Ok(l2_normalize(&embeds)?)
    }

    /// exp(logit scale) / temperature: what cosines are multiplied by before the softmax.
    pub fn logit_multiplier(&self) -> f32 {
        match &self.head {
            None => self.model.logit_scale().exp(),
            Some(head) => head.logit_scale().exp() / head.metadata().temperature.unwrap_or(1.0),
        }
    }

    /// Grades a batch of preprocessed films.
    pub fn grade_pixel_values(&mut self, pixel_values: &[Vec<f32>]) -> Result<Vec<Assessment>, GradeError> {
        if pixel_values.is_empty() {
            return Ok(Vec::new());
        }
        let anchors = self.anchor_embeddings()?;
        let batch = self.preprocessing.batch(pixel_values, self.device())?;
        let images = self.image_embeddings(&batch)?;
        self.assess(&images, &anchors)
    }

    /// Grades one film as displayed.
    pub fn grade_gray(&mut self, width: usize, height: usize, gray: &[f32]) -> Result<Assessment, GradeError> {
        let pixels = self.pixel_values(width, height, gray);
        Ok(self.grade_pixel_values(&[pixels])?.remove(0))
    }

    /// Normalised image embeddings [batch, P] and anchors [5, P] → assessments.
    pub fn assess(&self, images: &Tensor, anchors: &Tensor) -> Result<Vec<Assessment>, GradeError> {
        let cosines = images.matmul(&anchors.t()?)?;
        let probs = candle_nn::ops::softmax(&(&cosines * self.logit_multiplier() as f64)?, D::Minus1)?;
        let cosines: Vec<Vec<f32>> = cosines.to_vec2()?;
        let probs: Vec<Vec<f32>> = probs.to_vec2()?;
        // NaN probabilities made argmax say KL 0 ("Normal") with confidence.
        let bad = |rows: &[Vec<f32>]| rows.iter().flatten().any(|x| !x.is_finite());
        if bad(&cosines) || bad(&probs) {
            return Err(self.non_finite(if bad(&cosines) { "similarities" } else { "probabilities" }));
        }
        let provenance = self.provenance();
        Ok(cosines
            .into_iter()
            .zip(probs)
            .map(|(c, p)| {
                let probabilities: [f32; GRADES] = p.try_into().expect("five anchors");
                Assessment {
                    grade: argmax(&probabilities),
                    probabilities,
                    similarities: c.try_into().expect("five anchors"),
                    provenance: provenance.clone(),
                }
            })
            .collect())
    }

    /// The error for NaN or infinite results, naming the weights file (and the head, which may be the damaged one).
    fn non_finite(&self, what: &str) -> GradeError {
        let mut weights = self.weights.as_ref().map_or_else(|| self.model_id.clone(), |w| w.display().to_string());
        if let Some(head) = &self.head {
            weights = format!("{weights} (with the head {})", head.path().display());
        }
        GradeError::NonFinite { weights, what: format!("{what} that are not numbers") }
    }

    /// Cosine similarity of one film's (normalised) embedding [1, P] to each
    /// free-text query.
    pub fn query_similarities<S: AsRef<str>>(&self, image: &Tensor, queries: &[S]) -> Result<Vec<f32>, GradeError> {
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        let texts = self.text_embeddings(queries)?;
        let sims: Vec<f32> = image.matmul(&texts.t()?)?.squeeze(0)?.to_vec1()?;
        if sims.iter().any(|s| !s.is_finite()) {
            return Err(self.non_finite("query similarities"));
        }
        Ok(sims)
    }
}

/// The first of equal maxima (as `torch.argmax` and `eval`'s metrics), so
/// the grade and the borderline pair agree on ties.
use crate::metrics::argmax;

#[cfg(test)]
mod tests {
    use super::*;

    fn assessment(probabilities: [f32; 5]) -> Assessment {
        Assessment {
            grade: argmax(&probabilities),
            probabilities,
            similarities: [0.0; 5],
            provenance: Provenance {
                model: "m".into(),
                head: None,
                anchors_hash: "h".into(),
                anchors_edited: false,
                arithmetic: "CPU (test)".into(),
            },
        }
    }

    #[test]
    fn borderline_only_between_adjacent_close_grades() {
        assert_eq!(assessment([0.05, 0.40, 0.45, 0.05, 0.05]).borderline(0.1), Some((1, 2)));
        assert_eq!(assessment([0.45, 0.05, 0.40, 0.05, 0.05]).borderline(0.1), None);
        assert_eq!(assessment([0.05, 0.10, 0.75, 0.05, 0.05]).borderline(0.1), None);
        // Close but grades apart: not borderline, uncertain.
        assert_eq!(assessment([0.41, 0.05, 0.04, 0.45, 0.05]).uncertain(0.1), Some((0, 3)));
        assert_eq!(assessment([0.05, 0.40, 0.45, 0.05, 0.05]).uncertain(0.1), None);
        assert_eq!(assessment([0.05, 0.10, 0.75, 0.05, 0.05]).uncertain(0.1), None);
    }
}
