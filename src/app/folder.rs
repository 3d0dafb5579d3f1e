//! The films beside the open one, for Next / Previous film (Page Down /
//! Page Up): a reader stepping through a clinic's day or a teaching set
//! without the open dialog each time.
//!
//! A film is a file with an image or DICOM extension, or a file without an
//! extension whose content is one (PACS exports often name files `IM0001`;
//! old ACR-NEMA files have no "DICM" marker at all). Files are ordered by name as a person reads them: digits
//! by value (`knee2` before `knee10`), letters without regard to case.

use std::cmp::Ordering;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Extensions the viewer opens (lower case).
const FILM_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "dcm", "dicom", "dic"];

/// The films of a folder, in reading order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FolderFilms {
    films: Vec<PathBuf>,
}

impl FolderFilms {
    /// The films in the folder of `current`, which is always among them (it
    /// was opened, whatever its name). Empty when the folder cannot be read.
    pub fn beside(current: &Path) -> FolderFilms {
        let folder = current.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let Ok(entries) = std::fs::read_dir(folder) else { return FolderFilms::default() };
        let mut films: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.as_path() == current || looks_like_a_film(p)).collect();
        if !films.iter().any(|p| p == current) {
            films.push(current.to_path_buf());
        }
        films.sort_by(|a, b| natural_order(&file_name(a), &file_name(b)));
        FolderFilms { films }
    }

    pub fn len(&self) -> usize {
        self.films.len()
    }

    pub fn is_empty(&self) -> bool {
        self.films.is_empty()
    }

    /// `path`'s place in the folder, from 0.
    pub fn position(&self, path: &Path) -> Option<usize> {
        self.films.iter().position(|p| p == path)
    }

    /// The film `step` places after (or, negative, before) `path`; none past either end.
    pub fn step(&self, path: &Path, step: isize) -> Option<&Path> {
        let at = self.position(path)?;
        let to = at.checked_add_signed(step)?;
        self.films.get(to).map(PathBuf::as_path)
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn looks_like_a_film(path: &Path) -> bool {
    let name = file_name(path);
    if name.starts_with('.') || !path.is_file() {
        return false;
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => FILM_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()),
        None => film_content(path),
    }
}

/// What the file's first 4 KiB say.
fn film_content(path: &Path) -> bool {
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head)).is_ok() && crate::imaging::looks_like_a_film(&head)
}

/// Names as a person orders them: runs of digits by value, the rest by
/// letter without regard to case; ties by the plain names, so the order is total.
fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let digits = |it: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut run = String::new();
                    while let Some(c) = it.next_if(char::is_ascii_digit) {
                        run.push(c);
                    }
                    run
                };
                let (m, n) = (digits(&mut x), digits(&mut y));
                let (m_trimmed, n_trimmed) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                let by_value = m_trimmed.len().cmp(&n_trimmed.len()).then_with(|| m_trimmed.cmp(n_trimmed));
                if by_value != Ordering::Equal {
                    return by_value;
                }
            }
            (Some(c), Some(d)) => {
                let by_letter = c.to_lowercase().cmp(d.to_lowercase());
                if by_letter != Ordering::Equal {
                    return by_letter;
                }
                x.next();
                y.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ordered_as_read() {
        let mut names = vec!["knee10.png", "Knee2.png", "knee1.png", "IM0003", "im2", "knee02.png", "a.dcm"];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(names, ["a.dcm", "im2", "IM0003", "knee1.png", "Knee2.png", "knee02.png", "knee10.png"]);
        assert_eq!(natural_order("x", "x"), Ordering::Equal);
        assert_ne!(natural_order("knee2", "knee02"), Ordering::Equal, "a total order");
    }

    #[test]
    fn a_folder_lists_its_films_and_steps_through_them() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let mut dicom = vec![0u8; 128];
        dicom.extend_from_slice(b"DICM");
        let b = write("b10.png", b"");
        let a = write("b2.JPG", b"");
        let im = write("IM0001", &dicom);
        write("notes.txt", b"");
        write("README", b"plain text, no DICOM marker");
        write(".hidden.png", b"");
        std::fs::create_dir(dir.path().join("sub.png")).unwrap();
        let odd = write("opened-anyway.xyz", b"");

        let films = FolderFilms::beside(&a);
        assert_eq!(films.films, [a.clone(), b.clone(), im.clone()]);
        assert_eq!(films.position(&b), Some(1));
        assert_eq!(films.step(&a, 1), Some(b.as_path()));
        assert_eq!(films.step(&b, 1), Some(im.as_path()));
        assert_eq!(films.step(&im, 1), None, "no wrapping past the last");
        assert_eq!(films.step(&a, -1), None, "nor before the first");
        // A film opened under an odd name is still in its folder's list.
        let with_odd = FolderFilms::beside(&odd);
        assert_eq!(with_odd.len(), 4);
        assert!(with_odd.position(&odd).is_some());
        assert!(FolderFilms::beside(&dir.path().join("gone/x.png")).is_empty());
    }
}
