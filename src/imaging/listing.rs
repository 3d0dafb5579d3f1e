//! Which files of a folder are films, and in what order a person reads them:
//! the viewer's Next / Previous film and `kneeclip grade FOLDER` list films
//! the same way.
//!
//! A film is a file with an image or DICOM extension, or a file without an
//! extension whose content is one (PACS exports often name files `IM0001`;
//! old ACR-NEMA files have no "DICM" marker at all). Names are ordered with
//! digits by value (`knee2` before `knee10`) and letters without regard to case.
//! A DICOMDIR, the index a DICOM CD or PACS export carries beside its films,
//! is not a film: left out, so that grading such a folder is not a failure.

use std::cmp::Ordering;
use std::collections::HashSet;
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
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    // The standard names the index DICOMDIR (PS3.10 8.6), in upper case on CDs.
    if name.starts_with('.') || name.eq_ignore_ascii_case("DICOMDIR") {
        return false;
    }
    // A link to a film that is gone is still a film the reader meant: listed,
    // so that it is reported as unreadable rather than silently left out.
    // Without an extension its content cannot be sniffed; listed too, as a
    // PACS export's `IM0001` would be (a link with another extension is not).
    // A pipe or device named as a film is listed by its extension as well, to
    // be reported as no regular file (it had vanished from a folder's grades).
    let dangling = path.is_symlink() && !path.exists();
    if dangling || !path.is_file() {
        return !path.is_dir() && ((dangling && path.extension().is_none()) || has_film_extension(path));
    }
    match path.extension() {
        Some(_) => has_film_extension(path),
        None => {
            let mut head = Vec::with_capacity(4096);
            std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head)).is_ok() && super::looks_like_a_film(&head) && !is_media_directory(&head)
        }
    }
}

/// The Media Storage SOP Class of a DICOMDIR (Media Storage Directory Storage).
pub(crate) const MEDIA_DIRECTORY_CLASS: &str = "1.2.840.10008.1.3.10";

/// Whether a DICOM file starting with `head` (preamble, "DICM", then the file
/// meta group in explicit VR little endian) is a DICOMDIR by its Media
/// Storage SOP Class UID (0002,0002), whatever the file is called.
fn is_media_directory(head: &[u8]) -> bool {
    if head.len() < 132 || &head[128..132] != b"DICM" {
        return false;
    }
    let mut at = 132;
    while let Some(e) = head.get(at..at + 8) {
        let (group, element) = (u16::from_le_bytes([e[0], e[1]]), u16::from_le_bytes([e[2], e[3]]));
        if group != 0x0002 {
            return false;
        }
        let (len, value_at) = match (super::dicom_lengths::has_long_length([e[4], e[5]]), head.get(at + 8..at + 12)) {
            (false, _) => (usize::from(u16::from_le_bytes([e[6], e[7]])), at + 8),
            (true, Some(l)) => (u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize, at + 12),
            (true, None) => return false,
        };
        if element == 0x0002 {
            let value = head.get(value_at..value_at.saturating_add(len)).unwrap_or_default();
            // A UID is padded to even length with a NUL (some writers use a space).
            let end = value.iter().rposition(|&b| b != 0 && b != b' ').map_or(0, |i| i + 1);
            return &value[..end] == MEDIA_DIRECTORY_CLASS.as_bytes();
        }
        at = value_at.saturating_add(len);
    }
    false
}

/// The films in `folder` itself, in reading order (the viewer's Next / Previous).
pub fn films_in(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(listed(folder)?.into_iter().filter(|p| is_film_file(p)).collect())
}

/// The films under `folder` in reading order: its own, then each subfolder's
/// in turn, linked subfolders included (studies are often put together by
/// linking). Each folder is entered once, by its real path: a link back up
/// or a second link to a folder read already is left out, said in the notes.
pub fn films_under(folder: &Path) -> std::io::Result<(Vec<PathBuf>, Vec<String>)> {
    let mut entered = HashSet::from([real_path(folder)]);
    let (mut films, mut notes) = (Vec::new(), Vec::new());
    walk(folder, &mut entered, &mut films, &mut notes)?;
    Ok((films, notes))
}

fn walk(folder: &Path, entered: &mut HashSet<PathBuf>, films: &mut Vec<PathBuf>, notes: &mut Vec<String>) -> std::io::Result<()> {
    let entries = listed(folder)?;
    films.extend(entries.iter().filter(|p| is_film_file(p)).cloned());
    for path in entries {
        let visible = !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        // `is_dir` follows links.
        if visible && path.is_dir() {
            if entered.insert(real_path(&path)) {
                walk(&path, entered, films, notes)?;
            } else {
                notes.push(format!("{}: links to a folder read already, not read again (its films would be graded twice, or forever)", path.display()));
            }
        }
    }
    Ok(())
}

/// A folder's entries in reading order.
fn listed(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort_by(|a, b| natural_order(&a.file_name().unwrap_or_default().to_string_lossy(), &b.file_name().unwrap_or_default().to_string_lossy()));
    Ok(entries)
}

/// The path links resolve to, to recognise a folder or file met twice; a
/// path that cannot be resolved (a dangling link) stands for itself.
pub(crate) fn real_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
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
        assert_eq!(films_in(dir.path()).unwrap(), [a.clone(), b.clone(), gone.clone(), im.clone(), gone_im.clone()]);
        assert_eq!(films_under(dir.path()).unwrap(), (vec![a, b, gone, im, gone_im, nested, deeper], vec![]));
        assert!(films_in(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn linked_subfolders_are_read_once_and_a_pipe_named_as_a_film_is_listed() {
        let study = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let knee = elsewhere.path().join("series/knee.png");
        std::fs::create_dir_all(knee.parent().unwrap()).unwrap();
        std::fs::write(&knee, b"").unwrap();
        let own = study.path().join("a.png");
        std::fs::write(&own, b"").unwrap();
        // QA: films under a linked folder were left out without a word.
        std::os::unix::fs::symlink(elsewhere.path(), study.path().join("linked")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), study.path().join("linked2")).unwrap();
        std::os::unix::fs::symlink(study.path(), elsewhere.path().join("series/up")).unwrap();
        // A folder named like a film is no film; a pipe named like one is listed (QA: it vanished).
        std::fs::create_dir(study.path().join("folder.png")).unwrap();
        let pipe = study.path().join("pipe.png");
        assert!(std::process::Command::new("mkfifo").arg(&pipe).status().unwrap().success());
        let (films, notes) = films_under(study.path()).unwrap();
        assert_eq!(films, [own.clone(), pipe.clone(), study.path().join("linked/series/knee.png")]);
        assert_eq!(notes.len(), 2, "linked2 and the link back up: {notes:?}");
        assert!(notes[0].starts_with(&format!("{}: links to a folder read already", study.path().join("linked/series/up").display())), "{notes:?}");
        assert!(notes[1].starts_with(&format!("{}: links to a folder read already", study.path().join("linked2").display())), "{notes:?}");
        assert_eq!(films_in(study.path()).unwrap(), [own, pipe]);
    }

    /// A file meta group (explicit VR little endian) naming `class` as the Media Storage SOP Class.
    fn with_class(class: &str) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICM");
        f.extend_from_slice(&[2, 0, 1, 0, b'O', b'B', 0, 0, 2, 0, 0, 0, 0, 1]);
        let mut uid = class.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        f.extend_from_slice(&[2, 0, 2, 0, b'U', b'I']);
        f.extend_from_slice(&(uid.len() as u16).to_le_bytes());
        f.extend_from_slice(&uid);
        f.extend_from_slice(&[2, 0, 0x10, 0, b'U', b'I', 20, 0]);
        f.extend_from_slice(b"1.2.840.10008.1.2.1\0");
        f
    }

    #[test]
    fn a_dicomdir_is_no_film_by_its_name_or_its_class() {
        let dir = tempfile::tempdir().unwrap();
        let cr = with_class("1.2.840.10008.5.1.4.1.1.1");
        for (name, bytes) in [("DICOMDIR", &cr), ("dicomdir", &cr), ("INDEX", &with_class(MEDIA_DIRECTORY_CLASS))] {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let im = dir.path().join("IM1");
        std::fs::write(&im, &cr).unwrap();
        // A class that only starts like the index's is a film's (odd length: NUL-padded).
        let other = dir.path().join("IM2");
        std::fs::write(&other, with_class("1.2.840.10008.1.3.101")).unwrap();
        assert_eq!(films_in(dir.path()).unwrap(), [im, other]);
        assert!(is_media_directory(&with_class(MEDIA_DIRECTORY_CLASS)));
        assert!(!is_media_directory(&with_class("1.2.840.10008.5.1.4.1.1.1")));
        assert!(!is_media_directory(&with_class(MEDIA_DIRECTORY_CLASS)[..150]), "cut short: not known to be one");
    }
}
