//! The resolver against a fake Hugging Face hub (see `weights_support/fake_hub.rs`).

#[path = "weights_support/fake_hub.rs"]
mod fake_hub;

use std::net::TcpListener;
use std::path::Path;

use fake_hub::{COMMIT, FakeHub, REPO, sha256};
use kneeclip::weights::{
    DownloadProgress, Manifest, ModelFiles, NoProgress, ResolveOptions, VERIFIED_RECORD_FILE,
    WeightsError, model_cache_dir, resolve_with_manifest, sha256_file,
};

/// Records progress calls; optionally cancels once `cancel_at` bytes of the weights arrived.
#[derive(Default)]
struct Recorder {
    events: Vec<String>,
    current: String,
    last: u64,
    cancel_at: Option<u64>,
    /// None: the default (30 s).
    idle_timeout: Option<std::time::Duration>,
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
    fn resuming(&mut self, bytes: u64) {
        self.events.push(format!("resuming {bytes}"));
    }
    fn cancelled(&self) -> bool {
        self.current == "model.safetensors" && self.cancel_at.is_some_and(|c| self.last >= c)
    }
    fn idle_timeout(&self) -> std::time::Duration {
        self.idle_timeout.unwrap_or_else(kneeclip::weights::default_idle_timeout)
    }
}

fn options(hub: &FakeHub, cache: &Path, allow_download: bool) -> ResolveOptions {
    ResolveOptions {
        model_dir: None,
        model_dir_from_viewer: false,
        allow_download,
        endpoint: Some(hub.endpoint.clone()),
        cache_dir: Some(cache.to_path_buf()),
        // Not the host's /usr/share: a system-wide copy there would change what these tests see.
        data_dirs: Some(vec![cache.join("no-system-data")]),
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
    eprintln!("{msg}");
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
    eprintln!("{msg}");
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
    eprintln!("{msg}");
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

fn part_files(cache: &Path) -> Vec<(std::path::PathBuf, u64)> {
    walk(cache).into_iter().filter(|p| p.extension().is_some_and(|e| e == "part")).map(|p| (p.clone(), std::fs::metadata(&p).unwrap().len())).collect()
}

/// A server that stopped sending mid-file once hung the download for ever.
#[test]
fn a_stalled_transfer_times_out_keeps_what_arrived_and_the_next_run_resumes() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    hub.state.lock().unwrap().stall_next = Some("model.safetensors".into());
    let cache = tempfile::tempdir().unwrap();
    let mut rec = Recorder { idle_timeout: Some(std::time::Duration::from_millis(500)), ..Default::default() };
    let err = resolve_with_manifest(&options(&hub, cache.path(), true), &manifest, &mut rec).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, WeightsError::Download { .. }), "{msg}");
    assert!(msg.contains("model.safetensors") && msg.contains("sent nothing for 0.5 s") && msg.contains("resumed"), "{msg}");
    assert_no_final_weights(cache.path(), &manifest);
    assert_half_kept_then_resumed(&hub, cache.path(), &manifest);
}

/// A server that accepts the connection and never answers gave no output at all.
#[test]
fn a_server_that_never_answers_times_out() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream); // accepted, never read or answered
        }
    });
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    let cache = tempfile::tempdir().unwrap();
    let opts = ResolveOptions { endpoint: Some(endpoint), ..options(&hub, cache.path(), true) };
    let mut rec = Recorder { idle_timeout: Some(std::time::Duration::from_millis(500)), ..Default::default() };
    let err = resolve_with_manifest(&opts, &manifest, &mut rec).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, WeightsError::Download { .. }), "{msg}");
    assert!(msg.contains("config.json") && msg.contains("sent nothing for 0.5 s"), "{msg}");
}

/// In the viewer, Cancel did nothing while the server stalled: the flag was
/// only looked at between two reads. The idle timeout here is far longer than
/// any test: only the cancel can end this download.
#[test]
fn cancel_ends_a_stalled_download() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    hub.state.lock().unwrap().stall_next = Some("model.safetensors".into());
    let half = hub.body("model.safetensors").len() as u64 / 2;
    let cache = tempfile::tempdir().unwrap();
    let mut rec = Recorder { cancel_at: Some(half), idle_timeout: Some(std::time::Duration::from_secs(3600)), ..Default::default() };
    let err = resolve_with_manifest(&options(&hub, cache.path(), true), &manifest, &mut rec).unwrap_err();
    assert!(matches!(err, WeightsError::Cancelled { .. }), "{err}");
    assert_no_final_weights(cache.path(), &manifest);
    assert_eq!(part_files(cache.path()).iter().map(|(_, len)| *len).collect::<Vec<_>>(), [half], "the part received is kept");
    // What was kept, and where, is said (the CLI said nothing on Ctrl-C), and the next run says it resumes from there.
    assert!(matches!(&err, WeightsError::Cancelled { kept: Some((kept, staging)), .. } if *kept == half && err.to_string().contains(&format!("kept in {}, the next download resumes", staging.display()))), "{err}");
    let mut again = Recorder::default();
    resolve_with_manifest(&options(&hub, cache.path(), true), &manifest, &mut again).unwrap();
    assert!(again.events.contains(&format!("resuming {half}")), "{:?}", again.events);
}

/// Holds the first progress report of the weights until the other download
/// says it waits; records what it was told.
struct Gate {
    other_waits: std::sync::mpsc::Receiver<()>,
    held: bool,
}

impl DownloadProgress for Gate {
    fn started(&mut self, _file: &str, _total: Option<u64>) {}
    fn advanced(&mut self, _so_far: u64) {
        if !self.held {
            self.held = true;
            // A hang guard only: the other download says it waits within moments.
            self.other_waits.recv_timeout(std::time::Duration::from_secs(60)).expect("the other download never waited for this one");
        }
    }
    fn finished(&mut self, _file: &str) {}
}

struct Waiter {
    said: Option<String>,
    tell: std::sync::mpsc::Sender<()>,
}

impl DownloadProgress for Waiter {
    fn started(&mut self, _file: &str, _total: Option<u64>) {}
    fn advanced(&mut self, _so_far: u64) {}
    fn finished(&mut self, _file: &str) {}
    fn waiting(&mut self, message: &str) {
        self.said = Some(message.into());
        let _ = self.tell.send(());
    }
}

/// Parallel first runs on an empty cache failed with "Lock acquisition
/// failed" or "No such file or directory … Check the network connection".
#[test]
fn a_second_download_into_the_same_cache_waits_for_the_first_and_uses_its_copy() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    let cache = tempfile::tempdir().unwrap();
    let (tell, other_waits) = std::sync::mpsc::channel();
    let opts = options(&hub, cache.path(), true);
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| resolve_with_manifest(&opts, &manifest, &mut Gate { other_waits, held: false }));
        // Started once the first holds the cache (its weights are on their way).
        while hub.state.lock().unwrap().ranges.is_empty() {
            std::thread::yield_now();
        }
        let mut waiter = Waiter { said: None, tell };
        let second = resolve_with_manifest(&opts, &manifest, &mut waiter);
        (first.join().unwrap(), second.map(|f| (f, waiter.said)))
    });
    let first = first.unwrap();
    let (second, said) = second.unwrap();
    assert_eq!(first, second);
    let said = said.expect("the second said it waits");
    assert!(said.contains("another kneeclip is downloading") && said.contains(&first.dir.display().to_string()), "{said}");
    assert_eq!(std::fs::read(&second.weights).unwrap(), hub.body("model.safetensors"));
    let transfers = hub.state.lock().unwrap().ranges.iter().filter(|(f, _)| f == "model.safetensors").count();
    assert_eq!(transfers, 1, "the weights were downloaded twice");
}

/// hf-hub cannot be interrupted, so a download given up on (a stall, a cancel)
/// goes on on a detached thread. When the server recovers, that thread must not
/// finish the file behind kneeclip's back: it stops at its next read, what it
/// wrote stays a part in its own folder, and the next run resumes from there.
#[test]
fn a_download_given_up_on_stops_when_the_server_recovers_and_is_resumed() {
    let hub = FakeHub::start();
    let manifest = hub.manifest();
    hub.state.lock().unwrap().pause_next = Some(("model.safetensors".into(), std::time::Duration::from_millis(1500)));
    let cache = tempfile::tempdir().unwrap();
    let mut rec = Recorder { idle_timeout: Some(std::time::Duration::from_millis(300)), ..Default::default() };
    let err = resolve_with_manifest(&options(&hub, cache.path(), true), &manifest, &mut rec).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, WeightsError::Download { .. }) && msg.contains("sent nothing for 0.3 s"), "{msg}");
    // The server sends the rest meanwhile; the detached thread reads it and stops.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_no_final_weights(cache.path(), &manifest);
    let full = sha256(&hub.body("model.safetensors"));
    let complete: Vec<_> = walk(cache.path()).into_iter().filter(|p| std::fs::read(p).ok().map(|b| sha256(&b)) == Some(full.clone())).collect();
    assert!(complete.is_empty(), "the given-up download was finished: {complete:?}");
    assert_half_kept_then_resumed(&hub, cache.path(), &manifest);
    assert!(!cache.path().join("models").join(".staging").exists(), "the ended attempt was not cleaned up");
}

/// After a download given up half way: the half received is kept, and the
/// next run finishes the file by asking the hub for the rest only.
fn assert_half_kept_then_resumed(hub: &FakeHub, cache: &Path, manifest: &Manifest) {
    let half = hub.body("model.safetensors").len() as u64 / 2;
    assert_eq!(part_files(cache).iter().map(|(_, len)| *len).collect::<Vec<_>>(), [half], "the part received is kept");
    let files = resolve_with_manifest(&options(hub, cache, true), manifest, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&files.weights).unwrap(), hub.body("model.safetensors"));
    let ranges = hub.state.lock().unwrap().ranges.clone();
    assert_eq!(ranges.last().unwrap(), &("model.safetensors".to_string(), half), "resumed from the part: {ranges:?}");
}
