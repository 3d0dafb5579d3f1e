//! The pinned description of the base model: id, revision and expected files.

use serde::{Deserialize, Serialize};

use super::error::WeightsError;
use super::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};

/// One file of the model as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// File name inside the repository (and the model folder).
    pub name: String,
    /// Size in bytes, when known.
    #[serde(default)]
    pub size: Option<u64>,
    /// Lower-case hex sha256, when known. `None`: the file is verified against the hash the
    /// hub declares for the pinned commit (see [`super::resolve`]).
    #[serde(default)]
    pub sha256: Option<String>,
}

/// Model id, pinned revision and expected files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Hugging Face repository id, e.g. `openai/clip-vit-base-patch32`.
    pub model_id: String,
    /// Pinned revision (a commit hash).
    pub revision: String,
    /// The files to fetch; must include config.json, model.safetensors and tokenizer.json.
    pub files: Vec<ManifestFile>,
    /// Free-form provenance note.
    #[serde(default)]
    pub note: Option<String>,
}

const BASE_MANIFEST: &str = include_str!("../../models/manifest.json");

pub(crate) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Manifest {
    /// The manifest of the base CLIP model, embedded from `models/manifest.json`.
    pub fn base() -> Manifest {
        Manifest::from_json(BASE_MANIFEST)
            .expect("models/manifest.json is valid (checked by tests)")
    }

    /// Parses and validates a manifest.
    pub fn from_json(text: &str) -> Result<Manifest, WeightsError> {
        let mut m: Manifest =
            serde_json::from_str(text).map_err(|e| WeightsError::Manifest(e.to_string()))?;
        for f in &mut m.files {
            if let Some(h) = &mut f.sha256 {
                *h = h.to_ascii_lowercase();
            }
        }
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), WeightsError> {
        let bad = |msg: String| Err(WeightsError::Manifest(msg));
        if self.model_id.trim().is_empty() || !self.model_id.contains('/') {
            return bad(format!(
                "model_id {:?} is not of the form owner/name",
                self.model_id
            ));
        }
        if self.revision.trim().is_empty() {
            return bad("revision is empty".into());
        }
        for required in [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE] {
            if self.file(required).is_none() {
                return bad(format!("file {required} is not listed"));
            }
        }
        for f in &self.files {
            if f.name.is_empty() || f.name.contains(['/', '\\']) || f.name.starts_with('.') {
                return bad(format!("file name {:?} is not a plain file name", f.name));
            }
            if let Some(h) = f.sha256.as_ref().filter(|h| !is_hex(h, 64)) {
                return bad(format!("sha256 of {} is not 64 hex digits: {h:?}", f.name));
            }
        }
        Ok(())
    }

    /// The entry for `name`, if listed.
    pub fn file(&self, name: &str) -> Option<&ManifestFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Folder name of this model in the cache: the id with `/` replaced by `--`.
    pub fn cache_folder_name(&self) -> String {
        self.model_id.replace('/', "--")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_manifest_parses_and_lists_the_three_files() {
        let m = Manifest::base();
        assert_eq!(m.model_id, "openai/clip-vit-base-patch32");
        assert!(
            is_hex(&m.revision, 40),
            "revision must be a pinned commit hash"
        );
        for f in [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE] {
            assert!(m.file(f).is_some());
        }
        assert_eq!(m.cache_folder_name(), "openai--clip-vit-base-patch32");
    }

    #[test]
    fn rejects_bad_hash_and_missing_file() {
        let bad_hash = r#"{"model_id":"a/b","revision":"r","files":[
            {"name":"config.json","sha256":"xyz"},{"name":"model.safetensors"},{"name":"tokenizer.json"}]}"#;
        assert!(
            Manifest::from_json(bad_hash)
                .unwrap_err()
                .to_string()
                .contains("config.json")
        );
        let missing = r#"{"model_id":"a/b","revision":"r","files":[{"name":"config.json"}]}"#;
        assert!(
            Manifest::from_json(missing)
                .unwrap_err()
                .to_string()
                .contains("model.safetensors")
        );
    }
}
