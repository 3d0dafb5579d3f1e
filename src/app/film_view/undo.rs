//! Ctrl+Z and Redo on the view and its measurements (the steps are [`History`]'s).

use super::{FilmView, Gesture};
use crate::app::history::{Redo, Step};

impl FilmView {
    /// Ctrl+Z: during a drag, cancels it; otherwise takes back the last step.
    pub fn undo(&mut self) {
        if matches!(self.gesture, Some(g) if g != Gesture::Cancelled) {
            return self.cancel();
        }
        self.checkpoint();
        let redo = match self.history.pop() {
            Some(Step::View(before)) => {
                let after = std::mem::replace(&mut self.state, before);
                self.settled = before;
                Redo::View(after)
            }
            Some(Step::AddedMeasurement) => match self.measurements.pop() {
                Some(line) => Redo::Measurement(line),
                None => return,
            },
            Some(Step::Cleared(lines)) => {
                self.measurements = lines;
                Redo::Clear
            }
            None => return,
        };
        self.history.undone(redo);
    }

    /// Ctrl+Shift+Z / Ctrl+Y: does again the step Undo took back last.
    pub fn redo(&mut self) {
        if matches!(self.gesture, Some(g) if g != Gesture::Cancelled) {
            return;
        }
        // A change not yet a step is a new step: nothing is left to redo after it.
        self.checkpoint();
        match self.history.redo() {
            Some(Redo::View(after)) => {
                self.history.redone(Step::View(self.state));
                self.state = after;
                self.settled = after;
            }
            Some(Redo::Measurement(line)) => {
                self.measurements.push(line);
                self.history.redone(Step::AddedMeasurement);
            }
            Some(Redo::Clear) => self.history.redone(Step::Cleared(std::mem::take(&mut self.measurements))),
            None => {}
        }
    }

    /// How many steps Redo can do again.
    pub fn redo_steps(&self) -> usize {
        self.history.redo_len()
    }

    /// How many steps Ctrl+Z can take back.
    pub fn undo_steps(&self) -> usize {
        self.history.len() + usize::from(self.state != self.settled)
    }
}
