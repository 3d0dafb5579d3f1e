//! Where the CLIP ViT-B/32 weights come from.
//!
//! [`resolve`] looks, in this order, at
//! 1. a folder named explicitly (`--model-dir DIR`, passed as [`ResolveOptions::model_dir`]),
//!    else the environment variable `KNEECLIP_MODEL_DIR`;
//! 2. the user cache, `<cache>/models/<owner>--<name>/<revision>/` (see [`model_cache_dir`]),
//!    when it holds a complete, verified copy;
//! 3. the system-wide folders, `<data>/kneeclip/models/<owner>--<name>/` for each folder of
//!    `$XDG_DATA_DIRS` (see [`system_model_dirs`]): the first that exists is used, read only,
//!    checked like a folder given by path; one that cannot be used is an error, not a download;
//! 4. a download of the pinned revision from the Hugging Face hub (`hf-hub`), verified
//!    against [`Manifest::base`] (or the hub's declared hash) and moved into the cache;
//!    never with `--offline`, `KNEECLIP_OFFLINE=1` or `HF_HUB_OFFLINE=1` ([`offline_reason`]).
//!
//! Without network and without a cached copy it fails with one error that names the
//! folder to put `config.json`, `model.safetensors` and `tokenizer.json` into.

mod download;
mod error;
mod hash;
mod manifest;
mod offline;
mod progress;
mod resolve;
mod system;

use std::path::{Path, PathBuf};

pub use error::WeightsError;
pub use hash::{git_blob_sha1_file, sha256_file, sha256_file_remembered};
pub use manifest::{Manifest, ManifestFile};
pub use offline::{HF_OFFLINE_ENV, OFFLINE_ENV, offline_by_environment, offline_reason};
pub use progress::{DOWNLOAD_TIMEOUT_ENV, DownloadProgress, NoProgress, StderrProgress, default_idle_timeout, format_size};
pub use system::{DATA_DIRS_ENV, data_dirs, system_model_dirs};
pub use resolve::{
    MODEL_DIR_ENV, ResolveOptions, VERIFIED_RECORD_FILE, model_cache_dir, resolve,
    resolve_with_manifest,
};

/// The model configuration file.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The tokenizer file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The three files every model folder holds.
pub const REQUIRED_FILES: [&str; 3] = [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE];

/// Paths of a complete model folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
    /// Hub id for cached/downloaded copies; for a user-given folder, that folder's path.
    pub model_id: String,
    /// The pinned revision for cached/downloaded copies; `None` for a user-given folder.
    pub revision: Option<String>,
    /// Found in a system-wide folder (`$XDG_DATA_DIRS`): the administrator's, not the user's, to repair.
    pub system_wide: bool,
}

impl ModelFiles {
    /// A model folder given by path: checks that config.json, model.safetensors and
    /// tokenizer.json exist and are files. Does not verify hashes.
    pub fn from_dir(dir: &Path) -> Result<ModelFiles, WeightsError> {
        Self::from_dir_named(dir, "the given path")
    }

    pub(crate) fn from_dir_named(dir: &Path, origin: &str) -> Result<ModelFiles, WeightsError> {
        if !dir.is_dir() {
            return Err(WeightsError::ModelDirNotFound {
                dir: dir.to_path_buf(),
                origin: origin.into(),
            });
        }
        let mut missing = Vec::new();
        let mut notes = Vec::new();
        for name in REQUIRED_FILES {
            match file_state(&dir.join(name)) {
                FileState::Usable => {}
                FileState::Missing => missing.push(name.to_string()),
                FileState::DanglingLink(target) => {
                    missing.push(name.to_string());
                    notes.push(format!("{name} is a link to {}, which does not exist", target.display()));
                }
                // EACCES on stat means the folder is not searchable (a file's own mode does not matter for stat).
                FileState::Unreadable(source) => return Err(WeightsError::Unreadable { path: dir.to_path_buf(), source }),
            }
        }
        if missing.iter().any(|m| m == WEIGHTS_FILE) && dir.join(PYTORCH_WEIGHTS_FILE).is_file() {
            notes.push(pytorch_bin_note());
        }
        if !missing.is_empty() {
            return Err(WeightsError::MissingFiles {
                dir: dir.to_path_buf(),
                missing,
                notes: notes.iter().map(|n| format!(" ({n})")).collect(),
            });
        }
        Ok(ModelFiles {
            dir: dir.to_path_buf(),
            config: dir.join(CONFIG_FILE),
            weights: dir.join(WEIGHTS_FILE),
            tokenizer: dir.join(TOKENIZER_FILE),
            model_id: dir.display().to_string(),
            revision: None,
            system_wide: false,
        })
    }
}

impl ModelFiles {
    /// Why these files could not be loaded, for the user: a copy in kneeclip's
    /// cache is damaged for good (every later run would fail the same way), so
    /// the message says which folder to delete to download it again.
    pub fn load_error(&self, error: impl std::fmt::Display) -> String {
        match &self.revision {
            Some(_) => format!(
                "{error}\nThis is kneeclip's cached copy of the weights, and it is damaged. Delete the folder\n    {}\n\
                 and run kneeclip again to download it afresh (or pass --model-dir DIR naming a good copy)",
                self.dir.display()
            ),
            None if self.system_wide => format!(
                "{error}\nThis is the system-wide model folder {}, filled by an administrator for every user of this computer: \
                 ask them to replace its files with a good copy, or pass --model-dir DIR naming one",
                self.dir.display()
            ),
            None => error.to_string(),
        }
    }
}

/// The required files that are absent from `dir` (or are not regular files).
pub(crate) fn missing_files(dir: &Path) -> Vec<String> {
    REQUIRED_FILES
        .iter()
        .filter(|f| !dir.join(f).is_file())
        .map(|f| f.to_string())
        .collect()
}

/// The hub's older weights format, which kneeclip does not read.
const PYTORCH_WEIGHTS_FILE: &str = "pytorch_model.bin";

/// Why a folder holding only pytorch_model.bin will not do, and where model.safetensors is.
fn pytorch_bin_note() -> String {
    let m = Manifest::base();
    format!(
        "it holds {PYTORCH_WEIGHTS_FILE}, which kneeclip does not read: it needs {WEIGHTS_FILE}, which {} has at revision {} \
         (https://huggingface.co/{}/blob/{}/{WEIGHTS_FILE}; its main revision has only the .bin), or leave --model-dir unset and let kneeclip download it",
        m.model_id, m.revision, m.model_id, m.revision
    )
}

/// What a required file's path holds, as far as using it goes.
#[derive(Debug)]
enum FileState {
    Usable,
    /// Absent, or not a regular file (a folder).
    Missing,
    /// A symbolic link whose target is gone (a hub-cache snapshot whose blob was deleted).
    DanglingLink(PathBuf),
    /// stat failed for another reason than absence: typically EACCES on the folder.
    Unreadable(std::io::Error),
}

fn file_state(path: &Path) -> FileState {
    classify(path, std::fs::metadata(path))
}

/// Split from [`file_state`] so the EACCES case is testable: tests run as root,
/// where a mode-000 folder can still be read.
fn classify(path: &Path, metadata: std::io::Result<std::fs::Metadata>) -> FileState {
    match metadata {
        Ok(m) if m.is_file() => FileState::Usable,
        Ok(_) => FileState::Missing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::read_link(path) {
            Ok(target) => FileState::DanglingLink(if target.is_relative() { path.parent().map_or(target.clone(), |p| p.join(&target)) } else { target }),
            Err(_) => FileState::Missing,
        },
        Err(e) => FileState::Unreadable(e),
    }
}

/// The per-user cache folder of kneeclip (`ProjectDirs::from("org", "kneeclip", "kneeclip")`),
/// e.g. `~/.cache/kneeclip` on Linux. Models live under its `models/` sub-folder.
/// `$KNEECLIP_CACHE_DIR` overrides it (portable installs; tests, which must
/// not write to the user's cache).
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KNEECLIP_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("org", "kneeclip", "kneeclip")
        .map(|p| p.cache_dir().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_dir_names_missing_file_and_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "{}").unwrap();
        std::fs::write(dir.path().join(TOKENIZER_FILE), "{}").unwrap();
        std::fs::create_dir(dir.path().join(WEIGHTS_FILE)).unwrap(); // a folder is not a file
        let msg = ModelFiles::from_dir(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("missing model.safetensors"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(!msg.contains("missing config.json"), "{msg}");
    }

    /// A folder the user may not enter was "missing" all three files (QA I3).
    /// Tests run as root, which reads a mode-000 folder anyway, so the stat
    /// error is given to classify() as the OS would give it.
    #[cfg(unix)]
    #[test]
    fn a_folder_that_cannot_be_read_is_said_so_not_missing() {
        let path = Path::new("/clinic/models/clip/config.json");
        let FileState::Unreadable(source) = classify(path, Err(std::io::Error::from_raw_os_error(libc::EACCES))) else { panic!("EACCES is not a missing file") };
        let msg = WeightsError::Unreadable { path: "/clinic/models/clip".into(), source }.to_string();
        assert!(msg.starts_with("cannot read the model folder /clinic/models/clip: Permission denied"), "{msg}");
        assert!(!msg.contains("missing") && msg.contains("chmod"), "{msg}");
        assert!(matches!(classify(path, Err(std::io::ErrorKind::NotFound.into())), FileState::Missing));
    }

    /// A dangling link and a lone pytorch_model.bin were both only "missing model.safetensors" (QA I12).
    #[cfg(unix)]
    #[test]
    fn a_dangling_link_and_a_pytorch_bin_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "{}").unwrap();
        std::fs::write(dir.path().join(TOKENIZER_FILE), "{}").unwrap();
        std::fs::write(dir.path().join(PYTORCH_WEIGHTS_FILE), "x").unwrap();
        let msg = ModelFiles::from_dir(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("missing model.safetensors (it holds pytorch_model.bin, which kneeclip does not read: it needs model.safetensors"), "{msg}");
        assert!(msg.contains(&Manifest::base().revision), "{msg}");
        std::fs::remove_file(dir.path().join(PYTORCH_WEIGHTS_FILE)).unwrap();
        std::os::unix::fs::symlink("/nonexistent/blob", dir.path().join(WEIGHTS_FILE)).unwrap();
        let msg = ModelFiles::from_dir(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("missing model.safetensors (model.safetensors is a link to /nonexistent/blob, which does not exist)"), "{msg}");
        assert!(!msg.contains("pytorch_model.bin"), "{msg}");
    }

    #[test]
    fn a_damaged_cached_copy_names_the_folder_to_delete() {
        let dir = tempfile::tempdir().unwrap();
        for f in REQUIRED_FILES {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let mut files = ModelFiles::from_dir(dir.path()).unwrap();
        // A folder the user named is theirs: no advice to delete it.
        assert_eq!(files.load_error("truncated"), "truncated");
        files.revision = Some("abc".into());
        let msg = files.load_error("truncated");
        assert!(msg.starts_with("truncated") && msg.contains("damaged") && msg.contains(&format!("Delete the folder\n    {}\n", dir.path().display())), "{msg}");
    }

    #[test]
    fn from_dir_accepts_complete_folder() {
        let dir = tempfile::tempdir().unwrap();
        for f in REQUIRED_FILES {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let m = ModelFiles::from_dir(dir.path()).unwrap();
        assert_eq!(m.weights, dir.path().join(WEIGHTS_FILE));
        assert_eq!(m.revision, None);
    }
}
