//! An epoch's checkpoint: current parameters, best-epoch parameters and the
//! AdamW moments (safetensors `param.*`, `best.*`, `adam_m.*`, `adam_v.*`),
//! with the JSON training state (epoch, step, RNG state, config, history) in
//! the safetensors metadata; written on a thread of its own beside the next
//! epoch, and read back to resume. Also the f32 tensor view a head is
//! written with.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::adamw::AdamW;
use super::forward::Params;
use super::trainer::{EpochRecord, TrainConfig};

type R<T> = Result<T, String>;
fn e<E: std::fmt::Display>(x: E) -> String {
    x.to_string()
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CheckpointState {
    pub(super) epoch: usize,
    pub(super) step: u64,
    pub(super) rng: u64,
    pub(super) best_val_loss: f64,
    pub(super) best_epoch: usize,
    pub(super) config: TrainConfig,
    pub(super) history: Vec<EpochRecord>,
    /// Which films trained and validated (a short hash); absent in older checkpoints.
    #[serde(default)]
    pub(super) films: Option<String>,
    /// The same films' sizes (a short hash): whether one was replaced under
    /// its name since; absent in older checkpoints.
    #[serde(default)]
    pub(super) film_sizes: Option<String>,
    /// The same films' first 64 KiB (a short hash): a film replaced by one
    /// of the same size; absent in older checkpoints.
    #[serde(default)]
    pub(super) film_heads: Option<String>,
    /// The films themselves (`side\tgrade\tKEY`, KEY a short hash of the
    /// name: no film names travel with a head), so that a resume on other
    /// films names one; absent in older checkpoints, the name itself in some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) film_list: Option<Vec<String>>,
    /// The salt of `film_list`'s keys ([`super::overlap::new_salt`]); absent
    /// (no salt) in older checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) film_salt: Option<String>,
    /// Each resume that trained on with another epoch count than the run
    /// had planned (its cosine schedule then recomputed); absent in older checkpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) resumed: Vec<Resumed>,
}

/// A resume that changed the run's length: the learning-rate schedule from
/// `from_epoch` on is that of an `epochs_after`-epoch run, so the head differs
/// from a fresh run of that length.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Resumed {
    pub from_epoch: usize,
    pub epochs_before: usize,
    pub epochs_after: usize,
}

/// A checkpoint being written on a thread of its own, with the epoch it
/// holds, and the buffer the next one is copied into.
#[derive(Default)]
pub(super) struct PendingCheckpoint {
    writing: Option<(usize, Writer)>,
    spare: Snapshot,
}

/// The writer thread: its result and the buffer it wrote from.
type Writer = std::thread::JoinHandle<(R<()>, Snapshot)>;

/// A checkpoint's contents, copied at an epoch's end: parameters, best
/// parameters and both AdamW moments (safetensors `param.*`, `best.*`,
/// `adam_m.*`, `adam_v.*`, ≈ 230 MB for ViT-B/32) in one buffer, and the
/// JSON training state (epoch, step, RNG state, config, history) as
/// metadata. The buffer goes to the writer and comes back for the next
/// epoch: a fresh 230 MB every epoch cost ≈ 0.2–0.3 s of page faults on the
/// training thread.
#[derive(Default)]
pub(super) struct Snapshot {
    /// Name, shape and bytes in `data` of each tensor.
    tensors: Vec<(String, Vec<usize>, std::ops::Range<usize>)>,
    data: Vec<u8>,
    state: String,
}

impl Snapshot {
    fn add(&mut self, name: String, tensor: &Tensor) -> R<()> {
        let start = self.data.len();
        append_f32_le(tensor, &mut self.data).map_err(e)?;
        self.tensors.push((name, tensor.dims().to_vec(), start..self.data.len()));
        Ok(())
    }

    /// Writes the checkpoint file (atomically: a temporary file beside it,
    /// synced, then renamed).
    fn write(&self, path: &std::path::Path) -> R<()> {
        let meta: HashMap<String, String> = [("state".to_string(), self.state.clone())].into();
        let views = self.tensors.iter().map(|(name, shape, bytes)| (name.as_str(), BytesView(shape, &self.data[bytes.clone()])));
        let written = crate::files::replace_atomically(path, |tmp| {
            // safetensors writes through a private temporary file (mode 0600
            // on Unix): the checkpoint gets what any new file gets here, as the head does.
            let permissions = std::fs::File::create(tmp)?.metadata()?.permissions();
            safetensors::serialize_to_file(views, Some(meta), tmp).map_err(std::io::Error::other)?;
            std::fs::set_permissions(tmp, permissions)?;
            std::fs::File::open(tmp)?.sync_all()
        });
        written.map_err(|err| format!("{}: cannot write the checkpoint: {err}", path.display()))
    }
}

/// One f32 tensor's little-endian bytes, for `safetensors::serialize_to_file`.
struct BytesView<'a>(&'a [usize], &'a [u8]);

impl safetensors::View for BytesView<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.0
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(self.1)
    }
    fn data_len(&self) -> usize {
        self.1.len()
    }
}

impl PendingCheckpoint {
    /// The checkpoint's contents now, in the buffer of an earlier one when
    /// there is one (call after [`finish`](Self::finish)).
    pub(super) fn snapshot(&mut self, params: &Params, best: &HashMap<String, Tensor>, names: &[String], opt: &AdamW, state: &CheckpointState) -> R<Snapshot> {
        let mut s = std::mem::take(&mut self.spare);
        s.tensors.clear();
        s.data.clear();
        for (i, n) in names.iter().enumerate() {
            s.add(format!("best.{n}"), &best[n])?;
            s.add(format!("param.{n}"), params[n].as_tensor())?;
            s.add(format!("adam_m.{n}"), &opt.m[i])?;
            s.add(format!("adam_v.{n}"), &opt.v[i])?;
        }
        s.state = serde_json::to_string(state).map_err(e)?;
        Ok(s)
    }

    /// Writes `snapshot` to `path` on a new thread, holding `files_lock`
    /// meanwhile (an interrupt then exits between writes).
    pub(super) fn start(&mut self, epoch: usize, path: PathBuf, snapshot: Snapshot, files_lock: Arc<Mutex<()>>) {
        debug_assert!(self.writing.is_none(), "one checkpoint write at a time");
        let writer = std::thread::spawn(move || {
            let _writing = files_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            (snapshot.write(&path), snapshot)
        });
        self.writing = Some((epoch, writer));
    }

    /// Waits for the write under way: the epoch its file now holds, or its error.
    pub(super) fn finish(&mut self) -> R<Option<usize>> {
        match self.writing.take() {
            None => Ok(None),
            Some((epoch, writer)) => {
                let (written, snapshot) = writer.join().map_err(|_| "the checkpoint writer stopped unexpectedly".to_string())?;
                self.spare = snapshot;
                written.map(|()| Some(epoch))
            }
        }
    }
}

impl Drop for PendingCheckpoint {
    /// A run that returns early (an error) still leaves a complete file.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

pub(super) type Loaded = (HashMap<String, Tensor>, CheckpointState, (Vec<Tensor>, Vec<Tensor>), HashMap<String, Tensor>);

/// The training state of the checkpoint at `path`, read from its header
/// alone: a quick check, before a run starts, that it is one.
pub(super) fn read_checkpoint_state(path: &std::path::Path) -> R<CheckpointState> {
    use std::io::Read;
    let not_one = |why: String| format!("{}: not a kneeclip training checkpoint ({why})", path.display());
    let mut file = std::fs::File::open(path).map_err(|err| format!("{}: {err}", path.display()))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|_| not_one("too short".into()))?;
    let len = u64::from_le_bytes(len);
    if len > 100_000_000 {
        return Err(not_one("its header is not a safetensors header".into()));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).map_err(|_| not_one("cut short in its header".into()))?;
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|_| not_one("its header is not a safetensors header".into()))?;
    let state = header.get("__metadata__").and_then(|m| m.get("state")).and_then(|s| s.as_str());
    let state = state.ok_or_else(|| not_one("it holds no training state: a head, or another safetensors file?".into()))?;
    serde_json::from_str(state).map_err(|err| not_one(format!("its training state cannot be read: {err}")))
}

/// The settings of the run that wrote the checkpoint at `path`, asking for
/// at least one epoch more than it has done (resuming is to train on).
pub fn checkpoint_config(path: &std::path::Path) -> R<TrainConfig> {
    read_checkpoint_state(path).map(|s| TrainConfig { epochs: s.config.epochs.max(s.epoch + 1), ..s.config })
}

/// What a checkpoint says of its run: the epochs done and the settings.
#[derive(Clone, Debug)]
pub struct CheckpointSummary {
    pub epochs_done: usize,
    pub config: TrainConfig,
    /// The epochs' records, as a head's sidecar of the same run holds them.
    pub history: Vec<EpochRecord>,
}

pub fn checkpoint_summary(path: &std::path::Path) -> R<CheckpointSummary> {
    read_checkpoint_state(path).map(|s| CheckpointSummary { epochs_done: s.epoch, config: s.config, history: s.history })
}

pub(super) fn load_checkpoint(path: &std::path::Path, names: &[String], dev: &Device) -> R<Loaded> {
    let not_one = |why: String| format!("{}: not a usable kneeclip training checkpoint ({why})", path.display());
    let state = read_checkpoint_state(path)?;
    let bytes = std::fs::read(path).map_err(|err| format!("{}: {err}", path.display()))?;
    let t = candle_core::safetensors::load_buffer(&bytes, dev).map_err(|err| not_one(err.to_string()))?;
    let get = |k: String| t.get(&k).cloned().ok_or_else(|| not_one(format!("it lacks {k}: made with another base model?")));
    let params = names.iter().map(|n| Ok((n.clone(), get(format!("param.{n}"))?))).collect::<R<_>>()?;
    let m = names.iter().map(|n| get(format!("adam_m.{n}"))).collect::<R<_>>()?;
    let v = names.iter().map(|n| get(format!("adam_v.{n}"))).collect::<R<_>>()?;
    let best = names.iter().map(|n| Ok((n.clone(), get(format!("best.{n}"))?))).collect::<R<_>>()?;
    Ok((params, state, (m, v), best))
}

/// Serialises candle tensors (f32 only here) for `safetensors::serialize`.
pub(crate) struct TensorView(pub Tensor);

impl safetensors::View for TensorView {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.0.dims()
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        let mut bytes = Vec::with_capacity(self.data_len());
        if append_f32_le(&self.0, &mut bytes).is_err() {
            bytes.clear();
        }
        std::borrow::Cow::Owned(bytes)
    }
    fn data_len(&self) -> usize {
        self.0.elem_count() * 4
    }
}

/// Appends `tensor`'s values as f32 little-endian bytes to `out`. A
/// contiguous f32 CPU tensor is read where it lies: collecting ≈ 230 MB of
/// checkpoint byte by byte through candle took a second per epoch.
fn append_f32_le(tensor: &Tensor, out: &mut Vec<u8>) -> candle_core::Result<()> {
    let mut put = |values: &[f32]| {
        let start = out.len();
        out.resize(start + values.len() * 4, 0);
        out[start..].chunks_exact_mut(4).zip(values).for_each(|(b, x)| b.copy_from_slice(&x.to_le_bytes()));
    };
    if crate::model::cpu_layer::with_cpu_f32(tensor, &mut put).is_none() {
        put(&tensor.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?);
    }
    Ok(())
}
