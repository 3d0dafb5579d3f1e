//! Where the CLIP ViT-B/32 weights come from.
//!
//! [`resolve`] looks, in this order, at
//! 1. a folder named explicitly (`--model-dir DIR`, passed as [`ResolveOptions::model_dir`]),
//!    else the environment variable `KNEECLIP_MODEL_DIR`;
//! 2. the user cache, `<cache>/models/<owner>--<name>/<revision>/` (see [`model_cache_dir`]),
//!    when it holds a complete, verified copy;
//! 3. a download of the pinned revision from the Hugging Face hub (`hf-hub`), verified
//!    against [`Manifest::base`] (or the hub's declared hash) and moved into the cache.
//!
//! Without network and without a cached copy it fails with one error that names the
//! folder to put `config.json`, `model.safetensors` and `tokenizer.json` into.

mod download;
mod error;
mod hash;
mod manifest;
mod progress;
mod resolve;

use std::path::{Path, PathBuf};

pub use error::WeightsError;
pub use hash::{git_blob_sha1_file, sha256_file, sha256_file_remembered};
pub use manifest::{Manifest, ManifestFile};
pub use progress::{DOWNLOAD_TIMEOUT_ENV, DownloadProgress, NoProgress, StderrProgress, default_idle_timeout};
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
        let missing = missing_files(dir);
        if !missing.is_empty() {
            return Err(WeightsError::MissingFiles {
                dir: dir.to_path_buf(),
                missing,
            });
        }
        Ok(ModelFiles {
            dir: dir.to_path_buf(),
            config: dir.join(CONFIG_FILE),
            weights: dir.join(WEIGHTS_FILE),
            tokenizer: dir.join(TOKENIZER_FILE),
            model_id: dir.display().to_string(),
            revision: None,
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
