//! The system-wide weights folder: `<data>/kneeclip/models/<owner>--<name>/` for each
//! `<data>` of `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`), which an
//! administrator fills once for every user of a workstation.
//!
//! Read only, and checked like a folder named with `--model-dir` (the three files
//! are there; no hashing, which without a record it could not remember): kneeclip
//! never writes into it. One that exists but cannot be used is an error naming it,
//! not a reason to download.

use std::path::{Path, PathBuf};

use super::error::WeightsError;
use super::manifest::Manifest;
use super::{ModelFiles, REQUIRED_FILES};

/// The XDG variable listing the system's data folders.
pub const DATA_DIRS_ENV: &str = "XDG_DATA_DIRS";
/// The XDG spec's value when `$XDG_DATA_DIRS` is unset or empty.
const DEFAULT_DATA_DIRS: &[&str] = &["/usr/local/share", "/usr/share"];

/// The data folders of `$XDG_DATA_DIRS` in order; the spec's default when unset or
/// empty (none on Windows, which has no such folders); relative entries are ignored, as the spec says.
pub fn data_dirs() -> Vec<PathBuf> {
    data_dirs_from(std::env::var_os(DATA_DIRS_ENV))
}

/// [`data_dirs`] of a given value (tests: the environment is the process's).
fn data_dirs_from(value: Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let listed: Vec<PathBuf> = value.map(|v| std::env::split_paths(&v).filter(|p| p.is_absolute()).collect()).unwrap_or_default();
    if !listed.is_empty() || cfg!(windows) {
        return listed;
    }
    DEFAULT_DATA_DIRS.iter().map(PathBuf::from).collect()
}

/// The system-wide folders the weights of `manifest` are looked for in, in order:
/// `<data>/kneeclip/models/<owner>--<name>` (the cache's name for the model, without its revision level).
pub fn system_model_dirs(data_dirs: &[PathBuf], manifest: &Manifest) -> Vec<PathBuf> {
    data_dirs.iter().map(|d| d.join("kneeclip").join("models").join(manifest.cache_folder_name())).collect()
}

/// The first of `folders` that exists, checked: its files, or why it cannot be used.
/// None when none exists.
pub(crate) fn find(folders: &[PathBuf], manifest: &Manifest) -> Result<Option<ModelFiles>, WeightsError> {
    for dir in folders {
        let unreadable = |e: &dyn std::fmt::Display| unusable(dir, format!("this user may not read it ({e}); every user needs read access (chmod -R a+rX)"));
        match std::fs::metadata(dir) {
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                // A link to a folder that has gone is a broken install, not an absent one.
                if let Ok(target) = std::fs::read_link(dir) {
                    return Err(unusable(dir, format!("it is a link to {}, which does not exist", target.display())));
                }
                continue;
            }
            Err(e) => return Err(unreadable(&e)),
            Ok(_) => {}
        }
        return match ModelFiles::from_dir_named(dir, "the system") {
            Ok(mut files) => {
                files.system_wide = true;
                Ok(Some(files))
            }
            Err(WeightsError::MissingFiles { missing, notes, .. }) => Err(unusable(dir, format!("missing {}{notes}{}", missing.join(", "), revision_note(dir, manifest)))),
            Err(WeightsError::ModelDirNotFound { .. }) => Err(unusable(dir, "it is not a folder".into())),
            Err(WeightsError::Unreadable { source, .. }) => Err(unreadable(&source)),
            Err(other) => Err(unusable(dir, other.to_string())),
        };
    }
    Ok(None)
}

fn unusable(dir: &Path, why: String) -> WeightsError {
    WeightsError::SystemFolder { dir: dir.to_path_buf(), why }
}

/// The cache's layout copied as is puts the files one level down, under the revision.
fn revision_note(dir: &Path, manifest: &Manifest) -> String {
    let nested = dir.join(&manifest.revision);
    if REQUIRED_FILES.iter().all(|f| nested.join(f).is_file()) {
        format!(" (they are in its sub-folder {}, the cache's layout: move them up into {})", manifest.revision, dir.display())
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for f in REQUIRED_FILES {
            std::fs::write(dir.join(f), "x").unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn xdg_data_dirs_in_order_else_the_default() {
        let default = [PathBuf::from("/usr/local/share"), PathBuf::from("/usr/share")];
        assert_eq!(data_dirs_from(None), default);
        assert_eq!(data_dirs_from(Some("".into())), default);
        assert_eq!(data_dirs_from(Some("/opt/b:relative/x::/opt/a".into())), [PathBuf::from("/opt/b"), PathBuf::from("/opt/a")]);
    }

    #[test]
    fn the_folder_is_named_as_the_cache_names_the_model() {
        let dirs = system_model_dirs(&[PathBuf::from("/usr/local/share"), PathBuf::from("/usr/share")], &Manifest::base());
        assert_eq!(dirs, [PathBuf::from("/usr/local/share/kneeclip/models/openai--clip-vit-base-patch32"), PathBuf::from("/usr/share/kneeclip/models/openai--clip-vit-base-patch32")]);
    }

    #[test]
    fn the_first_folder_that_exists_is_used_and_an_incomplete_one_is_said() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = Manifest::base();
        let folders = system_model_dirs(&[tmp.path().join("a"), tmp.path().join("b")], &manifest);
        assert!(find(&folders, &manifest).unwrap().is_none(), "none exists");
        complete(&folders[1]);
        let files = find(&folders, &manifest).unwrap().unwrap();
        assert_eq!((files.dir.as_path(), files.system_wide, files.revision.as_deref()), (folders[1].as_path(), true, None));
        // The first one, incomplete, is an error naming it; the second is not reached.
        complete(&folders[0].join(&manifest.revision));
        let msg = find(&folders, &manifest).unwrap_err().to_string();
        assert!(msg.starts_with(&format!("the system-wide model folder {} cannot be used: missing config.json, model.safetensors, tokenizer.json (they are in its sub-folder {}", folders[0].display(), manifest.revision)), "{msg}");
        assert!(msg.contains("does not download") && msg.contains("--model-dir"), "{msg}");
        // A file where the folder should be.
        std::fs::remove_dir_all(&folders[0]).unwrap();
        std::fs::write(&folders[0], "x").unwrap();
        let msg = find(&folders, &manifest).unwrap_err().to_string();
        assert!(msg.contains("cannot be used: it is not a folder"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_to_a_folder_that_has_gone_is_said() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = Manifest::base();
        let folders = system_model_dirs(&[tmp.path().to_path_buf()], &manifest);
        std::fs::create_dir_all(folders[0].parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/nonexistent/clip", &folders[0]).unwrap();
        let msg = find(&folders, &manifest).unwrap_err().to_string();
        assert!(msg.contains("cannot be used: it is a link to /nonexistent/clip, which does not exist"), "{msg}");
    }
}
