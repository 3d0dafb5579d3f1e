//! The resolution order: explicit folder, cache, system-wide folder, download.

use std::path::{Path, PathBuf};

use hf_hub::{Repo, RepoType};
use serde::{Deserialize, Serialize};

use super::download::{Downloaded, Downloader, VerifiedBy, clean_up, sweep};
use super::error::{CHOSEN_IN_VIEWER, WeightsError};
use super::hash::sha256_file;
use super::manifest::Manifest;
use super::progress::DownloadProgress;
use super::system::{self, data_dirs, system_model_dirs};
use super::{ModelFiles, REQUIRED_FILES, WEIGHTS_FILE, default_cache_dir, missing_files};

/// Environment variable naming a model folder (used when `--model-dir` is not given).
pub const MODEL_DIR_ENV: &str = "KNEECLIP_MODEL_DIR";
/// Record of a verified copy, written last into the cache folder.
pub const VERIFIED_RECORD_FILE: &str = ".kneeclip-verified.json";
const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How [`resolve`] looks for the weights.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// `--model-dir DIR`; when `None`, `KNEECLIP_MODEL_DIR` is consulted.
    pub model_dir: Option<PathBuf>,
    /// `model_dir` is the folder chosen in the viewer, not `--model-dir` (for messages).
    pub model_dir_from_viewer: bool,
    /// Whether a download from the hub may be attempted (`KNEECLIP_OFFLINE` or
    /// `HF_HUB_OFFLINE` set says no, whatever this says: see [`super::offline_reason`]).
    pub allow_download: bool,
    /// Hub endpoint; default: env `HF_ENDPOINT`, else `https://huggingface.co`.
    pub endpoint: Option<String>,
    /// Cache root overriding [`default_cache_dir`] (tests, portable installs).
    pub cache_dir: Option<PathBuf>,
    /// Data folders overriding `$XDG_DATA_DIRS` for the system-wide folder (tests: the environment is the process's).
    pub data_dirs: Option<Vec<PathBuf>>,
}

/// The folder holding the cached copy of `manifest`'s model:
/// `<cache_root>/models/<owner>--<name>/<revision>`.
pub fn model_cache_dir(cache_root: &Path, manifest: &Manifest) -> PathBuf {
    cache_root
        .join("models")
        .join(manifest.cache_folder_name())
        .join(&manifest.revision)
}

/// Resolves the base CLIP model ([`Manifest::base`]).
pub fn resolve(
    options: &ResolveOptions,
    progress: &mut dyn DownloadProgress,
) -> Result<ModelFiles, WeightsError> {
    resolve_with_manifest(options, &Manifest::base(), progress)
}

/// Resolves the model described by `manifest` (explicit folder, cache, download).
pub fn resolve_with_manifest(
    options: &ResolveOptions,
    manifest: &Manifest,
    progress: &mut dyn DownloadProgress,
) -> Result<ModelFiles, WeightsError> {
    if let Some(dir) = &options.model_dir {
        let origin = if options.model_dir_from_viewer { CHOSEN_IN_VIEWER } else { "--model-dir" };
        return ModelFiles::from_dir_named(dir, origin);
    }
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|v| !v.is_empty()) {
        return ModelFiles::from_dir_named(Path::new(&dir), MODEL_DIR_ENV);
    }

    let cache_root = options.cache_dir.clone().or_else(default_cache_dir);
    let folder = cache_root.as_deref().map(|root| model_cache_dir(root, manifest));
    let why_not_cached = match &folder {
        Some(folder) => match check_cache(folder, manifest)? {
            Ok(files) => return Ok(files),
            Err(why) => why,
        },
        None => String::new(),
    };
    // After the user's own copy: a user may still have one of their own.
    let system_folders = system_model_dirs(&options.data_dirs.clone().unwrap_or_else(data_dirs), manifest);
    if let Some(files) = system::find(&system_folders, manifest)? {
        return Ok(files);
    }
    let (Some(cache_root), Some(folder)) = (cache_root, folder) else {
        return Err(WeightsError::NoCacheDir { system_folders });
    };
    // The environment switches downloads off for every caller, whatever it asked.
    let switched_off = super::offline_by_environment();
    if !options.allow_download || switched_off.is_some() {
        let why_off = match switched_off {
            Some(var) => format!("downloading is switched off by {var} in the environment (unset it to let kneeclip download them)"),
            None => "downloading is disabled".into(),
        };
        return Err(WeightsError::NotAvailable {
            model_id: manifest.model_id.clone(),
            revision: manifest.revision.clone(),
            folder,
            system_folders,
            reason: format!(": {why_not_cached}, and {why_off}"),
        });
    }
    // One kneeclip downloads; the others wait for it and then use its copy
    // (three first runs at once failed with "Lock acquisition failed" or a missing file).
    let _lock = wait_for_download_lock(&cache_root, &folder, progress)?;
    if let Ok(files) = check_cache(&folder, manifest)? {
        return Ok(files);
    }
    download_into_cache(options, manifest, &cache_root, &folder, progress)
}

/// An exclusive lock on the cache's downloads (released when the file is closed),
/// waited for while another process holds it; a cancel ends the wait.
fn wait_for_download_lock(cache_root: &Path, folder: &Path, progress: &mut dyn DownloadProgress) -> Result<std::fs::File, WeightsError> {
    let models = cache_root.join("models");
    std::fs::create_dir_all(&models).map_err(|e| WeightsError::io("create the folder", &models, e))?;
    let path = models.join(".download.lock");
    let file = std::fs::File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| WeightsError::io("open", &path, e))?;
    let mut said = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                if !said {
                    said = true;
                    progress.waiting(&format!("another kneeclip is downloading the weights into {}; waiting for it to finish", folder.display()));
                }
                if progress.cancelled() {
                    return Err(WeightsError::Cancelled { file: "the weights".into(), kept: None });
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            // A file system without locks: download unguarded, as before.
            Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => return Ok(file),
            Err(std::fs::TryLockError::Error(e)) => return Err(WeightsError::io("lock", &path, e)),
        }
    }
}

fn endpoint(options: &ResolveOptions) -> String {
    let env = std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty());
    let e = options
        .endpoint
        .clone()
        .or(env)
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    e.trim().trim_end_matches('/').to_string()
}

#[derive(Debug, Serialize, Deserialize)]
struct VerifiedRecord {
    model_id: String,
    revision: String,
    files: Vec<RecordedFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RecordedFile {
    name: String,
    size: u64,
    sha256: String,
    verified_by: String,
    /// Modification time (ns since 1970) when verified: another one means the
    /// bytes may have changed at the same size, so the file is hashed again (QA I2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    modified_ns: Option<u64>,
}

fn modified_ns(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    u64::try_from(modified.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos()).ok()
}

fn cached_files(folder: &Path, manifest: &Manifest) -> ModelFiles {
    let mut files = ModelFiles::from_dir_named(folder, "the cache").expect("checked complete");
    files.model_id = manifest.model_id.clone();
    files.revision = Some(manifest.revision.clone());
    files
}

/// What a verified record says of the folder's files now.
enum RecordCheck {
    /// Sizes and modification times are as recorded, or the bytes hash as recorded.
    Holds { rehashed: bool },
    /// For another model, or a size differs: verify afresh.
    Stale,
    /// Same size, but the bytes no longer hash as recorded: damaged in place.
    Damaged(String),
}

/// Checks the record against the folder's files and the manifest: sizes and
/// modification times, hashing only a file whose time changed (about 1–2 s for the weights).
fn check_record(folder: &Path, manifest: &Manifest, record: &mut VerifiedRecord) -> RecordCheck {
    if record.model_id != manifest.model_id || record.revision != manifest.revision {
        return RecordCheck::Stale;
    }
    let mut rehashed = false;
    for name in REQUIRED_FILES {
        let Some(r) = record.files.iter_mut().find(|f| f.name == name) else {
            return RecordCheck::Stale;
        };
        let entry = manifest.file(name);
        let path = folder.join(name);
        let size_holds = std::fs::metadata(&path).is_ok_and(|m| m.len() == r.size)
            && entry.and_then(|e| e.size).is_none_or(|s| s == r.size)
            && entry.and_then(|e| e.sha256.as_deref()).is_none_or(|h| h == r.sha256);
        if !size_holds {
            return RecordCheck::Stale;
        }
        let now = modified_ns(&path);
        if now.is_some() && now == r.modified_ns {
            continue;
        }
        match sha256_file(&path) {
            Ok(sha) if sha == r.sha256 => {
                r.modified_ns = now;
                rehashed = true;
            }
            Ok(sha) => {
                return RecordCheck::Damaged(format!(
                    "{}: the cached {name} has changed since it was verified: its sha256 is {sha}, not the recorded {}",
                    path.display(),
                    r.sha256
                ));
            }
            Err(e) => return RecordCheck::Damaged(format!("{}: cannot read the cached {name}: {e}", path.display())),
        }
    }
    RecordCheck::Holds { rehashed }
}

/// A complete, verified copy in `folder`, or why there is none (for the error message).
///
/// A copy downloaded by us carries a [`VERIFIED_RECORD_FILE`] and is checked by size and
/// modification time (hashed again when the time changed; a mismatch is an error). Files
/// the user copied in by hand (no record) are hashed once against the manifest; files
/// whose manifest sha256 is unknown are accepted as given. A record is then written.
fn check_cache(folder: &Path, manifest: &Manifest) -> Result<Result<ModelFiles, String>, WeightsError> {
    if !folder.is_dir() {
        return Ok(Err("nothing is cached".into()));
    }
    let missing = missing_files(folder);
    if !missing.is_empty() {
        return Ok(Err(format!("the cache folder lacks {}", missing.join(", "))));
    }
    let record_path = folder.join(VERIFIED_RECORD_FILE);
    if let Ok(text) = std::fs::read_to_string(&record_path) {
        if let Ok(mut record) = serde_json::from_str::<VerifiedRecord>(&text) {
            match check_record(folder, manifest, &mut record) {
                RecordCheck::Holds { rehashed } => {
                    if rehashed {
                        let _ = write_record(folder, &record); // best effort: the folder may be read-only
                    }
                    return Ok(Ok(cached_files(folder, manifest)));
                }
                // Not re-downloaded over: the user should know their copy changed.
                RecordCheck::Damaged(why) => return Err(WeightsError::CacheDamaged { message: cached_files(folder, manifest).load_error(why) }),
                RecordCheck::Stale => {}
            }
        }
    }
    Ok(verify_afresh(folder, manifest))
}

/// Hashes the files of a cache folder without a (fitting) record, and records them.
fn verify_afresh(folder: &Path, manifest: &Manifest) -> Result<ModelFiles, String> {
    let mut recorded = Vec::new();
    for name in REQUIRED_FILES {
        let path = folder.join(name);
        let size = std::fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|e| format!("{name}: {e}"))?;
        let entry = manifest.file(name);
        if let Some(expected) = entry.and_then(|e| e.size) {
            if expected != size {
                return Err(format!(
                    "the cached {name} has {size} bytes, not the expected {expected}"
                ));
            }
        }
        let sha = sha256_file(&path).map_err(|e| format!("cannot read the cached {name}: {e}"))?;
        let verified_by = match entry.and_then(|e| e.sha256.as_deref()) {
            Some(expected) if expected != sha => {
                return Err(format!(
                    "the cached {name} has sha256 {sha}, not the expected {expected}"
                ));
            }
            Some(_) => VerifiedBy::Manifest.describe(),
            None => "not verified: placed by the user and the manifest has no sha256",
        };
        recorded.push(RecordedFile {
            name: name.into(),
            size,
            sha256: sha,
            verified_by: verified_by.into(),
            modified_ns: modified_ns(&path),
        });
    }
    let record = VerifiedRecord {
        model_id: manifest.model_id.clone(),
        revision: manifest.revision.clone(),
        files: recorded,
    };
    let _ = write_record(folder, &record); // best effort: the folder may be read-only
    Ok(cached_files(folder, manifest))
}

fn write_record(folder: &Path, record: &VerifiedRecord) -> Result<(), WeightsError> {
    let text = serde_json::to_string_pretty(record).expect("record serializes");
    let tmp = folder.join(format!("{VERIFIED_RECORD_FILE}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| WeightsError::io("write", &tmp, e))?;
    let target = folder.join(VERIFIED_RECORD_FILE);
    std::fs::rename(&tmp, &target).map_err(|e| WeightsError::io("write", &target, e))
}

/// Moves a verified blob under its final name (replacing a stale file of that name).
fn place(blob: &Path, target: &Path) -> Result<(), WeightsError> {
    if cfg!(windows) && target.exists() {
        let _ = std::fs::remove_file(target);
    }
    if std::fs::rename(blob, target).is_ok() {
        return Ok(());
    }
    // Different file systems (unusual: staging lives in the same cache root): copy, then rename.
    let tmp = target.with_extension("kneeclip-tmp");
    std::fs::copy(blob, &tmp).map_err(|e| WeightsError::io("copy the download to", &tmp, e))?;
    std::fs::rename(&tmp, target).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        WeightsError::io("move the download to", target, e)
    })?;
    let _ = std::fs::remove_file(blob);
    Ok(())
}

fn download_into_cache(
    options: &ResolveOptions,
    manifest: &Manifest,
    cache_root: &Path,
    folder: &Path,
    progress: &mut dyn DownloadProgress,
) -> Result<ModelFiles, WeightsError> {
    // Attempt folders of hf-hub caches (see download.rs): a download that was given up
    // on (a stall, a cancel) may still be written by its detached thread, in its own folder.
    let staging = cache_root
        .join("models")
        .join(".staging")
        .join(manifest.cache_folder_name());
    std::fs::create_dir_all(&staging)
        .map_err(|e| WeightsError::io("create the folder", &staging, e))?;
    sweep(&staging);
    let token = std::env::var("HF_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let downloader = Downloader {
        endpoint: endpoint(options),
        token,
        repo: Repo::with_revision(
            manifest.model_id.clone(),
            RepoType::Model,
            manifest.revision.clone(),
        ),
        revision: manifest.revision.clone(),
        staging: staging.clone(),
        folder: folder.to_path_buf(),
        idle_timeout: progress.idle_timeout(),
    };

    // Small files first, so a bad endpoint fails before the big transfer.
    let mut entries: Vec<_> = manifest.files.iter().collect();
    entries.sort_by_key(|e| e.name == WEIGHTS_FILE);
    let mut done: Vec<Downloaded> = Vec::new();
    for entry in entries {
        let d = downloader.fetch(entry, progress)?;
        progress.finished_checked(&d.name, d.verified_by == VerifiedBy::Manifest);
        done.push(d);
    }

    std::fs::create_dir_all(folder)
        .map_err(|e| WeightsError::io("create the folder", folder, e))?;
    let record_path = folder.join(VERIFIED_RECORD_FILE);
    if record_path.exists() {
        std::fs::remove_file(&record_path)
            .map_err(|e| WeightsError::io("remove", &record_path, e))?;
    }
    for d in &done {
        place(&d.blob, &folder.join(&d.name))?;
    }
    let record = VerifiedRecord {
        model_id: manifest.model_id.clone(),
        revision: manifest.revision.clone(),
        files: done
            .iter()
            .map(|d| RecordedFile {
                name: d.name.clone(),
                size: d.size,
                sha256: d.sha256.clone(),
                verified_by: d.verified_by.describe().into(),
                modified_ns: modified_ns(&folder.join(&d.name)),
            })
            .collect(),
    };
    write_record(folder, &record)?;
    clean_up(&staging);
    Ok(cached_files(folder, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::NoProgress;

    fn set_modified(path: &Path, secs: u64) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)).unwrap();
    }

    /// A cached copy changed in place at the same size was used silently (QA I2).
    #[test]
    fn a_cached_copy_changed_at_the_same_size_is_refused() {
        let cache = tempfile::tempdir().unwrap();
        let manifest = Manifest::base();
        let folder = model_cache_dir(cache.path(), &manifest);
        std::fs::create_dir_all(&folder).unwrap();
        for name in REQUIRED_FILES {
            std::fs::write(folder.join(name), format!("{name} bytes")).unwrap();
        }
        assert!(check_cache(&folder, &manifest).unwrap().is_ok());
        let weights = folder.join(WEIGHTS_FILE);
        // Touched, bytes the same: hashed again, accepted, and the new time recorded.
        set_modified(&weights, 1_000_000);
        assert!(check_cache(&folder, &manifest).unwrap().is_ok());
        let record: VerifiedRecord = serde_json::from_str(&std::fs::read_to_string(folder.join(VERIFIED_RECORD_FILE)).unwrap()).unwrap();
        let recorded = record.files.iter().find(|f| f.name == WEIGHTS_FILE).unwrap();
        assert_eq!(recorded.modified_ns, Some(1_000_000_000_000_000));
        // Same size, other bytes, another time: refused with the folder to delete.
        std::fs::write(&weights, "MODEL.SAFETENSORS BYTES").unwrap();
        set_modified(&weights, 2_000_000);
        let err = check_cache(&folder, &manifest).unwrap_err();
        assert!(matches!(err, WeightsError::CacheDamaged { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("has changed since it was verified") && msg.contains(&format!("Delete the folder\n    {}\n", folder.display())), "{msg}");
        let options = ResolveOptions { cache_dir: Some(cache.path().to_path_buf()), ..Default::default() };
        assert!(resolve_with_manifest(&options, &manifest, &mut NoProgress).is_err_and(|e| matches!(e, WeightsError::CacheDamaged { .. })));
    }

    /// Install QA: the system-wide folder comes after the user's complete cache and before a
    /// download, is never written to, and one that cannot be used is named, not downloaded over.
    #[test]
    fn the_system_wide_folder_comes_after_the_cache_and_is_only_read() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = Manifest::from_json(r#"{"model_id":"a/b","revision":"r1","files":[{"name":"config.json"},{"name":"model.safetensors"},{"name":"tokenizer.json"}]}"#).unwrap();
        let system = tmp.path().join("data/kneeclip/models/a--b");
        std::fs::create_dir_all(&system).unwrap();
        for name in REQUIRED_FILES {
            std::fs::write(system.join(name), name).unwrap();
        }
        let options = ResolveOptions { cache_dir: Some(tmp.path().join("cache")), data_dirs: Some(vec![tmp.path().join("data")]), endpoint: Some("http://127.0.0.1:9".into()), allow_download: true, ..Default::default() };
        let files = resolve_with_manifest(&options, &manifest, &mut NoProgress).unwrap();
        assert_eq!((files.dir.as_path(), files.system_wide, files.revision.as_deref()), (system.as_path(), true, None));
        assert!(!system.join(VERIFIED_RECORD_FILE).exists(), "a record was written into the system folder");
        assert!(files.load_error("truncated").contains(&format!("system-wide model folder {}", system.display())));
        // The user's own complete copy first.
        let cached = model_cache_dir(&tmp.path().join("cache"), &manifest);
        std::fs::create_dir_all(&cached).unwrap();
        for name in REQUIRED_FILES {
            std::fs::write(cached.join(name), name).unwrap();
        }
        assert_eq!(resolve_with_manifest(&options, &manifest, &mut NoProgress).unwrap().dir, cached);
        std::fs::remove_dir_all(&cached).unwrap();
        // Incomplete: an error naming it, though a download is allowed.
        std::fs::remove_file(system.join(WEIGHTS_FILE)).unwrap();
        let err = resolve_with_manifest(&options, &manifest, &mut NoProgress).unwrap_err();
        assert!(matches!(err, WeightsError::SystemFolder { .. }), "{err}");
        assert!(err.to_string().contains(&format!("{} cannot be used: missing model.safetensors", system.display())), "{err}");
    }

    /// A saved folder that has gone was said to be "given by --model-dir" (QA I4).
    #[test]
    fn a_folder_chosen_in_the_viewer_that_has_gone_is_said_so() {
        let gone = tempfile::tempdir().unwrap().path().join("deleted-model");
        let options = ResolveOptions { model_dir: Some(gone.clone()), model_dir_from_viewer: true, ..Default::default() };
        let msg = resolve_with_manifest(&options, &Manifest::base(), &mut NoProgress).unwrap_err().to_string();
        assert!(msg.contains(&format!("{} chosen in the viewer no longer exists", gone.display())) && msg.contains("Choose folder…"), "{msg}");
        assert!(!msg.contains("--model-dir"), "{msg}");
        let options = ResolveOptions { model_dir_from_viewer: false, ..options };
        let msg = resolve_with_manifest(&options, &Manifest::base(), &mut NoProgress).unwrap_err().to_string();
        assert!(msg.contains("given by --model-dir"), "{msg}");
    }
}
