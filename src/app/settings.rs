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
    pub device: DevicePreference,
    pub heatmap_opacity: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            anchors: DEFAULT_ANCHORS.map(String::from),
            recent: Vec::new(),
            model_dir: None,
            device: DevicePreference::Auto,
            heatmap_opacity: 0.5,
        }
    }
}

impl Settings {
    pub fn add_recent(&mut self, path: &Path) {
        self.recent.retain(|p| p != path);
        self.recent.insert(0, path.to_path_buf());
        self.recent.truncate(MAX_RECENT);
    }
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
