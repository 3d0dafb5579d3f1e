//! Which films are which. Validation films that are training films: the
//! same file reached by another path (a linked folder, `..`), or a copy of
//! one; validating on films the model trains on measures its memory, and
//! the temperature and the best epoch would be fitted to it. And the
//! fingerprints a checkpoint keeps of its films, so that a resumed run
//! trains on the same ones.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

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
/// any name), each with the training film it copies. Films of equal size
/// have their first 64 KiB hashed, and only those that agree there are
/// hashed whole: a dataset without copies costs a `stat` a film, and one of
/// uncompressed DICOM films (all of one size) about 64 KiB a film, not the
/// whole dataset. Stops early (with what it found) once `cancel` is set.
pub fn copies_across<'a>(train: &'a [Film], val: &'a [Film], cancel: &AtomicBool) -> Vec<(&'a Film, &'a Film)> {
    let size = |f: &Film| std::fs::metadata(&f.path).ok().filter(|m| m.is_file()).map(|m| m.len());
    let mut trained_by_size: HashMap<u64, Vec<&Film>> = HashMap::new();
    for film in train {
        if let Some(n) = size(film) {
            trained_by_size.entry(n).or_default().push(film);
        }
    }
    let mut heads: HashMap<&Path, Option<[u8; 32]>> = HashMap::new();
    let mut wholes: HashMap<&Path, Option<[u8; 32]>> = HashMap::new();
    let mut copies = Vec::new();
    for film in val {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let Some(candidates) = size(film).and_then(|n| trained_by_size.get(&n)) else { continue };
        let mut head = |f: &'a Film| *heads.entry(f.path.as_path()).or_insert_with(|| content_hash(&f.path, Some(HEAD_BYTES)));
        let Some(own_head) = head(film) else { continue };
        let alike: Vec<&&Film> = candidates.iter().filter(|t| head(t) == Some(own_head)).collect();
        if alike.is_empty() {
            continue;
        }
        let mut whole = |f: &'a Film| *wholes.entry(f.path.as_path()).or_insert_with(|| content_hash(&f.path, None));
        let Some(own) = whole(film) else { continue };
        if let Some(original) = alike.into_iter().find(|t| whole(t) == Some(own)) {
            copies.push((film, *original));
        }
    }
    copies
}

/// How much of a film is hashed first; DICOM headers (patient, UIDs) and
/// compressed images differ long before.
const HEAD_BYTES: u64 = 64 * 1024;

/// The SHA-256 of a file, or of its first `limit` bytes.
fn content_hash(path: &Path, limit: Option<u64>) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    match limit {
        Some(n) => file.take(n).read_to_end(&mut bytes).ok()?,
        None => file.read_to_end(&mut bytes).ok()?,
    };
    Some(Sha256::digest(&bytes).into())
}

/// A short hash of which films train and which validate, with their grades:
/// a resumed run must see the same split. By file name (as the split groups
/// patients), so `./data` and `data`, or the dataset moved to another disk,
/// are the same films.
pub fn films_fingerprint(train: &[Film], val: &[Film]) -> String {
    let text: String = lines(train, val, str::to_string).iter().map(|line| format!("{line}\n")).collect();
    crate::files::short_sha256(text.as_bytes())
}

/// The films a run trains and validates on, one `side\tgrade\tKEY` line
/// each, KEY a short salted hash of the film's name ([`name_key`]): kept in a
/// checkpoint, so that a resume on other films can name one that differs
/// (by this run's names), without the names themselves, which can name
/// patients (`DOE^JOHN_…`) and travel with the head (privacy QA P10).
pub fn films_list(train: &[Film], val: &[Film], salt: &str) -> Vec<String> {
    lines(train, val, |name| name_key(name, salt))
}

/// A new run's salt for [`name_key`]: 16 random hex digits, kept in its
/// checkpoint. Unsalted, a guessable name (a patient ID) could be tested
/// against a key (privacy re-check); with it, only by whoever holds the checkpoint and guesses too.
pub fn new_salt() -> String {
    let mut bytes = [0u8; 8];
    // No randomness to be had: the process and the time still differ from run to run.
    if getrandom::fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        bytes = ((now as u64) ^ ((std::process::id() as u64) << 32)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A film's name as a checkpoint keeps it: the first 12 hex digits of the
/// SHA-256 of `salt` and the name ("" for a checkpoint written before salts).
pub fn name_key(name: &str, salt: &str) -> String {
    crate::files::short_sha256(format!("{salt}{name}").as_bytes())
}

/// An older checkpoint's line, which held the name itself, as [`films_list`] keeps it now.
pub fn keyed_line(line: &str, salt: &str) -> String {
    let mut parts = line.splitn(3, '\t');
    let (side, grade, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let is_key = name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if is_key { line.to_string() } else { format!("{side}\t{grade}\t{}", name_key(name, salt)) }
}

/// This run's films by their [`name_key`], to name one in a message.
pub fn names_by_key(train: &[Film], val: &[Film], salt: &str) -> std::collections::HashMap<String, String> {
    train.iter().chain(val).map(|f| f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()).map(|n| (name_key(&n, salt), n)).collect()
}

fn lines(train: &[Film], val: &[Film], name_of: impl Fn(&str) -> String) -> Vec<String> {
    let mut lines = Vec::with_capacity(train.len() + val.len());
    for (side, films) in [("train", train), ("val", val)] {
        for f in films {
            let name = f.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            lines.push(format!("{side}\t{}\t{}", f.grade, name_of(&name)));
        }
    }
    lines
}

/// One film that differs between a checkpoint's list (`before`) and this
/// run's (`now`), said for a user: one gone, else one new, else one whose
/// grade or side changed. `shown` gives a line's name (or key) as the user reads it.
pub fn a_film_that_differs(before: &[String], now: &[String], shown: impl Fn(&str) -> String) -> Option<String> {
    let split = |line: &String| {
        let mut parts = line.splitn(3, '\t');
        let (side, grade, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        (name.to_string(), format!("KL {grade}, {}", if side == "val" { "validation" } else { "training" }))
    };
    // By name, in list order; a name may stand for several films (IM0001 in
    // many folders of a PACS export), so each name keeps all its films' grades.
    let by_name = |lines: &[String]| {
        let mut order: Vec<String> = Vec::new();
        let mut map: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
        for (name, how) in lines.iter().map(split) {
            let hows = map.entry(name.clone()).or_default();
            if hows.is_empty() {
                order.push(name);
            }
            hows.push(how);
        }
        (order, map)
    };
    let ((before_order, before), (now_order, now)) = (by_name(before), by_name(now));
    if let Some(name) = before_order.iter().find(|n| !now.contains_key(*n)) {
        return Some(format!("{} ({}) is no longer among the films", shown(name), before[name][0]));
    }
    if let Some(name) = now_order.iter().find(|n| !before.contains_key(*n)) {
        return Some(format!("{} ({}) is new", shown(name), now[name][0]));
    }
    before_order.iter().find_map(|name| {
        let (mut was, mut is) = (before[name].clone(), now[name].clone());
        if was.len() != is.len() {
            return Some(format!("{} films named {} before, {} now", was.len(), shown(name), is.len()));
        }
        was.sort();
        is.sort();
        was.iter().zip(&is).find(|(w, i)| w != i).map(|(w, i)| format!("{} was {w}, is now {i}", shown(name)))
    })
}

/// A short hash of the films' sizes, in order: a resumed run's films have
/// the names of the checkpoint's, and this tells whether their content was
/// replaced since by a film of another size. A moved or copied dataset keeps it.
pub fn sizes_fingerprint(train: &[Film], val: &[Film]) -> String {
    let sizes: Vec<u8> = train
        .iter()
        .chain(val)
        .flat_map(|f| std::fs::metadata(&f.path).map_or(u64::MAX, |m| m.len()).to_le_bytes())
        .collect();
    crate::files::short_sha256(&sizes)
}

/// A short hash of the films' first 64 KiB, in order: a film replaced by
/// another of the same size (two 224×224 crops often are) differs there;
/// PNG and JPEG data start within bytes, DICOM headers carry the instance's
/// UIDs. The whole of a small film, 64 KiB of a large one: the OAI
/// training and validation sets (6604 films) take well under a second, a
/// clinic's DICOM films 64 KiB each, not their whole size. A moved or
/// copied dataset keeps it.
pub fn heads_fingerprint(train: &[Film], val: &[Film]) -> String {
    let heads: Vec<u8> = train.iter().chain(val).flat_map(|f| content_hash(&f.path, Some(HEAD_BYTES)).unwrap_or([0xff; 32])).collect();
    crate::files::short_sha256(&heads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_film_that_differs_is_named_also_among_films_of_one_name() {
        let list = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let same = |name: &str| name.to_string();
        let before = list(&["train\t0\ta.png", "train\t2\tIM0001", "val\t3\tIM0001", "train\t1\tb.png"]);
        assert_eq!(a_film_that_differs(&before, &before, same), None);
        let gone = list(&["train\t0\ta.png", "train\t2\tIM0001", "val\t3\tIM0001"]);
        assert_eq!(a_film_that_differs(&before, &gone, same).unwrap(), "b.png (KL 1, training) is no longer among the films");
        let new = list(&["train\t0\ta.png", "train\t2\tIM0001", "val\t3\tIM0001", "train\t1\tb.png", "val\t4\tc.png"]);
        assert_eq!(a_film_that_differs(&before, &new, same).unwrap(), "c.png (KL 4, validation) is new");
        // One of two films named IM0001 moved from validation to training: said, not missed.
        let moved = list(&["train\t0\ta.png", "train\t2\tIM0001", "train\t3\tIM0001", "train\t1\tb.png"]);
        assert_eq!(a_film_that_differs(&before, &moved, same).unwrap(), "IM0001 was KL 3, validation, is now KL 3, training");
        let third = list(&["train\t0\ta.png", "train\t2\tIM0001", "val\t3\tIM0001", "val\t3\tIM0001", "train\t1\tb.png"]);
        assert_eq!(a_film_that_differs(&before, &third, same).unwrap(), "2 films named IM0001 before, 3 now");
        // A large dataset's last film (by name, not by scanning the other list for each).
        let big: Vec<String> = (0..50_000).map(|i| format!("train\t{}\tf{i}.png", i % 5)).collect();
        let mut changed = big.clone();
        changed[49_999] = "train\t0\tf49999.png".into();
        assert_eq!(a_film_that_differs(&big, &changed, same).unwrap(), "f49999.png was KL 4, training, is now KL 0, training");
    }

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
        let copies: Vec<(&Path, &Path)> = copies_across(&train, &val, &AtomicBool::new(false)).into_iter().map(|(v, t)| (v.path.as_path(), t.path.as_path())).collect();
        assert_eq!(copies, [(val[1].path.as_path(), train[1].path.as_path())]);
        // A missing file is no one's copy.
        let gone = [Film { path: d.join("val/gone.png"), grade: 0 }];
        assert!(copies_across(&train, &gone, &AtomicBool::new(false)).is_empty());
        // Cancelled, it stops before reading.
        assert!(copies_across(&train, &val, &AtomicBool::new(true)).is_empty());
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

    /// Privacy re-check: an unsalted key of `DOE^JOHN_1.png` was its name's
    /// SHA-256, which anyone guessing names could test against a checkpoint.
    #[test]
    fn film_keys_are_salted_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let train = [film(dir.path(), "0/DOE^JOHN_1.png", b"a", 0)];
        let unsalted = crate::files::short_sha256(b"DOE^JOHN_1.png");
        assert_eq!(name_key("DOE^JOHN_1.png", ""), unsalted, "an older checkpoint's keys");
        let (a, b) = (new_salt(), new_salt());
        assert!(a.len() == 16 && a != b, "{a} {b}");
        let list = films_list(&train, &[], &a);
        assert_eq!(list, [format!("train\t0\t{}", name_key("DOE^JOHN_1.png", &a))]);
        assert!(!list[0].contains(&unsalted) && !list[0].contains("DOE"), "{list:?}");
        assert_ne!(films_list(&train, &[], &b), list, "another run, other keys");
        assert_eq!(names_by_key(&train, &[], &a).get(&name_key("DOE^JOHN_1.png", &a)).map(String::as_str), Some("DOE^JOHN_1.png"));
        assert_eq!(keyed_line("train\t0\tDOE^JOHN_1.png", &a), list[0], "an older checkpoint's names keyed with its run's salt");
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

    #[test]
    fn heads_fingerprint_sees_a_film_replaced_by_one_of_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let train = [film(d, "one/a.png", b"aaa", 0)];
        let val = [film(d, "one/b.png", b"bb", 1)];
        let before = heads_fingerprint(&train, &val);
        let moved = [film(d, "two/a.png", b"aaa", 0)];
        assert_eq!(heads_fingerprint(&moved, &val), before, "a copy elsewhere is the same films");
        let sizes = sizes_fingerprint(&train, &val);
        std::fs::write(&train[0].path, b"abc").unwrap();
        assert_eq!(sizes_fingerprint(&train, &val), sizes, "the same size");
        assert_ne!(heads_fingerprint(&train, &val), before, "other bytes");
        // Past the first 64 KiB, a change is not seen (the price of reading no more).
        let big = |tail: u8| {
            let mut bytes = vec![7u8; HEAD_BYTES as usize + 10];
            *bytes.last_mut().unwrap() = tail;
            bytes
        };
        let long = [film(d, "three/c.dcm", &big(0), 2)];
        let first = heads_fingerprint(&long, &[]);
        std::fs::write(&long[0].path, big(1)).unwrap();
        assert_eq!(heads_fingerprint(&long, &[]), first);
    }
}
