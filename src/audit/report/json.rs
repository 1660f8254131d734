//! Machine-readable report (`--format json`): one JSON document and a newline, written with
//! one finding per line (compact JSON inside each line): easy to `grep`, and the findings are
//! serialised in parallel, which matters for reports with tens of thousands of findings.
//!
//! The schema is versioned by the top-level `version`. Within a version, fields are only ever
//! added, never renamed, removed or retyped; every field below is always present (absent values
//! are `null`, never left out). Version 1:
//!
//! | field | type | meaning |
//! | --- | --- | --- |
//! | `version` | integer | schema version, `1` |
//! | `tool.name` | string | `"elastics-sec"` |
//! | `tool.version` | string | version of the binary |
//! | `findings[]` | array | in report order: by file, line, column, rule |
//! | `findings[].rule` | string | rule id (kebab-case, stable) |
//! | `findings[].category` | string | `least-privilege`, `network-isolation`, `secrets-hygiene`, `supply-chain`, `transport-security` or `policy` |
//! | `findings[].severity` | string | `critical`, `high`, `medium`, `low` or `info` (after policy overrides) |
//! | `findings[].message` | string | what is wrong |
//! | `findings[].help` | string or null | what to do about it |
//! | `findings[].path` | string | file as given on the command line (`<stdin>` for standard input) |
//! | `findings[].line` | integer | 1-based line |
//! | `findings[].column` | integer | 1-based column, in characters (Unicode scalar values) |
//! | `findings[].end_column` | integer or null | column just past the blamed token (exclusive); null when its length is unknown |
//! | `findings[].resource` | string or null | the object concerned, e.g. `service webapp` |
//! | `findings[].fingerprint` | string | 16 hex digits, stable across edits that only shift lines; for baselines |
//! | `findings[].related[]` | array | secondary locations: `path`, `line`, `column` (as above) and `message` |
//! | `errors[]` | array | inputs that could not be read or parsed |
//! | `errors[].path` | string | the input |
//! | `errors[].line`, `errors[].column` | integer or null | 1-based position, when known |
//! | `errors[].message` | string | what went wrong |
//! | `summary.files_scanned` | integer | files read and audited |
//! | `summary.files_skipped` | integer | YAML/JSON files of no known kind |
//! | `summary.compose_files` | integer | compose files audited |
//! | `summary.kubernetes_documents` | integer | Kubernetes documents audited |
//! | `summary.aci_groups` | integer | Azure Container Instances container groups audited |
//! | `summary.dockerfiles` | integer | Dockerfiles audited |
//! | `summary.findings_suppressed` | integer | findings silenced by inline suppressions or policy exceptions |
//! | `summary.by_severity` | object | `critical`, `high`, `medium`, `low`, `info`: number of findings of each |
//! | `summary.fail_on` | string | the severity threshold of the run |
//! | `summary.failed` | boolean | true when a finding is at or above `fail_on` or there is an input error |
//!
//! No source text is ever included, so secrets under redacted findings cannot leak here.

use std::io::{self, Write};

use serde::Serialize;

use crate::audit::finding::{Category, Severity};
use crate::audit::report::text::{count, failed};
use crate::audit::report::{fingerprint, Report};

/// Bumped only for incompatible changes to the document's shape.
const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    tool: Tool,
    /// Always empty here: findings are written separately, one per line (see `write`).
    findings: [(); 0],
    errors: Vec<JsonError<'a>>,
    summary: JsonSummary,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule: &'a str,
    category: Category,
    severity: Severity,
    message: &'a str,
    help: Option<&'a str>,
    path: &'a str,
    line: u32,
    column: u32,
    end_column: Option<u32>,
    resource: Option<&'a str>,
    fingerprint: String,
    related: RelatedList<'a>,
}

/// Serialised straight from the finding's list: no vector built per finding.
struct RelatedList<'a> {
    related: &'a [crate::audit::finding::Related],
    sources: &'a crate::audit::sources::SourceMap,
}

impl Serialize for RelatedList<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.related.iter().map(|r| JsonRelated {
            path: self.sources.path(r.loc.file),
            line: r.loc.line,
            column: r.loc.col,
            message: &r.message,
        }))
    }
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    path: &'a str,
    line: u32,
    column: u32,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonError<'a> {
    path: &'a str,
    line: Option<u32>,
    column: Option<u32>,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonSummary {
    files_scanned: usize,
    files_skipped: usize,
    compose_files: usize,
    kubernetes_documents: usize,
    aci_groups: usize,
    dockerfiles: usize,
    findings_suppressed: usize,
    by_severity: BySeverity,
    fail_on: Severity,
    failed: bool,
}

/// A struct rather than a map so all five keys are always present, in a fixed order.
#[derive(Serialize)]
struct BySeverity {
    critical: usize,
    high: usize,
    medium: usize,
    low: usize,
    info: usize,
}

/// Writes `report` as the version-1 JSON document described in the module header.
pub fn write(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    use rayon::prelude::*;
    let one = |buf: &mut Vec<u8>, f: &crate::audit::finding::Finding| -> serde_json::Result<()> {
        serde_json::to_writer(
            buf,
            &JsonFinding {
                rule: f.rule,
                category: f.category,
                severity: f.severity,
                message: &f.message,
                help: f.help.as_deref(),
                path: report.sources.path(f.loc.file),
                line: f.loc.line,
                column: f.loc.col,
                end_column: (f.loc.len > 0).then(|| f.loc.col.saturating_add(f.loc.len)),
                resource: f.resource.as_deref(),
                fingerprint: fingerprint(f, report.sources),
                related: RelatedList {
                    related: &f.related,
                    sources: report.sources,
                },
            },
        )
    };
    let errors = report
        .errors
        .iter()
        .map(|e| JsonError {
            path: &e.path,
            line: e.line,
            column: e.col,
            message: &e.message,
        })
        .collect();
    let s = report.summary;
    let doc = Document {
        version: SCHEMA_VERSION,
        tool: Tool {
            name: "elastics-sec",
            version: env!("CARGO_PKG_VERSION"),
        },
        findings: [],
        errors,
        summary: JsonSummary {
            files_scanned: s.files_scanned,
            files_skipped: s.files_skipped,
            compose_files: s.compose_files,
            kubernetes_documents: s.kubernetes_documents,
            aci_groups: s.aci_groups,
            dockerfiles: s.dockerfiles,
            findings_suppressed: s.findings_suppressed,
            by_severity: BySeverity {
                critical: count(report.findings, Severity::Critical),
                high: count(report.findings, Severity::High),
                medium: count(report.findings, Severity::Medium),
                low: count(report.findings, Severity::Low),
                info: count(report.findings, Severity::Info),
            },
            fail_on: report.fail_on,
            failed: failed(report),
        },
    };
    // Serialise the frame with an empty findings array, then splice the findings in.
    let frame = serde_json::to_string(&doc)?;
    let marker = "\"findings\":[]";
    let Some(at) = frame.find(marker) else {
        return Err(io::Error::other("JSON frame without a findings array"));
    };
    let (head, tail) = frame.split_at(at + marker.len() - 1);
    out.write_all(head.as_bytes())?;
    // Serialised in parallel, a bounded window at a time so memory stays flat for huge
    // reports while every core works. Each task fills one buffer for a run of findings:
    // one allocation per run, not one per finding (a large report has 100k+ findings).
    const RUN: usize = 256;
    let mut first = true;
    for window in report.findings.chunks(RUN * 16) {
        let parts: Vec<Vec<u8>> = window
            .par_chunks(RUN)
            .map(|run| {
                let mut buf = Vec::with_capacity(run.len() * 448);
                for f in run {
                    buf.extend_from_slice(b",\n");
                    one(&mut buf, f)?;
                }
                Ok(buf)
            })
            .collect::<serde_json::Result<_>>()?;
        for part in parts {
            // Every finding is preceded by ",\n"; the very first drops its comma.
            let skip = usize::from(std::mem::take(&mut first));
            out.write_all(&part[skip.min(part.len())..])?;
        }
    }
    if !report.findings.is_empty() {
        out.write_all(b"\n")?;
    }
    out.write_all(tail.as_bytes())?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::audit::report::text::fixture::{self, SECRET};

    fn parse(fx: &fixture::Fixture) -> (String, Value) {
        let out = fixture::render(fx, write);
        let value = serde_json::from_str(&out).expect("valid JSON");
        (out, value)
    }

    #[test]
    fn has_the_documented_shape() {
        let fx = fixture::full();
        let (out, v) = parse(&fx);
        assert!(out.ends_with("}\n"));
        assert_eq!(v["version"], 1);
        assert_eq!(v["tool"]["name"], "elastics-sec");
        assert_eq!(v["tool"]["version"], env!("CARGO_PKG_VERSION"));

        let findings = v["findings"].as_array().expect("findings array");
        assert_eq!(findings.len(), 3);
        let port = &findings[1];
        let mut keys: Vec<&str> = port
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut documented = [
            "rule",
            "category",
            "severity",
            "message",
            "help",
            "path",
            "line",
            "column",
            "end_column",
            "resource",
            "fingerprint",
            "related",
        ];
        documented.sort_unstable();
        assert_eq!(keys, documented);
        assert_eq!(port["rule"], "port-published-all-interfaces");
        assert_eq!(port["category"], "network-isolation");
        assert_eq!(port["severity"], "high");
        assert_eq!(port["path"], "examples/insecure/compose.yaml");
        assert_eq!(
            (port["line"].clone(), port["column"].clone()),
            (json!(5), json!(9))
        );
        assert_eq!(port["end_column"], 18);
        assert_eq!(port["resource"], "service webapp");
        assert_eq!(
            port["fingerprint"],
            fingerprint(&fx.findings[1], &fx.sources).as_str()
        );
        assert_eq!(
            port["related"],
            json!([{
                "path": "examples/insecure/compose.yaml",
                "line": 9,
                "column": 3,
                "message": "network `front` is defined here"
            }])
        );
        // Absent values are null, not missing.
        assert_eq!(findings[2]["help"], Value::Null);

        assert_eq!(
            v["errors"],
            json!([{
                "path": "k8s/broken, copy.yaml",
                "line": 4,
                "column": 2,
                "message": "did not find expected key <b> & \"c\" 'd'\u{1}\n100% sure"
            }])
        );
        assert_eq!(
            v["summary"],
            json!({
                "files_scanned": 4,
                "files_skipped": 2,
                "compose_files": 1,
                "kubernetes_documents": 3,
                "aci_groups": 0,
                "dockerfiles": 0,
                "findings_suppressed": 2,
                "by_severity": {"critical": 1, "high": 1, "medium": 1, "low": 0, "info": 0},
                "fail_on": "high",
                "failed": true
            })
        );
    }

    #[test]
    fn clean_run_is_not_failed() {
        let (_, v) = parse(&fixture::clean());
        assert_eq!(v["findings"], json!([]));
        assert_eq!(v["errors"], json!([]));
        assert_eq!(v["summary"]["failed"], false);
    }

    #[test]
    fn never_contains_the_secret() {
        let (out, _) = parse(&fixture::full());
        assert!(!out.contains(SECRET));
    }
}
