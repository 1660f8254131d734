//! Findings, severities, categories and source locations: the one model every rule produces
//! and every reporter consumes.
//!
//! Rules never compute line numbers themselves; they blame a [`Loc`] taken from a parsed node,
//! and reporters turn it into the shape their format wants (1-based columns everywhere).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Index of a file in the run's [`crate::audit::SourceMap`].
pub type FileId = u32;

/// A position in a source file: 1-based line, 1-based column (in characters), and the length
/// of the blamed token on that line (0 when unknown or when the token spans several lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub file: FileId,
    pub line: u32,
    pub col: u32,
    pub len: u32,
}

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy family a rule belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    LeastPrivilege,
    NetworkIsolation,
    SecretsHygiene,
    SupplyChain,
    TransportSecurity,
    /// Findings about the audit configuration itself (suppressions, exceptions).
    Policy,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::LeastPrivilege => "least-privilege",
            Category::NetworkIsolation => "network-isolation",
            Category::SecretsHygiene => "secrets-hygiene",
            Category::SupplyChain => "supply-chain",
            Category::TransportSecurity => "transport-security",
            Category::Policy => "policy",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secondary location that helps explain a finding ("the network is defined here").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    pub loc: Loc,
    /// Shared, not owned: one annotation (such as the Helm template a document was rendered
    /// from) is often attached to thousands of findings.
    pub message: Arc<str>,
}

/// One problem found by one rule, blamed on exactly one primary location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub category: Category,
    pub severity: Severity,
    pub message: String,
    /// What to do about it, in one sentence. Nearly always a fixed text, so borrowed:
    /// a large run emits one per finding, and copying each would be a heap allocation.
    pub help: Option<Cow<'static, str>>,
    pub loc: Loc,
    pub related: Vec<Related>,
    /// The object the finding is about, e.g. `service webapp` or `Deployment default/api`.
    pub resource: Option<String>,
    /// The blamed token is a secret: reporters must never print the source text under it.
    pub redact: bool,
}

/// An input that could not be read or parsed. It makes the run exit 2, but other files are
/// still audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub path: String,
    /// 1-based line and column, when the error has a position.
    pub line: Option<u32>,
    pub col: Option<u32>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (Some(l), Some(c)) => write!(f, "{}:{}:{}: {}", self.path, l, c, self.message),
            (Some(l), None) => write!(f, "{}:{}: {}", self.path, l, self.message),
            _ => write!(f, "{}: {}", self.path, self.message),
        }
    }
}
