//! The one background thread that owns the model. The UI sends typed requests
//! tagged with ids and drains the answers once per frame; every answer wakes the
//! UI with `request_repaint`. Decoding, file I/O and inference all happen here.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::sync::mpsc::{Receiver, Sender, channel};

use candle_core::Tensor;

use crate::explain::Heatmap;
use crate::grading::{Assessment, Grader, Region, TextAnchors, regions};
use crate::imaging::Radiograph;
use crate::model::DevicePreference;
use crate::weights::DownloadProgress;

pub type RequestId = u64;

/// The headline when nothing was found and nothing downloaded: the one case the download button is for.
pub const NO_WEIGHTS_OFFLINE: &str = "No model weights available offline";
/// The headline when the system-wide folder is there but broken: an administrator's to repair, no download offered.
pub const SYSTEM_FOLDER_UNUSABLE: &str = "The system-wide model folder cannot be used";

pub enum Request {
    /// `download`: fetch the weights from the hub when no copy is found.
    /// `cache_dir`: the cache root (None: the user's, or `$KNEECLIP_CACHE_DIR`).
    LoadModel { dir: Option<PathBuf>, dir_from_viewer: bool, cache_dir: Option<PathBuf>, device: DevicePreference, download: bool },
    Open(PathBuf),
    /// Another frame (1-based) of the open multi-frame film, its first display
    /// image rendered as the view shows (its window kept); a failure keeps the frame before.
    OpenFrame(PathBuf, u32, super::render::RenderKey),
    /// Grade the film last opened (every region of a wide film).
    Grade,
    /// New anchors: encode them, then re-score the current film.
    EncodeAnchors(TextAnchors),
    Query(Vec<String>),
    Heatmap,
    /// Overlay a fine-tuned head on the loaded model (None: back to the base model).
    LoadHead(Option<PathBuf>),
}

/// One graded region of the current film, and the grade of its mirror image
/// (the flip check, see [`crate::grading::mirror`]).
#[derive(Clone, Debug)]
pub struct RegionGrade {
    pub region: Region,
    pub assessment: Assessment,
    pub mirrored: Assessment,
}

impl RegionGrade {
    /// The mirror image's grade when it differs: the model is unsure of this knee.
    pub fn mirror_disagreement(&self) -> Option<usize> {
        (self.mirrored.grade != self.assessment.grade).then_some(self.mirrored.grade)
    }
}

/// One free-text query's cosine similarity to each region of the film.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub text: String,
    /// Tokens past the 77 CLIP reads: the end of a long query changes nothing.
    pub tokens_ignored: usize,
    /// In the order of the film's regions (one, or the two halves of a wide film).
    pub similarities: Vec<(Region, f32)>,
}

pub enum Answer {
    /// `note`: why it runs elsewhere than asked (no CUDA in this build or machine).
    ModelLoaded { model: String, device: String, dir: PathBuf, note: Option<String> },
    /// No usable weights: what went wrong in a few words, and the whole message.
    NoModel { headline: &'static str, message: String },
    /// The film, and its first display image (the default window, full
    /// resolution), rendered here so that the film appears with its view
    /// instead of a blank frame while the view's render thread starts.
    Opened(Arc<Radiograph>, Option<super::render::Rendered>),
    /// The film's grades, and what is wrong with the anchors they used (too long).
    Graded { grades: Vec<RegionGrade>, anchor_warnings: Vec<String>, head_warnings: Vec<String> },
    Queried(Vec<QueryResult>),
    Heatmap(Vec<(Region, Heatmap)>),
    /// The head now in use (its id), or None for the base model.
    /// The head now graded with (its id; None: the base model), and the
    /// anchors it was trained and calibrated with when it records them.
    HeadLoaded { id: Option<String>, anchors: Option<[String; 5]> },
    Failed(String),
}

pub struct Reply {
    pub id: RequestId,
    pub answer: Answer,
}

/// The UI's handle on the worker.
/// Download progress the UI shows, and its cancel button.
#[derive(Clone, Debug, Default)]
pub struct Download {
    pub file: String,
    pub bytes: u64,
    pub total: Option<u64>,
    /// Waiting for another kneeclip's download: `file` is what to say instead.
    pub waiting: bool,
}

#[derive(Clone, Default)]
pub struct DownloadHandle {
    pub state: Arc<Mutex<Option<Download>>>,
    pub cancel: Arc<AtomicBool>,
}

struct GuiProgress {
    handle: DownloadHandle,
    ctx: egui::Context,
}

impl DownloadProgress for GuiProgress {
    fn started(&mut self, file: &str, total_bytes: Option<u64>) {
        if let Ok(mut s) = self.handle.state.lock() {
            *s = Some(Download { file: file.to_owned(), bytes: 0, total: total_bytes, waiting: false });
        }
        self.ctx.request_repaint();
    }
    fn advanced(&mut self, bytes_so_far: u64) {
        if let Ok(mut s) = self.handle.state.lock() {
            if let Some(d) = s.as_mut() {
                d.bytes = bytes_so_far;
            }
        }
        self.ctx.request_repaint();
    }
    fn finished(&mut self, _file: &str) {}
    fn cancelled(&self) -> bool {
        self.handle.cancel.load(Ordering::Relaxed)
    }
    fn waiting(&mut self, message: &str) {
        // Shown in the status bar in a download's place, with its Cancel button.
        if let Ok(mut s) = self.handle.state.lock() {
            *s = Some(Download { file: message.to_owned(), bytes: 0, total: None, waiting: true });
        }
        self.ctx.request_repaint();
    }
}

pub struct Worker {
    pub download: DownloadHandle,
    tx: Sender<(RequestId, Request)>,
    rx: Receiver<Reply>,
    next_id: RequestId,
}

impl Worker {
    pub fn spawn(ctx: egui::Context) -> Worker {
        let (tx, requests) = channel::<(RequestId, Request)>();
        let (replies, rx) = channel::<Reply>();
        let download = DownloadHandle::default();
        let progress = GuiProgress { handle: download.clone(), ctx: ctx.clone() };
        std::thread::Builder::new()
            .name("kneeclip-worker".into())
            .spawn(move || {
                let mut state = State { progress: Some(progress), ..State::default() };
                while let Ok((id, request)) = requests.recv() {
                    let answer = state.handle(request);
                    if replies.send(Reply { id, answer }).is_err() {
                        break;
                    }
                    ctx.request_repaint();
                }
            })
            .expect("spawn the worker thread");
        Worker { download, tx, rx, next_id: 0 }
    }

    /// Sends a request; its id is returned so the caller can drop stale answers.
    pub fn send(&mut self, request: Request) -> RequestId {
        self.next_id += 1;
        let _ = self.tx.send((self.next_id, request));
        self.next_id
    }

    pub fn try_recv(&self) -> Option<Reply> {
        self.rx.try_recv().ok()
    }
}

#[derive(Default)]
struct State {
    grader: Option<Grader>,
    film: Option<Arc<Radiograph>>,
    /// Normalised image embeddings of the current film's regions: [2, P], the
    /// region as shown and mirrored left–right.
    images: Vec<(Region, Tensor)>,
    progress: Option<GuiProgress>,
}

impl State {
    fn handle(&mut self, request: Request) -> Answer {
        let result = match request {
            Request::LoadModel { dir, dir_from_viewer, cache_dir, device, download } => return self.load(dir, dir_from_viewer, cache_dir, device, download),
            Request::Open(path) => match Radiograph::open(&path) {
                Ok(film) => {
                    let film = Arc::new(film);
                    self.film = Some(film.clone());
                    self.images.clear();
                    let first = super::render::first_render(&film);
                    return Answer::Opened(film, first);
                }
                Err(e) => {
                    // The film before is off the screen: nothing grades it again.
                    self.film = None;
                    self.images.clear();
                    Err(e.to_string())
                }
            },
            Request::OpenFrame(path, frame, key) => match Radiograph::open_frame(&path, frame) {
                Ok(film) => {
                    let film = Arc::new(film);
                    self.film = Some(film.clone());
                    self.images.clear();
                    let t0 = std::time::Instant::now();
                    let image = super::render::render_image(&film, key);
                    return Answer::Opened(film, Some(super::render::Rendered { key, image, took: t0.elapsed() }));
                }
                Err(e) => Err(e.to_string()),
            },
            Request::Grade => self.grade(),
            Request::EncodeAnchors(anchors) => match self.grader.as_mut() {
                Some(g) => {
                    g.set_anchors(anchors);
                    self.grade()
                }
                None => Err("no model loaded".into()),
            },
            Request::Query(texts) => self.query(texts),
            Request::Heatmap => self.heatmap(),
            Request::LoadHead(path) => self.load_head(path),
        };
        result.unwrap_or_else(Answer::Failed)
    }

    fn load(&mut self, dir: Option<PathBuf>, dir_from_viewer: bool, cache_dir: Option<PathBuf>, device: DevicePreference, download: bool) -> Answer {
        use crate::weights::{NoProgress, ResolveOptions, WeightsError, resolve};
        let options = ResolveOptions { model_dir: dir, model_dir_from_viewer: dir_from_viewer, allow_download: download, endpoint: None, cache_dir, data_dirs: None };
        let resolved = match self.progress.as_mut() {
            Some(p) => {
                p.handle.cancel.store(false, Ordering::Relaxed);
                let r = resolve(&options, p);
                if let Ok(mut s) = p.handle.state.lock() {
                    *s = None;
                }
                r
            }
            None => resolve(&options, &mut NoProgress),
        };
        let files = match resolved {
            Ok(files) => files,
            Err(e) => {
                // The headline says what happened: "not available offline" was said of a folder the user named, too.
                let headline = match &e {
                    WeightsError::NotAvailable { .. } | WeightsError::NoCacheDir { .. } => NO_WEIGHTS_OFFLINE,
                    WeightsError::SystemFolder { .. } => SYSTEM_FOLDER_UNUSABLE,
                    WeightsError::ModelDirNotFound { .. } | WeightsError::MissingFiles { .. } | WeightsError::Unreadable { .. } => "The model folder cannot be used",
                    WeightsError::CacheDamaged { .. } => "The cached model weights are damaged",
                    WeightsError::Cancelled { .. } => "The download was cancelled",
                    WeightsError::Io { .. } => "The weights could not be stored",
                    _ => "The weights could not be downloaded",
                };
                return Answer::NoModel { headline, message: e.to_string() };
            }
        };
        let (dev, note) = crate::model::select_device(device);
        match Grader::load(&files.config, &files.weights, &files.tokenizer, files.model_id.clone(), &dev) {
            Ok(grader) => {
                let device = crate::model::device_label(grader.device());
                self.grader = Some(grader);
                self.images.clear();
                Answer::ModelLoaded { model: files.model_id, device, dir: files.dir, note }
            }
            Err(e) => {
                let (headline, message) = load_failure(&e, &files.dir);
                Answer::NoModel { headline, message: files.load_error(message) }
            }
        }
    }

    fn load_head(&mut self, path: Option<PathBuf>) -> Result<Answer, String> {
        let g = self.grader.as_mut().ok_or("no model loaded")?;
        let head = match path {
            Some(path) => Some(crate::grading::FineTunedHead::load(&path, g.model()).map_err(|e| e.to_string())?),
            None => None,
        };
        let id = head.as_ref().map(|h| h.id().to_owned());
        let anchors = head.as_ref().and_then(|h| h.metadata().anchors.clone()).and_then(|a| a.try_into().ok());
        g.set_head(head).map_err(|e| e.to_string())?;
        // The image embeddings went through the old head.
        self.images.clear();
        Ok(Answer::HeadLoaded { id, anchors })
    }

    /// The preprocessed model input of each region of the current film, and
    /// of the region mirrored left–right.
    fn inputs(&self) -> Result<Vec<(Region, Vec<f32>, Vec<f32>)>, String> {
        let (Some(g), Some(film)) = (&self.grader, &self.film) else {
            return Err("open a film and load a model first".into());
        };
        let view = film.model_view();
        let (w, h) = (view.width as usize, view.height as usize);
        Ok(regions::regions_for(w, h)
            .into_iter()
            .map(|r| {
                let (rw, data) = regions::crop_region(w, &view.data, r);
                (r, g.pixel_values(rw, h, &data), g.mirrored_pixel_values(rw, h, &data))
            })
            .collect())
    }

    fn embed(&mut self) -> Result<(), String> {
        if !self.images.is_empty() {
            return Ok(());
        }
        let inputs = self.inputs()?;
        let g = self.grader.as_ref().ok_or("no model loaded")?;
        for (region, pixels, mirrored) in inputs {
            let batch = g.preprocessing().batch(&[pixels, mirrored], g.device()).map_err(|e| e.to_string())?;
            let emb = g.image_embeddings(&batch).map_err(|e| e.to_string())?;
            self.images.push((region, emb));
        }
        Ok(())
    }

    fn grade(&mut self) -> Result<Answer, String> {
        self.embed()?;
        let g = self.grader.as_mut().ok_or("no model loaded")?;
        let anchors = g.anchor_embeddings().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for (region, emb) in &self.images {
            let mut both = g.assess(emb, &anchors).map_err(|e| e.to_string())?;
            let mirrored = both.pop().ok_or("no mirrored assessment")?;
            let assessment = both.pop().ok_or("no assessment")?;
            out.push(RegionGrade { region: *region, assessment, mirrored });
        }
        Ok(Answer::Graded { grades: out, anchor_warnings: g.anchor_warnings(), head_warnings: g.head_warnings() })
    }

    /// Every query against every region: on a film with both knees, each knee
    /// gets its own value.
    fn query(&mut self, texts: Vec<String>) -> Result<Answer, String> {
        self.embed()?;
        let g = self.grader.as_ref().ok_or("no model loaded")?;
        let texts: Vec<String> = texts.into_iter().filter(|t| !t.trim().is_empty()).collect();
        let mut results: Vec<QueryResult> = texts.iter().map(|t| QueryResult { text: t.clone(), tokens_ignored: g.tokens_ignored(t), similarities: Vec::new() }).collect();
        for (region, emb) in &self.images {
            // Row 0 is the region as shown (row 1 is its mirror image).
            let emb = emb.narrow(0, 0, 1).map_err(|e| e.to_string())?;
            let sims = g.query_similarities(&emb, &texts).map_err(|e| e.to_string())?;
            for (result, sim) in results.iter_mut().zip(sims) {
                result.similarities.push((*region, sim));
            }
        }
        Ok(Answer::Queried(results))
    }

    fn heatmap(&mut self) -> Result<Answer, String> {
        let inputs = self.inputs()?;
        let g = self.grader.as_ref().ok_or("no model loaded")?;
        let mut maps = Vec::new();
        for (region, pixels, _) in inputs {
            maps.push((region, crate::explain::heatmap(g, &pixels).map_err(|e| e.to_string())?));
        }
        Ok(Answer::Heatmap(maps))
    }
}

/// The headline and text of a model that was found but did not load: the part
/// that failed is named (a broken tokenizer was headed "The model weights
/// cannot be used"), and the folder is not said twice when the error names a file in it.
fn load_failure(e: &crate::grading::GradeError, dir: &std::path::Path) -> (&'static str, String) {
    use crate::grading::GradeError;
    use crate::model::ModelError;
    let headline = match e {
        GradeError::Model(ModelError::Tokenizer { .. }) => "The tokenizer cannot be used",
        GradeError::Model(ModelError::Config { .. }) => "The model configuration cannot be used",
        _ => "The model weights cannot be used",
    };
    let text = e.to_string();
    let message = if text.contains(&dir.display().to_string()) { text } else { format!("{}: {text}", dir.display()) };
    (headline, message)
}

#[cfg(test)]
mod tests {
    use crate::grading::GradeError;
    use crate::model::ModelError;
    use std::path::Path;

    /// A broken tokenizer was headed "The model weights cannot be used", and the folder said twice (QA I9).
    #[test]
    fn a_load_failure_names_the_part_and_the_folder_once() {
        let dir = Path::new("/m/badtok");
        let e = GradeError::Model(ModelError::Tokenizer { path: dir.join("tokenizer.json"), reason: "not JSON".into() });
        let (headline, message) = super::load_failure(&e, dir);
        assert_eq!(headline, "The tokenizer cannot be used");
        assert_eq!(message, "/m/badtok/tokenizer.json: the tokenizer cannot be used: not JSON");
        let e = GradeError::Model(ModelError::Compute(candle_core::Error::Msg("nan".into())));
        let (headline, message) = super::load_failure(&e, dir);
        assert_eq!(headline, "The model weights cannot be used");
        assert!(message.starts_with("/m/badtok: "), "{message}");
    }
}
