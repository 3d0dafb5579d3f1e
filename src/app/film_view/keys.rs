//! Window/level and pan from the keyboard (QA A2: a reader who cannot use a
//! mouse had right-drag and left-drag only): Shift+arrows narrow / widen the
//! window and move the level, Ctrl+arrows pan. A run of presses (a key held)
//! is one undo step, as a drag is one, and the window shown is whole where
//! the film's values are whole, as after a drag.

use egui::vec2;

use super::FilmView;
use crate::app::commands::Command;
use crate::imaging::Window;

/// Of the window's width, a step of the width or the level.
const WINDOW_STEP: f64 = 0.05;
/// Of the view's size, a step of the pan.
const PAN_STEP: f32 = 0.1;
/// Presses this close are one undo step: longer than a desktop's key-repeat
/// delay (X's default 660 ms), so a held key's first press joins its repeats
/// (re-check: with the wheel's 0.5 s a held key took two Ctrl+Z).
const KEY_PAUSE: f64 = 1.0;

impl FilmView {
    /// Applies a W/L or pan key pressed at `now` (egui's time; None: a step of
    /// its own). Presses closer together than [`KEY_PAUSE`] are one step.
    pub(super) fn key_step(&mut self, command: Command, now: Option<f64>) {
        match (now, self.wheel_at) {
            (Some(now), Some(t)) if now - t <= KEY_PAUSE => {}
            _ => self.checkpoint(),
        }
        let view = self.rect.map_or(vec2(500.0, 500.0), |r| r.size());
        let s = &mut self.state;
        match command {
            Command::PanLeft => s.pan.x -= view.x * PAN_STEP,
            Command::PanRight => s.pan.x += view.x * PAN_STEP,
            Command::PanUp => s.pan.y -= view.y * PAN_STEP,
            Command::PanDown => s.pan.y += view.y * PAN_STEP,
            _ => s.window = stepped(s.window, command, self.film.whole_values()),
        }
        match now {
            Some(now) => self.wheel_at = Some(now),
            None => self.checkpoint(),
        }
    }
}

/// `window` a step narrower, wider, up or down: 5 % of its width, at least 1
/// and in whole numbers where the film's values are whole.
pub(super) fn stepped(window: Window, command: Command, whole: bool) -> Window {
    let Window { mut center, mut width } = window;
    let step = if whole { (width * WINDOW_STEP).round().max(1.0) } else { width * WINDOW_STEP };
    match command {
        Command::WindowNarrower => width = (width - step).max(if whole { 1.0 } else { width * (1.0 - WINDOW_STEP) }),
        Command::WindowWider => width += step,
        Command::LevelUp => center += step,
        Command::LevelDown => center -= step,
        _ => {}
    }
    if whole {
        (center, width) = (center.round(), width.round().max(1.0));
    }
    Window { center, width }
}

/// Whether `command` is one of these keys'.
pub(super) fn is_key_step(command: Command) -> bool {
    use Command::*;
    matches!(command, WindowNarrower | WindowWider | LevelUp | LevelDown | PanLeft | PanRight | PanUp | PanDown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_five_percent_of_the_width_in_whole_numbers_where_the_film_is_whole() {
        let w = Window { center: 127.5, width: 255.0 };
        assert_eq!(stepped(w, Command::WindowWider, true), Window { center: 128.0, width: 268.0 });
        assert_eq!(stepped(w, Command::WindowNarrower, true), Window { center: 128.0, width: 242.0 });
        assert_eq!(stepped(w, Command::LevelUp, true), Window { center: 141.0, width: 255.0 });
        assert_eq!(stepped(w, Command::LevelDown, true), Window { center: 115.0, width: 255.0 });
        // A window of one value stays one value wide, and moves by one.
        let one = Window { center: 10.0, width: 1.0 };
        assert_eq!(stepped(one, Command::WindowNarrower, true), one);
        assert_eq!(stepped(one, Command::LevelUp, true), Window { center: 11.0, width: 1.0 });
        // Fractional values keep their decimals, and a narrower window stays positive.
        let f = Window { center: 0.5, width: 0.2 };
        let n = stepped(f, Command::WindowNarrower, false);
        assert!((n.width - 0.19).abs() < 1e-12 && n.center == 0.5, "{n:?}");
    }
}
