//! `kneeclip view [FILE]` (and `kneeclip` with no arguments): the desktop viewer.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use clap::Args;

use crate::app::KneeclipApp;

#[derive(Args, Debug, Default)]
pub struct ViewArgs {
    /// A film to open at start.
    pub file: Option<PathBuf>,
    /// Folder with config.json, model.safetensors and tokenizer.json
    /// (default: the folder chosen in the viewer, then $KNEECLIP_MODEL_DIR, then the user cache,
    /// then the system-wide folder under $XDG_DATA_DIRS, then a download offered in the window).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Never download the weights: without a copy the window says so and offers a folder instead.
    #[arg(long)]
    pub offline: bool,
    /// Grade with this fine-tuned head (written by `kneeclip train` or the Training tab),
    /// this session only (default: the head last loaded in the viewer, else none).
    #[arg(long, value_name = "HEAD.safetensors")]
    pub head: Option<PathBuf>,
    /// Wait until the grade is shown, save the window as this PNG, and exit.
    #[arg(long, value_name = "OUT.png")]
    pub screenshot: Option<PathBuf>,
    /// Start with the attention heatmap shown.
    #[arg(long)]
    pub heatmap: bool,
    /// The tab shown at start (with --screenshot, the one captured).
    #[arg(long, value_enum, default_value_t = TabArg::Viewer)]
    pub tab: TabArg,
    /// Fill in (and check) the training tab's dataset folder.
    #[arg(long, value_name = "DIR")]
    pub train_dataset: Option<PathBuf>,
    /// Start with patient data hidden (names, IDs, dates, descriptions, file names), for a
    /// teaching screen or a screenshot; Shift+F12 shows them. Without it the viewer starts as
    /// it was closed, or hidden where KNEECLIP_HIDE_PATIENT_DATA=1 is set (see ENVIRONMENT).
    #[arg(long)]
    pub hide_patient_data: bool,
}

/// Set (to 1) system-wide by an administrator: every viewer starts with patient data hidden.
pub const HIDE_PATIENT_DATA_ENV: &str = "KNEECLIP_HIDE_PATIENT_DATA";

/// Whether the viewer starts with patient data hidden: as it was at the last
/// close (`remembered`), or hidden by `--hide-patient-data` or by
/// [`HIDE_PATIENT_DATA_ENV`] set to anything but empty, 0, false, no or off
/// (an administrator's odd value hides rather than shows).
pub fn starts_hidden(remembered: bool, flag: bool, env: Option<&std::ffi::OsStr>) -> bool {
    let env_says = env.map(|v| v.to_string_lossy().trim().to_ascii_lowercase()).is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "no" | "off"));
    remembered || flag || env_says
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum TabArg {
    #[default]
    Viewer,
    Training,
}

/// The 64 px application icon, compiled in; a broken PNG would fail the test below.
fn window_icon() -> std::sync::Arc<egui::IconData> {
    let png = include_bytes!("../../assets/icons/png/kneeclip-64.png");
    std::sync::Arc::new(eframe::icon_data::from_png_bytes(png).unwrap_or_default())
}

pub fn run(args: ViewArgs) -> i32 {
    let ViewArgs { file, model_dir, offline, head, screenshot, heatmap, tab, train_dataset, hide_patient_data } = args;
    // winit's own refusal names its source file; say what the user can do instead.
    if let Some(why) = no_display() {
        eprintln!("kneeclip: {why}");
        return super::EXIT_UNUSABLE;
    }
    let shooting = screenshot.is_some();
    let outcome: Rc<RefCell<Option<Result<(), String>>>> = Rc::default();
    // eframe restores the saved window size even with persist_window off (a
    // reader's 900x600 made the next screenshot 900x600): a screenshot run
    // reads and writes a scratch store of its own instead of the user's.
    let scratch = shooting.then(|| std::env::temp_dir().join(format!("kneeclip-screenshot-{}.ron", std::process::id())));
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("kneeclip — decision aid, not a diagnosis")
            .with_inner_size([1400.0, 900.0])
            .with_drag_and_drop(true)
            // The desktop entry's icon, also on the window (X11 shows it in the task bar).
            .with_app_id("kneeclip")
            .with_icon(window_icon()),
        // A screenshot run must not be shaped by (or change) the user's saved state.
        persist_window: !shooting,
        persistence_path: scratch.clone(),
        ..Default::default()
    };
    let sink = outcome.clone();
    let result = eframe::run_native(
        "kneeclip",
        options,
        Box::new(move |cc| {
            let mut app = KneeclipApp::from_creation(cc, model_dir, file);
            // The first load never downloads, so setting it here is in time.
            app.offline = offline;
            if let Some(head) = head {
                app.set_cli_head(head);
            }
            app.show_heatmap = heatmap;
            app.hide_patient = starts_hidden(app.hide_patient, hide_patient_data, std::env::var_os(HIDE_PATIENT_DATA_ENV).as_deref());
            app.tab = match tab {
                TabArg::Viewer => crate::app::Tab::Viewer,
                TabArg::Training => crate::app::Tab::Training,
            };
            if let Some(dir) = &train_dataset {
                app.training.set_dataset(&cc.egui_ctx, dir);
            }
            if let Some(out) = screenshot {
                app.set_screenshot(out);
            }
            Ok(Box::new(Reporter { app, sink }))
        }),
    );
    if let Some(scratch) = scratch {
        let _ = std::fs::remove_file(scratch);
    }
    if let Err(e) = result {
        let error = without_source_paths(&e.to_string());
        match display_advice(&error, &display_vars()) {
            Some(advice) => eprintln!("kneeclip: {advice}"),
            None => eprintln!("kneeclip: the viewer could not start: {error}"),
        }
        return super::EXIT_UNUSABLE;
    }
    match outcome.borrow().clone() {
        Some(Err(e)) => {
            eprintln!("kneeclip: screenshot failed: {e}");
            super::EXIT_SOME_FAILED
        }
        None if shooting => {
            eprintln!("kneeclip: the window closed before a screenshot was taken");
            super::EXIT_SOME_FAILED
        }
        _ => super::EXIT_OK,
    }
}

/// On Linux and the BSDs a window needs X11 or Wayland: without either, say so
/// before eframe starts (winit's error names its own source file).
fn no_display() -> Option<String> {
    #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "dragonfly", target_os = "netbsd", target_os = "openbsd"))]
    {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") && !set("WAYLAND_SOCKET") {
            return Some("no graphical display found (neither DISPLAY nor WAYLAND_DISPLAY is set): run kneeclip from a desktop session, or use the command line (`kneeclip grade FILE`, see `kneeclip --help`)".into());
        }
    }
    None
}

/// The display variables that are set, as `NAME=value`.
fn display_vars() -> Vec<String> {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .filter_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()).map(|v| format!("{name}={v}")))
        .collect()
}

/// The unset-DISPLAY advice for a display that is named but cannot be reached
/// (`DISPLAY=:99 kneeclip view` gave winit's bare "Failed to open connection to X server").
fn display_advice(error: &str, vars: &[String]) -> Option<String> {
    // winit fails in its event loop when it cannot connect to X11 or Wayland.
    if !error.contains("EventLoopError") || vars.is_empty() {
        return None;
    }
    Some(format!(
        "the graphical display named by {} cannot be reached ({error}): is that display running, and may this user open windows on it \
         (its XAUTHORITY, xhost)? Run kneeclip from a desktop session, or use the command line (`kneeclip grade FILE`, see `kneeclip --help`)",
        vars.join(" and ")
    ))
}

/// Drops the " at /path/to/file.rs:765" winit puts into its errors: a reader
/// cannot act on a path inside cargo's registry.
fn without_source_paths(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(" at /") {
        let tail = &rest[at + 4..];
        let end = tail.find(".rs:").map(|i| {
            let digits = tail[i + 4..].find(|c: char| !c.is_ascii_digit()).unwrap_or(tail.len() - i - 4);
            i + 4 + digits
        });
        match end {
            Some(end) => {
                out.push_str(&rest[..at]);
                rest = &tail[end..];
            }
            None => {
                out.push_str(&rest[..at + 4]);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Copies the screenshot outcome out of the app for the exit code.
struct Reporter {
    app: KneeclipApp,
    sink: Rc<RefCell<Option<Result<(), String>>>>,
}

impl eframe::App for Reporter {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        eframe::App::ui(&mut self.app, ui, frame);
        if let Some(r) = self.app.screenshot_result() {
            *self.sink.borrow_mut() = Some(r);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.sink.borrow().is_none() && self.app.screenshot_result().is_none() {
            eframe::App::save(&mut self.app, storage);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_window_icon_decodes() {
        let icon = super::window_icon();
        assert_eq!((icon.width, icon.height), (64, 64));
        assert_eq!(icon.rgba.len(), 64 * 64 * 4);
    }

    #[test]
    fn patient_data_starts_hidden_by_the_flag_the_variable_or_the_last_close() {
        use clap::Parser;
        use std::ffi::OsStr;
        let parsed = crate::cli::Cli::try_parse_from(["kneeclip", "view", "--hide-patient-data", "--screenshot", "out.png", "knee.dcm"]).unwrap();
        let Some(crate::cli::Command::View(args)) = parsed.command else { panic!("not view: {parsed:?}") };
        assert!(args.hide_patient_data);
        assert!(super::starts_hidden(false, args.hide_patient_data, None));
        assert!(!super::starts_hidden(false, false, None), "shown by default");
        assert!(super::starts_hidden(true, false, None), "as at the last close");
        for on in ["1", "true", "YES", " on ", "always"] {
            assert!(super::starts_hidden(false, false, Some(OsStr::new(on))), "{on:?}");
        }
        for off in ["", "0", "false", "No", "off"] {
            assert!(!super::starts_hidden(false, false, Some(OsStr::new(off))), "{off:?}");
        }
    }

    #[test]
    fn an_unreachable_display_is_named_with_advice() {
        let error = "winit EventLoopError: os error: Failed to open connection to X server";
        let advice = super::display_advice(error, &["DISPLAY=:99".into()]).unwrap();
        assert!(advice.starts_with("the graphical display named by DISPLAY=:99 cannot be reached (winit EventLoopError"), "{advice}");
        assert!(advice.contains("kneeclip grade FILE"), "{advice}");
        assert_eq!(super::display_advice("wgpu: no adapter", &["DISPLAY=:0".into()]), None, "not a display problem");
    }

    #[test]
    fn source_paths_are_dropped_from_start_errors() {
        let winit = "winit EventLoopError: os error at /root/.cargo/registry/src/index/winit-0.30/src/platform_impl/linux/mod.rs:765: neither WAYLAND_DISPLAY nor DISPLAY is set.";
        assert_eq!(super::without_source_paths(winit), "winit EventLoopError: os error: neither WAYLAND_DISPLAY nor DISPLAY is set.");
        assert_eq!(super::without_source_paths("look at /tmp/x"), "look at /tmp/x");
    }
}
