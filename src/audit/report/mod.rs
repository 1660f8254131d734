//! Reporters: one function per output format, all reading the same [`Report`].
//!
//! Every format shows the same findings in the same (sorted) order. No reporter prints the
//! source text under a finding marked `redact` (secret values never reach output).

use std::io::{self, Write};

use crate::audit::finding::{Finding, InputError, Severity};
use crate::audit::rules::meta::RuleMeta;
use crate::audit::sources::SourceMap;

pub mod github;
pub mod json;
pub mod junit;
pub mod sarif;
pub mod text;

/// Output formats of `audit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Junit,
    Github,
}

/// Counts shown in summaries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files read and audited (any kind).
    pub files_scanned: usize,
    /// YAML/JSON files that were neither compose, Kubernetes nor another known kind.
    pub files_skipped: usize,
    pub compose_files: usize,
    pub kubernetes_documents: usize,
    /// Azure Container Instances container groups.
    pub aci_groups: usize,
    pub dockerfiles: usize,
    pub findings_suppressed: usize,
}

/// Everything a reporter needs. `findings` are sorted by file, line, column, rule.
pub struct Report<'a> {
    pub findings: &'a [Finding],
    pub errors: &'a [InputError],
    pub sources: &'a SourceMap,
    /// Rules that were enabled for this run (SARIF lists them as `tool.driver.rules`).
    pub rules: &'a [&'static RuleMeta],
    pub summary: &'a Summary,
    /// Findings at or above this severity fail the run.
    pub fail_on: Severity,
}

/// Text output options.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    pub color: bool,
}

/// Writes `report` in `format`.
pub fn write(
    format: Format,
    report: &Report<'_>,
    text: TextOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => text::write(report, text, out),
        Format::Json => json::write(report, out),
        Format::Sarif => sarif::write(report, out),
        Format::Junit => junit::write(report, out),
        Format::Github => github::write(report, out),
    }
}

/// A finding's fingerprint: 16 lowercase hex digits, held inline because a large report
/// has one per finding and a heap string each would be tens of thousands of allocations.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    fn from_hash(h: u64) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = HEX[((h >> (60 - 4 * i)) & 0xf) as usize];
        }
        Fingerprint(out)
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII hex digits, so never the empty fallback.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({})", self.as_str())
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A stable fingerprint of a finding that survives unrelated edits that shift lines:
/// FNV-1a over rule id, path, resource and the trimmed text of the blamed line.
pub fn fingerprint(f: &Finding, sources: &SourceMap) -> Fingerprint {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(f.rule.as_bytes());
    eat(sources.path(f.loc.file).as_bytes());
    eat(f.resource.as_deref().unwrap_or("").as_bytes());
    let line = sources.line(f.loc.file, f.loc.line).unwrap_or("");
    // A redacted finding's line holds a secret: hash only the text before the blamed token
    // (the key), so the published fingerprint cannot be brute-forced back into the value.
    let line = if f.redact {
        let cut = line
            .char_indices()
            .nth(f.loc.col.saturating_sub(1) as usize)
            .map_or(line.len(), |(i, _)| i);
        &line[..cut]
    } else {
        line
    };
    eat(line.trim().as_bytes());
    Fingerprint::from_hash(h)
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;

    #[test]
    fn fingerprints_are_the_zero_padded_lowercase_hex_of_the_hash() {
        // Baselines store these strings: the inline form must match `{:016x}` exactly.
        for h in [0, 1, 0xf, 0xdead_beef, 0x0123_4567_89ab_cdef, u64::MAX] {
            let f = Fingerprint::from_hash(h);
            assert_eq!(f.as_str(), format!("{h:016x}"));
            assert_eq!(f.to_string(), format!("{h:016x}"));
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{h:016x}\""));
        }
    }
}
