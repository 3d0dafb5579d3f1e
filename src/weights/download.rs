//! One verified file download through `hf-hub` (sync API, ureq).
//!
//! What `hf-hub` 0.5 does on the wire, per file (`{endpoint}/{repo}/resolve/{revision}/{file}`):
//! 1. `Api::metadata`: GET with `Range: bytes=0-0`, redirects not followed automatically.
//!    Needs `x-repo-commit`, `x-linked-etag` or `etag` (quotes stripped) and, on the final
//!    response (an absolute redirect, as for LFS files, is fetched again with the range),
//!    `Content-Range: bytes 0-0/{size}`.
//! 2. `download_with_progress`: calls `metadata` again, then GET with `Range: bytes={n}-`
//!    (n = length of an existing `blobs/{etag}.part`, for resume), following redirects,
//!    into `blobs/{etag}.part`; renames it to `blobs/{etag}` and symlinks
//!    `snapshots/{commit}/{file}` to it. It never checks the received length.
//!
//! All of that happens in a private staging folder; this module checks the length and the
//! hash of the blob before the resolver moves it under its final name.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};

use hf_hub::api::sync::{Api, ApiError};
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

/// A downloaded, verified file still in the staging folder.
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
    pub api: Api,
    pub repo: Repo,
    pub staging: PathBuf,
    pub endpoint: String,
    pub revision: String,
    /// Final cache folder, for error messages.
    pub folder: PathBuf,
}

/// Payload used to unwind out of hf-hub when the user cancels (no panic hook runs).
struct CancelUnwind;

/// Adapts our progress trait to hf-hub's (which cannot abort: we unwind instead).
struct Adapter<'a> {
    inner: &'a mut dyn DownloadProgress,
    file: String,
    size: u64,
    so_far: u64,
    started: bool,
}

impl hf_hub::api::Progress for Adapter<'_> {
    fn init(&mut self, _size: usize, _filename: &str) {
        // hf-hub calls init twice (before and at the start of the transfer), then reports
        // an already present `.part` as one `update`.
        self.so_far = 0;
        if !self.started {
            self.started = true;
            self.inner.started(&self.file, Some(self.size));
        }
    }

    fn update(&mut self, size: usize) {
        self.so_far += size as u64;
        self.inner.advanced(self.so_far);
        if self.inner.cancelled() {
            resume_unwind(Box::new(CancelUnwind));
        }
    }

    fn finish(&mut self) {}
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

impl Downloader {
    fn err(&self, file: &str, url: &str, reason: String) -> WeightsError {
        WeightsError::Download {
            file: file.into(),
            url: url.into(),
            reason,
            folder: self.folder.clone(),
        }
    }

    /// Downloads `entry` into the staging folder and verifies its length and hash.
    /// On any failure no complete blob is left behind (a shorter `.part` is kept for resume).
    pub fn fetch(
        &self,
        entry: &ManifestFile,
        progress: &mut dyn DownloadProgress,
    ) -> Result<Downloaded, WeightsError> {
        let name = entry.name.as_str();
        if progress.cancelled() {
            return Err(WeightsError::Cancelled { file: name.into() });
        }
        let api_repo = self.api.repo(self.repo.clone());
        let url = api_repo.url(name);

        let meta = self
            .api
            .metadata(&url)
            .map_err(|e| self.err(name, &url, describe_api_error(&e)))?;
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

        // hf-hub resumes any `.part`; one that is already complete (or too long) would make
        // it request an empty range and fail forever, so drop it.
        let blob = Cache::new(self.staging.clone())
            .repo(self.repo.clone())
            .blob_path(meta.etag());
        let mut part = blob.clone();
        part.set_extension("part");
        if std::fs::metadata(&part).is_ok_and(|m| m.len() >= size) {
            remove_quietly(&part);
        }

        let adapter = Adapter {
            inner: progress,
            file: name.into(),
            size,
            so_far: 0,
            started: false,
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            api_repo.download_with_progress(name, adapter)
        }));
        match result {
            Ok(Ok(_pointer)) => {}
            Ok(Err(e)) => return Err(self.err(name, &url, describe_api_error(&e))),
            Err(payload) if payload.is::<CancelUnwind>() => {
                return Err(WeightsError::Cancelled { file: name.into() });
            }
            Err(payload) => resume_unwind(payload),
        }

        let received = std::fs::metadata(&blob)
            .map_err(|e| WeightsError::io("read", &blob, e))?
            .len();
        if received != size {
            remove_quietly(&blob);
            return Err(WeightsError::Truncated {
                file: name.into(),
                url,
                expected: size,
                received,
            });
        }
        let sha256 = sha256_file(&blob).map_err(|e| WeightsError::io("read", &blob, e))?;
        let actual = match verified_by {
            VerifiedBy::HubGitSha1 => {
                git_blob_sha1_file(&blob).map_err(|e| WeightsError::io("read", &blob, e))?
            }
            _ => sha256.clone(),
        };
        if actual != expected {
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
