//! Atomic writer of secret files into a memory-backed directory (see README "Sink").
//!
//! Placeholder: the generation writer lands in the next commit; only name validation,
//! which config validation needs, is here.

/// Errors of the sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("invalid file name {0:?}: {1}")]
    BadName(String, &'static str),
}

/// A user-visible file name: one path component, printable, not `.`/`..`, not hidden by
/// accident of the generation scheme (`..` prefix is reserved).
pub fn validate_name(name: &str) -> Result<(), SinkError> {
    let bad = |why| Err(SinkError::BadName(name.to_string(), why));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 255 {
        return bad("longer than 255 bytes");
    }
    if name == "." || name == ".." || name.starts_with("..") {
        return bad("`.`, `..` and names starting with `..` are reserved");
    }
    if name.contains('/') || name.contains('\\') {
        return bad("contains a path separator");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    Ok(())
}
