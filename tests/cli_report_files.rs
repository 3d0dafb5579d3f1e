//! How `kneeclip grade --report` treats the file it writes (privacy QA P6,
//! P7): an existing report is replaced, said, and keeps its permissions; a
//! killed run's half-written report goes; a link is written through only to
//! the user's own file.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{first_png, kneeclip, model_dir};

#[test]
fn a_report_replaced_is_said_keeps_its_mode_and_a_killed_runs_partial_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let Some(film) = first_png(0) else { return };
    let report = tmp.path().join("r.json");
    let grade = |out: &std::path::Path| kneeclip(&["grade", "--offline", "--model-dir", model.to_str().unwrap(), film.to_str().unwrap(), "--report", out.to_str().unwrap()]);
    let out = grade(&report);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("report written to {}\n", report.display())), "{err}");
    // Made private, then a run killed while writing it left its half (999999999: no such process).
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o600)).unwrap();
    let partial = tmp.path().join(".r.json.999999999.partial");
    std::fs::write(&partial, b"half a report").unwrap();
    let out = grade(&report);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("report written to {} (replaced the existing file)", report.display())), "{err}");
    assert_eq!(std::fs::metadata(&report).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!partial.exists(), "the killed run's half-written report was left");

    // A link to the user's own report: written through, the link kept.
    let link = tmp.path().join("latest.json");
    std::os::unix::fs::symlink(&report, &link).unwrap();
    let out = grade(&link);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(link.is_symlink() && report.is_file());

    // A link to a file not there yet (a link planted where reports go): refused, naming both.
    let elsewhere = tmp.path().join("shared/loot.json");
    std::fs::create_dir(tmp.path().join("shared")).unwrap();
    let planted = tmp.path().join("planted.json");
    std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
    let out = grade(&planted);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{} is a link to {}, which does not exist; nothing is written through it", planted.display(), elsewhere.display())), "{err}");
    assert!(!elsewhere.exists(), "the report was written through the link");
}
