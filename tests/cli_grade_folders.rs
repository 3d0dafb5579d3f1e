//! `kneeclip grade` over folders and streams: the order across batches, linked
//! subfolders, a DICOMDIR beside the films, a reader closing the pipe, and
//! Ctrl-C / SIGTERM, with the tiny fixture model and real films.

mod common;

use common::{data_dir, first_png, gray8_dicom, kneeclip, model_dir};

#[test]
fn many_films_keep_their_order_across_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let dir = data_dir().join("oai-kl/test/1");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} is missing", dir.display());
        return;
    };
    let mut films: Vec<String> = entries.map(|e| e.unwrap().path().display().to_string()).collect();
    films.sort();
    films.truncate(20);
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG but not really").unwrap();
    films.insert(17, broken.display().to_string()); // just past the first batch of 16
    let mut args = vec!["grade", "--offline", "--json", "--model-dir", model.to_str().unwrap()];
    args.extend(films.iter().map(String::as_str));
    let out = kneeclip(&args);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let printed: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    assert_eq!(printed, films.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(lines[17]["error"].is_string());
    assert_eq!(lines.iter().filter(|l| l["grade"].is_u64()).count(), 20);
}

/// `kneeclip grade DIR | head -1`: a reader that closes the pipe is no error
/// (it said "Broken pipe (os error 32)" and exited 2); grading stops quietly with 0.
#[test]
fn a_reader_closing_the_pipe_stops_grading_quietly() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Ok(entries) = std::fs::read_dir(data_dir().join("oai-kl/test/1")) else {
        eprintln!("skipped: no OAI test films");
        return;
    };
    let films = tmp.path().join("films");
    std::fs::create_dir(&films).unwrap();
    // Three batches of 16: the later ones are written after the reader has gone.
    for entry in entries.take(40) {
        let path = entry.unwrap().path();
        std::fs::copy(&path, films.join(path.file_name().unwrap())).unwrap();
    }
    let head_1 = |first_film: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kneeclip"))
            .args(["grade", "--offline", "--model-dir", model.to_str().unwrap(), first_film, films.to_str().unwrap()])
            .env_remove("KNEECLIP_MODEL_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        // The reader (and with it the pipe) is dropped here, as `head -1` exits.
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("Broken pipe") && !err.contains("cannot write"), "{err}");
        (out.status.code(), err)
    };
    let one = std::fs::read_dir(&films).unwrap().next().unwrap().unwrap().path();
    let (code, err) = head_1(one.to_str().unwrap());
    assert_eq!(code, Some(0), "{err}");
    // A film that failed before the reader went is still a failure (QA: exit 0).
    let (code, err) = head_1(tmp.path().join("missing.png").to_str().unwrap());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("missing.png"), "{err}");
}

/// A folder stands for its films, subfolders included, in name order
/// (knee2 before knee10, an extensionless DICOM by its content, other files
/// left out); an empty folder is a failure of its own; --report wants a film.
#[test]
fn a_folder_is_graded_film_by_film() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let (Some(a), Some(b)) = (first_png(1), first_png(3)) else { return };
    let Some(dicom) = common::dicom_film("RG3_UNC") else { return };
    let root = tmp.path().join("films");
    std::fs::create_dir_all(root.join("series2")).unwrap();
    std::fs::copy(&a, root.join("knee10.png")).unwrap();
    std::fs::copy(&b, root.join("knee2.png")).unwrap();
    std::fs::copy(&dicom, root.join("series2/IM0001")).unwrap();
    std::fs::write(root.join("notes.txt"), "not a film").unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let m = model.to_str().unwrap();

    let out = kneeclip(&["grade", "--offline", "--json", "--no-mirror-check", "--model-dir", m, root.to_str().unwrap(), empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "the empty folder fails: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let files: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    let expected = [root.join("knee2.png"), root.join("knee10.png"), root.join("series2/IM0001")];
    assert_eq!(files[..3], expected.iter().map(|p| p.to_str().unwrap()).collect::<Vec<_>>()[..], "{files:?}");
    assert!(lines[..3].iter().all(|l| l["grade"].is_u64()), "{lines:?}");
    assert_eq!(lines.len(), 4);
    assert!(lines[3]["error"].as_str().unwrap().contains("no films in this folder"), "{}", lines[3]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 4 films could not be graded"));

    let report = tmp.path().join("r.pdf");
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, "--report", report.to_str().unwrap(), root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a folder"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A DICOM CD or PACS export: films beside their index, DICOMDIR (a data set
/// with no pixels, Media Storage SOP Class 1.2.840.10008.1.3.10). Grading the
/// folder grades the film and leaves the index out, exit status 0; the index
/// given by name, or renamed, is refused as what it is.
#[test]
fn a_dicomdir_beside_the_films_is_left_out_and_refused_as_an_index() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(png) = first_png(1) else { return };
    let cd = tmp.path().join("cd");
    std::fs::create_dir(&cd).unwrap();
    std::fs::write(cd.join("IM1"), gray8_dicom(&image::open(&png).unwrap().to_luma8(), &[])).unwrap();
    let mut index = dicom_object::InMemDicomObject::new_empty();
    index.put(DataElement::new(tags::FILE_SET_ID, VR::CS, PrimitiveValue::from("KNEES")));
    let meta = dicom_object::FileMetaTableBuilder::new().transfer_syntax("1.2.840.10008.1.2.1").media_storage_sop_class_uid("1.2.840.10008.1.3.10").media_storage_sop_instance_uid("2.25.42");
    let mut bytes = Vec::new();
    index.with_meta(meta).unwrap().write_all(&mut bytes).unwrap();
    std::fs::write(cd.join("DICOMDIR"), &bytes).unwrap();
    std::fs::write(cd.join("INDEX"), &bytes).unwrap(); // renamed, no extension: known by its class
    let m = model.to_str().unwrap();
    let out = kneeclip(&["grade", "--offline", "--json", "--no-mirror-check", "--model-dir", m, cd.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("IM1") && stdout.contains("\"grade\""), "{stdout}");

    let named = tmp.path().join("index.dcm");
    std::fs::write(&named, &bytes).unwrap();
    let out = kneeclip(&["grade", "--offline", "--model-dir", m, named.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("index.dcm") && stderr.contains("this is a DICOMDIR, the index of a DICOM CD or export, not a film: open the films beside it"), "{stderr}");
}

/// QA: grade died by SIGTERM's default action, its output cut short with no
/// word on stderr. Now it stops after the batch in hand, every line whole,
/// says how far it got and exits 130. stdout is left unread so that grade
/// blocks inside its loop (its pipe full) until the handler has run.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_stops_grade_after_the_batch_with_whole_lines_and_exit_130() {
    use common::signals::{ended, stop_asked};
    use std::io::{BufRead, Read};
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(png) = first_png(2) else {
        eprintln!("skipped: no OAI films under {}", data_dir().display());
        return;
    };
    let films = tmp.path().join("films");
    std::fs::create_dir(&films).unwrap();
    for i in 0..600 {
        std::os::unix::fs::symlink(&png, films.join(format!("knee{i:03}.png"))).unwrap();
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["grade", "--offline", "--json", "--no-mirror-check", "--model-dir", model.to_str().unwrap(), films.to_str().unwrap()])
        .env_remove("KNEECLIP_MODEL_DIR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    assert!(stdout.read_line(&mut out).unwrap() > 0, "grade printed nothing");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    assert!(std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    while !stop_asked(pid) && !ended(pid) {
        assert!(std::time::Instant::now() < deadline, "the handler never ran");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stdout.read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130), "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a cut line {l:?}: {e}"))).collect();
    assert!(lines.len() < 600 && lines.len() % 16 == 0, "whole batches, not all: {}", lines.len());
    assert!(lines.iter().all(|l| l["grade"].is_u64()), "graded lines only");
    assert!(err.contains("kneeclip: stopping after this batch of films"), "{err}");
    assert!(err.contains(&format!("kneeclip: stopped after {} of 600 films", lines.len())), "{err}");
}

/// QA: `grade` skipped subfolders that are links without a word (eval read them).
#[test]
fn a_linked_subfolder_is_graded_and_a_second_link_to_it_is_noted() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(png) = first_png(1) else {
        eprintln!("skipped: no OAI films under {}", data_dir().display());
        return;
    };
    let (study, elsewhere) = (tmp.path().join("study"), tmp.path().join("elsewhere"));
    std::fs::create_dir_all(&study).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(&png, study.join("a.png")).unwrap();
    std::fs::copy(&png, elsewhere.join("b.png")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, study.join("linked")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, study.join("linked-again")).unwrap();
    let out = kneeclip(&["grade", "--offline", "--csv", "--no-mirror-check", "--model-dir", model.to_str().unwrap(), study.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let files: Vec<&str> = stdout.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(files, [study.join("a.png").display().to_string(), study.join("linked/b.png").display().to_string()]);
    assert!(stderr.contains(&format!("note: {}: links to a folder read already", study.join("linked-again").display())), "{stderr}");
}
