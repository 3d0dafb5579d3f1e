//! Help → About: what this build is, the licences, and what kneeclip is not.

use egui::RichText;

use crate::build_info;

/// The statement every reader of the About window sees: the same words as every report.
pub use crate::build_info::DECISION_AID as NOT_A_DEVICE;

/// (what, licence) for kneeclip, the weights and the main crates it is built from.
pub const LICENCES: &[(&str, &str)] = &[
    ("kneeclip", "MIT OR Apache-2.0"),
    ("OpenAI CLIP ViT-B/32 weights", "MIT"),
    ("egui / eframe (user interface)", "MIT OR Apache-2.0"),
    ("candle (neural network inference)", "MIT OR Apache-2.0"),
    ("dicom-rs (DICOM reading)", "MIT OR Apache-2.0"),
    ("image (PNG, JPEG, TIFF, BMP)", "MIT OR Apache-2.0"),
    ("tokenizers (CLIP's text tokenizer)", "Apache-2.0"),
    ("hf-hub (weights download)", "Apache-2.0"),
];

/// The About window, while `open`.
pub fn window(ctx: &egui::Context, open: &mut bool) {
    // Scrolls within the window's height: opened, the shortcuts ran past its bottom.
    let height = (ctx.content_rect().height() - 80.0).max(200.0);
    egui::Window::new("About kneeclip").open(open).collapsible(false).resizable(false).default_width(460.0).show(ctx, |ui| {
        egui::ScrollArea::vertical().max_height(height).show(ui, |ui| contents(ui));
    });
}

fn contents(ui: &mut egui::Ui) {
    ui.label(RichText::new("kneeclip").size(20.0).strong());
    ui.label("Kellgren–Lawrence grading of knee radiographs with CLIP ViT-B/32 and text anchors; fine-tunes on local films.");
    ui.label(format!("Version {}", build_info::VERSION));
    // What support needs to know about speed on this machine.
    ui.label(format!(
        "CPU matrix kernel: {} on {} threads",
        kneeclip_sgemm::kernel_name(),
        kneeclip_sgemm::threads()
    ));
    ui.add_space(6.0);
    ui.label(RichText::new(NOT_A_DEVICE).strong());
    ui.add_space(6.0);
    // Before the licences: below them it was found only by scrolling (QA).
    egui::CollapsingHeader::new("Keyboard shortcuts").default_open(true).show(ui, super::shortcuts::table);
    ui.add_space(6.0);
    ui.strong("Licences");
    egui::Grid::new("licences").striped(true).show(ui, |ui| {
        for (what, licence) in LICENCES {
            ui.label(*what);
            ui.label(*licence);
            ui.end_row();
        }
    });
    ui.small("Every other third-party crate is used under its own licence (see each crate's Cargo.toml).");
}
