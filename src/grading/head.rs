//! A fine-tuned head: the last two vision blocks, a residual down–up adapter on
//! the image embedding and a logit scale, overlaid on the frozen base model.
//! Stored as safetensors holding only those tensors, with the base model's
//! names for the two blocks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::GradeError;
use crate::model::ClipModel;
use crate::model::layers::{Arithmetic, EncoderLayer, Linear};
use crate::model::vision::VisionTransformer;

/// How many of the last vision blocks a head replaces.
pub const TRAINED_BLOCKS: usize = 2;

/// `L(f) = f + up(relu(down(f)))`: with `up` at zero it is the identity, so an
/// untrained adapter leaves CLIP's embedding unchanged.
#[derive(Clone, Debug)]
pub struct Adapter {
    down: Linear,
    up: Linear,
}

impl Adapter {
    pub fn load(dim: usize, bottleneck: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        use crate::model::layers::linear;
        Ok(Self {
            down: linear(dim, bottleneck, true, Arithmetic::F32, vb.pp("down"))?,
            up: linear(bottleneck, dim, true, Arithmetic::F32, vb.pp("up"))?,
        })
    }

    pub fn forward(&self, f: &Tensor) -> candle_core::Result<Tensor> {
        f + self.up.forward(&self.down.forward(f)?.relu()?)?
    }
}

/// What a head's JSON sidecar (`<head>.json`) may say; every field optional so
/// older or hand-made heads still load.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HeadMetadata {
    pub base_model: Option<String>,
    pub anchors: Option<Vec<String>>,
    /// Fitted on validation data: logits are divided by it before the softmax.
    pub temperature: Option<f32>,
    /// The first 12 hex digits of the SHA-256 of the base weights it was
    /// trained on (not the whole digest; the name stays for readers of older sidecars).
    pub base_weights_sha256: Option<String>,
    /// The first 12 hex digits of the SHA-256 of the head it was written
    /// with (the hash in the head's id): a sidecar beside another head (a
    /// run stopped between writing the two) says so.
    pub head_sha256: Option<String>,
    /// What the sidecar says of the films the head was made with; only their
    /// content hashes are read (not written back: thousands of them).
    #[serde(skip_serializing)]
    pub dataset: Option<HeadDataset>,
}

/// The sidecar's `dataset`, as far as a reader needs it: the first 12 hex
/// digits of the SHA-256 of each training and validation film's bytes
/// (absent in older sidecars), so that an evaluation can tell the head's own films.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct HeadDataset {
    pub train_film_sha256: Option<Vec<String>>,
    pub validation_film_sha256: Option<Vec<String>>,
}

impl HeadMetadata {
    /// Refuses what would make every grade meaningless: a temperature of 0,
    /// below 0 or not a number, or anchors that are not five texts.
    fn check(&self) -> Result<(), String> {
        if let Some(t) = self.temperature {
            if !(t.is_finite() && t > 0.0) {
                return Err(format!("its temperature {t} is not a positive number"));
            }
        }
        if let Some(anchors) = &self.anchors {
            if anchors.len() != crate::metrics::GRADES {
                return Err(format!("its anchors must be five texts, KL 0 first; it has {}", anchors.len()));
            }
            if let Some(empty) = anchors.iter().position(|a| a.trim().is_empty()) {
                return Err(format!("its anchor for KL {empty} is empty"));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct FineTunedHead {
    id: String,
    path: PathBuf,
    blocks: Vec<EncoderLayer>,
    adapter: Adapter,
    logit_scale: f32,
    metadata: HeadMetadata,
    /// Whether `<head>.json` was beside it (every head `train` writes has one).
    has_sidecar: bool,
}

impl FineTunedHead {
    /// Loads `path` (safetensors) for `base`, checking every tensor's shape
    /// against the base model, and its sidecar `<path>.json` when present.
    pub fn load(path: &Path, base: &ClipModel) -> Result<Self, GradeError> {
        let fail = |reason: String| GradeError::Head {
            path: path.to_owned(),
            reason,
        };
        let device = base.device();
        let bytes = std::fs::read(path).map_err(|e| {
            fail(match e.kind() {
                std::io::ErrorKind::NotFound => "there is no such file (moved, renamed or deleted?)".into(),
                std::io::ErrorKind::PermissionDenied => "this user may not read it (permission denied)".into(),
                _ => e.to_string(),
            })
        })?;
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| fail(not_a_head(path, e)))?;
        let mut not_finite: Vec<&str> = tensors.iter().filter(|(_, t)| !crate::model::all_finite(t)).map(|(n, _)| n.as_str()).collect();
        if !not_finite.is_empty() {
            not_finite.sort_unstable();
            return Err(fail(format!("{} hold values that are not numbers (NaN or infinite): its training diverged", not_finite.join(", "))));
        }
        let vision_config = base.vision().config();
        let layers = vision_config.num_hidden_layers;
        let dim = base.config().projection_dim;
        let bottleneck = match tensors.get("adapter.down.weight").map(|t| t.dims().to_vec()) {
            Some(dims) if dims.len() == 2 && dims[1] == dim => dims[0],
            Some(dims) => return Err(fail(format!("it was trained on another base model (embedding size {}; these weights have {dim}); {}", dims.last().copied().unwrap_or(0), use_its_own_base(path)))),
            None => return Err(fail(checkpoint_given(path).unwrap_or_else(|| "it has no adapter.down.weight: not a kneeclip head".into()))),
        };
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let shape = VisionTransformer::layer_shape(vision_config);
        let load = || -> candle_core::Result<_> {
            let blocks = (layers - TRAINED_BLOCKS..layers)
                .map(|i| EncoderLayer::load(shape, vb.pp(format!("vision_model.encoder.layers.{i}"))))
                .collect::<candle_core::Result<Vec<_>>>()?;
            let adapter = Adapter::load(dim, bottleneck, vb.pp("adapter"))?;
            let logit_scale = vb.get((), "logit_scale")?.to_scalar::<f32>()?;
            Ok((blocks, adapter, logit_scale))
        };
        let (blocks, adapter, logit_scale) =
            load().map_err(|e| fail(format!("it was trained on another base model (its vision blocks do not fit these weights: {e}); {}", use_its_own_base(path))))?;
        let (metadata, has_sidecar) = read_metadata(path).map_err(&fail)?;
        metadata.check().map_err(|reason| fail(format!("{reason} (in {})", path.with_extension("json").display())))?;
        let digest = crate::files::short_sha256(&bytes);
        // Refused, not warned: another head's temperature and anchors would grade this one silently wrong.
        if let Some(recorded) = metadata.head_sha256.as_deref().filter(|h| !h.eq_ignore_ascii_case(&digest)) {
            return Err(fail(format!(
                "its sidecar {} belongs to another head (it records head {recorded}, this head is {digest}): the two were not written together, e.g. a training run stopped between them; resume that run with --overwrite to write both again, or move the sidecar away to grade this head without its calibration",
                path.with_extension("json").display()
            )));
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("head");
        Ok(Self {
            id: format!("{stem}@{digest}"),
            path: path.to_owned(),
            blocks,
            adapter,
            logit_scale,
            metadata,
            has_sidecar,
        })
    }

    /// File stem and a short hash of the file's bytes.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn blocks(&self) -> &[EncoderLayer] {
        &self.blocks
    }

    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }

    pub fn logit_scale(&self) -> f32 {
        self.logit_scale
    }

    pub fn metadata(&self) -> &HeadMetadata {
        &self.metadata
    }

    /// Whether its sidecar `<head>.json` was found: without it the head
    /// grades uncalibrated, with the anchors in use, its base unchecked.
    pub fn has_sidecar(&self) -> bool {
        self.has_sidecar
    }

    pub fn device(&self) -> Device {
        self.adapter.down.device()
    }
}

/// Why `path` did not load as safetensors; the sidecar given for the head
/// (both are "the head" to a user) is named as such, with the file to give.
fn not_a_head(path: &Path, e: candle_core::Error) -> String {
    if path.extension().is_some_and(|x| x.eq_ignore_ascii_case("json")) {
        let head = path.with_extension("safetensors");
        return if head.is_file() {
            format!("this is the head's JSON sidecar, not the head: give --head {} (the .safetensors beside it)", head.display())
        } else {
            format!("this is a JSON file (a head's sidecar?), not the head: give the head's .safetensors file (no {} is beside it)", head.display())
        };
    }
    format!("not a safetensors file: {e}")
}

/// When `path` is a training run's checkpoint (not a head: QA gave one to
/// grade), which head to give instead: the one its run wrote beside it, or
/// how to finish the run when it wrote none.
fn checkpoint_given(path: &Path) -> Option<String> {
    crate::training::checkpoint::checkpoint_summary(path).ok()?;
    let name = path.file_name()?.to_str()?;
    let head = name.strip_suffix(".checkpoint.safetensors").map(|stem| path.with_file_name(format!("{stem}.safetensors")));
    Some(match head {
        Some(head) if head.is_file() => format!("this is a training checkpoint, not a head: grade with the head its run wrote, --head {}", head.display()),
        Some(head) => format!(
            "this is a training checkpoint, not a head, and no head {} is beside it yet: finish its run (kneeclip train … --out {} --resume {}), then grade with that head",
            head.display(),
            head.display(),
            path.display()
        ),
        None => format!("this is a training checkpoint, not a head: finish its run (kneeclip train … --resume {}), then grade with the head it writes", path.display()),
    })
}

/// What to do with a head whose shapes do not fit the base: its sidecar may
/// name the model and weights it was trained on.
fn use_its_own_base(head: &Path) -> String {
    let sidecar = head.with_extension("json");
    let named = read_metadata(head).ok().map(|(m, _)| {
        let model = m.base_model.map(|b| format!("base model {b}"));
        let weights = m.base_weights_sha256.map(|h| format!("weights whose SHA-256 begins {h}"));
        [model, weights].into_iter().flatten().collect::<Vec<_>>().join(", ")
    });
    match named {
        Some(named) if !named.is_empty() => format!("grade with the weights it was trained on ({} names them: {named})", sidecar.display()),
        _ => format!("grade with the weights it was trained on (its sidecar {} would name them)", sidecar.display()),
    }
}

/// The sidecar's metadata, and whether there was one.
fn read_metadata(head: &Path) -> Result<(HeadMetadata, bool), String> {
    let sidecar = head.with_extension("json");
    match std::fs::read_to_string(&sidecar) {
        Ok(text) => serde_json::from_str(&text)
            .map(|m| (m, true))
            .map_err(|e| format!("its metadata {} is not valid: {e}", sidecar.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((HeadMetadata::default(), false)),
        Err(e) => Err(format!("cannot read its metadata {}: {e}", sidecar.display())),
    }
}
