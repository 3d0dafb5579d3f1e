//! `kneeclip bench`: inference timings on a full-size random ViT-B/32.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{DeviceArg, EXIT_OK, EXIT_UNUSABLE};
use crate::bench::{BenchOptions, run as run_bench};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Timed runs per figure, after a warm-up run.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    /// CLIP's tokenizer.json (default: $KNEECLIP_TOKENIZER, else the tokenizer.json of
    /// the model grade would use: $KNEECLIP_MODEL_DIR or the user cache, never downloaded;
    /// in a source checkout, also the developers' ../shared/models copy).
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// Film timed from file to grade (default: ../shared/data/dicom/RG3_JPLL when present).
    #[arg(long, value_name = "FILE")]
    pub film: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceArg,
    /// Also time a training step (frozen blocks, then the trainable part forward and backward).
    #[arg(long)]
    pub training: bool,
}

pub fn run(args: &BenchArgs) -> i32 {
    let Some(tokenizer) = find_tokenizer(args.tokenizer.as_deref()) else {
        eprintln!(
            "kneeclip: bench needs CLIP's tokenizer.json: pass --tokenizer FILE or set KNEECLIP_TOKENIZER \
             (the weights themselves are not needed: the model is random)"
        );
        return EXIT_UNUSABLE;
    };
    let film = args.film.clone().or_else(|| {
        let default = PathBuf::from("../shared/data/dicom/RG3_JPLL");
        default.is_file().then_some(default)
    });
    let device = match super::device_for(args.device) {
        Ok(device) => device,
        Err(message) => {
            eprintln!("kneeclip: {message}");
            return super::EXIT_UNUSABLE;
        }
    };
    let options = BenchOptions { repeats: args.repeats, tokenizer, film, device, training: args.training };
    eprintln!("kneeclip: timing a random full-size ViT-B/32 ({} runs per figure after a warm-up)…", args.repeats);
    let text = match run_bench(&options) {
        Ok(report) if args.json => serde_json::to_string(&report).expect("report serialises") + "\n",
        Ok(r) => {
            let mut lines = vec![
                format!("kneeclip bench — median of {} runs, {} ({} threads, {} kernel), {} build", r.repeats, r.device, r.threads, r.kernel, r.build),
                format!("  image features, 1 film        {:>9.1} ms", r.image_b1_ms),
                format!("  image features, batch of 16   {:>9.1} ms per film", r.image_b16_ms_per_image),
                format!("  five anchors → embeddings     {:>9.1} ms", r.anchors_ms),
                format!("  one edited anchor → embeddings{:>9.1} ms", r.anchor_edit_ms),
            ];
            lines.push(match (r.open_to_grade_ms, &r.open_to_grade_film) {
                (Some(ms), Some(film)) => format!("  open to grade ({film})  {ms:>9.1} ms"),
                _ => "  open to grade                 (no film: pass --film FILE)".to_string(),
            });
            if let Some(t) = &r.training {
                lines.push(format!("  training, frozen blocks       {:>9.1} ms per film (batch {})", t.frozen_ms_per_film, t.batch));
                lines.push(format!("  training, trainable step      {:>9.1} ms per film (forward + backward)", t.trainable_step_ms_per_film));
            }
            lines.join("\n") + "\n"
        }
        Err(message) => {
            eprintln!("kneeclip: bench failed: {message}");
            return EXIT_UNUSABLE;
        }
    };
    // println! would panic on a closed pipe; a reader that went away is no error.
    let mut out = std::io::stdout().lock();
    match std::io::Write::write_all(&mut out, text.as_bytes()).and_then(|()| std::io::Write::flush(&mut out)) {
        Err(e) if !super::reader_went_away(&e) => {
            eprintln!("kneeclip: cannot write the results to standard output: {e}");
            super::EXIT_UNUSABLE
        }
        _ => EXIT_OK,
    }
}

fn find_tokenizer(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    if let Some(path) = std::env::var_os("KNEECLIP_TOKENIZER") {
        return Some(PathBuf::from(path));
    }
    let offline = crate::weights::ResolveOptions { allow_download: false, ..Default::default() };
    if let Ok(files) = crate::weights::resolve(&offline, &mut crate::weights::NoProgress) {
        return Some(files.tokenizer);
    }
    let shared = PathBuf::from("../shared/models/clip-vit-base-patch32/tokenizer.json");
    shared.is_file().then_some(shared)
}
