//! Typed views over loaded documents, one module per input kind.

pub mod aci;
pub mod compose;
pub mod dockerfile;
pub mod interpolate;
pub mod kubernetes;

use crate::audit::yaml::Node;

/// What a YAML/JSON document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocKind {
    Compose,
    Aci,
    Kubernetes,
    /// A Dockerfile or Containerfile (recognised by file name, never by content).
    Dockerfile,
    Other,
}

/// Kubernetes objects have `apiVersion` and `kind`.
pub fn is_kubernetes(root: &Node) -> bool {
    root.get("apiVersion").and_then(Node::as_str).is_some()
        && root.get("kind").and_then(Node::as_str).is_some()
}

/// Classifies one document by content.
pub fn classify(root: &Node) -> DocKind {
    if aci::is_container_group(root) {
        DocKind::Aci
    } else if is_kubernetes(root) {
        DocKind::Kubernetes
    } else if compose::looks_like_compose(root) {
        DocKind::Compose
    } else {
        DocKind::Other
    }
}
