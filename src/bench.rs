//! Inference benchmarks on a full-size, randomly initialised CLIP ViT-B/32:
//! what `kneeclip bench` measures (see docs/PERFORMANCE.md). Warm-up first,
//! then the median of repeated runs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use serde::Serialize;

use crate::grading::regions::{crop_region, regions_for};
use crate::grading::{Grader, TextAnchors};
use crate::imaging::Radiograph;
use crate::model::random::random_model;
use crate::model::{ClipConfig, ClipTokenizer};

pub struct BenchOptions {
    /// Timed runs per figure (after one warm-up run).
    pub repeats: usize,
    /// The CLIP tokenizer (`tokenizer.json`).
    pub tokenizer: PathBuf,
    /// A film to time from file to grade (e.g. RG3_JPLL).
    pub film: Option<PathBuf>,
    pub device: Device,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub image_b1_ms: f64,
    pub image_b16_ms_per_image: f64,
    /// Five default anchors: tokenise, encode, normalise.
    pub anchors_ms: f64,
    /// File path to grade (decode, window, preprocess, image features, scores),
    /// anchors already encoded.
    pub open_to_grade_ms: Option<f64>,
    pub open_to_grade_film: Option<String>,
    pub repeats: usize,
    pub device: String,
    pub threads: usize,
    pub build: &'static str,
}

/// Median wall time of `f` in milliseconds over `repeats` runs, after one warm-up.
pub fn median_ms<T>(repeats: usize, mut f: impl FnMut() -> T) -> f64 {
    std::hint::black_box(f());
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

pub fn run(options: &BenchOptions) -> Result<BenchReport, String> {
    let config = ClipConfig::default(); // ViT-B/32, as openai/clip-vit-base-patch32
    let model = random_model(&config, &options.device).map_err(|e| e.to_string())?;
    let tokenizer = ClipTokenizer::from_file(&options.tokenizer, config.text_config.max_position_embeddings)
        .map_err(|e| e.to_string())?;
    let mut grader = Grader::new(model, tokenizer, "random ViT-B/32");
    let size = config.vision_config.image_size;
    let film: Vec<f32> = (0..size * size).map(|i| ((i * 7919) % 251) as f32 / 250.0).collect();
    let pixels = grader.pixel_values(size, size, &film);
    let fail = |e: &dyn std::fmt::Display| e.to_string();

    let one = grader.preprocessing().batch(&[pixels.clone()], &options.device).map_err(|e| fail(&e))?;
    let sixteen = grader.preprocessing().batch(&vec![pixels; 16], &options.device).map_err(|e| fail(&e))?;
    let image_b1_ms = median_ms(options.repeats, || grader.model().image_features(&one).map(|t| t.to_vec2::<f32>()));
    let image_b16_ms = median_ms(options.repeats, || grader.model().image_features(&sixteen).map(|t| t.to_vec2::<f32>()));
    let anchors = TextAnchors::default();
    let anchors_ms = median_ms(options.repeats, || grader.encode_texts(&anchors.anchors).map(|t| t.to_vec2::<f32>()));

    let open_to_grade_ms = match &options.film {
        Some(path) => {
            grader.anchor_embeddings().map_err(|e| fail(&e))?;
            // Fail early with the film's own message rather than timing an error.
            Radiograph::open(path).map_err(|e| fail(&e))?;
            Some(median_ms(options.repeats, || open_and_grade(&mut grader, path)))
        }
        None => None,
    };
    Ok(BenchReport {
        image_b1_ms,
        image_b16_ms_per_image: image_b16_ms / 16.0,
        anchors_ms,
        open_to_grade_ms,
        open_to_grade_film: options.film.as_ref().map(|p| p.display().to_string()),
        repeats: options.repeats,
        device: crate::model::device_label(&options.device),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
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
