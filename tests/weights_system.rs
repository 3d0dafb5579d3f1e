//! The system-wide weights folder (`$XDG_DATA_DIRS/kneeclip/models/openai--clip-vit-base-patch32`),
//! run as a user would: the built binary with an empty cache and no KNEECLIP_MODEL_DIR.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

const MODEL: &str = "kneeclip/models/openai--clip-vit-base-patch32";

/// `kneeclip args` with `data` as $XDG_DATA_DIRS, an empty home and cache of its own under `tmp`,
/// and an endpoint that answers nothing (a download attempt fails at once, not after 600 MB).
fn kneeclip(tmp: &Path, data: &str, args: &[&str]) -> Output {
    let home = tmp.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(args)
        .env_remove("KNEECLIP_MODEL_DIR")
        .env_remove("KNEECLIP_CACHE_DIR")
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_DIRS", data)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .expect("kneeclip runs")
}

/// The tiny model installed under `<tmp>/data/kneeclip/models/…`, as an administrator would.
fn system_install(tmp: &Path) -> Option<(PathBuf, PathBuf)> {
    let staged = common::model_dir(&tmp.join("staged"))?;
    let data = tmp.join("data");
    let folder = data.join(MODEL);
    std::fs::create_dir_all(folder.parent().unwrap()).unwrap();
    std::fs::rename(staged, &folder).unwrap();
    Some((data, folder))
}

fn film(tmp: &Path) -> PathBuf {
    let path = tmp.join("knee.png");
    image::GrayImage::from_fn(224, 224, |x, y| image::Luma([((x * 3 + y * 5) % 256) as u8])).save(&path).unwrap();
    path
}

/// Every file and folder under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::metadata(&path).unwrap();
        out.push((path.clone(), meta.len(), meta.modified().unwrap()));
        if meta.is_dir() {
            out.extend(listing(&path));
        }
    }
    out.sort();
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_system_wide_folder_grades_offline_and_is_never_written() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((data, folder)) = system_install(tmp.path()) else { return };
    let film = film(tmp.path());
    let before = listing(&data);
    // Listed after a data folder that has no kneeclip, as $XDG_DATA_DIRS usually does.
    let dirs = format!("{}:{}", tmp.path().join("other").display(), data.display());
    let out = kneeclip(tmp.path(), &dirs, &["grade", "--offline", "--json", film.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["model"], folder.display().to_string(), "the system folder is named as the model");
    // Online too it is used as found: no download is tried (the endpoint answers nothing).
    let out = kneeclip(tmp.path(), &dirs, &["grade", "--json", film.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(listing(&data), before, "the system folder was written to");
}

#[test]
fn an_incomplete_system_folder_is_named_and_not_passed_over_for_a_download() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((data, folder)) = system_install(tmp.path()) else { return };
    std::fs::remove_file(folder.join("tokenizer.json")).unwrap();
    let film = film(tmp.path());
    let before = listing(&data);
    for offline in [true, false] {
        let mut args = vec!["grade"];
        if offline {
            args.push("--offline");
        }
        args.push(film.to_str().unwrap());
        let out = kneeclip(tmp.path(), data.to_str().unwrap(), &args);
        let msg = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{msg}");
        assert!(msg.contains(&format!("the system-wide model folder {} cannot be used: missing tokenizer.json", folder.display())), "{msg}");
        assert!(!msg.contains("downloading") && !msg.contains("127.0.0.1"), "a download was tried: {msg}");
    }
    assert_eq!(listing(&data), before, "the system folder was written to");
}

#[test]
fn the_offline_error_lists_the_system_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let film = film(tmp.path());
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let out = kneeclip(tmp.path(), &format!("{}:{}", a.display(), b.display()), &["grade", "--offline", film.to_str().unwrap()]);
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{msg}");
    assert!(msg.contains("are not available offline") && msg.contains("kneeclip looked in the cache folder"), "{msg}");
    assert!(msg.contains(&format!("system-wide folders (none of them exists)\n    {}\n    {}\n", a.join(MODEL).display(), b.join(MODEL).display())), "{msg}");
    // Unset or empty: the XDG default.
    if ["/usr/local/share", "/usr/share"].iter().any(|d| Path::new(d).join(MODEL).exists()) {
        eprintln!("skipped the default's check: this machine has a system-wide copy");
        return;
    }
    let msg = stderr(&kneeclip(tmp.path(), "", &["grade", "--offline", film.to_str().unwrap()]));
    assert!(msg.contains(&format!("\n    /usr/local/share/{MODEL}\n    /usr/share/{MODEL}\n")), "{msg}");
}
