//! Differential tests (placeholder).
