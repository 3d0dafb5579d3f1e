//! `KNEECLIP_MODEL_DIR` precedence, and `KNEECLIP_OFFLINE` / `HF_HUB_OFFLINE`.
//! Environment variables are process-global, so this binary holds exactly one
//! test that touches its own; the others set them on a kneeclip they start.

use kneeclip::weights::{
    MODEL_DIR_ENV, Manifest, NoProgress, ResolveOptions, WeightsError, resolve_with_manifest,
};

#[test]
fn env_model_dir_is_used_and_the_flag_beats_it() {
    let env_dir = tempfile::tempdir().unwrap();
    let flag_dir = tempfile::tempdir().unwrap();
    for d in [env_dir.path(), flag_dir.path()] {
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::write(d.join(f), b"x").unwrap();
        }
    }
    let cache = tempfile::tempdir().unwrap(); // empty: would fail offline
    let manifest = Manifest::base();
    // SAFETY: the only test in this binary; no other thread reads the environment meanwhile.
    unsafe { std::env::set_var(MODEL_DIR_ENV, env_dir.path()) };

    let opts = ResolveOptions {
        model_dir: None,
        model_dir_from_viewer: false,
        allow_download: false,
        endpoint: Some("http://127.0.0.1:9".into()),
        cache_dir: Some(cache.path().to_path_buf()),
        data_dirs: Some(Vec::new()),
    };
    let files = resolve_with_manifest(&opts, &manifest, &mut NoProgress).unwrap();
    assert_eq!(files.dir, env_dir.path());
    assert_eq!(files.revision, None);

    let with_flag = ResolveOptions {
        model_dir: Some(flag_dir.path().to_path_buf()),
        ..opts.clone()
    };
    let files = resolve_with_manifest(&with_flag, &manifest, &mut NoProgress).unwrap();
    assert_eq!(files.dir, flag_dir.path());

    // An env folder lacking a file is reported with the variable's name, not skipped.
    std::fs::remove_file(env_dir.path().join("tokenizer.json")).unwrap();
    let err = resolve_with_manifest(&opts, &manifest, &mut NoProgress).unwrap_err();
    assert!(matches!(err, WeightsError::MissingFiles { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
    unsafe { std::env::set_var(MODEL_DIR_ENV, env_dir.path().join("nope")) };
    let msg = resolve_with_manifest(&opts, &manifest, &mut NoProgress)
        .unwrap_err()
        .to_string();
    assert!(msg.contains(MODEL_DIR_ENV) && msg.contains("nope"), "{msg}");

    // Empty value: ignored, so we fall through to the (empty) cache and the offline error.
    unsafe { std::env::set_var(MODEL_DIR_ENV, "") };
    let err = resolve_with_manifest(&opts, &manifest, &mut NoProgress).unwrap_err();
    assert!(matches!(err, WeightsError::NotAvailable { .. }), "{err}");
    unsafe { std::env::remove_var(MODEL_DIR_ENV) };
}

/// `kneeclip grade` with no weights anywhere and `var=1` set: refused, naming
/// the variable, with no download tried (the endpoint would refuse one:
/// without the switch the message is a failed download).
fn grade_offline_by(var: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let film = tmp.path().join("knee.png");
    std::fs::write(&film, b"not looked at").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kneeclip"))
        .args(["grade", film.to_str().unwrap()])
        .env_remove(MODEL_DIR_ENV)
        .env_remove("KNEECLIP_OFFLINE")
        .env_remove("HF_HUB_OFFLINE")
        .env("KNEECLIP_CACHE_DIR", tmp.path().join("cache"))
        .env("XDG_DATA_DIRS", tmp.path().join("no-data"))
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env(var, "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!tmp.path().join("cache/models").exists(), "a download was started");
    err
}

#[test]
fn kneeclip_offline_in_the_environment_refuses_a_download_and_says_why() {
    let err = grade_offline_by("KNEECLIP_OFFLINE");
    assert!(err.contains("are not available offline") && err.contains("downloading is switched off by KNEECLIP_OFFLINE=1 in the environment"), "{err}");
}

#[test]
fn hf_hub_offline_in_the_environment_refuses_a_download_and_says_why() {
    let err = grade_offline_by("HF_HUB_OFFLINE");
    assert!(err.contains("downloading is switched off by HF_HUB_OFFLINE=1 in the environment"), "{err}");
}
