//! The `kneeclip` command line: the same core as the viewer, headless.

mod bench;
mod eval;
mod grade;
mod interrupt;
mod man;
mod output;
mod train;
mod view;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};

use crate::model::DevicePreference;

pub use man::man_page;

#[derive(Parser, Debug)]
#[command(
    name = "kneeclip",
    version = crate::build_info::VERSION,
    about = "Knee osteoarthritis (Kellgren–Lawrence) grading with CLIP ViT-B/32 — a decision aid, not a diagnosis.",
    after_help = MAIN_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Prints kneeclip(1) in roff for packaging/build.sh; hidden from --help.
    #[arg(long, hide = true)]
    pub print_man_page: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Grade films: KL grade, five probabilities and five anchor similarities per film.
    #[command(after_help = GRADE_EXAMPLES)]
    Grade(grade::GradeArgs),
    /// Evaluate on a labelled dataset: accuracy, F1, per-grade sensitivity/specificity/AUC, QWK, MAE, ECE (95% CIs).
    #[command(after_help = eval::EVAL_HELP)]
    Eval(eval::EvalArgs),
    /// Fine-tune a head (last two vision blocks + adapter + logit scale) on a labelled dataset.
    #[command(after_help = train::TRAIN_HELP)]
    Train(train::TrainArgs),
    /// Time inference on a full-size, randomly initialised ViT-B/32 (no weights needed).
    Bench(bench::BenchArgs),
    /// Open the desktop viewer (also what `kneeclip` with no arguments does).
    View(view::ViewArgs),
}

/// What an installer needs to know: the variables read, and where the weights go.
const MAIN_HELP: &str = "\
Environment:
  KNEECLIP_MODEL_DIR=DIR         a folder with config.json, model.safetensors and tokenizer.json,
                                 used when --model-dir is not given (or set in /etc/environment)
  KNEECLIP_CACHE_DIR=DIR         the cache instead of ~/.cache/kneeclip (weights under
                                 models/openai--clip-vit-base-patch32/<revision>/)
  XDG_DATA_DIRS=DIR:DIR          after the cache, a read-only copy for every user is looked for in
                                 DIR/kneeclip/models/openai--clip-vit-base-patch32/ of each DIR
                                 (default /usr/local/share:/usr/share: no variable needed)
  KNEECLIP_OFFLINE=1             never download the weights (--offline for every command and
                                 the viewer); HF_HUB_OFFLINE=1 does the same
  HF_ENDPOINT=URL                the Hugging Face hub or a mirror to download from
  HF_TOKEN=TOKEN                 a hub access token, sent with the download
  KNEECLIP_DOWNLOAD_TIMEOUT=S    seconds without data before a download gives up (default 30)
  KNEECLIP_HIDE_PATIENT_DATA=1   every viewer starts with patient data hidden (as with
                                 `kneeclip view --hide-patient-data`; set in /etc/environment)
  RAYON_NUM_THREADS=N            threads for grading and training (default: one per core); a
                                 training run is reproduced from its seed only at its thread
                                 count (recorded in the head's sidecar)

Run `kneeclip grade --help` for examples.";

const GRADE_EXAMPLES: &str = "\
Examples:
  kneeclip grade knee.png
  kneeclip grade --json films/*.dcm > grades.jsonl
  kneeclip grade --csv --head clinic-head.safetensors --anchors my-anchors.json knee.dcm
  kneeclip grade --report knee-report.pdf --heatmap knee.dcm   (or .png, .json, .dcm)
  KNEECLIP_MODEL_DIR=~/clip-vit-base-patch32 kneeclip grade --offline knee.jpg

Exit status: 0 when every film was graded, 1 when any film could not be read or
graded (the others are still graded), 2 when the model or options are unusable,
130 when stopped with Ctrl-C, SIGTERM or a hang-up (after the batch of films
being graded, whose lines are printed whole).";

/// Options shared by every command that runs the model.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Folder with config.json, model.safetensors and tokenizer.json
    /// (default: $KNEECLIP_MODEL_DIR, then the user cache, then the system-wide folder under
    /// $XDG_DATA_DIRS, then a download).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Never download the weights; fail with instructions instead. KNEECLIP_OFFLINE=1 or
    /// HF_HUB_OFFLINE=1 in the environment does the same for every command and the viewer.
    #[arg(long)]
    pub offline: bool,
    /// Where to run the model.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

impl From<DeviceArg> for DevicePreference {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => DevicePreference::Auto,
            DeviceArg::Cpu => DevicePreference::Cpu,
            DeviceArg::Cuda => DevicePreference::Cuda,
        }
    }
}

/// Exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_SOME_FAILED: i32 = 1;
pub const EXIT_UNUSABLE: i32 = 2;
/// Stopped by Ctrl-C, SIGTERM or a hang-up.
pub const EXIT_INTERRUPTED: i32 = 130;

/// A reader that closed our stdout (`kneeclip grade DIR | head -2`) chose to
/// stop reading: the command stops at once and exits 0, without a message, as
/// ripgrep does. Other write errors (a full disk) are still errors.
pub(crate) fn reader_went_away(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_UNUSABLE } else { EXIT_OK };
        }
    };
    if cli.print_man_page {
        print!("{}", man_page());
        return EXIT_OK;
    }
    match cli.command {
        Some(Command::Grade(args)) => grade::run(&args),
        Some(Command::Eval(args)) => eval::run(&args),
        Some(Command::Train(args)) => train::run(&args),
        Some(Command::Bench(args)) => bench::run(&args),
        Some(Command::View(args)) => view::run(args),
        None => view::run(view::ViewArgs::default()),
    }
}

/// Finds the weights (flag, environment, cache, download) and loads the base
/// model; a message for the user when that is impossible.
/// The device to run on. `--device cuda` is a demand: without CUDA it is an
/// error (timings or grades from the CPU must not pass for the GPU's);
/// `auto` falls back to the CPU.
pub(crate) fn device_for(arg: DeviceArg) -> Result<candle_core::Device, String> {
    let (device, note) = crate::model::select_device(arg.into());
    match (note, arg) {
        (Some(note), DeviceArg::Cuda) => {
            Err(format!("--device cuda: {}; --device auto runs on the CPU instead", note.trim_end_matches("; using the CPU")))
        }
        (Some(note), _) => {
            eprintln!("kneeclip: {note}");
            Ok(device)
        }
        (None, _) => Ok(device),
    }
}

pub(crate) fn load_base_grader(args: &ModelArgs) -> Result<crate::grading::Grader, String> {
    use crate::weights::{ResolveOptions, StderrProgress, resolve};
    let options = ResolveOptions {
        model_dir: args.model_dir.clone(),
        model_dir_from_viewer: false,
        allow_download: crate::weights::offline_reason(args.offline).is_none(),
        endpoint: None,
        cache_dir: None,
        data_dirs: None,
    };
    let device = device_for(args.device)?;
    // Ctrl-C during a download stops it and says what was kept (it died without a word);
    // set up only when a download starts, so a cached copy changes nothing.
    let cancel = Arc::new(AtomicBool::new(false));
    let (handler_flag, hooked) = (cancel.clone(), Arc::new(AtomicBool::new(false)));
    let hooked_by_download = hooked.clone();
    let mut progress = StderrProgress::default().with_cancel_flag(cancel.clone()).on_first_download(move || {
        hooked_by_download.store(true, Ordering::SeqCst);
        if let Err(e) = interrupt::on_stop_signal(handler_flag, || {}, || std::process::exit(EXIT_INTERRUPTED)) {
            eprintln!("kneeclip: warning: Ctrl-C will stop the download without saying what was kept ({e})");
        }
    });
    let resolved = resolve(&options, &mut progress);
    if hooked.load(Ordering::SeqCst) {
        // Not train's own handler, which was in place before (its progress has no hook).
        interrupt::quit_on_stop_signal();
    }
    let files = match resolved {
        Err(crate::weights::WeightsError::Cancelled { kept, .. }) if cancel.load(Ordering::SeqCst) => {
            match kept {
                Some((bytes, staging)) => eprintln!("\nkneeclip: download interrupted; {} kept in {}, the next run resumes", crate::weights::format_size(bytes), staging.display()),
                None => eprintln!("\nkneeclip: download interrupted; nothing was kept"),
            }
            std::process::exit(EXIT_INTERRUPTED);
        }
        other => other.map_err(|e| e.to_string())?,
    };
    let model_id = match &files.revision {
        Some(rev) => format!("{}@{}", files.model_id, &rev[..rev.len().min(12)]),
        None => files.model_id.clone(),
    };
    crate::grading::Grader::load(&files.config, &files.weights, &files.tokenizer, model_id, &device)
        .map_err(|e| files.load_error(e))
}
