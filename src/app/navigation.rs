//! Page Down / Page Up: the films beside the open one in its folder, in name
//! order, stepping over files that failed to open until they change.

use std::path::Path;
use std::time::SystemTime;

use super::KneeclipApp;

impl KneeclipApp {
    /// Whether the folder as last listed has a film `step` places from the last one asked for.
    pub fn has_film_beside(&self, step: isize) -> bool {
        self.folder_cursor.as_ref().is_some_and(|c| self.folder.films.step(c, step).is_some())
    }

    /// Where the reader is in the folder, for the status bar: "Film 3 of 447 in
    /// this folder", and from a Page Down until the film arrives "Opening film
    /// 4 of 447 in this folder…" (QA A14: the count moved only when the film
    /// came, a second or two later, with nothing but a small spinner).
    pub(super) fn folder_place(&self) -> Option<String> {
        let n = self.folder.films.len();
        if n <= 1 {
            return None;
        }
        // Asked for while the folder is listed again: where the step will land, skipped files aside.
        let cursor = self.folder_cursor.as_ref().and_then(|c| self.folder.films.position(c));
        let coming = match (&self.pending.open, self.step_after_listing) {
            (_, Some(step)) => cursor.map(|at| (at as isize + step).clamp(0, n as isize - 1) as usize),
            (Some((_, path)), None) if self.opening_by_step => self.folder.films.position(path),
            _ => None,
        };
        if let Some(at) = coming {
            return Some(format!("Opening film {} of {n} in this folder…", at + 1));
        }
        // Where a file failed to open, where the reader is in the folder
        // still counts (radiologist QA: the count vanished at such a file).
        let failed = self.path.is_none();
        let here = self.path.as_ref().or(self.folder_cursor.as_ref().filter(|_| failed));
        let at = here.and_then(|p| self.folder.films.position(p))?;
        let note = if failed { " (this one could not be opened)" } else { "" };
        Some(format!("Film {} of {n} in this folder{note}", at + 1))
    }

    /// Opens the film `step` places from the current one in its folder, if
    /// any; while the folder is being listed, once the list is in.
    pub(super) fn open_beside(&mut self, step: isize) {
        if let Some(cursor) = &self.folder_cursor {
            self.folder.ask(cursor);
        }
        if self.folder.listing() {
            // Presses while the folder is listed add up.
            self.step_after_listing = Some(self.step_after_listing.unwrap_or(0) + step);
        } else {
            self.step_in_folder(step);
        }
    }

    /// Opens the film `step` places on, stepping over files that failed to
    /// open before and have not changed since: the reader has seen why once.
    pub(super) fn step_in_folder(&mut self, step: isize) {
        let failed_before = |path: &Path| self.unopenable.get(path).is_some_and(|when| *when == file_state(path));
        let mut at = self.folder_cursor.clone();
        let mut passed = 0;
        let mut stride = step;
        let mut landed: Option<std::path::PathBuf> = None;
        let mut next = loop {
            match at.as_ref().and_then(|c| self.folder.films.step(c, stride)).map(Path::to_path_buf) {
                Some(path) if failed_before(&path) => {
                    passed += 1;
                    landed.get_or_insert_with(|| path.clone());
                    at = Some(path);
                    // Past a file that failed, on to the next one in that direction.
                    stride = step.signum();
                }
                found => break found,
            }
        };
        // A jump of several films that landed on files which failed, with
        // none past them: the nearest film short of where it landed.
        if let (None, Some(landed), Some(cursor)) = (&next, &landed, &self.folder_cursor) {
            let mut back = landed.clone();
            while let Some(path) = self.folder.films.step(&back, -step.signum()).map(Path::to_path_buf) {
                if &path == cursor {
                    break;
                }
                if !failed_before(&path) {
                    next = Some(path);
                    break;
                }
                back = path;
            }
        }
        let passed_note = (passed > 0).then(|| format!("stepped over {passed} {} that could not be opened", if passed == 1 { "file" } else { "files" }));
        match next {
            Some(path) => {
                self.open(&path);
                self.opening_by_step = true;
                // Said once the film is in (opening clears the notices).
                self.stepped_over = passed_note.map(|n| format!("{}{}", n[..1].to_uppercase(), &n[1..]));
            }
            None => {
                let which = if step > 0 { "next" } else { "previous" };
                self.error = Some(match passed_note {
                    Some(note) => format!("No {which} film in this folder ({note})"),
                    None => format!("No {which} film in this folder"),
                });
            }
        }
    }
}

/// A file's size, modification and status-change times: whether a file that
/// failed to open has changed since (the status-change time moves when its
/// permissions are put right, which leaves the modification time alone).
pub(super) fn file_state(path: &Path) -> Option<(u64, SystemTime, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?, m.ctime() * 1_000_000_000 + m.ctime_nsec()))
}
