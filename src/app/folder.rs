//! The films beside the open one, for Next / Previous film (Page Down /
//! Page Up): a reader stepping through a clinic's day or a teaching set
//! without the open dialog each time. Which files count and their order:
//! [`crate::imaging::listing`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::imaging::listing;

/// The films of a folder, in reading order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FolderFilms {
    films: Vec<PathBuf>,
    /// Each film's place: the toolbar and status bar ask every frame, and a
    /// folder may hold thousands of films.
    places: HashMap<PathBuf, usize>,
}

impl FolderFilms {
    /// The films in the folder of `current`, which is always among them (it
    /// was asked for, whatever its name). Empty when the folder cannot be read.
    pub fn beside(current: &Path) -> FolderFilms {
        let folder = current.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let Ok(mut films) = listing::films_in(folder) else { return FolderFilms::default() };
        if !films.iter().any(|p| p == current) {
            films.push(current.to_path_buf());
            let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            films.sort_by(|a, b| listing::natural_order(&name(a), &name(b)));
        }
        let places = films.iter().enumerate().map(|(i, p)| (p.clone(), i)).collect();
        FolderFilms { films, places }
    }

    pub fn len(&self) -> usize {
        self.films.len()
    }

    pub fn is_empty(&self) -> bool {
        self.films.is_empty()
    }

    /// `path`'s place in the folder, from 0.
    pub fn position(&self, path: &Path) -> Option<usize> {
        self.places.get(path).copied()
    }

    /// The film `step` places after (or, negative, before) `path`, at most the
    /// last (first); none when `path` is already there.
    pub fn step(&self, path: &Path, step: isize) -> Option<&Path> {
        let at = self.position(path)?;
        // Several presses past the end stop at the last film (or the first).
        let to = (at as isize + step).clamp(0, self.films.len() as isize - 1) as usize;
        (to != at).then(|| self.films[to].as_path())
    }
}

/// The open film's folder, listed on a thread of its own: a PACS export on a
/// network share may hold thousands of files without an extension, each
/// sniffed for DICOM, and the window must not stall while they are read.
pub struct FolderListing {
    pub films: FolderFilms,
    /// The film whose folder is being listed, and where the list will come.
    listing: Option<(PathBuf, mpsc::Receiver<FolderFilms>)>,
    ctx: egui::Context,
}

impl FolderListing {
    pub fn new(ctx: egui::Context) -> FolderListing {
        FolderListing { films: FolderFilms::default(), listing: None, ctx }
    }

    /// Starts listing `path`'s folder unless the list holds `path` already or
    /// is being made for it. A newer request drops an older one's answer.
    pub fn ask(&mut self, path: &Path) {
        if self.films.position(path).is_some() {
            self.listing = None; // an older request's list must not replace this one
            return;
        }
        if self.listing.as_ref().is_some_and(|(p, _)| p == path) {
            return;
        }
        let (send, receive) = mpsc::channel();
        let (of, ctx) = (path.to_path_buf(), self.ctx.clone());
        let spawned = std::thread::Builder::new().name("kneeclip-folder".into()).spawn(move || {
            let _ = send.send(FolderFilms::beside(&of));
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => self.listing = Some((path.to_path_buf(), receive)),
            Err(_) => self.films = FolderFilms::beside(path), // no thread to be had: list here
        }
    }

    /// Takes a finished list (once per frame); true when one arrived.
    pub fn poll(&mut self) -> bool {
        let Some((_, receive)) = &self.listing else { return false };
        match receive.try_recv() {
            Ok(films) => {
                self.films = films;
                self.listing = None;
                true
            }
            Err(mpsc::TryRecvError::Empty) => false,
            Err(mpsc::TryRecvError::Disconnected) => {
                self.listing = None; // the thread died: no list, Next / Previous stay off
                true
            }
        }
    }

    pub fn listing(&self) -> bool {
        self.listing.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_steps_through_its_films_and_keeps_the_one_opened() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, b"").unwrap();
            p
        };
        let (b, a, c) = (write("b10.png"), write("b2.JPG"), write("c.dcm"));
        write("notes.txt");
        let odd = write("opened-anyway.xyz");

        let films = FolderFilms::beside(&a);
        assert_eq!(films.films, [a.clone(), b.clone(), c.clone()]);
        assert_eq!(films.position(&b), Some(1));
        assert_eq!(films.step(&a, 1), Some(b.as_path()));
        assert_eq!(films.step(&b, 1), Some(c.as_path()));
        assert_eq!(films.step(&c, 1), None, "no wrapping past the last");
        assert_eq!(films.step(&a, -1), None, "nor before the first");
        // A film opened under an odd name is still in its folder's list, in order.
        let with_odd = FolderFilms::beside(&odd);
        assert_eq!(with_odd.films, [a, b, c, odd]);
        assert!(FolderFilms::beside(&dir.path().join("gone/x.png")).is_empty());
    }

    #[test]
    fn a_folder_is_listed_off_the_calling_thread_and_the_newest_request_wins() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let write = |dir: &Path, name: &str| {
            let p = dir.join(name);
            std::fs::write(&p, b"").unwrap();
            p
        };
        let (a, b) = (write(one.path(), "a.png"), write(one.path(), "b.png"));
        let c = write(two.path(), "c.png");
        let mut folder = FolderListing::new(egui::Context::default());
        folder.ask(&a);
        folder.ask(&c); // the reader moved on before the first list came
        assert!(folder.listing());
        let start = std::time::Instant::now();
        while !folder.poll() {
            assert!(start.elapsed().as_secs() < 20, "the listing never came");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!folder.listing());
        assert_eq!(folder.films.films, [c.clone()]);
        assert_eq!(folder.films.position(&a), None);
        folder.ask(&c); // listed already: nothing to do
        assert!(!folder.listing());
        folder.ask(&b);
        while !folder.poll() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(folder.films.films, [a, b]);
    }
}
