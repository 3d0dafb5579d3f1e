//! Help → Keyboard shortcuts: every key of the viewer (the command table's,
//! the mouse's and egui's UI zoom), and the UI zoom shown where it is not 100 %
//! (QA: a zoom raised on a large screen came back on a projector unexplained).

use egui::gui_zoom::kb_shortcuts;

use super::commands::{self, COMMANDS, Command};

/// The W/L and pan keys, one row for each pair (the sheet's rows stay few).
const PAIRS: &[(&str, Command, Command)] = &[
    ("Window narrower / wider", Command::WindowNarrower, Command::WindowWider),
    ("Level up / down", Command::LevelUp, Command::LevelDown),
    ("Pan: the film left / right", Command::PanLeft, Command::PanRight),
    ("Pan: the film up / down", Command::PanUp, Command::PanDown),
];

/// Every row of the sheet: what, and its keys or gesture.
fn rows(ctx: &egui::Context) -> Vec<(String, String)> {
    let paired = |c: Command| PAIRS.iter().any(|(_, a, b)| *a == c || *b == c);
    let mut rows: Vec<(String, String)> = COMMANDS.iter().filter(|c| c.shortcut.is_some() && !paired(c.command)).map(|c| (c.label.to_string(), commands::shortcut_text(ctx, c.command))).collect();
    for (what, a, b) in PAIRS {
        rows.push((what.to_string(), format!("{} / {}", commands::shortcut_text(ctx, *a), commands::shortcut_text(ctx, *b))));
    }
    let mut row = |what: &str, keys: String| rows.push((what.into(), keys));
    row("Another frame of a multi-frame film", "the bar over the film: ⏴ ⏵ and its slider".into());
    row("Window / level", "right-drag".into());
    row("Pan", "left-drag (middle-drag with the length tool)".into());
    row("Zoom about the cursor", "mouse wheel".into());
    let [zoom_in, also, zoom_out, reset] = [kb_shortcuts::ZOOM_IN, kb_shortcuts::ZOOM_IN_SECONDARY, kb_shortcuts::ZOOM_OUT, kb_shortcuts::ZOOM_RESET].map(|s| ctx.format_shortcut(&s));
    row("Larger text and controls (UI zoom)", format!("{zoom_in} or {also}"));
    row("Smaller text and controls", zoom_out);
    row("UI zoom back to 100%", reset);
    rows
}

/// `rows` as a striped grid whose columns wrap at `column` points (the Pan
/// row's text ran past the window's edge).
fn grid(ui: &mut egui::Ui, id: &str, rows: &[(String, String)], column: f32) {
    egui::Grid::new(id).striped(true).max_col_width(column).show(ui, |ui| {
        for (what, keys) in rows {
            ui.add(egui::Label::new(what.as_str()).wrap());
            ui.add(egui::Label::new(keys.as_str()).wrap());
            ui.end_row();
        }
    });
}

/// The table of keys, for About.
pub fn table(ui: &mut egui::Ui) {
    let rows = rows(ui.ctx());
    grid(ui, "shortcuts", &rows, 260.0);
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

/// The Keyboard shortcuts window, while open (F1, ? or Help): in two
/// halves side by side where the screen is wide enough, so that every row
/// shows at 1400×900 (QA A6: they needed scrolling); else one column, which
/// Page Up / Page Down and the arrows scroll (they step no film meanwhile).
pub fn window(ctx: &egui::Context) {
    let mut open = is_open(ctx);
    if !open {
        return;
    }
    let screen = ctx.content_rect();
    let height = (screen.height() - 80.0).max(200.0);
    let rows = rows(ctx);
    let column = 250.0;
    let two = screen.width() >= 4.0 * column + 120.0;
    let scroll = scroll_keys(ctx, height);
    // Sized for its rows up to the screen's height (egui sizes a new window within 600×400, which cut the sheet short).
    egui::Window::new("Keyboard shortcuts").open(&mut open).collapsible(false).resizable(false).default_height(height).show(ctx, |ui| {
        egui::ScrollArea::vertical().max_height(height).show(ui, |ui| {
            if scroll != 0.0 {
                ui.scroll_with_delta(egui::vec2(0.0, scroll));
            }
            if two {
                let (left, right) = rows.split_at(rows.len().div_ceil(2));
                ui.horizontal_top(|ui| {
                    grid(ui, "shortcuts-left", left, column);
                    // Space, not a separator: one would stretch the window to the screen's height.
                    ui.add_space(24.0);
                    grid(ui, "shortcuts-right", right, column);
                });
            } else {
                grid(ui, "shortcuts", &rows, column);
            }
        });
    });
    set_open(ctx, open);
}

/// The keys that scroll the open sheet, taken from the film (Page Up / Down
/// a page, the arrows a line): egui's delta, positive up. Not from a text box.
fn scroll_keys(ctx: &egui::Context, page: f32) -> f32 {
    use egui::{Key, Modifiers};
    let focus = commands::Focus::of(ctx);
    if focus == commands::Focus::Text || egui::Popup::is_any_open(ctx) {
        return 0.0;
    }
    let line = 40.0;
    // A focused button takes the arrows (they move the focus).
    let arrows = focus == commands::Focus::None;
    ctx.input_mut(|i| {
        let mut delta = 0.0;
        let mut take = |key: Key, by: f32| delta += by * i.count_and_consume_key(Modifiers::NONE, key) as f32;
        take(Key::PageDown, -page);
        take(Key::PageUp, page);
        if arrows {
            take(Key::ArrowDown, -line);
            take(Key::ArrowUp, line);
        }
        delta
    })
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
