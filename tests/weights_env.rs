//! `KNEECLIP_MODEL_DIR` precedence. Environment variables are process-global, so this
//! binary holds exactly one test that touches them.

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
