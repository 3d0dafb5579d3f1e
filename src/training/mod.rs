//! Training support: dataset discovery and summaries, splits (stratified,
//! k-fold, grouped by patient).
//!
//! The trainer itself (differentiable last blocks, AdamW, checkpoints) is not
//! in this module yet.

pub mod adamw;
pub mod augment;
pub mod cache;
pub mod dataset;
pub mod forward;
pub mod split;
pub mod trainer;

pub use dataset::{Dataset, DatasetError, DatasetSummary, Film};
pub use split::{patient_id, stratified_k_fold, stratified_split};
