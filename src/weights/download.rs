//! One verified file download through `hf-hub` (sync API, ureq), watched for stalls and cancels.
//!
//! What `hf-hub` 0.5 does on the wire, per file (`{endpoint}/{repo}/resolve/{revision}/{file}`):
//! 1. `Api::metadata`: GET with `Range: bytes=0-0`, redirects not followed automatically.
//!    Needs `x-repo-commit`, `x-linked-etag` or `etag` (quotes stripped) and, on the final
//!    response (an absolute redirect, as for LFS files, is fetched again with the range),
//!    `Content-Range: bytes 0-0/{size}`.
//! 2. `download_with_progress`: calls `metadata` again, then GET with `Range: bytes={n}-`
//!    (n = length of an existing `blobs/{etag}.part`, for resume), following redirects,
//!    into `blobs/{etag}.part`; renames it to `blobs/{etag}` and symlinks
//!    `snapshots/{commit}/{file}` to it. It never checks the received length. On an error
//!    the `.part` stays, and the next call resumes it.
//!
//! hf-hub sets no timeout on its ureq agents and has no way to interrupt a request (its
//! `Progress` cannot abort, and a stalled read never calls it). So every hf-hub call runs
//! on a thread of its own (the worker) while the caller relays its progress, polls the
//! cancel flag and measures the time since the last progress: on a cancel, or after
//! [`DownloadProgress::idle_timeout`] without a byte (connecting, waiting for the answer or
//! mid-file), the caller returns at once and leaves the worker detached. A detached worker
//! stops at its next progress report (it unwinds out of hf-hub); one stuck in a read ends
//! only when its connection closes or fails, or when kneeclip exits.
//!
//! A read timeout would end that worker too, but hf-hub 0.5 cannot be given one:
//! `ApiBuilder::build` makes both its ureq 3 agents itself (no timeout, no way to pass an
//! agent or a config), and ureq 3 reads no timeout from the environment (only proxies). Nor
//! would a signal's EINTR do mid-file: ureq hands `Interrupted` up when it has no timeout,
//! but hf-hub's `std::io::copy` of the body retries on it. Ending the worker takes a
//! timeout option in hf-hub (patched or newer) or the two requests above made with ureq directly.
//!
//! A detached worker writes only into its own attempt folder, never where the caller or a
//! later download looks for finished files:
//!
//! ```text
//! <cache>/models/.staging/<owner>--<name>/
//!     <pid>-<n>/                 one attempt: hf-hub's cache for one file
//!         .kneeclip-attempt.lock locked by the worker for as long as it runs
//!         models--<owner>--<name>/blobs/<etag>.part, blobs/<etag>, snapshots/…
//!     parts/<etag>.part          what ended attempts received, for the next to resume
//! ```
//!
//! The blob the caller verifies and the resolver moves into the cache comes from a worker
//! that has ended (its result was received). Before an attempt, [`sweep`] moves the `.part`
//! of attempts whose lock is free into `parts/` and removes them; an attempt resumes from
//! `parts/`, or from a copy of the bytes a still-running (stalled) attempt received, which
//! stays where it is. This module checks the length and the hash of the blob before the
//! resolver moves it under its final name.

use std::any::Any;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hf_hub::api::sync::{Api, ApiBuilder, ApiError, Metadata};
use hf_hub::{Cache, Repo};

use super::error::WeightsError;
use super::hash::{git_blob_sha1_file, sha256_file};
use super::manifest::{ManifestFile, is_hex};
use super::progress::DownloadProgress;

/// How the downloaded bytes were verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifiedBy {
    /// sha256 from the manifest.
    Manifest,
    /// sha256 declared by the hub (LFS `x-linked-etag`).
    HubSha256,
    /// git blob sha1 declared by the hub (ETag of a non-LFS file).
    HubGitSha1,
}

impl VerifiedBy {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            VerifiedBy::Manifest => "sha256 from models/manifest.json",
            VerifiedBy::HubSha256 => "sha256 declared by the hub (LFS x-linked-etag)",
            VerifiedBy::HubGitSha1 => "git blob sha1 declared by the hub (ETag)",
        }
    }
}

/// A downloaded, verified file still in its attempt folder.
#[derive(Debug)]
pub(crate) struct Downloaded {
    pub name: String,
    pub blob: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub verified_by: VerifiedBy,
}

/// Everything needed to download from one repository at one revision.
pub(crate) struct Downloader {
    pub endpoint: String,
    pub token: Option<String>,
    pub repo: Repo,
    pub revision: String,
    /// The model's staging folder (`<cache>/models/.staging/<owner>--<name>`).
    pub staging: PathBuf,
    /// Final cache folder, for error messages.
    pub folder: PathBuf,
    pub idle_timeout: Duration,
}

/// Lock file of an attempt folder, held by its worker.
const ATTEMPT_LOCK: &str = ".kneeclip-attempt.lock";
/// Folder of the partial files of ended attempts.
const PARTS: &str = "parts";

/// Payload that unwinds a detached worker out of hf-hub (no panic hook runs).
struct Abandoned;

/// What a worker tells the caller.
enum Msg<T> {
    /// Bytes of the current file received so far (a resumed part included).
    Progress(u64),
    Done(T),
    Panicked(String),
}

/// hf-hub's progress callback, on the worker: relays the running total, and unwinds
/// once the caller gave up (so a detached worker stops at its next read).
struct Relay<T> {
    tx: mpsc::Sender<Msg<T>>,
    abandoned: Arc<AtomicBool>,
    so_far: u64,
}

impl<T> hf_hub::api::Progress for Relay<T> {
    fn init(&mut self, _size: usize, _filename: &str) {
        // hf-hub calls init twice, then reports an already present `.part` as one `update`.
        self.so_far = 0;
    }

    fn update(&mut self, size: usize) {
        // Called after each read, before its bytes are written: a total the caller
        // received is on disk moments later (see `wait_for_part`).
        if self.abandoned.load(Ordering::Relaxed) {
            resume_unwind(Box::new(Abandoned));
        }
        self.so_far += size as u64;
        let _ = self.tx.send(Msg::Progress(self.so_far));
    }

    fn finish(&mut self) {}
}

/// How a watched hf-hub call ended for the caller.
enum Watched<T> {
    Done(T),
    Panicked(String),
    /// The user cancelled; the worker is detached. `received`: the last total relayed.
    Cancelled {
        received: u64,
    },
    /// Nothing came for the idle timeout; the worker is detached.
    Stalled {
        received: u64,
    },
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `job` on a thread of its own and waits for it, relaying progress, until it
/// ends, the user cancels, or `idle` passes without progress (see the module's description).
fn watch<T: Send + 'static>(
    progress: &mut dyn DownloadProgress,
    idle: Duration,
    job: impl FnOnce(Relay<T>) -> T + Send + 'static,
) -> std::io::Result<Watched<T>> {
    let (tx, rx) = mpsc::channel::<Msg<T>>();
    let abandoned = Arc::new(AtomicBool::new(false));
    let relay = Relay {
        tx: tx.clone(),
        abandoned: abandoned.clone(),
        so_far: 0,
    };
    let worker = std::thread::Builder::new()
        .name("kneeclip-download".into())
        .spawn(
            move || match catch_unwind(AssertUnwindSafe(|| job(relay))) {
                Ok(v) => {
                    let _ = tx.send(Msg::Done(v));
                }
                Err(p) if p.is::<Abandoned>() => {}
                Err(p) => {
                    let _ = tx.send(Msg::Panicked(panic_text(p.as_ref())));
                }
            },
        )?;
    let tick = Duration::from_millis(50);
    let mut last = Instant::now();
    let mut received = 0;
    loop {
        let mut newest = None;
        let mut end = None;
        match rx.recv_timeout(tick) {
            Ok(Msg::Progress(n)) => {
                newest = Some(n);
                // Relay only the newest total of what is queued (hf-hub reports every 8 KiB).
                while let Ok(m) = rx.try_recv() {
                    match m {
                        Msg::Progress(n) => newest = Some(n),
                        other => {
                            end = Some(other);
                            break;
                        }
                    }
                }
            }
            Ok(other) => end = Some(other),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                end = Some(Msg::Panicked(
                    "the download thread ended without a result".into(),
                ))
            }
        }
        if let Some(n) = newest {
            received = n;
            progress.advanced(n);
            // Time spent in `advanced` (the viewer's lock, a test's gate) is not the server's.
            last = Instant::now();
        }
        // A cancel wins over a result that came with the same reports.
        if progress.cancelled() {
            abandoned.store(true, Ordering::Relaxed);
            if end.is_some() {
                let _ = worker.join();
            }
            return Ok(Watched::Cancelled { received });
        }
        match end {
            Some(Msg::Done(v)) => {
                let _ = worker.join();
                return Ok(Watched::Done(v));
            }
            Some(Msg::Panicked(text)) => {
                let _ = worker.join();
                return Ok(Watched::Panicked(text));
            }
            _ => {}
        }
        if last.elapsed() >= idle {
            abandoned.store(true, Ordering::Relaxed);
            return Ok(Watched::Stalled { received });
        }
    }
}

/// Whether an error of hf-hub's file handling is about the local disk, not the network.
fn is_local(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::StorageFull
            | K::QuotaExceeded
            | K::FileTooLarge
            | K::PermissionDenied
            | K::ReadOnlyFilesystem
    )
}

fn describe_api_error(e: &ApiError) -> String {
    match e {
        ApiError::RequestError(inner) => {
            let text = inner.to_string();
            match text
                .strip_prefix("http status: ")
                .and_then(|c| c.trim().parse::<u16>().ok())
            {
                Some(404) => {
                    "HTTP 404: the file or the pinned revision does not exist on this endpoint"
                        .into()
                }
                Some(s @ (401 | 403)) => {
                    format!(
                        "HTTP {s}: access denied (set HF_TOKEN if the repository needs a token)"
                    )
                }
                Some(s) => format!("the server answered HTTP {s}"),
                None => format!("network error: {text}"),
            }
        }
        ApiError::MissingHeader(h) => {
            format!("the server's answer lacks the {h} header (not a Hugging Face hub?)")
        }
        ApiError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            format!("the connection closed before the whole file arrived ({io})")
        }
        other => other.to_string(),
    }
}

fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// The lock of an attempt folder is held: its worker may still write there.
/// A folder without a lock file, or on a file system without locks, counts as ended.
fn is_live(attempt: &Path) -> bool {
    let lock = attempt.join(ATTEMPT_LOCK);
    let file = match std::fs::File::open(&lock) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    match file.try_lock() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(e)) => e.kind() != std::io::ErrorKind::Unsupported,
    }
}

/// The attempt folders under `staging`.
fn attempts(staging: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(staging) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name() != PARTS && e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// The `.part` files of an attempt folder (`*/blobs/*.part`).
fn parts_in(attempt: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for repo in std::fs::read_dir(attempt).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(repo.path().join("blobs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "part") {
                out.push(f.path());
            }
        }
    }
    out
}

fn len_of(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Moves what ended attempts received into `parts/` (the longer of two parts of a file
/// is kept) and removes those attempts. Attempts whose worker still runs are left alone.
/// Best effort: a leftover is tried again next time.
pub(crate) fn sweep(staging: &Path) {
    for attempt in attempts(staging) {
        if is_live(&attempt) {
            continue;
        }
        for part in parts_in(&attempt) {
            let Some(name) = part.file_name() else {
                continue;
            };
            let pooled = staging.join(PARTS).join(name);
            if len_of(&part) > len_of(&pooled)
                && std::fs::create_dir_all(staging.join(PARTS)).is_ok()
            {
                let _ = std::fs::rename(&part, &pooled);
            }
        }
        let _ = std::fs::remove_dir_all(&attempt);
    }
}

/// After a complete download: removes the ended attempts, the kept parts and, when
/// nothing is left (no detached worker still runs), the staging folders.
pub(crate) fn clean_up(staging: &Path) {
    for attempt in attempts(staging) {
        if !is_live(&attempt) {
            let _ = std::fs::remove_dir_all(&attempt);
        }
    }
    let _ = std::fs::remove_dir_all(staging.join(PARTS));
    let _ = std::fs::remove_dir(staging);
    if let Some(root) = staging.parent() {
        let _ = std::fs::remove_dir(root);
    }
}

/// Distinguishes attempt folders of one process.
static ATTEMPTS: AtomicU64 = AtomicU64::new(0);

/// A new attempt folder, and its lock file, locked.
fn new_attempt(staging: &Path) -> Result<(PathBuf, std::fs::File), WeightsError> {
    std::fs::create_dir_all(staging)
        .map_err(|e| WeightsError::io("create the folder", staging, e))?;
    loop {
        let n = ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        let dir = staging.join(format!("{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(WeightsError::io("create the folder", &dir, e)),
        }
        let path = dir.join(ATTEMPT_LOCK);
        let lock =
            std::fs::File::create(&path).map_err(|e| WeightsError::io("create", &path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            // A file system without locks: attempts then count as ended once the caller is done.
            Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            }
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => return Err(WeightsError::io("lock", &path, e)),
        }
        return Ok((dir, lock));
    }
}

impl Downloader {
    fn err(&self, file: &str, url: &str, reason: String) -> WeightsError {
        WeightsError::Download {
            file: file.into(),
            url: url.into(),
            reason,
            folder: self.folder.clone(),
        }
    }

    /// An hf-hub client whose cache is `cache`.
    fn api(&self, cache: PathBuf) -> Result<Api, WeightsError> {
        ApiBuilder::from_cache(Cache::new(cache))
            .with_endpoint(self.endpoint.clone())
            .with_progress(false)
            .with_token(self.token.clone())
            .with_user_agent("kneeclip", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| self.err(self.repo.url().as_str(), &self.endpoint, e.to_string()))
    }

    fn stalled(&self) -> String {
        format!(
            "the server sent nothing for {} s (set KNEECLIP_DOWNLOAD_TIMEOUT=SECONDS for a slower link)",
            self.idle_timeout.as_secs_f32()
        )
    }

    /// Puts the longest partial download of `etag` (shorter than `size`) at `part`,
    /// for hf-hub to resume: the one an ended attempt left in `parts/` (moved), or the
    /// bytes a still-running attempt received (copied; its file stays its own).
    fn adopt_partial(
        &self,
        etag: &str,
        size: u64,
        part: &Path,
        mine: &Path,
    ) -> Result<(), WeightsError> {
        let name = format!("{etag}.part");
        let pooled = self.staging.join(PARTS).join(&name);
        let pooled_len = len_of(&pooled).filter(|&l| l < size);
        let live = attempts(&self.staging)
            .into_iter()
            .filter(|a| a != mine && is_live(a))
            .flat_map(|a| parts_in(&a))
            .filter(|p| p.file_name().is_some_and(|n| n == name.as_str()))
            .filter_map(|p| len_of(&p).filter(|&l| l < size).map(|l| (l, p)))
            .max_by_key(|(l, _)| *l);
        let parent = part.parent().expect("a part file has a folder");
        std::fs::create_dir_all(parent)
            .map_err(|e| WeightsError::io("create the folder", parent, e))?;
        match live {
            Some((len, from)) if len > pooled_len.unwrap_or(0) => {
                let copied = std::fs::File::open(&from).and_then(|src| {
                    let mut dst = std::fs::File::create(part)?;
                    std::io::copy(&mut src.take(len), &mut dst)
                });
                match copied {
                    Ok(_) => {}
                    Err(e) if is_local(&e) => {
                        remove_quietly(part);
                        return Err(WeightsError::io("write", part, e));
                    }
                    // The other attempt finished or went meanwhile: start afresh.
                    Err(_) => remove_quietly(part),
                }
            }
            _ if pooled_len.is_some() => {
                std::fs::rename(&pooled, part)
                    .map_err(|e| WeightsError::io("move the partial download to", part, e))?;
            }
            _ => {}
        }
        // A kept part that is complete or too long would make hf-hub ask for an empty range.
        remove_quietly(&pooled);
        Ok(())
    }

    /// Waits (up to a second) until the bytes the worker reported are in `part`.
    fn wait_for_part(part: &Path, blob: &Path, received: u64) {
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until && !blob.exists() && len_of(part).unwrap_or(0) < received {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Downloads `entry` into a new attempt folder and verifies its length and hash.
    /// On any failure no complete blob is left behind (a shorter `.part` is kept for resume).
    pub fn fetch(
        &self,
        entry: &ManifestFile,
        progress: &mut dyn DownloadProgress,
    ) -> Result<Downloaded, WeightsError> {
        let name = entry.name.as_str();
        if progress.cancelled() {
            return Err(WeightsError::Cancelled { file: name.into(), kept: None });
        }
        let cancelled = || WeightsError::Cancelled { file: name.into(), kept: None };
        // Metadata needs no cache: this client writes nothing.
        let api = self.api(self.staging.clone())?;
        let url = api.repo(self.repo.clone()).url(name);
        let job = {
            let (api, url) = (api.clone(), url.clone());
            move |_: Relay<Result<Metadata, ApiError>>| api.metadata(&url)
        };
        let spawn_failed = |e| WeightsError::io("start a download thread for", &self.staging, e);
        let meta = match watch(progress, self.idle_timeout, job).map_err(spawn_failed)? {
            Watched::Done(Ok(meta)) => meta,
            Watched::Done(Err(e)) => return Err(self.err(name, &url, describe_api_error(&e))),
            Watched::Panicked(text) => {
                return Err(self.err(name, &url, format!("hf-hub failed: {text}")));
            }
            Watched::Cancelled { .. } => return Err(cancelled()),
            Watched::Stalled { .. } => return Err(self.err(name, &url, self.stalled())),
        };
        if is_hex(&self.revision, 40) && meta.commit_hash() != self.revision {
            return Err(WeightsError::RevisionMismatch {
                file: name.into(),
                endpoint: self.endpoint.clone(),
                expected: self.revision.clone(),
                got: meta.commit_hash().into(),
            });
        }
        let size = meta.size() as u64;
        if let Some(expected) = entry.size.filter(|&e| e != size) {
            return Err(WeightsError::SizeMismatch {
                file: name.into(),
                expected,
                actual: size,
            });
        }
        let etag = meta.etag().to_ascii_lowercase();
        let (expected, verified_by) = match &entry.sha256 {
            Some(h) => (h.clone(), VerifiedBy::Manifest),
            None if is_hex(&etag, 64) => (etag.clone(), VerifiedBy::HubSha256),
            None if is_hex(&etag, 40) => (etag.clone(), VerifiedBy::HubGitSha1),
            None => {
                return Err(WeightsError::Unverifiable {
                    file: name.into(),
                    etag,
                });
            }
        };
        if verified_by == VerifiedBy::Manifest && is_hex(&etag, 64) && etag != expected {
            return Err(WeightsError::ChecksumMismatch {
                file: name.into(),
                algorithm: "sha256",
                expected,
                expected_from: VerifiedBy::Manifest.describe(),
                actual: etag,
                actual_from: "declared by the hub for the pinned revision; nothing was downloaded",
            });
        }

        let (attempt, lock) = new_attempt(&self.staging)?;
        let blob = Cache::new(attempt.clone())
            .repo(self.repo.clone())
            .blob_path(meta.etag());
        let mut part = blob.clone();
        part.set_extension("part");
        self.adopt_partial(meta.etag(), size, &part, &attempt)?;

        progress.started(name, Some(size));
        if let Some(kept) = len_of(&part).filter(|&n| n > 0 && n < size) {
            progress.resuming(kept);
        }
        let job = {
            let api_repo = self.api(attempt.clone())?.repo(self.repo.clone());
            let file = name.to_string();
            move |relay: Relay<Result<PathBuf, ApiError>>| {
                // Held until this thread ends: while it is, nobody else uses this folder.
                let _lock = lock;
                api_repo.download_with_progress(&file, relay)
            }
        };
        let pointer = match watch(progress, self.idle_timeout, job).map_err(spawn_failed)? {
            Watched::Done(Ok(pointer)) => pointer,
            Watched::Done(Err(ApiError::IoError(e))) if is_local(&e) => {
                return Err(WeightsError::io("write", &part, e));
            }
            Watched::Done(Err(e)) => return Err(self.err(name, &url, describe_api_error(&e))),
            Watched::Panicked(text) => {
                return Err(self.err(name, &url, format!("hf-hub failed: {text}")));
            }
            Watched::Cancelled { received } => {
                Self::wait_for_part(&part, &blob, received);
                let kept = len_of(&part).unwrap_or(0);
                return Err(WeightsError::Cancelled { file: name.into(), kept: (kept > 0).then(|| (kept, self.staging.clone())) });
            }
            Watched::Stalled { received } => {
                Self::wait_for_part(&part, &blob, received);
                return Err(self.err(name, &url, self.stalled()));
            }
        };
        // The worker has ended: nothing writes into `attempt` any more.
        let blob = if blob.is_file() {
            blob
        } else {
            std::fs::canonicalize(&pointer).map_err(|e| WeightsError::io("read", &pointer, e))?
        };
        let received = std::fs::metadata(&blob)
            .map_err(|e| WeightsError::io("read", &blob, e))?
            .len();
        if received < size {
            // Kept as a part: the next run resumes it.
            let _ = std::fs::rename(&blob, &part);
            return Err(WeightsError::Truncated {
                file: name.into(),
                url,
                expected: size,
                received,
            });
        }
        if received > size {
            let _ = std::fs::remove_dir_all(&attempt);
            return Err(self.err(
                name,
                &url,
                format!("the server sent {received} bytes, more than the {size} it announced (does it ignore Range requests?); they were discarded"),
            ));
        }
        let sha256 = sha256_file(&blob).map_err(|e| WeightsError::io("read", &blob, e))?;
        let actual = match verified_by {
            VerifiedBy::HubGitSha1 => {
                git_blob_sha1_file(&blob).map_err(|e| WeightsError::io("read", &blob, e))?
            }
            _ => sha256.clone(),
        };
        if actual != expected {
            let _ = std::fs::remove_dir_all(&attempt);
            remove_quietly(&blob);
            return Err(WeightsError::ChecksumMismatch {
                file: name.into(),
                algorithm: if verified_by == VerifiedBy::HubGitSha1 {
                    "git blob sha1"
                } else {
                    "sha256"
                },
                expected,
                expected_from: verified_by.describe(),
                actual,
                actual_from: "the downloaded bytes, now deleted",
            });
        }
        Ok(Downloaded {
            name: name.into(),
            blob,
            size,
            sha256,
            verified_by,
        })
    }
}
