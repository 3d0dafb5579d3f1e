//! What the viewer remembers between runs (eframe storage).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::grading::DEFAULT_ANCHORS;
use crate::model::DevicePreference;

pub const STORAGE_KEY: &str = "kneeclip-settings";
const MAX_RECENT: usize = 10;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub anchors: [String; 5],
    pub recent: Vec<PathBuf>,
    pub model_dir: Option<PathBuf>,
    /// The fine-tuned head last chosen in the viewer (None: the base model).
    pub head: Option<PathBuf>,
    /// The folder the last report was written to: where the next is proposed.
    pub report_folder: Option<PathBuf>,
    pub device: DevicePreference,
    pub heatmap_opacity: f32,
    /// "Hide patient data" as it was at the last close: the next start opens so
    /// (a teaching screen stays hidden; privacy officer QA P4).
    pub hide_patient: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            anchors: DEFAULT_ANCHORS.map(String::from),
            recent: Vec::new(),
            model_dir: None,
            head: None,
            report_folder: None,
            device: DevicePreference::Auto,
            heatmap_opacity: 0.5,
            hide_patient: false,
        }
    }
}

impl Settings {
    pub fn add_recent(&mut self, path: &Path) {
        self.recent.retain(|p| p != path);
        self.recent.insert(0, path.to_path_buf());
        self.recent.truncate(MAX_RECENT);
    }

    /// Remembers a film just opened in Recent, unless `hidden` (patient data
    /// hidden): a screen shown to others, or set so by an administrator, should
    /// not leave the names of the files it showed (often the patient's, as
    /// SMITH_JOHN_knee.dcm) in the settings file and the menu; the films
    /// already there stay. `by_step`: reached with Page Down / Up; `stepped`
    /// is the entry the last step added, which this one replaces (paging
    /// through a folder fills one entry, not all ten).
    pub fn remember_opened(&mut self, path: &Path, hidden: bool, by_step: bool, stepped: &mut Option<PathBuf>) {
        if hidden {
            return;
        }
        if by_step && stepped.is_some() && self.recent.first() == stepped.as_ref() {
            self.recent.remove(0);
        }
        let new_entry = !self.recent.contains(&path.to_path_buf());
        self.add_recent(path);
        *stepped = (by_step && new_entry).then(|| path.to_path_buf());
    }
}

/// Where the saved text of settings that could not all be read is kept (in
/// the same app.ron), so that the next save does not lose it for good.
pub const UNREADABLE_KEY: &str = "kneeclip-settings-unreadable";

/// The saved settings, read field by field: a value this version cannot read
/// (written by another version, or damaged) costs that field alone, not the
/// reader's edited anchors with it (QA: one bad `device` value reset them all,
/// silently). The second value says what was not read, for the status bar.
pub fn read_stored(text: &str) -> (Settings, Option<String>) {
    if let Ok(mut settings) = ron::from_str::<Settings>(text) {
        settings.heatmap_opacity = opacity(settings.heatmap_opacity);
        return (settings, None);
    }
    let mut settings = Settings::default();
    let Ok(ron::Value::Map(map)) = ron::from_str::<ron::Value>(text) else {
        return (settings, Some(format!("The saved settings could not be read, so the defaults are used; the saved text is kept in app.ron under {UNREADABLE_KEY}")));
    };
    let mut unread = Vec::new();
    for (key, value) in map {
        let Ok(name) = key.into_rust::<String>() else { continue };
        let read = match name.as_str() {
            "anchors" => value.into_rust().map(|v| settings.anchors = v).is_ok(),
            "recent" => value.into_rust().map(|v| settings.recent = v).is_ok(),
            "model_dir" => value.into_rust().map(|v| settings.model_dir = v).is_ok(),
            "head" => value.into_rust().map(|v| settings.head = v).is_ok(),
            "report_folder" => value.into_rust().map(|v| settings.report_folder = v).is_ok(),
            "device" => value.into_rust().map(|v| settings.device = v).is_ok(),
            "heatmap_opacity" => value.into_rust::<f32>().map(|v| settings.heatmap_opacity = opacity(v)).is_ok(),
            "hide_patient" => value.into_rust().map(|v| settings.hide_patient = v).is_ok(),
            _ => true, // a newer version's field: nothing to keep here
        };
        if !read {
            unread.push(name);
        }
    }
    let problem = (!unread.is_empty()).then(|| {
        format!("Saved settings: {} could not be read and {} the default; the rest were kept, and the saved text is in app.ron under {UNREADABLE_KEY}", unread.join(", "), if unread.len() == 1 { "is back to" } else { "are back to" })
    });
    (settings, problem)
}

/// A saved heatmap opacity within the slider's 0–1 (the default for a NaN).
fn opacity(saved: f32) -> f32 {
    if saved.is_finite() { saved.clamp(0.0, 1.0) } else { Settings::default().heatmap_opacity }
}

/// The smallest text (egui's Small, ~9 px) raised to a size readable on a
/// projector (QA: provenance lines and notes were unreadable there).
pub fn readable_small_text(ctx: &egui::Context) {
    ctx.all_styles_mut(|style| {
        if let Some(small) = style.text_styles.get_mut(&egui::TextStyle::Small) {
            small.size = small.size.max(SMALLEST_TEXT);
        }
    });
}

/// Points: the smallest text the viewer draws.
pub const SMALLEST_TEXT: f32 = 12.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(edited: &str) -> String {
        let mut settings = Settings::default();
        settings.anchors[0] = edited.into();
        settings.recent = vec![PathBuf::from("/films/knee.dcm")];
        settings.device = DevicePreference::Cpu;
        ron::to_string(&settings).unwrap()
    }

    #[test]
    fn settings_saved_by_this_version_read_back_whole() {
        let (settings, problem) = read_stored(&saved("my KL 0 text"));
        assert_eq!((settings.anchors[0].as_str(), settings.device, problem), ("my KL 0 text", DevicePreference::Cpu, None));
    }

    #[test]
    fn one_unreadable_value_costs_that_field_only_and_is_said() {
        let text = saved("my KL 0 text");
        assert!(text.contains("device:cpu"), "{text}");
        let (settings, problem) = read_stored(&text.replace("device:cpu", "device:gpu"));
        assert_eq!(settings.anchors[0], "my KL 0 text", "the edited anchors are kept");
        assert_eq!(settings.recent, [PathBuf::from("/films/knee.dcm")]);
        assert_eq!(settings.device, DevicePreference::Auto);
        let problem = problem.expect("said");
        assert!(problem.starts_with("Saved settings: device could not be read and is back to the default"), "{problem}");
        // A newer version's field is no problem; a wrong opacity is clamped.
        let (settings, problem) = read_stored(&text.replace("device:cpu", "device:cpu,zoom_memory:(1,2)").replace("heatmap_opacity:0.5", "heatmap_opacity:7.0"));
        assert_eq!((settings.device, settings.heatmap_opacity, problem), (DevicePreference::Cpu, 1.0, None));
    }

    #[test]
    fn hidden_patient_data_is_remembered_and_opens_no_recent_entry() {
        let mut settings = Settings { hide_patient: true, ..Settings::default() };
        let (read, problem) = read_stored(&ron::to_string(&settings).unwrap());
        assert_eq!((read.hide_patient, problem), (true, None));
        // Read field by field (another field unreadable) it is kept too.
        let text = ron::to_string(&settings).unwrap().replace("device:auto", "device:gpu");
        assert!(read_stored(&text).0.hide_patient, "{text}");
        assert!(!read_stored("(anchors:(\"a\",\"b\",\"c\",\"d\",\"e\"))").0.hide_patient, "shown by default");
        let mut stepped = None;
        settings.remember_opened(Path::new("/films/SMITH_JOHN_knee.dcm"), true, false, &mut stepped);
        assert!(settings.recent.is_empty());
        settings.remember_opened(Path::new("/films/knee.dcm"), false, false, &mut stepped);
        assert_eq!(settings.recent, [PathBuf::from("/films/knee.dcm")]);
    }

    #[test]
    fn unreadable_text_gives_the_defaults_and_says_so() {
        let (settings, problem) = read_stored("\u{1}garbage(((");
        assert_eq!(settings.anchors, Settings::default().anchors);
        assert!(problem.expect("said").starts_with("The saved settings could not be read"));
    }
}
