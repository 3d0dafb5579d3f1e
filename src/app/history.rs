//! Ctrl+Z: what the reader did to the view and its measurements, newest last.
//! Only the last [`LIMIT`] steps are kept.

use std::collections::VecDeque;

use super::film_view::ViewState;
use super::measure::Measurement;

pub const LIMIT: usize = 100;

/// One step to take back.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The view changed; this is how it was before.
    View(ViewState),
    /// A measurement was added (it is the last one).
    AddedMeasurement,
    /// The measurements were cleared; these were they.
    Cleared(Vec<Measurement>),
}

#[derive(Default)]
pub struct History {
    steps: VecDeque<Step>,
}

impl History {
    pub fn push(&mut self, step: Step) {
        if self.steps.len() == LIMIT {
            self.steps.pop_front();
        }
        self.steps.push_back(step);
    }

    pub fn pop(&mut self) -> Option<Step> {
        self.steps.pop_back()
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_steps_up_to_the_limit() {
        let mut h = History::default();
        for i in 0..LIMIT + 5 {
            h.push(Step::Cleared(vec![Measurement { from: egui::pos2(i as f32, 0.0), to: egui::Pos2::ZERO }]));
        }
        assert_eq!(h.len(), LIMIT);
        let newest = h.pop().unwrap();
        assert_eq!(newest, Step::Cleared(vec![Measurement { from: egui::pos2((LIMIT + 4) as f32, 0.0), to: egui::Pos2::ZERO }]));
        let mut oldest = None;
        while let Some(s) = h.pop() {
            oldest = Some(s);
        }
        assert_eq!(oldest, Some(Step::Cleared(vec![Measurement { from: egui::pos2(5.0, 0.0), to: egui::Pos2::ZERO }])));
    }
}
