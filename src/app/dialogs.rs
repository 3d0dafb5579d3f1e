//! The desktop's file dialogs (rfd: the xdg file-chooser portal, or zenity
//! where there is none). Where neither exists, rfd returns at once as if the
//! reader had cancelled, and a button would seem to do nothing: that case is
//! told apart by how soon the answer came, and the reader is told what to do.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a dialog gave.
#[derive(Debug, PartialEq)]
pub enum Chosen {
    Path(PathBuf),
    Cancelled,
    /// No dialog could be shown.
    Unavailable,
}

/// Sooner than anyone can see a dialog and cancel it.
const NO_DIALOG_WITHIN: Duration = Duration::from_millis(150);

/// Runs `dialog` (an rfd call) and says which of the three it was.
pub fn choose(dialog: impl FnOnce() -> Option<PathBuf>) -> Chosen {
    let asked = Instant::now();
    match dialog() {
        Some(path) => Chosen::Path(path),
        None if asked.elapsed() < NO_DIALOG_WITHIN => Chosen::Unavailable,
        None => Chosen::Cancelled,
    }
}

/// The message for [`Chosen::Unavailable`], with what to do instead.
pub fn unavailable(instead: &str) -> String {
    format!("No file dialog could be shown: this desktop has no file-chooser portal (xdg-desktop-portal) and no zenity. {instead}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_none_is_no_dialog_and_a_later_one_a_cancel() {
        assert_eq!(choose(|| None), Chosen::Unavailable);
        assert_eq!(choose(|| Some(PathBuf::from("a.png"))), Chosen::Path("a.png".into()));
        assert_eq!(choose(|| { std::thread::sleep(NO_DIALOG_WITHIN * 2); None }), Chosen::Cancelled);
    }
}
