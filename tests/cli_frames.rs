//! `kneeclip grade --frame K` on a multi-frame DICOM (radiologist QA R6).

mod common;

use common::{dicom_film, kneeclip, model_dir};

fn json(out: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().next().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_chosen_frame_is_graded_and_said() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), dicom_film("HasFragmentSequence.dcm")) else { return };
    let (model, film) = (model.to_str().unwrap(), film.to_str().unwrap());
    let first = kneeclip(&["grade", "--offline", "--json", "--model-dir", model, film]);
    assert_eq!(first.status.code(), Some(0));
    let first = json(&first);
    assert_eq!((first["frame"].as_u64(), first["frames"].as_u64()), (Some(1), Some(96)));
    let notes = first["notes"].to_string();
    assert!(notes.contains("frame 1 of 96") && notes.contains("--frame K (1 to 96)"), "{notes}");

    let out = kneeclip(&["grade", "--offline", "--json", "--frame", "40", "--model-dir", model, film]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let line = json(&out);
    assert_eq!((line["frame"].as_u64(), line["frames"].as_u64()), (Some(40), Some(96)));
    assert_ne!(line["similarities"], first["similarities"], "frame 40 is another image than frame 1");
    assert!(line["notes"].to_string().contains("frame 40 of 96 graded"), "{}", line["notes"]);

    // Text: the frame in the note.
    let text = kneeclip(&["grade", "--offline", "--frame", "96", "--model-dir", model, film]);
    assert_eq!(text.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&text.stdout).contains("note: multi-frame file: frame 96 of 96 graded"), "{}", String::from_utf8_lossy(&text.stdout));
}

#[test]
fn a_frame_out_of_range_is_an_error_naming_the_file_and_its_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), dicom_film("HasFragmentSequence.dcm")) else { return };
    let (model, film) = (model.to_str().unwrap(), film.to_str().unwrap());
    let out = kneeclip(&["grade", "--offline", "--frame", "97", "--model-dir", model, film]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HasFragmentSequence.dcm: there is no frame 97: the file has 96 frames"), "{stderr}");
    assert!(out.stdout.is_empty(), "no grade: {}", String::from_utf8_lossy(&out.stdout));
    // JSON: an error line.
    let out = kneeclip(&["grade", "--offline", "--json", "--frame", "500", "--model-dir", model, film]);
    assert_eq!(out.status.code(), Some(1));
    assert!(json(&out)["error"].as_str().unwrap().contains("96 frames"));
    // Frame 0 does not exist either: refused by the option itself.
    let out = kneeclip(&["grade", "--offline", "--frame", "0", "--model-dir", model, film]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_single_frame_film_is_unchanged_and_has_no_second_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), dicom_film("CR-MONO1-10-chest")) else { return };
    let (model, film) = (model.to_str().unwrap(), film.to_str().unwrap());
    let plain = kneeclip(&["grade", "--offline", "--json", "--model-dir", model, film]);
    let line = json(&plain);
    assert!(line.get("frame").is_none() && line.get("frames").is_none(), "{line}");
    let framed = kneeclip(&["grade", "--offline", "--json", "--frame", "1", "--model-dir", model, film]);
    assert_eq!(json(&framed)["similarities"], line["similarities"]);
    let out = kneeclip(&["grade", "--offline", "--frame", "2", "--model-dir", model, film]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CR-MONO1-10-chest: there is no frame 2: the file has one frame only"), "{stderr}");
}
