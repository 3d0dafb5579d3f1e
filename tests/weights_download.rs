//! The resolver against a fake Hugging Face hub on 127.0.0.1 that speaks the part of the
//! protocol hf-hub 0.5 uses: `GET /{repo}/resolve/{rev}/{file}` with `Range` (first
//! `bytes=0-0` for metadata, then `bytes={n}-`), `x-repo-commit`, `etag` (git blob sha1)
//! for small files, and for the LFS file a 302 to an absolute CDN URL carrying
//! `x-linked-etag` (the sha256).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kneeclip::weights::{
    DownloadProgress, Manifest, ModelFiles, NoProgress, ResolveOptions, VERIFIED_RECORD_FILE,
    WeightsError, model_cache_dir, resolve_with_manifest, sha256_file,
};
use sha2::{Digest, Sha256};

const REPO: &str = "fake/clip-tiny";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
fn sha256(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}
fn git_sha1(b: &[u8]) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", b.len()).as_bytes());
    h.update(b);
    hex(&h.finalize())
}

#[derive(Clone)]
struct FakeFile {
    body: Vec<u8>,
    /// Declared hash: git sha1 in `etag`, or sha256 in `x-linked-etag` when `lfs`.
    etag: String,
    lfs: bool,
}

#[derive(Default)]
struct HubState {
    files: HashMap<String, FakeFile>,
    commit: String,
    /// File whose next full-body transfer is cut off after half of its bytes.
    cut_off_next: Option<String>,
}

struct FakeHub {
    endpoint: String,
    requests: Arc<AtomicUsize>,
    state: Arc<Mutex<HubState>>,
}

fn fake_files() -> HashMap<String, FakeFile> {
    let config = br#"{"model_type":"clip","projection_dim":8}"#.to_vec();
    let tokenizer = br#"{"version":"1.0","model":{"type":"BPE"}}"#.to_vec();
    let weights: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut files = HashMap::new();
    files.insert(
        "config.json".into(),
        FakeFile {
            etag: git_sha1(&config),
            body: config,
            lfs: false,
        },
    );
    files.insert(
        "tokenizer.json".into(),
        FakeFile {
            etag: git_sha1(&tokenizer),
            body: tokenizer,
            lfs: false,
        },
    );
    files.insert(
        "model.safetensors".into(),
        FakeFile {
            etag: sha256(&weights),
            body: weights,
            lfs: true,
        },
    );
    files
}

impl FakeHub {
    fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(HubState {
            files: fake_files(),
            commit: COMMIT.into(),
            cut_off_next: None,
        }));
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (state.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, r) = (s.clone(), r.clone());
                std::thread::spawn(move || serve(stream, port, &s, &r));
            }
        });
        FakeHub {
            endpoint: format!("http://127.0.0.1:{port}"),
            requests,
            state,
        }
    }

    fn body(&self, name: &str) -> Vec<u8> {
        self.state.lock().unwrap().files[name].body.clone()
    }

    /// A manifest whose hashes and sizes match the served files.
    fn manifest(&self) -> Manifest {
        let st = self.state.lock().unwrap();
        let entry = |n: &str| {
            let b = &st.files[n].body;
            format!(
                r#"{{"name":"{n}","size":{},"sha256":"{}"}}"#,
                b.len(),
                sha256(b)
            )
        };
        Manifest::from_json(&format!(
            r#"{{"model_id":"{REPO}","revision":"{COMMIT}","files":[{},{},{}]}}"#,
            entry("config.json"),
            entry("model.safetensors"),
            entry("tokenizer.json")
        ))
        .unwrap()
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, port: u16, state: &Mutex<HubState>, requests: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut range: Option<(u64, Option<u64>)> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        if k.trim().eq_ignore_ascii_case("range") {
            let spec = v.trim().trim_start_matches("bytes=");
            let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
            range = Some((a.parse().unwrap_or(0), b.parse().ok()));
        }
    }
    let mut out = stream;
    let resolve_prefix = format!("/{REPO}/resolve/");
    let (commit, file, via_cdn) = if let Some(rest) = path.strip_prefix(&resolve_prefix) {
        let (rev, file) = rest.split_once('/').unwrap_or((rest, ""));
        (Some(rev.to_string()), file.to_string(), false)
    } else if let Some(file) = path.strip_prefix("/cdn/") {
        (None, file.to_string(), true)
    } else {
        (None, String::new(), false)
    };
    let mut st = state.lock().unwrap();
    let Some(f) = st.files.get(&file).cloned() else {
        let _ = write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    };
    if let Some(rev) = &commit {
        if *rev != st.commit && *rev != COMMIT {
            let _ = write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
    }
    let served_commit = st.commit.clone();
    if !via_cdn && f.lfs {
        let _ = write!(
            out,
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/cdn/{file}\r\nx-repo-commit: {served_commit}\r\n\
             x-linked-etag: \"{}\"\r\nx-linked-size: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            f.etag,
            f.body.len()
        );
        return;
    }
    let n = f.body.len() as u64;
    let (status, start, end) = match range {
        Some((a, _)) if a >= n => {
            let _ = write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        Some((a, b)) => ("206 Partial Content", a, b.unwrap_or(n - 1).min(n - 1)),
        None => ("200 OK", 0, n - 1),
    };
    let slice = &f.body[start as usize..=end as usize];
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        slice.len()
    );
    if range.is_some() {
        head += &format!("Content-Range: bytes {start}-{end}/{n}\r\n");
    }
    if !f.lfs {
        head += &format!("x-repo-commit: {served_commit}\r\netag: \"{}\"\r\n", f.etag);
    }
    head += "\r\n";
    let cut = slice.len() > 1 && st.cut_off_next.as_deref() == Some(file.as_str());
    if cut {
        st.cut_off_next = None;
    }
    drop(st);
    let _ = out.write_all(head.as_bytes());
    if method != "HEAD" {
        let body = if cut {
            &slice[..slice.len() / 2]
        } else {
            slice
        };
        let _ = out.write_all(body);
    }
    let _ = out.flush();
    let _ = out.shutdown(Shutdown::Both);
}

/// Records progress calls; optionally cancels once `cancel_at` bytes of the weights arrived.
#[derive(Default)]
struct Recorder {
    events: Vec<String>,
    current: String,
    last: u64,
    cancel_at: Option<u64>,
}

impl DownloadProgress for Recorder {
    fn started(&mut self, file: &str, total: Option<u64>) {
        self.current = file.into();
        self.events.push(format!("started {file} {total:?}"));
    }
    fn advanced(&mut self, so_far: u64) {
        assert!(
            so_far >= self.last || so_far == 0,
            "progress went backwards"
        );
        self.last = so_far;
    }
    fn finished(&mut self, file: &str) {
        self.events.push(format!("finished {file}"));
        self.last = 0;
    }
    fn cancelled(&self) -> bool {
        self.current == "model.safetensors" && self.cancel_at.is_some_and(|c| self.last >= c)
    }
}

fn options(hub: &FakeHub, cache: &Path, allow_download: bool) -> ResolveOptions {
    ResolveOptions {
        model_dir: None,
        allow_download,
        endpoint: Some(hub.endpoint.clone()),
        cache_dir: Some(cache.to_path_buf()),
    }
}

fn assert_no_final_weights(cache: &Path, manifest: &Manifest) {
    let folder = model_cache_dir(cache, manifest);
    assert!(
        !folder.join("model.safetensors").exists(),
        "weights left under the final name"
    );
    assert!(!folder.join(VERIFIED_RECORD_FILE).exists());
}

#[test]
fn download_verifies_places_in_cache_and_second_resolve_makes_no_request() {
    let hub = FakeHub::start();
    let cache = tempfile::tempdir().unwrap();
    let manifest = hub.manifest();
    let mut rec = Recorder::default();
    let files =
        resolve_with_manifest(&options(&hub, cache.path(), true), &manifest, &mut rec).unwrap();

    let folder = model_cache_dir(cache.path(), &manifest);
    assert_eq!(
        folder,
        cache
            .path()
            .join("models")
            .join("fake--clip-tiny")
            .join(COMMIT)
    );
    assert_eq!(files.dir, folder);
    assert_eq!(files.revision.as_deref(), Some(COMMIT));
    assert_eq!(files.model_id, REPO);
    assert_eq!(
        std::fs::read(&files.weights).unwrap(),
        hub.body("model.safetensors")
    );
    assert_eq!(
        std::fs::read(&files.config).unwrap(),
        hub.body("config.json")
    );
    assert_eq!(
        std::fs::read(&files.tokenizer).unwrap(),
        hub.body("tokenizer.json")
    );
    assert!(folder.join(VERIFIED_RECORD_FILE).is_file());
    assert!(
        !cache.path().join("models").join(".staging").exists(),
        "staging folder not cleaned up"
    );
    assert!(
        rec.events
            .contains(&"started model.safetensors Some(300000)".to_string()),
        "{:?}",
        rec.events
    );
    assert_eq!(
        rec.events
            .iter()
            .filter(|e| e.starts_with("finished"))
            .count(),
        3
    );
    assert_eq!(
        rec.events.last().unwrap(),
        "finished model.safetensors",
        "weights come last"
    );
    assert!(hub.requests() > 0);

    let before = hub.requests();
    let again = resolve_with_manifest(
        &options(&hub, cache.path(), true),
        &manifest,
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(again, files);
    let offline = resolve_with_manifest(
        &options(&hub, cache.path(), false),
        &manifest,
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(offline, files);
    assert_eq!(
        hub.requests(),
        before,
        "a cached copy must not cause any HTTP request"
    );
}

#[test]
fn without_manifest_hashes_the_hub_declared_hashes_are_checked_and_recorded() {
    let hub = FakeHub::start();
    let cache = tempfile::tempdir().unwrap();
    let manifest = Manifest::from_json(&format!(
        r#"{{"model_id":"{REPO}","revision":"{COMMIT}","files":[
            {{"name":"config.json","size":null,"sha256":null}},
            {{"name":"model.safetensors","size":null,"sha256":null}},
            {{"name":"tokenizer.json"}}]}}"#
    ))
    .unwrap();
    let files = resolve_with_manifest(
        &options(&hub, cache.path(), true),
        &manifest,
        &mut NoProgress,
    )
    .unwrap();
    let record = std::fs::read_to_string(files.dir.join(VERIFIED_RECORD_FILE)).unwrap();
    assert!(
        record.contains(&sha256(&hub.body("model.safetensors"))),
        "{record}"
    );
    assert!(
        record.contains(&sha256(&hub.body("config.json"))),
        "{record}"
    );
    assert!(
        record.contains("x-linked-etag") && record.contains("git blob sha1"),
        "{record}"
    );

    // A hub that serves bytes not matching its own declared git sha1 is rejected.
    let hub2 = FakeHub::start();
    hub2.state
        .lock()
        .unwrap()
        .files
        .get_mut("tokenizer.json")
        .unwrap()
        .body = b"{\"tampered\":1}".to_vec();
    let cache2 = tempfile::tempdir().unwrap();
    let err = resolve_with_manifest(
        &options(&hub2, cache2.path(), true),
        &manifest,
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(
        matches!(err, WeightsError::ChecksumMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

#[test]
fn wrong_checksum_is_rejected_and_never_cached() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    let expected = manifest
        .file("model.safetensors")
        .unwrap()
        .sha256
        .clone()
        .unwrap();
    // The CDN serves corrupted bytes (same length) under the right declared hash.
    let corrupted: Vec<u8> = hub
        .body("model.safetensors")
        .iter()
        .map(|b| b ^ 0x5a)
        .collect();
    let actual = sha256(&corrupted);
    hub.state
        .lock()
        .unwrap()
        .files
        .get_mut("model.safetensors")
        .unwrap()
        .body = corrupted;

    let cache = tempfile::tempdir().unwrap();
    let err = resolve_with_manifest(
        &options(&hub, cache.path(), true),
        &manifest,
        &mut NoProgress,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, WeightsError::ChecksumMismatch { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("model.safetensors") && msg.contains(&expected) && msg.contains(&actual),
        "{msg}"
    );
    assert_no_final_weights(cache.path(), &manifest);
    let staged: Vec<_> = walk(cache.path())
        .into_iter()
        .filter(|p| std::fs::read(p).ok().map(|b| sha256(&b)) == Some(actual.clone()))
        .collect();
    assert!(
        staged.is_empty(),
        "corrupted bytes left on disk: {staged:?}"
    );

    let later = resolve_with_manifest(
        &options(&hub, cache.path(), false),
        &manifest,
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(
        matches!(later, WeightsError::NotAvailable { .. }),
        "{later}"
    );
}

#[test]
fn manifest_hash_disagreeing_with_hub_declaration_fails_before_the_transfer() {
    let hub = FakeHub::start();
    let mut manifest = hub.manifest();
    let wrong = sha256(b"something else");
    manifest
        .files
        .iter_mut()
        .find(|f| f.name == "model.safetensors")
        .unwrap()
        .sha256 = Some(wrong.clone());
    let cache = tempfile::tempdir().unwrap();
    let err = resolve_with_manifest(
        &options(&hub, cache.path(), true),
        &manifest,
        &mut NoProgress,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains(&wrong),
        "{msg}"
    );
    assert!(
        msg.contains(&sha256(&hub.body("model.safetensors"))),
        "{msg}"
    );
    assert_no_final_weights(cache.path(), &manifest);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p))
            } else {
                out.push(p)
            }
        }
    }
    out
}

#[test]
fn cut_off_transfer_fails_cleanly_and_a_retry_completes() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    hub.state.lock().unwrap().cut_off_next = Some("model.safetensors".into());
    let cache = tempfile::tempdir().unwrap();
    let err = resolve_with_manifest(
        &options(&hub, cache.path(), true),
        &manifest,
        &mut NoProgress,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("model.safetensors"), "{msg}");
    assert!(
        matches!(
            err,
            WeightsError::Truncated { .. } | WeightsError::Download { .. }
        ),
        "unexpected error kind: {msg}"
    );
    assert_no_final_weights(cache.path(), &manifest);
    let offline = resolve_with_manifest(
        &options(&hub, cache.path(), false),
        &manifest,
        &mut NoProgress,
    );
    assert!(
        matches!(offline, Err(WeightsError::NotAvailable { .. })),
        "half download treated as cached"
    );

    // The next attempt (resuming or restarting) yields the complete, verified file.
    let files = resolve_with_manifest(
        &options(&hub, cache.path(), true),
        &manifest,
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&files.weights).unwrap(),
        hub.body("model.safetensors")
    );
}

#[test]
fn cancelled_download_leaves_nothing_under_the_final_name() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    let cache = tempfile::tempdir().unwrap();
    let mut rec = Recorder {
        cancel_at: Some(1),
        ..Default::default()
    };
    let err =
        resolve_with_manifest(&options(&hub, cache.path(), true), &manifest, &mut rec).unwrap_err();
    assert!(matches!(err, WeightsError::Cancelled { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    assert_no_final_weights(cache.path(), &manifest);
    let files = resolve_with_manifest(
        &options(&hub, cache.path(), true),
        &manifest,
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(
        sha256_file(&files.weights).unwrap(),
        sha256(&hub.body("model.safetensors"))
    );
}

#[test]
fn explicit_model_dir_wins_over_cache_and_download() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::write(dir.path().join(f), b"local").unwrap();
    }
    let mut opts = options(&hub, cache.path(), true);
    opts.model_dir = Some(dir.path().to_path_buf());
    let files = resolve_with_manifest(&opts, &manifest, &mut NoProgress).unwrap();
    assert_eq!(files, ModelFiles::from_dir(dir.path()).unwrap());
    assert_eq!(files.revision, None);
    assert_eq!(hub.requests(), 0);

    // An explicit but incomplete folder is an error, not a silent fallback to a download.
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = resolve_with_manifest(&opts, &manifest, &mut NoProgress).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains(&dir.path().display().to_string()),
        "{msg}"
    );
    opts.model_dir = Some(dir.path().join("does-not-exist"));
    let msg = resolve_with_manifest(&opts, &manifest, &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("does-not-exist") && msg.contains("--model-dir"),
        "{msg}"
    );
    assert_eq!(hub.requests(), 0);
}

#[test]
fn offline_without_cache_names_the_folder_and_the_files() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    let cache = tempfile::tempdir().unwrap();
    let err = resolve_with_manifest(
        &options(&hub, cache.path(), false),
        &manifest,
        &mut NoProgress,
    )
    .unwrap_err();
    let msg = err.to_string();
    let folder = model_cache_dir(cache.path(), &manifest);
    for needle in [
        folder.display().to_string().as_str(),
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "--model-dir",
        "KNEECLIP_MODEL_DIR",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    assert_eq!(hub.requests(), 0);

    // Download allowed but the hub is unreachable: same guidance.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let opts = ResolveOptions {
        endpoint: Some(dead_endpoint),
        ..options(&hub, cache.path(), true)
    };
    let err = resolve_with_manifest(&opts, &manifest, &mut NoProgress).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, WeightsError::Download { .. }), "{msg}");
    assert!(
        msg.contains(&folder.display().to_string()) && msg.contains("model.safetensors"),
        "{msg}"
    );
}

#[test]
fn files_copied_by_hand_into_the_cache_folder_are_checked_against_the_manifest() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    let cache = tempfile::tempdir().unwrap();
    let folder = model_cache_dir(cache.path(), &manifest);
    std::fs::create_dir_all(&folder).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::write(folder.join(f), hub.body(f)).unwrap();
    }
    let files = resolve_with_manifest(
        &options(&hub, cache.path(), false),
        &manifest,
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(files.dir, folder);
    assert!(folder.join(VERIFIED_RECORD_FILE).is_file());

    // A wrong file (same size) is not accepted offline.
    let cache2 = tempfile::tempdir().unwrap();
    let folder2 = model_cache_dir(cache2.path(), &manifest);
    std::fs::create_dir_all(&folder2).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::write(folder2.join(f), hub.body(f)).unwrap();
    }
    std::fs::write(
        folder2.join("model.safetensors"),
        vec![0u8; hub.body("model.safetensors").len()],
    )
    .unwrap();
    let msg = resolve_with_manifest(
        &options(&hub, cache2.path(), false),
        &manifest,
        &mut NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("sha256"),
        "{msg}"
    );
    assert_eq!(hub.requests(), 0);
}

#[test]
fn a_hub_serving_another_commit_is_rejected() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    hub.state.lock().unwrap().commit = "fedcba9876543210fedcba9876543210fedcba98".into();
    let cache = tempfile::tempdir().unwrap();
    let err = resolve_with_manifest(
        &options(&hub, cache.path(), true),
        &manifest,
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(
        matches!(err, WeightsError::RevisionMismatch { .. }),
        "{err}"
    );
    assert_no_final_weights(cache.path(), &manifest);
}
