//! Ctrl+Z: what the reader did to the view and its measurements, newest last,
//! and what Undo took back, for Redo (Ctrl+Shift+Z, Ctrl+Y) until a new step.
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

/// One undone step to do again.
#[derive(Clone, Debug, PartialEq)]
pub enum Redo {
    /// The view as it was before Undo.
    View(ViewState),
    /// The measurement Undo removed.
    Measurement(Measurement),
    /// Undo brought cleared measurements back: clear them again.
    Clear,
}

#[derive(Default)]
pub struct History {
    steps: VecDeque<Step>,
    undone: Vec<Redo>,
}

impl History {
    /// A new step: what was undone before it can no longer be redone.
    pub fn push(&mut self, step: Step) {
        self.undone.clear();
        self.redone(step);
    }

    /// A step made again by Redo (the rest of the undone steps stay).
    pub fn redone(&mut self, step: Step) {
        if self.steps.len() == LIMIT {
            self.steps.pop_front();
        }
        self.steps.push_back(step);
    }

    pub fn undone(&mut self, redo: Redo) {
        self.undone.push(redo);
    }

    /// The step Undo took back last, to do again.
    pub fn redo(&mut self) -> Option<Redo> {
        self.undone.pop()
    }

    pub fn redo_len(&self) -> usize {
        self.undone.len()
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

    #[test]
    fn a_new_step_forgets_what_can_be_redone_and_a_redone_one_does_not() {
        let mut h = History::default();
        h.undone(Redo::Clear);
        h.undone(Redo::Clear);
        h.redone(Step::AddedMeasurement);
        assert_eq!(h.redo_len(), 2);
        h.push(Step::AddedMeasurement);
        assert_eq!((h.redo_len(), h.redo()), (0, None));
    }
}
