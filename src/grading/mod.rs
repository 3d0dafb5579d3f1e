//! Grading: the five text anchors, the fine-tuned head and the `Grader`.

pub mod anchors;
pub mod grader;
pub mod head;
pub mod mirror;
pub mod regions;
pub mod side;

use std::path::PathBuf;

pub use anchors::{DEFAULT_ANCHORS, GRADE_NAMES, GRADES, TextAnchors};
pub use grader::{Assessment, Grader, Provenance};
pub use head::{FineTunedHead, HeadMetadata};
pub use mirror::MirrorCheck;
pub use regions::Region;
pub use side::{Side, SideView, side_and_view};

use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum GradeError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{path}: this head cannot be used: {reason}")]
    Head { path: PathBuf, reason: String },
    #[error("{path}: these anchors cannot be used: {reason}")]
    Anchors { path: PathBuf, reason: String },
    /// The model gave NaN or infinite similarities or probabilities: its
    /// weights (or head) are damaged, and no grade from it means anything.
    #[error("{weights}: the weights produce non-finite values ({what}): are they damaged? No grade is given; download the weights again or use another copy")]
    NonFinite { weights: String, what: String },
}

impl From<candle_core::Error> for GradeError {
    fn from(e: candle_core::Error) -> Self {
        GradeError::Model(ModelError::Compute(e))
    }
}

