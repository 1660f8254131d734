//! Local provider (placeholder).
