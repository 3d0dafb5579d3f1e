//! The Training tab's charts: loss and accuracy per epoch (with every
//! batch's loss and the best epoch marked) and the validation confusion matrix.

use egui::{Color32, RichText};
use egui_plot::{Corner, Legend, Line, Plot, PlotPoints, Points, VLine};

use super::legend_place::{Occupancy, legend_size};
use super::training_tab::Progress;
use crate::metrics::{Confusion, GRADES};
use crate::training::trainer::EpochRecord;

const TRAIN_COLOUR: Color32 = Color32::from_rgb(90, 170, 255);
const VAL_COLOUR: Color32 = Color32::from_rgb(250, 150, 60);

fn epoch_line<'a>(name: &str, p: &Progress, value: impl Fn(&EpochRecord) -> f64, colour: Color32) -> (Line<'a>, Points<'a>) {
    let points: Vec<[f64; 2]> = p.epochs.iter().map(|r| [r.epoch as f64, value(r)]).filter(|q| q[1].is_finite()).collect();
    (
        Line::new(name.to_owned(), PlotPoints::from(points.clone())).color(colour).width(2.0),
        Points::new(name.to_owned(), PlotPoints::from(points)).color(colour).radius(3.0),
    )
}

const PLOT_HEIGHT: f32 = 220.0;

fn epoch_values(p: &Progress, value: impl Fn(&EpochRecord) -> f64) -> Vec<[f64; 2]> {
    p.epochs.iter().map(|r| [r.epoch as f64, value(r)]).collect()
}

/// The legend in the corner that covers least of `o`'s curves (a fixed one
/// sat on them: a slowly falling loss at the top right, accuracies near
/// chance at the bottom right), `preferred` first among equals.
/// The corner is kept from frame to frame (in `ui`'s memory under `id`) while
/// it stays about as good as the best, so that it does not jump during a run.
fn legend(ui: &egui::Ui, id: &str, p: &Progress, mut o: Occupancy, best: Option<usize>, y: (f64, f64), entries: usize, preferred: [Corner; 4]) -> Legend {
    let y = o.y_range(y.0, y.1);
    if let Some(b) = best {
        o.vline(b as f64, y);
    }
    let x = (0.0, (p.total_epochs.max(1) as f64).max(p.batch_losses.last().map_or(0.0, |b| b[0])));
    // The plot's frame less its axes (about 40 px each).
    let size = legend_size(egui::vec2(ui.available_width() - 40.0, PLOT_HEIGHT - 40.0), entries);
    let id = egui::Id::unique((id, "legend-corner"));
    let previous = ui.data(|d| d.get_temp::<Corner>(id));
    let corner = o.corner_after(previous, x, y, size, preferred);
    ui.data_mut(|d| d.insert_temp(id, corner));
    Legend::default().position(corner)
}

pub(super) fn loss_plot(ui: &mut egui::Ui, p: &Progress, best: Option<usize>) {
    let mut o = Occupancy::new();
    o.line(&p.batch_losses);
    o.line(&epoch_values(p, |r| r.train_loss));
    o.line(&epoch_values(p, |r| r.val_loss));
    // Losses fall: the top right first, then under the curves at the right.
    let legend = legend(ui, "loss-plot", p, o, best, (0.0, 0.0), 3 + usize::from(best.is_some()), [Corner::RightTop, Corner::RightBottom, Corner::LeftBottom, Corner::LeftTop]);
    Plot::new("loss-plot")
        .height(PLOT_HEIGHT)
        .legend(legend)
        .include_x(0.0)
        .include_x(p.total_epochs.max(1) as f64)
        .include_y(0.0)
        .allow_scroll(false)
        .x_axis_label("epoch")
        .show(ui, |plot| {
            let batches = Line::new("train (per batch)", PlotPoints::from(p.batch_losses.clone())).color(Color32::from_gray(120)).width(1.0);
            plot.line(batches);
            for (name, value, colour) in [
                ("train", (|r: &EpochRecord| r.train_loss) as fn(&EpochRecord) -> f64, TRAIN_COLOUR),
                ("validation", |r: &EpochRecord| r.val_loss, VAL_COLOUR),
            ] {
                let (line, points) = epoch_line(name, p, value, colour);
                plot.line(line);
                plot.points(points);
            }
            if let Some(b) = best {
                plot.vline(VLine::new("best epoch", b as f64).color(Color32::from_rgb(120, 200, 120)));
            }
        });
}

pub(super) fn accuracy_plot(ui: &mut egui::Ui, p: &Progress, best: Option<usize>) {
    let mut o = Occupancy::new();
    o.line(&epoch_values(p, |r| r.train_accuracy));
    o.line(&epoch_values(p, |r| r.val_accuracy));
    // Accuracies rise: the lower right first, then above them (near chance, they leave the top free).
    let legend = legend(ui, "accuracy-plot", p, o, best, (0.0, 1.0), 2 + usize::from(best.is_some()), [Corner::RightBottom, Corner::RightTop, Corner::LeftTop, Corner::LeftBottom]);
    Plot::new("accuracy-plot")
        .height(PLOT_HEIGHT)
        .legend(legend)
        .include_x(0.0)
        .include_x(p.total_epochs.max(1) as f64)
        .include_y(0.0)
        .include_y(1.0)
        .allow_scroll(false)
        .x_axis_label("epoch")
        .show(ui, |plot| {
            for (name, value, colour) in [
                ("train", (|r: &EpochRecord| r.train_accuracy) as fn(&EpochRecord) -> f64, TRAIN_COLOUR),
                ("validation", |r: &EpochRecord| r.val_accuracy, VAL_COLOUR),
            ] {
                let (line, points) = epoch_line(name, p, value, colour);
                plot.line(line);
                plot.points(points);
            }
            if let Some(b) = best {
                plot.vline(VLine::new("best epoch", b as f64).color(Color32::from_rgb(120, 200, 120)));
            }
        });
}

/// Counts, each cell shaded by its share of the true grade's films.
pub(super) fn confusion(ui: &mut egui::Ui, m: &Confusion) {
    egui::Grid::new("confusion").spacing([2.0, 2.0]).show(ui, |ui| {
        ui.label("");
        for g in 0..GRADES {
            ui.strong(format!("P{g}"));
        }
        ui.end_row();
        for (t, row) in m.iter().enumerate() {
            ui.strong(format!("T{t}"));
            let total: u64 = row.iter().sum();
            for (pred, &n) in row.iter().enumerate() {
                let share = if total == 0 { 0.0 } else { n as f32 / total as f32 };
                // Blue right, orange wrong: told apart without red–green colour vision (accessibility QA).
                let base = if pred == t { Color32::from_rgb(40, 110, 190) } else { Color32::from_rgb(190, 110, 30) };
                let fill = Color32::from_gray(40).lerp_to_gamma(base, share);
                egui::Frame::new().fill(fill).inner_margin(egui::Margin::symmetric(10, 4)).show(ui, |ui| {
                    ui.set_min_width(36.0);
                    ui.label(RichText::new(n.to_string()).color(Color32::WHITE));
                });
            }
            ui.end_row();
        }
    });
}
