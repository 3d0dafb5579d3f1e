//! grading (being built).
