//! What this binary is: version, commit and compute features (from build.rs).

/// "0.1.0 (commit 1a2b3c4d5e6f, features: cpu)".
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KNEECLIP_GIT_COMMIT"),
    ", features: ",
    env!("KNEECLIP_FEATURES"),
    ")"
);

/// Shown with every version and in the About window.
pub const DECISION_AID: &str =
    "kneeclip is a decision aid for reading knee radiographs, not a diagnosis and not a medical device.";
