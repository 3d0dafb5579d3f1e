//! Training: dataset discovery and summaries, splits (stratified, k-fold,
//! grouped by patient), augmentation, the frozen-feature cache, the
//! differentiable trainable part, AdamW, the [`trainer::Trainer`] and the
//! [`session::Session`] that takes a run from datasets to a written head.
//!
//! Why the cache (measured with `tests/training_timing.rs`, full ViT-B/32,
//! random weights, 2 CPU cores, 16 films): embedding + the 10 frozen blocks
//! take ~321 ms/film, the trainable part's forward + backward ~244 ms/film.
//! The frozen output for a (film, view) never changes, so it is computed once
//! per view and kept in f16 ([`cache`]); a training film takes one of a finite
//! set of views (mirror × 5 angles = 10), so over 30 epochs each film's frozen
//! part runs ~10 times instead of 30, and validation films once in total.

pub mod adamw;
pub mod augment;
pub mod cpu_blocks;
pub mod cache;
pub mod calibration;
pub mod checkpoint;
pub mod config;
pub mod dataset;
pub mod eta;
pub mod forward;
pub mod fused;
pub mod outputs;
pub mod overlap;
pub mod session;
pub mod sidecar;
pub mod split;
pub mod trainer;

pub use dataset::{Dataset, DatasetError, DatasetSummary, Film, KneeSides};
pub use split::{patient_id, stratified_k_fold, stratified_split};
