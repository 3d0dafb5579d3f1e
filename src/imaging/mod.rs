//! imaging (being built).
