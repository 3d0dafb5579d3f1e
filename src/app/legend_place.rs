//! Where a plot's legend covers least of its curves: the corner whose
//! legend-sized box holds the fewest points of the data (a fixed corner
//! covered a slowly falling loss at the top right and accuracies near chance
//! at the bottom right), kept there while it stays about as good: a corner
//! that changed with every epoch's point would jump about during a run.

use egui_plot::Corner;

/// The plot's data as points, lines sampled between them (three epochs are
/// three points but a line across the box); `vlines` as vertical lines.
#[derive(Default)]
pub struct Occupancy {
    points: Vec<[f64; 2]>,
}

impl Occupancy {
    pub fn new() -> Occupancy {
        Occupancy { points: Vec::new() }
    }

    pub fn line(&mut self, line: &[[f64; 2]]) {
        for (i, p) in line.iter().enumerate().filter(|(_, p)| p[0].is_finite() && p[1].is_finite()) {
            self.points.push(*p);
            if let Some(q) = line.get(i + 1).filter(|q| q[0].is_finite() && q[1].is_finite()) {
                for k in 1..8 {
                    let t = f64::from(k) / 8.0;
                    self.points.push([p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t]);
                }
            }
        }
    }

    pub fn vline(&mut self, x: f64, y: (f64, f64)) {
        for k in 0..=16 {
            self.points.push([x, y.0 + (y.1 - y.0) * f64::from(k) / 16.0]);
        }
    }

    /// The first of `preferred` whose corner box (`size`: the legend's share
    /// of the plot's width and height) holds the fewest points, on axes running over `x` and `y`.
    #[cfg(test)]
    pub fn corner(&self, x: (f64, f64), y: (f64, f64), size: (f64, f64), preferred: [Corner; 4]) -> Corner {
        self.corner_after(None, x, y, size, preferred)
    }

    /// As [`Occupancy::corner`], but `previous` (the corner the legend was in
    /// last frame) is kept unless another holds clearly fewer points: at
    /// least four fewer and a fifth fewer (four are half a sampled segment).
    pub fn corner_after(&self, previous: Option<Corner>, x: (f64, f64), y: (f64, f64), size: (f64, f64), preferred: [Corner; 4]) -> Corner {
        let (w, h) = ((x.1 - x.0) * size.0, (y.1 - y.0) * size.1);
        let inside = |c: Corner| {
            let (left, bottom) = match c {
                Corner::LeftTop => (true, false),
                Corner::RightTop => (false, false),
                Corner::LeftBottom => (true, true),
                Corner::RightBottom => (false, true),
            };
            let xs = if left { (x.0, x.0 + w) } else { (x.1 - w, x.1) };
            let ys = if bottom { (y.0, y.0 + h) } else { (y.1 - h, y.1) };
            self.points.iter().filter(|p| p[0] >= xs.0 && p[0] <= xs.1 && p[1] >= ys.0 && p[1] <= ys.1).count()
        };
        // min_by_key keeps the first of equals: the preferred order breaks ties.
        let best = preferred.into_iter().min_by_key(|&c| inside(c)).unwrap_or(preferred[0]);
        match previous {
            Some(kept) if kept != best => {
                let (k, b) = (inside(kept), inside(best));
                if k < b + 4 || k * 4 < b * 5 { kept } else { best }
            }
            _ => best,
        }
    }

    /// The y range the plot shows: `floor`..`ceiling` widened to the data.
    pub fn y_range(&self, floor: f64, ceiling: f64) -> (f64, f64) {
        self.points.iter().fold((floor, ceiling), |(lo, hi), p| (lo.min(p[1]), hi.max(p[1])))
    }
}

/// The legend's share of a plot `plot` pixels in size with `entries` rows
/// (body text rows of about 18 px, the longest name about 150 px wide).
pub fn legend_size(plot: egui::Vec2, entries: usize) -> (f64, f64) {
    let (w, h) = (150.0, entries as f32 * 18.0 + 12.0);
    (f64::from((w / plot.x.max(1.0)).min(1.0)), f64::from((h / plot.y.max(1.0)).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: [Corner; 4] = [Corner::RightTop, Corner::RightBottom, Corner::LeftTop, Corner::LeftBottom];

    #[test]
    fn a_slowly_falling_loss_leaves_the_bottom_free() {
        // The loss of the QA run: 2.8 falling to 2.2 over 30 epochs, validation 2.3 to 1.9, on 0..2.9.
        let mut o = Occupancy::new();
        o.line(&(1..=30).map(|e| [e as f64, 2.8 - 0.02 * e as f64]).collect::<Vec<_>>());
        o.line(&(1..=30).map(|e| [e as f64, 2.3 - 0.013 * e as f64]).collect::<Vec<_>>());
        o.vline(30.0, (0.0, 2.9));
        let c = o.corner((0.0, 30.0), o.y_range(0.0, 0.0), (0.35, 0.45), ORDER);
        assert_eq!(c, Corner::LeftBottom);
    }

    #[test]
    fn accuracies_near_chance_leave_the_top_free_and_a_steep_loss_the_top_right() {
        let mut o = Occupancy::new();
        o.line(&(1..=30).map(|e| [e as f64, 0.2 + 0.004 * e as f64]).collect::<Vec<_>>());
        assert_eq!(o.corner((0.0, 30.0), o.y_range(0.0, 1.0), (0.35, 0.35), ORDER), Corner::RightTop);
        let mut o = Occupancy::new();
        o.line(&(1..=30).map(|e| [e as f64, 1.6 / e as f64]).collect::<Vec<_>>());
        assert_eq!(o.corner((0.0, 30.0), o.y_range(0.0, 0.0), (0.35, 0.45), ORDER), Corner::RightTop);
        // Rising accuracies leave the bottom right free.
        let mut o = Occupancy::new();
        o.line(&(1..=30).map(|e| [e as f64, 0.3 + 0.02 * e as f64]).collect::<Vec<_>>());
        assert_eq!(o.corner((0.0, 30.0), o.y_range(0.0, 1.0), (0.35, 0.35), ORDER), Corner::RightBottom);
        // Training accuracy rising (overfitting), validation's flat near chance: both right corners
        // taken, the left top free (everything starts low).
        o.line(&(1..=30).map(|e| [e as f64, 0.3]).collect::<Vec<_>>());
        assert_eq!(o.corner((0.0, 30.0), o.y_range(0.0, 1.0), (0.35, 0.35), ORDER), Corner::LeftTop);
    }

    #[test]
    fn a_legend_stays_in_its_corner_until_another_is_clearly_freer() {
        // Three points in the bottom right box: the legend there stays put.
        let mut o = Occupancy::new();
        o.points.extend([[9.7, 0.05], [9.8, 0.1], [10.0, 0.1]]);
        let (x, y, size) = ((0.0, 10.0), (0.0, 1.0), (0.35, 0.35));
        assert_eq!(o.corner(x, y, size, ORDER), Corner::RightTop, "without a previous corner, the freest");
        assert_eq!(o.corner_after(Some(Corner::RightBottom), x, y, size, ORDER), Corner::RightBottom);
        // Curves through the box it is in: it moves to the free corner.
        o.line(&(0..=10).map(|e| [9.0 + 0.1 * e as f64, 0.02 * e as f64]).collect::<Vec<_>>());
        assert_eq!(o.corner_after(Some(Corner::RightBottom), x, y, size, ORDER), Corner::RightTop);
        // Many points in both bottom corners (more in the top ones): a fifth fewer is not
        // enough to move, a third fewer is.
        let mut o = Occupancy::new();
        o.points.extend(std::iter::repeat_n([9.9, 0.95], 200));
        o.points.extend(std::iter::repeat_n([0.1, 0.95], 200));
        o.points.extend(std::iter::repeat_n([9.9, 0.05], 100));
        o.points.extend(std::iter::repeat_n([0.1, 0.05], 85));
        assert_eq!(o.corner_after(Some(Corner::RightBottom), x, y, size, ORDER), Corner::RightBottom);
        o.points.truncate(400 + 100 + 66);
        assert_eq!(o.corner_after(Some(Corner::RightBottom), x, y, size, ORDER), Corner::LeftBottom);
    }

    #[test]
    fn the_legend_share_follows_the_plot_size() {
        let (w, h) = legend_size(egui::vec2(300.0, 180.0), 4);
        assert!((w - 0.5).abs() < 1e-6 && (h - 84.0 / 180.0).abs() < 1e-6, "{w} {h}");
        assert_eq!(legend_size(egui::vec2(0.0, 0.0), 4), (1.0, 1.0));
    }
}
