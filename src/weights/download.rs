//! One verified file download from a Hugging Face hub, over `ureq`.
//!
//! The protocol (as `hf-hub` speaks it, and the tests' fake hub answers), per file
//! (`{endpoint}/{repo}/resolve/{revision}/{file}`):
//! 1. metadata: GET with `Range: bytes=0-0`, redirects not followed: `x-repo-commit`,
//!    `x-linked-etag` or `etag` (quotes stripped); a relative redirect is followed the
//!    same way, an absolute one (the CDN of an LFS file) is fetched with the range, and
//!    the final answer's `Content-Range: bytes 0-0/{size}` gives the size;
//! 2. the transfer: GET with `Range: bytes={n}-` (n = length of an existing
//!    `{staging}/{etag}.part`, to resume), following redirects, appended to the `.part`,
//!    which is renamed to `{staging}/{etag}` once it has the announced length.
//!
//! Every socket read and connect gives up after [`DownloadProgress::idle_timeout`] without a byte
//! (a stalled server once hung kneeclip for ever), and the transfer runs on its own
//! thread so that a cancel shuts its connection down at once, even during a stall
//! (it was only seen between two reads). This module checks the length and the hash of
//! the blob before the resolver moves it under its final name.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use ureq::Agent;
use ureq::http::StatusCode;

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
    pub endpoint: String,
    pub model_id: String,
    pub revision: String,
    pub token: Option<String>,
    /// Where blobs and `.part` files are kept until verified.
    pub staging: PathBuf,
    /// Final cache folder, for error messages.
    pub folder: PathBuf,
    pub idle_timeout: Duration,
}

/// What the hub says about a file before the transfer.
struct Metadata {
    commit: String,
    etag: String,
    size: u64,
}

/// Why a request failed, before it is put into a [`WeightsError`].
enum Failure {
    Cancelled,
    /// Network or HTTP trouble, said for the user.
    Net(String),
    Local(WeightsError),
}

fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}

fn header<'a>(response: &'a ureq::http::Response<ureq::Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
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

    /// An agent with the idle timeouts; `redirects`: how many to follow.
    fn agent(&self, redirects: u32) -> Agent {
        let idle = Some(self.idle_timeout);
        Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(redirects)
            .max_redirects_will_error(true)
            .timeout_resolve(idle)
            .timeout_connect(idle)
            .timeout_per_read(idle)
            .timeout_per_write(idle)
            .user_agent(format!("kneeclip/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    }

    fn get(&self, agent: &Agent, url: &str, range: &str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut request = agent.get(url).header("Range", range);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        request.call()
    }

    /// A failed request or read, in words: a stall says how long nothing came.
    fn describe(&self, e: ureq::Error) -> String {
        match e {
            ureq::Error::Timeout(t) => format!("the server sent nothing for {} s ({t})", self.idle_timeout.as_secs_f32()),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                format!("the connection closed before the whole file arrived ({io})")
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                format!("the server sent nothing for {} s ({io})", self.idle_timeout.as_secs_f32())
            }
            other => format!("network error: {other}"),
        }
    }

    fn status_error(status: StatusCode) -> String {
        match status.as_u16() {
            404 => "HTTP 404: the file or the pinned revision does not exist on this endpoint".into(),
            s @ (401 | 403) => format!("HTTP {s}: access denied (set HF_TOKEN if the repository needs a token)"),
            s => format!("the server answered HTTP {s}"),
        }
    }

    /// Runs `job` (a request and its transfer) on its own thread and relays its
    /// progress; a cancel shuts the agents' connections down, which ends a read
    /// that would otherwise wait for the idle timeout.
    fn watched<T: Send>(
        &self,
        agents: &[&Agent],
        progress: &mut dyn DownloadProgress,
        job: impl FnOnce(&dyn Fn(u64)) -> Result<T, Failure> + Send,
    ) -> Result<T, Failure> {
        let (tx, rx) = mpsc::channel::<u64>();
        std::thread::scope(|scope| {
            let worker = scope.spawn(move || {
                job(&move |n| {
                    let _ = tx.send(n);
                })
            });
            let mut cancelled = false;
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(bytes) => progress.advanced(bytes),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                if !cancelled && progress.cancelled() {
                    cancelled = true;
                    for agent in agents {
                        (*agent).clone().shutdown();
                    }
                }
            }
            let result = worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            if cancelled { Err(Failure::Cancelled) } else { result }
        })
    }

    /// Metadata of `url` (see the module's description).
    fn metadata(&self, direct: &Agent, follow: &Agent, url: &str) -> Result<Metadata, Failure> {
        let net = |e| Failure::Net(self.describe(e));
        let mut current = url.to_string();
        let mut response = self.get(direct, &current, "bytes=0-0").map_err(net)?;
        // Relative redirects (a renamed repository) are the hub's own: their headers count.
        for _ in 0..10 {
            let location = header(&response, "location").filter(|_| response.status().is_redirection());
            match location.map(|l| (l.starts_with('/'), l.to_string())) {
                Some((true, path)) => {
                    let base = current.find("://").and_then(|i| current[i + 3..].find('/').map(|j| i + 3 + j)).unwrap_or(current.len());
                    current = format!("{}{path}", &current[..base]);
                    response = self.get(direct, &current, "bytes=0-0").map_err(net)?;
                }
                _ => break,
            }
        }
        let status = response.status();
        if !status.is_success() && !status.is_redirection() {
            return Err(Failure::Net(Self::status_error(status)));
        }
        let missing = |h: &str| Failure::Net(format!("the server's answer lacks the {h} header (not a Hugging Face hub?)"));
        let etag = header(&response, "x-linked-etag").or_else(|| header(&response, "etag")).ok_or_else(|| missing("etag"))?.replace('"', "");
        let commit = header(&response, "x-repo-commit").ok_or_else(|| missing("x-repo-commit"))?.to_string();
        let final_response;
        let sized = if status.is_redirection() {
            let location = header(&response, "location").ok_or_else(|| missing("location"))?.to_string();
            final_response = self.get(follow, &location, "bytes=0-0").map_err(net)?;
            if !final_response.status().is_success() {
                return Err(Failure::Net(Self::status_error(final_response.status())));
            }
            &final_response
        } else {
            &response
        };
        let size = header(sized, "content-range")
            .ok_or_else(|| missing("content-range"))?
            .rsplit('/')
            .next()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| Failure::Net("the server's Content-Range header gives no size".into()))?;
        Ok(Metadata { commit, etag, size })
    }

    /// Appends the rest of `url` (from the `.part`'s length) to `part`; returns its length then.
    fn transfer(&self, agent: &Agent, url: &str, part: &Path, size: u64, advanced: &dyn Fn(u64)) -> Result<u64, Failure> {
        let start = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let response = self.get(agent, url, &format!("bytes={start}-")).map_err(|e| Failure::Net(self.describe(e)))?;
        let status = response.status();
        let resumed = status == StatusCode::PARTIAL_CONTENT;
        if !status.is_success() {
            return Err(Failure::Net(Self::status_error(status)));
        }
        // A server that ignores the range sends the whole file: start the part over.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(resumed)
            .write(true)
            .truncate(!resumed)
            .open(part)
            .map_err(|e| Failure::Local(WeightsError::io("write", part, e)))?;
        let mut received = if resumed { start } else { 0 };
        advanced(received);
        let mut reader = response.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // What arrived stays in the `.part`: the next run resumes from there.
                Err(e) => return Err(Failure::Net(self.describe(ureq::Error::from(e)))),
            };
            file.write_all(&buf[..n]).map_err(|e| Failure::Local(WeightsError::io("write", part, e)))?;
            received += n as u64;
            advanced(received);
            if received > size {
                break;
            }
        }
        file.flush().map_err(|e| Failure::Local(WeightsError::io("write", part, e)))?;
        Ok(received)
    }

    /// Downloads `entry` into the staging folder and verifies its length and hash.
    /// On any failure no complete blob is left behind (a shorter `.part` is kept for resume).
    pub fn fetch(&self, entry: &ManifestFile, progress: &mut dyn DownloadProgress) -> Result<Downloaded, WeightsError> {
        let name = entry.name.as_str();
        if progress.cancelled() {
            return Err(WeightsError::Cancelled { file: name.into() });
        }
        let url = format!("{}/{}/resolve/{}/{name}", self.endpoint, self.model_id, self.revision);
        let failed = |f: Failure| match f {
            Failure::Cancelled => WeightsError::Cancelled { file: name.into() },
            Failure::Net(reason) => self.err(name, &url, reason),
            Failure::Local(e) => e,
        };
        let (direct, follow) = (self.agent(0), self.agent(10));
        // The metadata request can stall too: watched (and cancelable) like the transfer.
        let meta = self.watched(&[&direct, &follow], progress, |_| self.metadata(&direct, &follow, &url)).map_err(failed)?;
        if is_hex(&self.revision, 40) && meta.commit != self.revision {
            return Err(WeightsError::RevisionMismatch {
                file: name.into(),
                endpoint: self.endpoint.clone(),
                expected: self.revision.clone(),
                got: meta.commit,
            });
        }
        let size = meta.size;
        if let Some(expected) = entry.size.filter(|&e| e != size) {
            return Err(WeightsError::SizeMismatch { file: name.into(), expected, actual: size });
        }
        let etag = meta.etag.to_ascii_lowercase();
        let (expected, verified_by) = match &entry.sha256 {
            Some(h) => (h.clone(), VerifiedBy::Manifest),
            None if is_hex(&etag, 64) => (etag.clone(), VerifiedBy::HubSha256),
            None if is_hex(&etag, 40) => (etag.clone(), VerifiedBy::HubGitSha1),
            None => return Err(WeightsError::Unverifiable { file: name.into(), etag }),
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

        std::fs::create_dir_all(&self.staging).map_err(|e| WeightsError::io("create the folder", &self.staging, e))?;
        let blob = self.staging.join(&etag);
        let part = self.staging.join(format!("{etag}.part"));
        // A `.part` already complete (or too long) would ask for an empty range: start over.
        if std::fs::metadata(&part).is_ok_and(|m| m.len() >= size) {
            remove_quietly(&part);
        }
        progress.started(name, Some(size));
        let received = self.watched(&[&follow], progress, |advanced| self.transfer(&follow, &url, &part, size, advanced)).map_err(failed)?;
        if received != size {
            if received > size {
                remove_quietly(&part);
            }
            return Err(WeightsError::Truncated { file: name.into(), url, expected: size, received });
        }
        std::fs::rename(&part, &blob).map_err(|e| WeightsError::io("rename the download to", &blob, e))?;

        let sha256 = sha256_file(&blob).map_err(|e| WeightsError::io("read", &blob, e))?;
        let actual = match verified_by {
            VerifiedBy::HubGitSha1 => git_blob_sha1_file(&blob).map_err(|e| WeightsError::io("read", &blob, e))?,
            _ => sha256.clone(),
        };
        if actual != expected {
            remove_quietly(&blob);
            return Err(WeightsError::ChecksumMismatch {
                file: name.into(),
                algorithm: if verified_by == VerifiedBy::HubGitSha1 { "git blob sha1" } else { "sha256" },
                expected,
                expected_from: verified_by.describe(),
                actual,
                actual_from: "the downloaded bytes, now deleted",
            });
        }
        Ok(Downloaded { name: name.into(), blob, size, sha256, verified_by })
    }
}
