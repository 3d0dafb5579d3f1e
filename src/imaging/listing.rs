//! Which files of a folder are films, and in what order a person reads them:
//! the viewer's Next / Previous film and `kneeclip grade FOLDER` list films
//! the same way.
//!
//! A film is a file with an image or DICOM extension, or a file without an
//! extension whose content is one (PACS exports often name files `IM0001`;
//! old ACR-NEMA files have no "DICM" marker at all). Names are ordered with
//! digits by value (`knee2` before `knee10`) and letters without regard to case.

use std::cmp::Ordering;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Extensions taken as films (lower case; compared without regard to case).
pub const FILM_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "dcm", "dicom", "dic"];

/// Whether `path` ends in one of [`FILM_EXTENSIONS`].
pub fn has_film_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| FILM_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Whether `path` is a visible file kneeclip would open as a film: by its
/// extension, or, without one, by its first 4 KiB.
pub fn is_film_file(path: &Path) -> bool {
    let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
    if hidden {
        return false;
    }
    // A link to a film that is gone is still a film the reader meant: listed,
    // so that it is reported as unreadable rather than silently left out.
    // Without an extension its content cannot be sniffed; listed too, as a
    // PACS export's `IM0001` would be (a link with another extension is not).
    let dangling = path.is_symlink() && !path.exists();
    if dangling || !path.is_file() {
        return dangling && (path.extension().is_none() || has_film_extension(path));
    }
    match path.extension() {
        Some(_) => has_film_extension(path),
        None => {
            let mut head = Vec::with_capacity(4096);
            std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head)).is_ok() && super::looks_like_a_film(&head)
        }
    }
}

/// The films in `folder` in reading order; with `recursive`, then those of
/// its subfolders (not followed through links), each folder in turn.
pub fn films_in(folder: &Path, recursive: bool) -> std::io::Result<Vec<PathBuf>> {
    let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(folder)?.collect::<Result<_, _>>()?;
    entries.sort_by(|a, b| natural_order(&a.file_name().to_string_lossy(), &b.file_name().to_string_lossy()));
    let mut films: Vec<PathBuf> = entries.iter().map(|e| e.path()).filter(|p| is_film_file(p)).collect();
    if recursive {
        for entry in &entries {
            let visible = !entry.file_name().to_string_lossy().starts_with('.');
            if visible && entry.file_type().is_ok_and(|t| t.is_dir()) {
                films.extend(films_in(&entry.path(), true)?);
            }
        }
    }
    Ok(films)
}

/// Names as a person orders them: runs of digits by value, the rest by
/// letter without regard to case; ties by the plain names, so the order is total.
pub fn natural_order(a: &str, b: &str) -> Ordering {
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
                let (m, n) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                let by_value = m.len().cmp(&n.len()).then_with(|| m.cmp(n));
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
    fn films_by_extension_or_content_and_subfolders_after_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
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
        let nested = write("series2/IM0002", &dicom);
        let deeper = write("series10/x.dcm", b"");
        write(".cache/y.dcm", b"");
        let gone = dir.path().join("c.png");
        std::os::unix::fs::symlink(dir.path().join("deleted.png"), &gone).unwrap();
        std::os::unix::fs::symlink(dir.path().join("deleted.txt"), dir.path().join("d.txt")).unwrap();
        let gone_im = dir.path().join("IM0009");
        std::os::unix::fs::symlink(dir.path().join("deleted"), &gone_im).unwrap();

        // Dangling links to films, by extension or with none, are listed (and
        // will be reported unreadable); one to a .txt is not.
        assert_eq!(films_in(dir.path(), false).unwrap(), [a.clone(), b.clone(), gone.clone(), im.clone(), gone_im.clone()]);
        assert_eq!(films_in(dir.path(), true).unwrap(), [a, b, gone, im, gone_im, nested, deeper]);
        assert!(films_in(&dir.path().join("missing"), false).is_err());
    }
}
