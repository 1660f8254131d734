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

use crate::audit::finding::{Finding, Loc, Severity};
use crate::audit::report::text::{count, failed};
use crate::audit::report::{fingerprint, Report};
use crate::audit::sources::SourceMap;

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
    // The window's buffers are reused from one window to the next, so a report of any
    // size touches one window's worth of memory.
    const RUN: usize = 256;
    const RUNS: usize = 16;
    // Sized (for a typical finding) here, on the calling thread, rather than grown by the
    // workers: a large allocation in a worker's malloc arena first consolidates every small
    // block the rules freed there (about 40% of this function's profile samples on the
    // Kubernetes benchmark corpus before the buffers were sized here).
    const TYPICAL: usize = 640;
    let runs_needed = report.findings.len().div_ceil(RUN).min(RUNS);
    let mut bufs: Vec<Vec<u8>> = (0..runs_needed)
        .map(|_| Vec::with_capacity(RUN * TYPICAL))
        .collect();
    let mut first = true;
    for window in report.findings.chunks(RUN * RUNS) {
        let runs = window.len().div_ceil(RUN);
        bufs[..runs]
            .par_iter_mut()
            .zip(window.par_chunks(RUN))
            .try_for_each(|(buf, run)| {
                buf.clear();
                for f in run {
                    buf.extend_from_slice(b",\n");
                    finding(buf, f, report.sources)?;
                }
                Ok::<_, serde_json::Error>(())
            })?;
        for part in &bufs[..runs] {
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

/// Appends one finding as compact JSON, with the fields and in the order of the module
/// header. Written by hand rather than through a derived `Serialize`, because a large report
/// has tens of thousands of findings: the keys are constant bytes instead of strings escaped
/// one by one, and values that need no escaping are copied in one go. The output is byte for
/// byte what serde_json writes for the same fields (tested below).
fn finding(buf: &mut Vec<u8>, f: &Finding, sources: &SourceMap) -> serde_json::Result<()> {
    buf.extend_from_slice(b"{\"rule\":");
    push_str(buf, f.rule)?;
    buf.extend_from_slice(b",\"category\":");
    push_str(buf, f.category.as_str())?;
    buf.extend_from_slice(b",\"severity\":");
    push_str(buf, f.severity.as_str())?;
    buf.extend_from_slice(b",\"message\":");
    push_str(buf, &f.message)?;
    buf.extend_from_slice(b",\"help\":");
    push_opt_str(buf, f.help.as_deref())?;
    buf.push(b',');
    push_position(buf, sources, f.loc)?;
    buf.extend_from_slice(b",\"end_column\":");
    match f.loc.len {
        0 => buf.extend_from_slice(b"null"),
        len => push_u32(buf, f.loc.col.saturating_add(len)),
    }
    buf.extend_from_slice(b",\"resource\":");
    push_opt_str(buf, f.resource.as_deref())?;
    buf.extend_from_slice(b",\"fingerprint\":");
    push_str(buf, fingerprint(f, sources).as_str())?;
    buf.extend_from_slice(b",\"related\":[");
    for (i, r) in f.related.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.push(b'{');
        push_position(buf, sources, r.loc)?;
        buf.extend_from_slice(b",\"message\":");
        push_str(buf, &r.message)?;
        buf.push(b'}');
    }
    buf.extend_from_slice(b"]}");
    Ok(())
}

/// Appends the `path`, `line` and `column` members of a location.
fn push_position(buf: &mut Vec<u8>, sources: &SourceMap, loc: Loc) -> serde_json::Result<()> {
    buf.extend_from_slice(b"\"path\":");
    push_str(buf, sources.path(loc.file))?;
    buf.extend_from_slice(b",\"line\":");
    push_u32(buf, loc.line);
    buf.extend_from_slice(b",\"column\":");
    push_u32(buf, loc.col);
    Ok(())
}

/// Appends `s` as a JSON string. Strings without a quote, backslash or control character
/// (nearly all of them) are copied in one go; the rest go through serde_json's own escaper.
fn push_str(buf: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    // No early exit, so the check compiles to a vectorised pass over the bytes.
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(&mut *buf, s)
    }
}

fn push_opt_str(buf: &mut Vec<u8>, s: Option<&str>) -> serde_json::Result<()> {
    match s {
        Some(s) => push_str(buf, s),
        None => {
            buf.extend_from_slice(b"null");
            Ok(())
        }
    }
}

fn push_u32(buf: &mut Vec<u8>, n: u32) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
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

    /// The derived form that `finding` must match byte for byte.
    #[derive(Serialize)]
    struct Reference<'a> {
        rule: &'a str,
        category: crate::audit::finding::Category,
        severity: Severity,
        message: &'a str,
        help: Option<&'a str>,
        path: &'a str,
        line: u32,
        column: u32,
        end_column: Option<u32>,
        resource: Option<&'a str>,
        fingerprint: String,
        related: Vec<ReferenceRelated<'a>>,
    }

    #[derive(Serialize)]
    struct ReferenceRelated<'a> {
        path: &'a str,
        line: u32,
        column: u32,
        message: &'a str,
    }

    #[test]
    fn findings_are_written_exactly_as_serde_json_writes_them() {
        let fx = fixture::full();
        let mut findings = fx.findings.clone();
        // Every kind of character the escaper has to get right.
        let tricky = "quote \" backslash \\ newline \n tab \t cr \r nul \u{0} bell \u{7} \
                      esc \u{1b} del \u{7f} é 漢 🔑 </script> \u{2028}";
        let f = &mut findings[0];
        f.message = tricky.to_owned();
        f.help = Some(tricky.to_owned().into());
        f.resource = Some(tricky.to_owned());
        f.related.push(crate::audit::finding::Related {
            loc: f.loc,
            message: tricky.into(),
        });
        findings[1].loc.len = 0;
        for f in &findings {
            let mut ours = Vec::new();
            finding(&mut ours, f, &fx.sources).unwrap();
            let theirs = serde_json::to_string(&Reference {
                rule: f.rule,
                category: f.category,
                severity: f.severity,
                message: &f.message,
                help: f.help.as_deref(),
                path: fx.sources.path(f.loc.file),
                line: f.loc.line,
                column: f.loc.col,
                end_column: (f.loc.len > 0).then(|| f.loc.col + f.loc.len),
                resource: f.resource.as_deref(),
                fingerprint: fingerprint(f, &fx.sources).to_string(),
                related: f
                    .related
                    .iter()
                    .map(|r| ReferenceRelated {
                        path: fx.sources.path(r.loc.file),
                        line: r.loc.line,
                        column: r.loc.col,
                        message: &r.message,
                    })
                    .collect(),
            })
            .unwrap();
            assert_eq!(String::from_utf8(ours).unwrap(), theirs);
        }
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
