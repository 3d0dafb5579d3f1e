//! Dataset discovery, summaries, refusals and patient-grouped splits.

mod common;

use std::path::{Path, PathBuf};

use kneeclip::training::{Dataset, DatasetError, patient_id, stratified_k_fold, stratified_split};

/// Copies `per_grade` real OAI films per grade into `root/<prefix><g>/...`.
fn build(root: &Path, per_grade: usize, prefix: &str) -> Option<()> {
    for g in 0..5 {
        let src = common::data_dir().join(format!("oai-kl/train/{g}"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&src).ok()?.map(|e| e.unwrap().path()).collect();
        files.sort();
        let dst = root.join(format!("{g}{prefix}")).join("nested");
        std::fs::create_dir_all(&dst).unwrap();
        for f in files.iter().take(per_grade) {
            std::fs::copy(f, dst.join(f.file_name().unwrap())).unwrap();
        }
    }
    Some(())
}

#[test]
fn grade_folders_with_names_and_nesting_and_unreadable_files() {
    let tmp = tempfile::tempdir().unwrap();
    if build(tmp.path(), 3, "Normalish").is_none() {
        eprintln!("skipped: no OAI films");
        return;
    }
    std::fs::write(tmp.path().join("2Normalish/nested/broken.png"), b"not a png").unwrap();
    std::fs::write(tmp.path().join("notes.txt"), b"ignored").unwrap();
    // Folders that are not grades: left out, and said (a "5" is not a KL grade).
    for other in ["5", "junk", ".cache"] {
        std::fs::create_dir(tmp.path().join(other)).unwrap();
    }
    let ds = Dataset::open(tmp.path(), true).unwrap();
    assert_eq!(ds.summary.films_per_grade, [3; 5]);
    assert_eq!(ds.summary.unreadable.len(), 1);
    assert!(ds.summary.unreadable[0].0.ends_with("broken.png"));
    assert!(!ds.summary.unreadable[0].1.contains("broken.png"), "the reason does not repeat the file: {:?}", ds.summary.unreadable[0]);
    let left_out: Vec<&str> = ds.summary.left_out.iter().map(|(f, _)| f.rsplit('/').next().unwrap()).collect();
    assert_eq!(left_out, ["5", "junk"]);
    assert_eq!(ds.films.len(), 15);
}

#[test]
fn a_film_whose_header_names_another_body_part_is_kept_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let chest = common::data_dir().join("dicom/966_fixed.dcm");
    if build(tmp.path(), 2, "").is_none() || !chest.is_file() {
        eprintln!("skipped: no OAI films or {} is missing", chest.display());
        return;
    }
    std::fs::copy(&chest, tmp.path().join("2/nested/chest.dcm")).unwrap();
    let ds = Dataset::open(tmp.path(), true).unwrap();
    assert_eq!(ds.summary.films_per_grade, [2, 2, 3, 2, 2], "kept: the grade folder is the user's word");
    assert_eq!(ds.summary.cautioned.len(), 1, "{:?}", ds.summary.cautioned);
    let (file, caution) = &ds.summary.cautioned[0];
    assert!(file.ends_with("chest.dcm") && caution.contains("CHEST"), "{file}: {caution}");
    assert!(ds.summary.unreadable.is_empty());
}

#[test]
fn csv_relative_paths_and_header() {
    let tmp = tempfile::tempdir().unwrap();
    if build(tmp.path(), 1, "").is_none() {
        return;
    }
    let mut csv = String::from("path,grade\n");
    for g in 0..5 {
        let dir = tmp.path().join(format!("{g}/nested"));
        let f = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().file_name();
        csv += &format!("{g}/nested/{},{g}\n", f.to_str().unwrap());
    }
    std::fs::write(tmp.path().join("labels.csv"), csv).unwrap();
    let ds = Dataset::open(&tmp.path().join("labels.csv"), true).unwrap();
    assert_eq!(ds.summary.films_per_grade, [1; 5]);
    std::fs::write(tmp.path().join("bad.csv"), "a.png,7\n").unwrap();
    let e = Dataset::open(&tmp.path().join("bad.csv"), false).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn refusals_say_why() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("healthy")).unwrap();
    std::fs::create_dir_all(tmp.path().join("sick")).unwrap();
    let e = Dataset::open(tmp.path(), false).unwrap_err();
    assert!(matches!(e, DatasetError::NoGradeFolders { .. }));
    let msg = e.to_string();
    assert!(msg.contains("no grade folders") && msg.contains("healthy") && msg.contains("sick"), "{msg}");
    for g in 0..4 {
        let d = tmp.path().join(g.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a.png"), b"x").unwrap();
    }
    let e = Dataset::open(tmp.path(), false).unwrap_err();
    assert!(e.to_string().contains("there is no grade 4 folder"), "{e}");
    assert!(Dataset::open(&tmp.path().join("nope"), false).is_err());
}

#[test]
fn patient_ids_from_names() {
    assert_eq!(patient_id(Path::new("a/9001695L.png")), "9001695");
    assert_eq!(patient_id(Path::new("9001695R.png")), "9001695");
    assert_eq!(patient_id(Path::new("p17_2.jpg")), "p17");
    assert_eq!(patient_id(Path::new("film.png")), "film");
}

fn synthetic() -> (Vec<PathBuf>, Vec<usize>) {
    let mut paths = Vec::new();
    let mut grades = Vec::new();
    for p in 0..60 {
        for side in ["L", "R"] {
            paths.push(PathBuf::from(format!("{}/{p:04}{side}.png", p % 5)));
            grades.push(p % 5);
        }
    }
    (paths, grades)
}

#[test]
fn split_is_stratified_seeded_and_grouped() {
    let (paths, grades) = synthetic();
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let (train, val) = stratified_split(&refs, &grades, 0.25, 42);
    assert_eq!(train.len() + val.len(), 120);
    assert_eq!((train.len(), val.len()), (90, 30)); // 12 patients per grade, 3 in val
    for g in 0..5 {
        assert_eq!(val.iter().filter(|&&i| grades[i] == g).count(), 6);
    }
    let val_ids: std::collections::HashSet<String> = val.iter().map(|&i| patient_id(&paths[i])).collect();
    assert!(train.iter().all(|&i| !val_ids.contains(&patient_id(&paths[i]))));
    assert_eq!(stratified_split(&refs, &grades, 0.25, 42), (train.clone(), val.clone()));
    assert_ne!(stratified_split(&refs, &grades, 0.25, 43).1, val);

    let folds = stratified_k_fold(&refs, &grades, 5, 1);
    for f in 0..5 {
        assert_eq!(folds.iter().filter(|&&x| x == f).count(), 24);
    }
    for i in (0..120).step_by(2) {
        assert_eq!(folds[i], folds[i + 1], "both knees of a patient in one fold");
    }
}

fn notes_of(ds: &Dataset) -> String {
    ds.summary.notes.iter().map(|(f, why)| format!("{f}: {why}\n")).collect()
}

/// QA: `ln -s .. 1/loop` made the walk count every grade's films under KL1,
/// again and again (615 films for 15). The loop is not followed, and said; a
/// link to a film, or a folder reached twice, counts its films once.
#[test]
fn a_link_loop_or_a_film_reached_twice_counts_once() {
    let tmp = tempfile::tempdir().unwrap();
    if build(tmp.path(), 3, "").is_none() {
        eprintln!("skipped: no OAI films");
        return;
    }
    let root = tmp.path();
    std::os::unix::fs::symlink("..", root.join("1/loop")).unwrap();
    std::os::unix::fs::symlink("../nested", root.join("2/nested/again")).unwrap();
    let first0 = std::fs::read_dir(root.join("0/nested")).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    std::os::unix::fs::symlink(&first0, root.join("0/alias.png")).unwrap();
    let ds = Dataset::open(root, false).unwrap();
    assert_eq!(ds.summary.films_per_grade, [3; 5], "{}", notes_of(&ds));
    assert_eq!(ds.films.len(), 15);
    let notes = notes_of(&ds);
    assert!(notes.contains("1/loop: links to") && notes.contains("not followed"), "{notes}");
    assert!(notes.contains("2/nested/again: links to"), "{notes}");
    assert!(notes.contains(&format!("0/nested/{}: the same file as {}: counted once", first0.file_name().unwrap().to_str().unwrap(), root.join("0/alias.png").display())), "{notes}");
    // One file under two grades is the CSV's "listed already with grade …": refused.
    let first4 = std::fs::read_dir(root.join("4/nested")).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    std::os::unix::fs::symlink(&first4, root.join("3/nested/from-four.png")).unwrap();
    let e = Dataset::open(root, false).unwrap_err().to_string();
    assert!(e.contains("from-four.png") && e.contains("(grade 3), here under grade 4: one film cannot have two grades"), "{e}");
}

/// QA: `10/` (KL4 films) counted as grade 1 and `2023-rejected/` as grade 2.
/// Only the digit alone or followed by a non-digit names a grade; two
/// folders of one grade are both read, and said.
#[test]
fn only_a_digit_alone_or_before_a_non_digit_names_a_grade() {
    let tmp = tempfile::tempdir().unwrap();
    if build(tmp.path(), 2, "").is_none() {
        eprintln!("skipped: no OAI films");
        return;
    }
    let root = tmp.path();
    for (from, to) in [("4", "10"), ("2", "2023-rejected"), ("3", "3-moderate")] {
        std::fs::rename(root.join(from), root.join(to)).unwrap();
    }
    std::fs::create_dir_all(root.join("0Normal")).unwrap();
    let film = std::fs::read_dir(root.join("1/nested")).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&film, root.join("0Normal/copy.png")).unwrap();
    let ds = Dataset::scan(root, false, &mut |_, _| true).unwrap();
    assert_eq!(ds.summary.films_per_grade, [3, 2, 0, 2, 0], "0 and 0Normal are KL0, 3-moderate KL3; 10 and 2023-rejected no grade");
    let left_out: Vec<&str> = ds.summary.left_out.iter().map(|(f, _)| f.rsplit('/').next().unwrap()).collect();
    assert_eq!(left_out, ["10", "2023-rejected"]);
    let notes = notes_of(&ds);
    assert!(notes.contains(&format!("0Normal: also grade 0, as {}", root.join("0").display())), "{notes}");
}

/// QA: a `README` in a grade folder counted as an unreadable film (exit 1).
/// A file without an extension is a film only when its content is one (an
/// `IM0001` DICOM export), as for `grade FOLDER`.
#[test]
fn an_extensionless_file_is_a_film_only_by_its_content() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(dicom) = common::dicom_film("CR-ModalitySequenceLUT.dcm") else { return };
    if build(tmp.path(), 1, "").is_none() {
        eprintln!("skipped: no OAI films");
        return;
    }
    std::fs::write(tmp.path().join("2/README"), "graded by two readers\n").unwrap();
    std::fs::copy(&dicom, tmp.path().join("2/IM0001")).unwrap();
    let ds = Dataset::open(tmp.path(), false).unwrap();
    let names: Vec<&str> = ds.films.iter().filter(|f| f.grade == 2).map(|f| f.path.file_name().unwrap().to_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"IM0001") && !names.contains(&"README"), "{names:?}");
}

/// QA: these said "grade 0 (or 4) has no readable films", "stream did not
/// contain valid UTF-8", or a "No such file" per line.
#[test]
fn csv_and_layout_mistakes_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let open = |name: &str, bytes: &[u8]| {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        Dataset::scan(&path, false, &mut |_, _| true).unwrap_err().to_string()
    };
    for (name, bytes) in [("empty.csv", &b""[..]), ("header.csv", b"path,grade\n")] {
        let e = open(name, bytes);
        assert!(e.contains(name) && e.contains("no films are listed"), "{e}");
    }
    let e = open("labels-latin1", b"caf\xe9.png,2\n");
    assert!(e.contains("labels-latin1") && e.contains("read as a CSV dataset") && e.contains("not UTF-8 text"), "{e}");
    let e = open("folds.csv", b"path,grade,fold\na.png,2,1\n");
    assert!(e.contains("line 1") && e.contains("unexpected column \"fold\" in the header"), "{e}");
    // A file `4` where grade 4's folder belongs: said, not just an empty grade.
    let root = tmp.path().join("set");
    for g in 0..4 {
        std::fs::create_dir_all(root.join(g.to_string())).unwrap();
        std::fs::write(root.join(format!("{g}/a.png")), b"x").unwrap();
    }
    std::fs::write(root.join("4"), b"x").unwrap();
    let ds = Dataset::scan(&root, false, &mut |_, _| true).unwrap();
    assert_eq!(ds.summary.left_out.len(), 1);
    let (file, why) = &ds.summary.left_out[0];
    assert!(file.ends_with("/4") && why.contains("a file, not a folder"), "{file}: {why}");
    // No `4/` at all: the missing folder is named, not "no readable films".
    std::fs::remove_file(root.join("4")).unwrap();
    let refusal = Dataset::scan(&root, false, &mut |_, _| true).unwrap().refusal().expect("grade 4 is missing").to_string();
    assert!(refusal.contains("there is no grade 4 folder") && refusal.contains(&root.join("4").display().to_string()) && !refusal.contains("no readable films"), "{refusal}");
    // An empty `4/` is still told as a grade without films.
    std::fs::create_dir(root.join("4")).unwrap();
    let refusal = Dataset::scan(&root, false, &mut |_, _| true).unwrap().refusal().expect("grade 4 is empty").to_string();
    assert!(refusal.contains("grade 4 has no readable films"), "{refusal}");
    // A header of other names is refused by the name, as README says (it was "no films are listed").
    let e = open("renamed.csv", b"p,grade\na.png,2\n");
    assert!(e.contains("line 1") && e.contains("unexpected column \"p\" in the header"), "{e}");
    let e = open("header-only.csv", b"p,grade\n");
    assert!(e.contains("unexpected column \"p\""), "{e}");
}

/// Review: a film `1.png` beside the grade folders was told "a file, not a
/// folder: the films of grade 1 go in a folder" (and `3_notes.txt` too); a
/// real folder read after a link to it was said to "link to" itself.
#[test]
fn stray_root_files_and_a_folder_after_its_link_are_described_right() {
    let tmp = tempfile::tempdir().unwrap();
    if build(tmp.path(), 1, "").is_none() {
        eprintln!("skipped: no OAI films");
        return;
    }
    let root = tmp.path();
    let film = std::fs::read_dir(root.join("1/nested")).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&film, root.join("1.png")).unwrap();
    std::fs::write(root.join("3_notes.txt"), "to do\n").unwrap();
    std::fs::write(root.join("2-mild"), "x").unwrap();
    // `a` sorts before `nested`: the link is read first.
    std::os::unix::fs::symlink("nested", root.join("1/a")).unwrap();
    let ds = Dataset::scan(root, false, &mut |_, _| true).unwrap();
    assert_eq!(ds.summary.films_per_grade, [1; 5], "{}", notes_of(&ds));
    let left_out: Vec<(&str, &str)> = ds.summary.left_out.iter().map(|(f, why)| (f.rsplit('/').next().unwrap(), why.as_str())).collect();
    assert_eq!(left_out.len(), 2, "{left_out:?}");
    assert_eq!(left_out[0].0, "1.png");
    assert!(left_out[0].1.contains("a film beside the grade folders, in none of them: left out") && !left_out[0].1.contains("not a folder"), "{left_out:?}");
    assert_eq!(left_out[1], ("2-mild", "a file, not a folder: the films of grade 2 go in a folder"));
    let notes = notes_of(&ds);
    assert!(notes.contains(&format!("1/nested: read already through the link {}", root.join("1/a").display())), "{notes}");
    assert!(!notes.contains("1/nested: links to"), "{notes}");
}

/// Review: a header after a blank first line read as a grade "not a number",
/// and a headerless third column (`a.png,2,1`) read as the file `a.png,2`
/// of grade 1.
#[test]
fn a_csv_header_after_a_blank_line_reads_and_a_third_column_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("set.csv");
    std::fs::write(&csv, "\n\npath,grade\na.png,2\n").unwrap();
    let ds = Dataset::scan(&csv, false, &mut |_, _| true).unwrap();
    assert_eq!(ds.films.iter().map(|f| (f.path.clone(), f.grade)).collect::<Vec<_>>(), [(tmp.path().join("a.png"), 2)]);
    for text in ["a.png,2,1\n", "path,grade\nb.png,0\n\na.png,2,train\n"] {
        std::fs::write(&csv, text).unwrap();
        let e = Dataset::scan(&csv, false, &mut |_, _| true).unwrap_err().to_string();
        let line = if text.starts_with("path") { "line 4" } else { "line 1" };
        assert!(e.contains(line) && e.contains("3 fields, the second a number: a CSV dataset reads only `path,grade`"), "{text:?}: {e}");
    }
    // A path with a comma still reads: quoted, or unquoted when its second part is no number.
    std::fs::write(&csv, "\"a,2.png\",1\nknee, left.png,3\n").unwrap();
    let ds = Dataset::scan(&csv, false, &mut |_, _| true).unwrap();
    assert_eq!(ds.films.iter().map(|f| (f.path.clone(), f.grade)).collect::<Vec<_>>(), [(tmp.path().join("a,2.png"), 1), (tmp.path().join("knee, left.png"), 3)]);
}

/// A film of both knees in a grade folder: `eval` said so, `train` did not.
#[test]
fn a_film_of_both_knees_is_listed_as_wide() {
    let tmp = tempfile::tempdir().unwrap();
    if build(tmp.path(), 1, "").is_none() {
        return;
    }
    let Some(both) = common::both_knees() else { return };
    let wide = tmp.path().join("2/nested/both.png");
    both.save(&wide).unwrap();
    let ds = Dataset::open(tmp.path(), true).unwrap();
    assert_eq!(ds.summary.wide, [wide.display().to_string()]);
    assert!(Dataset::open(tmp.path(), false).unwrap().summary.wide.is_empty(), "only checked films are measured");
}
