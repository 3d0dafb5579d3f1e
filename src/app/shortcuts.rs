//! Help → Keyboard shortcuts: every key of the viewer (the command table's,
//! the mouse's and egui's UI zoom), and the UI zoom shown where it is not 100 %
//! (QA: a zoom raised on a large screen came back on a projector unexplained).

use egui::gui_zoom::kb_shortcuts;

use super::commands::{self, COMMANDS};

/// The table of keys, for this window and About.
pub fn table(ui: &mut egui::Ui) {
    egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
        let ctx = ui.ctx().clone();
        let mut row = |what: &str, keys: String| {
            ui.label(what);
            ui.label(keys);
            ui.end_row();
        };
        for c in COMMANDS.iter().filter(|c| c.shortcut.is_some()) {
            row(c.label, commands::shortcut_text(&ctx, c.command));
        }
        row("Another frame of a multi-frame film", "the bar over the film: ⏴ ⏵ and its slider".into());
        row("Window / level", "right-drag".into());
        row("Pan", "left-drag (middle-drag with the length tool)".into());
        row("Zoom about the cursor", "mouse wheel".into());
        let [zoom_in, also, zoom_out, reset] = [kb_shortcuts::ZOOM_IN, kb_shortcuts::ZOOM_IN_SECONDARY, kb_shortcuts::ZOOM_OUT, kb_shortcuts::ZOOM_RESET].map(|s| ctx.format_shortcut(&s));
        row("Larger text and controls (UI zoom)", format!("{zoom_in} or {also}"));
        row("Smaller text and controls", zoom_out);
        row("UI zoom back to 100%", reset);
    });
}

fn open_id() -> egui::Id {
    egui::Id::unique("keyboard-shortcuts-open")
}

pub fn is_open(ctx: &egui::Context) -> bool {
    ctx.data(|d| d.get_temp(open_id()).unwrap_or(false))
}

pub fn set_open(ctx: &egui::Context, open: bool) {
    ctx.data_mut(|d| d.insert_temp(open_id(), open));
}

/// The Keyboard shortcuts window, while open.
pub fn window(ctx: &egui::Context) {
    let mut open = is_open(ctx);
    let height = (ctx.content_rect().height() - 80.0).max(200.0);
    egui::Window::new("Keyboard shortcuts").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
        egui::ScrollArea::vertical().max_height(height).show(ui, table);
    });
    set_open(ctx, open);
}

/// "UI zoom 150%" in the status bar while the UI is zoomed; a click resets it.
pub fn zoom_status(ui: &mut egui::Ui) {
    let zoom = ui.ctx().zoom_factor();
    if (zoom - 1.0).abs() < 0.005 {
        return;
    }
    let reset = ui.ctx().format_shortcut(&kb_shortcuts::ZOOM_RESET);
    let tip = format!("Text and controls are shown at {:.0}% (kept from the last session): click, or press {reset}, for 100%", zoom * 100.0);
    if ui.button(format!("UI zoom {:.0}%", zoom * 100.0)).on_hover_text(tip).clicked() {
        ui.ctx().set_zoom_factor(1.0);
    }
}
