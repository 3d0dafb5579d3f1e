//! weights (being built).
