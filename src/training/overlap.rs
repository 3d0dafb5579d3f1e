//! Which films are which. Validation films that are training films: the
//! same file reached by another path (a linked folder, `..`), or a copy of
//! one; validating on films the model trains on measures its memory, and
//! the temperature and the best epoch would be fitted to it. And the
//! fingerprints a checkpoint keeps of its films, so that a resumed run
//! trains on the same ones.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::dataset::Film;

/// The films of `val` that are also in `train`, through whatever path
/// (links, `..`): compared by resolved folder and file name. Cheap (a
/// folder resolved once, not every film): the viewer makes plans on its UI
/// thread, and datasets may sit on a network share.
pub fn films_in_both<'v>(train: &[Film], val: &'v [Film]) -> Vec<&'v Film> {
    let mut resolved: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut place = |f: &Film| {
        let folder = f.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let folder = resolved.entry(folder.clone()).or_insert_with(|| std::fs::canonicalize(&folder).unwrap_or(folder)).clone();
        folder.join(f.path.file_name().unwrap_or_default())
    };
    let trained: HashSet<PathBuf> = train.iter().map(&mut place).collect();
    val.iter().filter(|f| trained.contains(&place(f))).collect()
}

/// Validation films whose bytes are those of a training film (a copy under
/// any name), each with the training film it copies. Only files of equal
/// size are read and hashed, so a dataset without copies costs one `stat`
/// a film; run it off the UI thread all the same.
pub fn copies_across<'a>(train: &'a [Film], val: &'a [Film]) -> Vec<(&'a Film, &'a Film)> {
    let size = |f: &Film| std::fs::metadata(&f.path).ok().filter(|m| m.is_file()).map(|m| m.len());
    let mut trained_by_size: HashMap<u64, Vec<&Film>> = HashMap::new();
    for film in train {
        if let Some(n) = size(film) {
            trained_by_size.entry(n).or_default().push(film);
        }
    }
    let mut hashes: HashMap<&Path, Option<[u8; 32]>> = HashMap::new();
    let mut hash = |f: &'a Film| *hashes.entry(f.path.as_path()).or_insert_with(|| content_hash(&f.path));
    let mut copies = Vec::new();
    for film in val {
        let Some(candidates) = size(film).and_then(|n| trained_by_size.get(&n)) else { continue };
        let Some(own) = hash(film) else { continue };
        if let Some(original) = candidates.iter().find(|t| hash(t) == Some(own)) {
            copies.push((film, *original));
        }
    }
    copies
}

fn content_hash(path: &Path) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).ok()?;
    Some(Sha256::digest(&bytes).into())
}

/// A short hash of which films train and which validate, with their grades:
/// a resumed run must see the same split. By file name (as the split groups
/// patients), so `./data` and `data`, or the dataset moved to another disk,
/// are the same films.
pub fn films_fingerprint(train: &[Film], val: &[Film]) -> String {
    let mut text = String::new();
    for (side, films) in [("train", train), ("val", val)] {
        for f in films {
            let name = f.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            text += &format!("{side}\t{}\t{name}\n", f.grade);
        }
    }
    crate::files::short_sha256(text.as_bytes())
}

/// A short hash of the films' sizes, in order: a resumed run's films have
/// the names of the checkpoint's, and this tells whether their content was
/// replaced since (by size: hashing every film's bytes at each start would
/// cost minutes on a clinic's DICOM files; a moved or copied dataset keeps it).
pub fn sizes_fingerprint(train: &[Film], val: &[Film]) -> String {
    let sizes: Vec<u8> = train
        .iter()
        .chain(val)
        .flat_map(|f| std::fs::metadata(&f.path).map_or(u64::MAX, |m| m.len()).to_le_bytes())
        .collect();
    crate::files::short_sha256(&sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn film(dir: &Path, name: &str, bytes: &[u8], grade: usize) -> Film {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        Film { path, grade }
    }

    #[test]
    fn copies_are_found_by_content_whatever_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let train = [film(d, "train/0/a.png", b"film a", 0), film(d, "train/1/b.png", b"film b", 1), film(d, "train/1/c.png", b"film c", 1)];
        // Same size as a and b, other bytes: not a copy; b again under another name: one.
        let val = [film(d, "val/0/x.png", b"film x", 0), film(d, "val/1/renamed.png", b"film b", 1), film(d, "val/2/longer.png", b"a longer film", 2)];
        let copies: Vec<(&Path, &Path)> = copies_across(&train, &val).into_iter().map(|(v, t)| (v.path.as_path(), t.path.as_path())).collect();
        assert_eq!(copies, [(val[1].path.as_path(), train[1].path.as_path())]);
        // A missing file is no one's copy.
        let gone = [Film { path: d.join("val/gone.png"), grade: 0 }];
        assert!(copies_across(&train, &gone).is_empty());
    }

    #[test]
    fn the_same_files_through_a_linked_folder_are_found_by_place() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let train = [film(d, "set/0/a.png", b"a", 0), film(d, "set/1/b.png", b"b", 1)];
        std::os::unix::fs::symlink(d.join("set/1"), d.join("linked")).unwrap();
        let val = [Film { path: d.join("linked/b.png"), grade: 1 }, film(d, "other/c.png", b"c", 2)];
        let both: Vec<&Path> = films_in_both(&train, &val).into_iter().map(|f| f.path.as_path()).collect();
        assert_eq!(both, [val[0].path.as_path()]);
    }

    #[test]
    fn sizes_fingerprint_follows_the_content_not_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let train = [film(d, "one/a.png", b"aaa", 0)];
        let val = [film(d, "one/b.png", b"bb", 1)];
        let before = sizes_fingerprint(&train, &val);
        let moved = [film(d, "two/a.png", b"aaa", 0)];
        assert_eq!(sizes_fingerprint(&moved, &val), before, "a copy elsewhere is the same films");
        std::fs::write(&train[0].path, b"replaced with more").unwrap();
        assert_ne!(sizes_fingerprint(&train, &val), before);
    }
}
