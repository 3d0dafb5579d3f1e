//! The grade panel's anchor-similarity bars.

use egui::Color32;
use egui_plot::{Bar, BarChart, GridInput, GridMark, Plot};

use crate::grading::Assessment;

/// The y-axis marks: a round step giving two to four intervals over the
/// range shown, each mark reported a whole range apart so egui_plot labels
/// every one at full strength (QA: on films whose cosines span little, or
/// lie all below zero, only "0" was labelled, or the labels were faint).
pub fn y_marks(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let range = hi - lo;
    if !(range.is_finite() && range > 0.0) {
        return Vec::new();
    }
    let raw = range / 3.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| GridMark { value: i as f64 * step, step_size: range }).collect()
}

/// "0.20", "-0.04": decimals enough for the range's step.
fn y_label(mark: GridMark, range: &std::ops::RangeInclusive<f64>) -> String {
    let step = (range.end() - range.start()) / 3.0;
    let decimals = (-step.log10()).ceil().clamp(1.0, 4.0) as usize;
    let value = if mark.value.abs() < 1e-12 { 0.0 } else { mark.value };
    format!("{value:.decimals$}")
}

pub fn show(ui: &mut egui::Ui, a: &Assessment) {
    let bars: Vec<Bar> = (0..5)
        .map(|g| {
            let colour = if g == a.grade { Color32::from_rgb(90, 170, 255) } else { Color32::GRAY };
            Bar::new(g as f64, a.similarities[g] as f64).name(format!("KL {g}")).fill(colour).width(0.7)
        })
        .collect();
    ui.label("Anchor similarity (cosine)");
    Plot::new("similarities")
        .height(120.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        // Not a Tab stop: it has nothing to do from the keyboard, and its focus showed nothing (QA A4).
        .sense(egui::Sense::CLICK | egui::Sense::DRAG)
        .show_axes([true, true])
        // Zero always in sight: the bars grow from it.
        .include_y(0.0)
        // One mark per grade, all of one weight (the default spacer drew KL 0 bright and 1–4 dim;
        // a step wider than the axis makes each a major mark).
        .x_grid_spacer(|_| (0..5).map(|g| GridMark { value: g as f64, step_size: 5.0 }).collect())
        .x_axis_formatter(|m, _| format!("KL {}", m.value.round()))
        .y_grid_spacer(y_marks)
        .y_axis_formatter(y_label)
        .show(ui, |plot| plot.bar_chart(BarChart::new("anchor similarity", bars)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marks a 100 px tall plot labels at full strength: 30 px apart or more
    /// by their reported step (egui_plot fades labels closer than that).
    fn labelled(marks: &[GridMark], bounds: (f64, f64)) -> usize {
        let per_value = 100.0 / (bounds.1 - bounds.0);
        marks.iter().filter(|m| m.step_size * per_value >= 30.0 && (bounds.0..=bounds.1).contains(&m.value)).count()
    }

    #[test]
    fn every_range_gets_at_least_two_full_labels() {
        // vpop (0 … 0.366), RG3 with the full model (all below zero), an OAI crop.
        for bounds in [(-0.02, 0.384), (-0.075, 0.0), (-0.0785, -0.0265), (0.0, 0.9), (-1.0, 1.0)] {
            let input = GridInput { bounds, base_step_size: (bounds.1 - bounds.0) / 100.0 };
            let marks = y_marks(input);
            assert!(labelled(&marks, bounds) >= 2, "{bounds:?}: {:?}", marks.iter().map(|m| m.value).collect::<Vec<_>>());
        }
        assert_eq!(y_label(GridMark { value: -0.04, step_size: 0.05 }, &(-0.0785..=-0.0265)), "-0.04");
        assert_eq!(y_label(GridMark { value: 0.2, step_size: 0.4 }, &(-0.02..=0.384)), "0.2");
    }
}
