//! The heatmap's colour legend: a bar of the view's own colour map, drawn in
//! the film view's bottom-right corner above the zoom line (the knee is in the
//! middle; the other corners hold the file, the patient and the window).

use egui::{Color32, Mesh, Pos2, Rect, Stroke, pos2, vec2};

use super::film_view::colormap;

/// The legend's title. Each knee's map is scaled to its own minimum and
/// maximum (explain::rollout), so the colours rank places within a knee only.
pub const TITLE: &str = "Attention (relative, per knee)";
const TOOLTIP: &str = "Attention rollout: how much the model's class token drew on each place of the square it graded. \
Each knee's map is scaled on its own, from its least-attended place (no tint: the film shows through) to its most (yellow), \
so colours compare places within one knee, not knees or films; a ring marks each knee's most-attended place. It shows what the model drew on, not where disease is.";

/// Paints the legend with its bottom-right corner at `corner`, inside `clip`.
/// It does not follow the heatmap's opacity (a faint bar would say less
/// clearly which colour means what); the view hides it at opacity 0.
pub fn show(ui: &mut egui::Ui, clip: Rect, corner: Pos2) {
    let text = Color32::from_rgb(255, 230, 120);
    let painter = ui.painter_at(clip);
    // At most a third of the film view's width: at a large UI zoom the legend
    // grew with the text and covered 40 % of the film (accessibility QA).
    let natural = painter.layout_no_wrap(TITLE.to_owned(), egui::FontId::proportional(13.0), text).size().x;
    let scale = (clip.width() / 3.0 / natural).clamp(0.6, 1.0);
    let font = egui::FontId::proportional(13.0 * scale);
    let title = painter.layout_no_wrap(TITLE.to_owned(), font.clone(), text);
    let ends = painter.layout_no_wrap("least".to_owned(), font.clone(), text);
    let (bar_h, gap) = (10.0 * scale, 3.0 * scale);
    let size = vec2(title.size().x.max(140.0 * scale), title.size().y + gap + bar_h + gap + ends.size().y);
    let r = Rect::from_min_size(corner - size, size);
    // The overlay corners' dark backing: legible on a white film and a black one.
    painter.rect_filled(r.expand(4.0), 3.0, Color32::from_black_alpha(170));
    let bar = Rect::from_min_size(pos2(r.min.x, r.min.y + title.size().y + gap), vec2(r.width(), bar_h));
    // The colour map's own alpha over a neutral grey, as the map tints a film.
    painter.rect_filled(bar, 0.0, Color32::from_gray(128));
    let mut mesh = Mesh::default();
    let steps = 48;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        let x = bar.min.x + t * bar.width();
        let c = colormap(t);
        mesh.colored_vertex(pos2(x, bar.min.y), c);
        mesh.colored_vertex(pos2(x, bar.max.y), c);
        if i > 0 {
            let k = 2 * i as u32;
            mesh.add_triangle(k - 2, k - 1, k);
            mesh.add_triangle(k - 1, k, k + 1);
        }
    }
    painter.add(mesh);
    painter.rect_stroke(bar, 0.0, Stroke::new(1.0, Color32::from_gray(200)), egui::StrokeKind::Outside);
    // Real labels, as the overlay's corners are, for screen readers and tests.
    let label = |ui: &mut egui::Ui, rect: Rect, s: &str| {
        let l = egui::Label::new(egui::RichText::new(s).font(font.clone()).color(text)).selectable(false).wrap_mode(egui::TextWrapMode::Extend);
        ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| ui.add(l)).inner
    };
    ui.push_id("heatmap-legend", |ui| {
        label(ui, Rect::from_min_size(r.min, title.size()), TITLE).on_hover_text(TOOLTIP);
        let row = Rect::from_min_max(pos2(r.min.x, bar.max.y + gap), r.max);
        label(ui, row, "least");
        let most = ui.painter().layout_no_wrap("most".to_owned(), font.clone(), text).size();
        label(ui, Rect::from_min_size(pos2(r.max.x - most.x, row.min.y), most), "most");
    });
}
