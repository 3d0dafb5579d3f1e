//! Benchmarks on a full-size, randomly initialised CLIP ViT-B/32: what
//! `kneeclip bench` measures (see docs/PERFORMANCE.md). Warm-up first, then
//! the median of repeated runs. Inference always; with `training`, the two
//! halves of a training step too.

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use serde::Serialize;

use crate::grading::regions::{crop_region, regions_for};
use crate::grading::{Grader, TextAnchors};
use crate::imaging::Radiograph;
use crate::model::random::random_tensors;
use crate::model::{ClipConfig, ClipModel, ClipTokenizer, Preprocessing};
use crate::training::forward::{FrozenTail, Params, cross_entropy, gradients, pass};

pub struct BenchOptions {
    /// Timed runs per figure (after one warm-up run).
    pub repeats: usize,
    /// The CLIP tokenizer (`tokenizer.json`).
    pub tokenizer: PathBuf,
    /// A film to time from file to grade (e.g. RG3_JPLL).
    pub film: Option<PathBuf>,
    pub device: Device,
    /// Also time a training step's frozen and trainable parts.
    pub training: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct CpuReport {
    pub image_b1_ms: f64,
    pub image_b16_ms_per_image: f64,
    pub anchors_ms: f64,
    pub open_to_grade_ms: Option<f64>,
}

/// Training figures at batch [`TRAIN_BATCH`], per film.
#[derive(Clone, Debug, Serialize)]
pub struct TrainingReport {
    /// Embedding and the frozen first ten blocks (what the trainer caches).
    pub frozen_ms_per_film: f64,
    /// The last two blocks, pooling, projection, adapter and loss, forward and backward.
    pub trainable_step_ms_per_film: f64,
    pub batch: usize,
}

/// The recipe's batch (METHOD.md: batch 64).
pub const TRAIN_BATCH: usize = 64;

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub image_b1_ms: f64,
    pub image_b16_ms_per_image: f64,
    /// Five default anchors: tokenise, encode, normalise.
    pub anchors_ms: f64,
    /// One anchor edited in the viewer: only that text is encoded.
    pub anchor_edit_ms: f64,
    /// File path to grade (decode, window, preprocess, image features, scores),
    /// anchors already encoded.
    pub open_to_grade_ms: Option<f64>,
    pub open_to_grade_film: Option<String>,
    /// The same figures in process CPU time (all threads): steadier than wall
    /// time on a shared machine; compare at one thread, where no thread spins.
    pub cpu_time: CpuReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingReport>,
    pub repeats: usize,
    pub device: String,
    /// Threads of the matrix kernel (`RAYON_NUM_THREADS`, else one per core).
    pub threads: usize,
    /// The matrix kernel this CPU runs ("avx512", "avx2-fma", "portable").
    pub kernel: &'static str,
    pub build: &'static str,
}

/// Median wall time of `f` in milliseconds over `repeats` runs, after one warm-up.
pub fn median_ms<T>(repeats: usize, f: impl FnMut() -> T) -> f64 {
    timed(repeats, f).wall_ms
}

/// Medians of wall time and of the process's CPU time (all threads) per run.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Timing {
    pub wall_ms: f64,
    pub cpu_ms: f64,
}

/// Times `f` over `repeats` runs after one warm-up. CPU time is what the runs
/// cost whatever else the machine does; wall time is what a reader waits.
pub fn timed<T>(repeats: usize, mut f: impl FnMut() -> T) -> Timing {
    std::hint::black_box(f());
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..repeats.max(1))
        .map(|_| {
            let (start, cpu_start) = (Instant::now(), process_cpu_ms());
            std::hint::black_box(f());
            (start.elapsed().as_secs_f64() * 1e3, process_cpu_ms() - cpu_start)
        })
        .unzip();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Timing { wall_ms: median(&mut wall), cpu_ms: median(&mut cpu) }
}

/// User + system CPU time of this process so far, in milliseconds.
fn process_cpu_ms() -> f64 {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0 {
            // SAFETY: initialised by the successful call above.
            let usage = unsafe { usage.assume_init() };
            let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
            return ms(usage.ru_utime) + ms(usage.ru_stime);
        }
    }
    f64::NAN
}

pub fn run(options: &BenchOptions) -> Result<BenchReport, String> {
    let config = ClipConfig::default(); // ViT-B/32, as openai/clip-vit-base-patch32
    let tensors = random_tensors(&config, &options.device).map_err(|e| e.to_string())?;
    let vb = candle_nn::VarBuilder::from_tensors(tensors.clone(), DType::F32, &options.device);
    let model = ClipModel::from_var_builder(config.clone(), vb, &options.device).map_err(|e| e.to_string())?;
    let tokenizer = ClipTokenizer::from_file(&options.tokenizer, config.text_config.max_position_embeddings)
        .map_err(|e| e.to_string())?;
    let mut grader = Grader::new(model, tokenizer, "random ViT-B/32");
    let size = config.vision_config.image_size;
    let film: Vec<f32> = (0..size * size).map(|i| ((i * 7919) % 251) as f32 / 250.0).collect();
    let pixels = grader.pixel_values(size, size, &film);
    let fail = |e: &dyn std::fmt::Display| e.to_string();

    let one = grader.preprocessing().batch(&[pixels.clone()], &options.device).map_err(|e| fail(&e))?;
    let sixteen = grader.preprocessing().batch(&vec![pixels; 16], &options.device).map_err(|e| fail(&e))?;
    let image_b1 = timed(options.repeats, || grader.model().image_features(&one).map(|t| t.to_vec2::<f32>()));
    let image_b16 = timed(options.repeats, || grader.model().image_features(&sixteen).map(|t| t.to_vec2::<f32>()));
    let anchors = TextAnchors::default();
    let anchors_timing = timed(options.repeats, || grader.encode_texts(&anchors.anchors).map(|t| t.to_vec2::<f32>()));
    grader.anchor_embeddings().map_err(|e| fail(&e))?;
    let mut edit = 0;
    let anchor_edit_ms = median_ms(options.repeats, || {
        edit += 1; // a new text every run, so the cache never answers
        let mut edited = anchors.clone();
        edited.anchors[2] = format!("{} (edit {edit})", anchors.anchors[2]);
        grader.set_anchors(edited);
        grader.anchor_embeddings().map(|t| t.to_vec2::<f32>())
    });
    grader.set_anchors(anchors.clone());

    let open_to_grade = match &options.film {
        Some(path) => {
            grader.anchor_embeddings().map_err(|e| fail(&e))?;
            // Fail early with the film's own message rather than timing an error.
            Radiograph::open(path).map_err(|e| fail(&e))?;
            Some(timed(options.repeats, || open_and_grade(&mut grader, path)))
        }
        None => None,
    };
    let training = if options.training {
        let levels = grader.preprocessing().gray_values(size, size, &film);
        let one_gray = Tensor::from_vec(levels, (1, size, size), &options.device).map_err(|e| fail(&e))?;
        Some(time_training(grader.model(), grader.preprocessing(), &tensors, &one_gray, options.repeats).map_err(|e| fail(&e))?)
    } else {
        None
    };
    Ok(BenchReport {
        image_b1_ms: image_b1.wall_ms,
        image_b16_ms_per_image: image_b16.wall_ms / 16.0,
        anchors_ms: anchors_timing.wall_ms,
        anchor_edit_ms,
        open_to_grade_ms: open_to_grade.map(|t| t.wall_ms),
        cpu_time: CpuReport {
            image_b1_ms: image_b1.cpu_ms,
            image_b16_ms_per_image: image_b16.cpu_ms / 16.0,
            anchors_ms: anchors_timing.cpu_ms,
            open_to_grade_ms: open_to_grade.map(|t| t.cpu_ms),
        },
        open_to_grade_film: options.film.as_ref().map(|p| p.display().to_string()),
        training,
        repeats: options.repeats,
        device: crate::model::device_label(&options.device),
        threads: kneeclip_sgemm::threads(),
        kernel: kneeclip_sgemm::kernel_name(),
        build: if cfg!(debug_assertions) { "debug (dependencies optimised)" } else { "release" },
    })
}

/// What a reader waits for after choosing a film.
fn open_and_grade(grader: &mut Grader, path: &Path) -> Option<usize> {
    let view = Radiograph::open(path).ok()?.model_view();
    let (w, h) = (view.width as usize, view.height as usize);
    let pixels: Vec<Vec<f32>> = regions_for(w, h)
        .into_iter()
        .map(|r| {
            let (rw, gray) = crop_region(w, &view.data, r);
            grader.pixel_values(rw, h, &gray)
        })
        .collect();
    grader.grade_pixel_values(&pixels).ok().map(|a| a[0].grade)
}

/// A training step as the trainer runs it: the frozen part (cached by the
/// trainer after a view's first visit), then the trainable part forward and backward.
fn time_training(
    model: &ClipModel,
    preprocessing: &Preprocessing,
    tensors: &HashMap<String, Tensor>,
    one_film: &Tensor,
    repeats: usize,
) -> candle_core::Result<TrainingReport> {
    let device = one_film.device();
    let vision = model.vision();
    let c = vision.config().clone();
    let first = c.num_hidden_layers - 2;
    // A gray film's levels, embedded as the trainer embeds them.
    let films = Tensor::cat(&vec![one_film; TRAIN_BATCH], 0)?;
    let frozen = || vision.run_blocks(&vision.embed_gray(&films, preprocessing.mean, preprocessing.std)?, 0..first);
    let frozen_ms = median_ms(repeats, frozen);
    let hidden = frozen()?;

    let mut params = Params::new();
    for (name, t) in tensors {
        let trainable = (first..c.num_hidden_layers).any(|i| name.starts_with(&format!("vision_model.encoder.layers.{i}.")));
        if trainable {
            params.insert(name.clone(), Var::from_tensor(t)?);
        }
    }
    let dim = model.config().projection_dim;
    let bottleneck = 128;
    params.insert("adapter.down.weight".into(), Var::randn(0f32, 0.02, (bottleneck, dim), device)?);
    params.insert("adapter.down.bias".into(), Var::zeros(bottleneck, DType::F32, device)?);
    params.insert("adapter.up.weight".into(), Var::zeros((dim, bottleneck), DType::F32, device)?);
    params.insert("adapter.up.bias".into(), Var::zeros(dim, DType::F32, device)?);
    params.insert("logit_scale".into(), Var::from_tensor(&Tensor::new(4.6f32, device)?)?);
    let tail = FrozenTail {
        post_ln_weight: tensors["vision_model.post_layernorm.weight"].clone(),
        post_ln_bias: tensors["vision_model.post_layernorm.bias"].clone(),
        projection: tensors["visual_projection.weight"].clone(),
    };
    let anchors = Tensor::randn(0f32, 1.0, (5, dim), device)?;
    let labels: Vec<usize> = (0..TRAIN_BATCH).map(|i| i % 5).collect();
    let step_ms = median_ms(repeats, || -> candle_core::Result<_> {
        let pass = pass(&params, &c, &tail, &anchors, &hidden, first)?;
        let grads = kneeclip_sgemm::on_pool(|| cross_entropy(&pass.logits, &labels, None)?.backward())?;
        gradients(&[&pass], &params, &grads)
    });
    Ok(TrainingReport {
        frozen_ms_per_film: frozen_ms / TRAIN_BATCH as f64,
        trainable_step_ms_per_film: step_ms / TRAIN_BATCH as f64,
        batch: TRAIN_BATCH,
    })
}
