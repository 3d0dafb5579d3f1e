//! Errors of the weights module. Every message says what went wrong, where, and what
//! the user can do about it.

use std::path::PathBuf;

/// The three files a model folder must hold (Hugging Face layout).
pub(crate) const FILES_SENTENCE: &str = "config.json, model.safetensors and tokenizer.json";

fn list(names: &[String]) -> String {
    names.join(", ")
}

/// Where the weights could not come from, and why.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// A model folder given by the user (or found in the cache) lacks some files.
    #[error(
        "the model folder {} is incomplete: missing {}{notes}. A model folder must contain {FILES_SENTENCE} \
         (Hugging Face layout of openai/clip-vit-base-patch32); copy the missing file(s) into that folder \
         or point --model-dir / KNEECLIP_MODEL_DIR at a complete folder",
        dir.display(),
        list(missing)
    )]
    MissingFiles {
        dir: PathBuf,
        missing: Vec<String>,
        /// Why, where it is not plain absence (" (…)" each, or "").
        notes: String,
    },

    /// A model folder (or a file in it) exists but may not be read by this user.
    #[error(
        "cannot read the model folder {}: {source}. Its files may be there, but this user may not read them: \
         give every user of kneeclip read access (e.g. chmod -R a+rX on it) or point --model-dir / KNEECLIP_MODEL_DIR at a readable copy",
        path.display()
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A model folder given by the user does not exist or is not a folder.
    #[error("{}", not_found_message(dir, origin))]
    ModelDirNotFound { dir: PathBuf, origin: String },

    /// Nothing usable locally and downloading is disabled or impossible.
    #[error(
        "the CLIP weights ({model_id} at revision {revision}) are not available offline{reason}. \
         kneeclip looked in the cache folder\n    {}\nand {}\n\
         Put {FILES_SENTENCE} into the cache folder (for this user) or into a system-wide folder (for every user \
         of this computer; an administrator's job), or pass --model-dir DIR (or set KNEECLIP_MODEL_DIR=DIR) naming a folder that holds these three files",
        folder.display(),
        system_sentence(system_folders)
    )]
    NotAvailable {
        model_id: String,
        revision: String,
        /// The cache folder the files are expected in.
        folder: PathBuf,
        /// The system-wide folders looked in (`$XDG_DATA_DIRS/kneeclip/models/…`), in order.
        system_folders: Vec<PathBuf>,
        /// Extra detail starting with ": " or "" (e.g. why the cached copy was rejected).
        reason: String,
    },

    /// The platform has no user cache folder (no home directory), and no system-wide folder holds the weights.
    #[error(
        "no user cache folder could be determined (is HOME set?), so the CLIP weights cannot be cached \
         or downloaded; kneeclip looked in {}\nPass --model-dir DIR (or set KNEECLIP_MODEL_DIR=DIR) naming a folder that \
         contains {FILES_SENTENCE}",
        system_sentence(system_folders)
    )]
    NoCacheDir { system_folders: Vec<PathBuf> },

    /// The system-wide model folder is there but cannot be used: said, not passed over for a download.
    #[error(
        "the system-wide model folder {} cannot be used: {why}. It is the weights folder for every user of this computer \
         (found through $XDG_DATA_DIRS), filled by an administrator; kneeclip never writes there and does not download \
         the weights while it exists: ask the administrator to complete or remove it (it must hold {FILES_SENTENCE}), \
         or pass --model-dir DIR (or set KNEECLIP_MODEL_DIR=DIR) naming a folder with these files",
        dir.display()
    )]
    SystemFolder { dir: PathBuf, why: String },

    /// Talking to the hub failed (network, HTTP status, missing headers).
    #[error(
        "downloading {file} from {url} failed: {reason}. Check the network connection (or HF_ENDPOINT) \
         and try again; a partial download is resumed. Alternatively put {FILES_SENTENCE} into\n    {}\n\
         or pass --model-dir DIR (or set KNEECLIP_MODEL_DIR=DIR)",
        folder.display()
    )]
    Download {
        file: String,
        url: String,
        reason: String,
        folder: PathBuf,
    },

    /// The transfer ended before the announced size was received.
    #[error(
        "the download of {file} from {url} was cut off: received {received} of {expected} bytes. \
         What arrived is kept and the next run resumes from there; try again (check the network connection)"
    )]
    Truncated {
        file: String,
        url: String,
        expected: u64,
        received: u64,
    },

    /// The bytes do not have the expected hash.
    #[error(
        "checksum mismatch for {file}: expected {algorithm} {expected} ({expected_from}), got {actual} \
         ({actual_from}). The file was not used and nothing was stored under its final name; try again, \
         and if it persists the manifest (models/manifest.json) or the download source is wrong"
    )]
    ChecksumMismatch {
        file: String,
        algorithm: &'static str,
        expected: String,
        expected_from: &'static str,
        actual: String,
        actual_from: &'static str,
    },

    /// The hub answered with a different commit than the pinned revision.
    #[error(
        "the hub at {endpoint} served {file} from commit {got}, but revision {expected} is pinned; \
         the endpoint (HF_ENDPOINT) may be a mirror that does not honour revisions"
    )]
    RevisionMismatch {
        file: String,
        endpoint: String,
        expected: String,
        got: String,
    },

    /// The hub declared a size different from the manifest's.
    #[error(
        "the hub declares {actual} bytes for {file} but the manifest expects {expected} bytes; \
         the manifest (models/manifest.json) or the download source is wrong"
    )]
    SizeMismatch {
        file: String,
        expected: u64,
        actual: u64,
    },

    /// No hash to check against: neither the manifest nor the hub gives one.
    #[error(
        "{file} cannot be verified: the manifest has no sha256 for it and the hub's ETag {etag:?} is \
         neither a sha256 nor a git blob id. Add its sha256 to models/manifest.json, or put the files \
         into a folder and pass --model-dir DIR"
    )]
    Unverifiable { file: String, etag: String },

    /// The user cancelled the download (GUI).
    #[error("the download of {file} was cancelled; nothing was stored under the final name{}", kept_sentence(kept))]
    Cancelled {
        file: String,
        /// Bytes of the part kept for the next run to resume, and the staging folder holding it.
        kept: Option<(u64, PathBuf)>,
    },

    /// A file-system operation failed (a full disk or a read-only cache said as such, not as a network problem).
    #[error("{}", io_message(action, path, source))]
    Io {
        action: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// kneeclip's cached copy changed after it was verified; the message names the folder to delete.
    #[error("{message}")]
    CacheDamaged { message: String },

    /// The manifest is malformed.
    #[error("invalid model manifest: {0}")]
    Manifest(String),
}

/// [`WeightsError::ModelDirNotFound`]'s origin for a folder chosen in the viewer (and saved there).
pub(crate) const CHOSEN_IN_VIEWER: &str = "the viewer";

fn not_found_message(dir: &std::path::Path, origin: &str) -> String {
    if origin == CHOSEN_IN_VIEWER {
        // No --model-dir was given: say what to do in the window (QA I4).
        return format!(
            "the model folder {} chosen in the viewer no longer exists or is not a folder; \
             choose another with Choose folder…, or press \"Use the environment / the cache instead\" to use the cache (and download there)",
            dir.display()
        );
    }
    format!(
        "the model folder {} given by {origin} does not exist or is not a folder; \
         pass a folder that contains {FILES_SENTENCE}, or leave {origin} unset to use the cache/download",
        dir.display()
    )
}

/// "the system-wide folders" with one folder a line, for the messages that say where kneeclip looked.
fn system_sentence(folders: &[PathBuf]) -> String {
    if folders.is_empty() {
        return "no system-wide folder ($XDG_DATA_DIRS is not set)".into();
    }
    let lines: Vec<String> = folders.iter().map(|f| format!("\n    {}", f.display())).collect();
    format!("the system-wide folders (none of them exists){}", lines.concat())
}

fn kept_sentence(kept: &Option<(u64, PathBuf)>) -> String {
    match kept {
        Some((bytes, staging)) => format!("; {} kept in {}, the next download resumes", super::progress::format_size(*bytes), staging.display()),
        None => String::new(),
    }
}

/// About what the three files take on disk.
pub(crate) const MODEL_SIZE_SENTENCE: &str = "about 605 MB";

fn io_message(action: &str, path: &std::path::Path, source: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let what = format!("could not {action} {}: {source}", path.display());
    match source.kind() {
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => format!(
            "{what}. The disk holding {} is full: the model needs {MODEL_SIZE_SENTENCE} free there. Free some space, \
             or set KNEECLIP_CACHE_DIR to a folder on another disk, or pass --model-dir DIR naming a folder with {FILES_SENTENCE}",
            path.parent().unwrap_or(path).display()
        ),
        K::PermissionDenied | K::ReadOnlyFilesystem => format!(
            "{what}. The cache cannot be written there: set KNEECLIP_CACHE_DIR to a writable folder, \
             or pass --model-dir DIR naming a folder with {FILES_SENTENCE}"
        ),
        _ => what,
    }
}

impl WeightsError {
    pub(crate) fn io(action: &str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WeightsError::Io {
            action: action.to_string(),
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    /// A full disk was reported as "I/O error … Check the network connection".
    #[test]
    fn a_full_disk_and_a_read_only_cache_are_said_as_such() {
        let full = WeightsError::io("write", "/cache/models/.staging/x.part", Error::from(ErrorKind::StorageFull)).to_string();
        assert!(full.contains("The disk holding /cache/models/.staging is full") && full.contains("605 MB"), "{full}");
        assert!(!full.contains("network"), "{full}");
        // ENOSPC as the OS gives it.
        let enospc = WeightsError::io("write", "/c/f", Error::from_raw_os_error(28)).to_string();
        assert!(enospc.contains("is full"), "{enospc}");
        for kind in [ErrorKind::ReadOnlyFilesystem, ErrorKind::PermissionDenied] {
            let ro = WeightsError::io("create the folder", "/cache/models", Error::from(kind)).to_string();
            assert!(ro.contains("KNEECLIP_CACHE_DIR") && ro.contains("--model-dir") && !ro.contains("network"), "{ro}");
        }
        let other = WeightsError::io("read", "/c/f", Error::from(ErrorKind::InvalidData)).to_string();
        assert!(!other.contains("KNEECLIP_CACHE_DIR") && !other.contains("is full"), "{other}");
    }
}
