//! AWS Secrets Manager provider (placeholder; implemented in its own change).
