//! Embeds what `kneeclip --version` and the About window report: the git commit
//! the binary was built from and the compute features compiled in.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown commit".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=KNEECLIP_GIT_COMMIT={commit}{}", if dirty { "+changes" } else { "" });

    let mut features = vec!["cpu"];
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        features.push("cuda");
    }
    println!("cargo:rustc-env=KNEECLIP_FEATURES={}", features.join(", "));

    // Rebuild the version when the checked-out commit moves. Only existing paths
    // are named: a missing one would make cargo rerun this script on every build.
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        for path in [git_dir.join("HEAD"), git_dir.join("index")] {
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let path = git_dir.join(reference);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
