//! SARIF 2.1.0 report (`--format sarif`), for GitHub code scanning and other SARIF consumers.
//!
//! A small serde model of only the fields we emit; each type cites its section of the OASIS
//! SARIF 2.1.0 specification. The output validates against the official JSON schema.
//!
//! Choices worth knowing:
//! - One run. `tool.driver.rules` lists every rule enabled for the run (with or without
//!   findings), so consumers can show rule docs; results point at them by `ruleId` and
//!   `ruleIndex`.
//! - Levels: critical and high are `error`, medium `warning`, low and info `note`. The rule's
//!   `security-severity` property (critical 9.5, high 8.0, medium 5.5, low 3.0, info 0.0) lets
//!   GitHub rank alerts; `properties.severity` on a result keeps our own severity.
//! - Columns are 1-based Unicode code points, declared with `run.columnKind`. `endColumn` is
//!   exclusive and only present when the token's length is known.
//! - `artifactLocation.uri` is the path as given, with `\` turned into `/`, leading `./`
//!   dropped and characters outside the URI unreserved set percent-encoded; absolute paths
//!   become `file://` URIs. Standard input is reported as the relative URI `stdin`.
//! - `partialFingerprints["elastics-sec/v1"]` carries the report fingerprint, so alerts keep
//!   their identity when unrelated edits shift lines.
//! - Input errors are `toolExecutionNotifications` of level `error` on the one invocation, and
//!   `executionSuccessful` is false when there are any.
//! - No source text (snippets, artifact contents) is ever included, so a redacted secret
//!   cannot leak through this format.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::audit::finding::{Category, Loc, Severity};
use crate::audit::report::{fingerprint, Report};
use crate::audit::rules::meta::RuleMeta;
use crate::audit::sources::SourceMap;

const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/elastics-sec/elastics-sec";
/// What standard input is called in `artifactLocation.uri`: it has no path of its own.
const STDIN_URI: &str = "stdin";

/// §3.13 sarifLog: the top-level object.
#[derive(Serialize)]
struct SarifLog<'a> {
    /// §3.13.3.
    #[serde(rename = "$schema")]
    schema: &'static str,
    /// §3.13.2.
    version: &'static str,
    /// §3.13.4.
    runs: [Run<'a>; 1],
}

/// §3.14 run.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    /// §3.14.6.
    tool: Tool<'a>,
    /// §3.14.11.
    invocations: [Invocation<'a>; 1],
    /// §3.14.17: our columns count characters, not the default UTF-16 code units.
    column_kind: &'static str,
    /// §3.14.23.
    results: Vec<SarifResult<'a>>,
}

/// §3.18 tool.
#[derive(Serialize)]
struct Tool<'a> {
    /// §3.18.2.
    driver: ToolComponent<'a>,
}

/// §3.19 toolComponent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolComponent<'a> {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    information_uri: &'static str,
    rules: Vec<ReportingDescriptor<'a>>,
}

/// §3.49 reportingDescriptor: one rule's metadata.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor<'a> {
    id: &'a str,
    name: String,
    short_description: MultiformatMessageString<'a>,
    full_description: MultiformatMessageString<'a>,
    help: MultiformatMessageString<'a>,
    help_uri: String,
    default_configuration: ReportingConfiguration,
    properties: RuleProperties<'a>,
}

/// §3.12 multiformatMessageString.
#[derive(Serialize)]
struct MultiformatMessageString<'a> {
    text: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    markdown: Option<&'a str>,
}

/// §3.50 reportingConfiguration.
#[derive(Serialize)]
struct ReportingConfiguration {
    level: &'static str,
}

/// §3.8 property bag of a reportingDescriptor; `security-severity` is GitHub's convention.
#[derive(Serialize)]
struct RuleProperties<'a> {
    category: Category,
    #[serde(rename = "security-severity")]
    security_severity: &'static str,
    tags: [&'a str; 2],
}

/// §3.20 invocation.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    /// §3.20.14.
    execution_successful: bool,
    /// §3.20.21.
    tool_execution_notifications: Vec<Notification<'a>>,
}

/// §3.58 notification: here, an input that could not be audited.
#[derive(Serialize)]
struct Notification<'a> {
    level: &'static str,
    message: Message<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Location<'a>>,
}

/// §3.27 result.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    /// Absent when the rule is not among the run's enabled rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Message<'a>,
    locations: [Location<'a>; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<Location<'a>>,
    partial_fingerprints: PartialFingerprints,
    properties: ResultProperties,
}

/// §3.27.17 partialFingerprints.
#[derive(Serialize)]
struct PartialFingerprints {
    /// Our fingerprint; the key's suffix versions the algorithm.
    #[serde(rename = "elastics-sec/v1")]
    v1: super::Fingerprint,
}

/// §3.8 property bag of a result.
#[derive(Serialize)]
struct ResultProperties {
    severity: Severity,
}

/// §3.11 message.
#[derive(Serialize)]
struct Message<'a> {
    text: &'a str,
}

/// §3.28 location.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    /// Only on related locations, which §3.27.22 asks to be distinguishable.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Message<'a>>,
}

/// §3.29 physicalLocation.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

/// §3.4 artifactLocation.
#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

/// §3.30 region, 1-based.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<u32>,
    /// Exclusive (§3.30.8).
    #[serde(skip_serializing_if = "Option::is_none")]
    end_column: Option<u32>,
}

/// Writes `report` as a SARIF 2.1.0 log.
pub fn write(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut rule_index = HashMap::with_capacity(report.rules.len());
    for (i, rule) in report.rules.iter().enumerate() {
        // First wins, should a rule ever be listed twice.
        rule_index.entry(rule.id).or_insert(i);
    }
    let rules = report.rules.iter().map(|r| descriptor(r)).collect();
    let results = report
        .findings
        .iter()
        .map(|f| SarifResult {
            rule_id: f.rule,
            rule_index: rule_index.get(f.rule).copied(),
            level: level(f.severity),
            message: Message { text: &f.message },
            locations: [Location {
                id: None,
                physical_location: physical(report.sources, f.loc),
                message: None,
            }],
            related_locations: f
                .related
                .iter()
                .enumerate()
                .map(|(i, r)| Location {
                    id: Some(i),
                    physical_location: physical(report.sources, r.loc),
                    message: Some(Message { text: &r.message }),
                })
                .collect(),
            partial_fingerprints: PartialFingerprints {
                v1: fingerprint(f, report.sources),
            },
            properties: ResultProperties {
                severity: f.severity,
            },
        })
        .collect();
    let notifications = report
        .errors
        .iter()
        .map(|e| Notification {
            level: "error",
            message: Message { text: &e.message },
            locations: vec![Location {
                id: None,
                physical_location: PhysicalLocation {
                    artifact_location: ArtifactLocation {
                        uri: artifact_uri(&e.path),
                    },
                    region: e.line.filter(|&l| l > 0).map(|start_line| Region {
                        start_line,
                        start_column: e.col.filter(|&c| c > 0),
                        end_column: None,
                    }),
                },
                message: None,
            }],
        })
        .collect();
    let log = SarifLog {
        schema: SCHEMA_URI,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: ToolComponent {
                    name: "elastics-sec",
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    information_uri: INFORMATION_URI,
                    rules,
                },
            },
            invocations: [Invocation {
                execution_successful: report.errors.is_empty(),
                tool_execution_notifications: notifications,
            }],
            column_kind: "unicodeCodePoints",
            results,
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

fn descriptor(rule: &RuleMeta) -> ReportingDescriptor<'_> {
    ReportingDescriptor {
        id: rule.id,
        name: pascal_case(rule.id),
        short_description: MultiformatMessageString {
            text: Cow::Borrowed(rule.title),
            markdown: None,
        },
        full_description: MultiformatMessageString {
            text: Cow::Owned(summary_paragraph(rule.doc).unwrap_or_else(|| rule.title.to_owned())),
            markdown: None,
        },
        help: MultiformatMessageString {
            text: Cow::Borrowed(rule.doc),
            markdown: Some(rule.doc),
        },
        help_uri: rule.help_uri(),
        default_configuration: ReportingConfiguration {
            level: level(rule.severity),
        },
        properties: RuleProperties {
            category: rule.category,
            security_severity: security_severity(rule.severity),
            tags: ["security", rule.category.as_str()],
        },
    }
}

fn level(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub reads this as a CVSS-like score string to rank alerts as critical/high/medium/low.
fn security_severity(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// `port-published-all-interfaces` → `PortPublishedAllInterfaces` (SARIF rule names are
/// identifiers, not display strings).
fn pascal_case(id: &str) -> String {
    let mut name = String::with_capacity(id.len());
    for part in id.split(['-', '_']) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    name
}

/// The first paragraph under the doc's "What it does" heading (or its first paragraph that is
/// not a heading), joined into one line: a plain one-paragraph `fullDescription`.
fn summary_paragraph(doc: &str) -> Option<String> {
    let is_heading = |l: &str| {
        let t = l.trim();
        t.starts_with('#') || (t.starts_with("**") && t.ends_with("**"))
    };
    let heading_text = |l: &str| {
        l.trim()
            .trim_matches(|c: char| c == '#' || c == '*' || c == ':' || c.is_whitespace())
            .to_ascii_lowercase()
    };
    let lines: Vec<&str> = doc.lines().collect();
    let start = lines
        .iter()
        .position(|l| is_heading(l) && heading_text(l) == "what it does")
        .map_or(0, |i| i + 1);
    let para: Vec<&str> = lines[start..]
        .iter()
        .map(|l| l.trim())
        .skip_while(|l| l.is_empty() || is_heading(l))
        .take_while(|l| !l.is_empty() && !is_heading(l))
        .collect();
    (!para.is_empty()).then(|| para.join(" "))
}

fn physical(sources: &SourceMap, loc: Loc) -> PhysicalLocation {
    PhysicalLocation {
        artifact_location: ArtifactLocation {
            uri: artifact_uri(sources.path(loc.file)),
        },
        // The schema requires startLine >= 1; a location without a line names only the file.
        region: (loc.line > 0).then(|| Region {
            start_line: loc.line,
            start_column: (loc.col > 0).then_some(loc.col),
            end_column: (loc.col > 0 && loc.len > 0).then(|| loc.col.saturating_add(loc.len)),
        }),
    }
}

/// Turns a user-facing path into a URI reference (see the module header).
fn artifact_uri(path: &str) -> String {
    if path == "<stdin>" || path == "-" {
        return STDIN_URI.to_owned();
    }
    let mut p = path.replace('\\', "/");
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_owned();
    }
    let bytes = p.as_bytes();
    let has_drive =
        bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'/';
    if has_drive {
        // `C:/x` would parse as a URI with scheme `c`; spell it as a file URI instead.
        let (drive, rest) = p.split_at(2);
        format!("file:///{drive}{}", percent_encode(rest))
    } else if p.starts_with('/') {
        format!("file://{}", percent_encode(&p))
    } else {
        percent_encode(&p)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`, so the result is a
/// valid URI reference whatever the file is called (a `:` in a first segment would otherwise
/// read as a scheme).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::audit::report::text::fixture::{self, SECRET};

    const SCHEMA: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/schemas/sarif-schema-2.1.0.json"
    );

    fn render(fx: &fixture::Fixture) -> (String, Value) {
        let out = fixture::render(fx, write);
        let value = serde_json::from_str(&out).expect("valid JSON");
        (out, value)
    }

    fn validator() -> jsonschema::Validator {
        let text = std::fs::read_to_string(SCHEMA).expect("the SARIF schema is vendored");
        let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("schema compiles")
    }

    fn assert_valid(validator: &jsonschema::Validator, log: &Value) {
        let errors: Vec<String> = validator
            .iter_errors(log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "invalid SARIF: {errors:#?}");
    }

    #[test]
    fn validates_against_the_official_schema() {
        let validator = validator();
        let (_, log) = render(&fixture::full());
        assert_valid(&validator, &log);
        let (_, clean) = render(&fixture::clean());
        assert_valid(&validator, &clean);
        // The check has teeth: a level SARIF does not define is rejected.
        let mut broken = log;
        broken["runs"][0]["results"][0]["level"] = json!("fatal");
        assert!(!validator.is_valid(&broken));
    }

    #[test]
    fn carries_rules_results_and_notifications() {
        let fx = fixture::full();
        let (out, log) = render(&fx);
        assert!(out.ends_with("}\n"));
        assert_eq!(log["$schema"], SCHEMA_URI);
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        assert_eq!(run["columnKind"], "unicodeCodePoints");

        let driver = &run["tool"]["driver"];
        assert_eq!(driver["name"], "elastics-sec");
        assert_eq!(driver["semanticVersion"], env!("CARGO_PKG_VERSION"));
        let rules = driver["rules"].as_array().expect("rules");
        assert_eq!(
            rules.len(),
            4,
            "every enabled rule, with or without findings"
        );
        assert_eq!(
            rules[0],
            json!({
                "id": "image-mutable-tag",
                "name": "ImageMutableTag",
                "shortDescription": {"text": "Image referenced by a mutable tag"},
                "fullDescription": {"text": "Flags images pulled by a tag that can move."},
                "help": {"text": fixture::MUTABLE_TAG.doc, "markdown": fixture::MUTABLE_TAG.doc},
                "helpUri": fixture::MUTABLE_TAG.help_uri(),
                "defaultConfiguration": {"level": "warning"},
                "properties": {
                    "category": "supply-chain",
                    "security-severity": "5.5",
                    "tags": ["security", "supply-chain"]
                }
            })
        );
        assert_eq!(
            rules[3]["fullDescription"]["text"],
            "Flags `privileged: true`."
        );
        assert_eq!(rules[3]["properties"]["security-severity"], "9.5");

        let results = run["results"].as_array().expect("results");
        assert_eq!(results.len(), 3);
        assert_eq!(
            results[1],
            json!({
                "ruleId": "port-published-all-interfaces",
                "ruleIndex": 1,
                "level": "error",
                "message": {"text": "service `webapp` publishes port 80 on all interfaces"},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": "examples/insecure/compose.yaml"},
                    "region": {"startLine": 5, "startColumn": 9, "endColumn": 18}
                }}],
                "relatedLocations": [{
                    "id": 0,
                    "physicalLocation": {
                        "artifactLocation": {"uri": "examples/insecure/compose.yaml"},
                        "region": {"startLine": 9, "startColumn": 3, "endColumn": 8}
                    },
                    "message": {"text": "network `front` is defined here"}
                }],
                "partialFingerprints": {
                    "elastics-sec/v1": fingerprint(&fx.findings[1], &fx.sources)
                },
                "properties": {"severity": "high"}
            })
        );
        assert_eq!(results[0]["level"], "warning");
        assert_eq!(results[2]["level"], "error");
        assert_eq!(results[2]["ruleIndex"], 2);

        let invocation = &run["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        assert_eq!(
            invocation["toolExecutionNotifications"],
            json!([{
                "level": "error",
                "message": {"text": "did not find expected key <b> & \"c\" 'd'\u{1}\n100% sure"},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": "k8s/broken%2C%20copy.yaml"},
                    "region": {"startLine": 4, "startColumn": 2}
                }}]
            }])
        );
    }

    #[test]
    fn clean_run_is_successful() {
        let (_, log) = render(&fixture::clean());
        let run = &log["runs"][0];
        assert_eq!(run["results"], json!([]));
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
        assert_eq!(
            run["invocations"][0]["toolExecutionNotifications"],
            json!([])
        );
    }

    #[test]
    fn never_contains_the_secret() {
        let (out, _) = render(&fixture::full());
        assert!(!out.contains(SECRET));
    }

    #[test]
    fn uris_are_uri_references() {
        assert_eq!(artifact_uri("./k8s\\deploy.yaml"), "k8s/deploy.yaml");
        assert_eq!(artifact_uri("<stdin>"), "stdin");
        assert_eq!(
            artifact_uri("/srv/app/compose.yaml"),
            "file:///srv/app/compose.yaml"
        );
        assert_eq!(
            artifact_uri("C:\\repo\\a b.yaml"),
            "file:///C:/repo/a%20b.yaml"
        );
        assert_eq!(artifact_uri("a:b/ü#1.yaml"), "a%3Ab/%C3%BC%231.yaml");
    }

    #[test]
    fn names_and_descriptions() {
        assert_eq!(
            pascal_case("port-published-all-interfaces"),
            "PortPublishedAllInterfaces"
        );
        assert_eq!(pascal_case("x"), "X");
        assert_eq!(
            summary_paragraph("**What it does**\n\nOne.\nTwo.\n\n**Why it matters**\n\nNo.")
                .as_deref(),
            Some("One. Two.")
        );
        assert_eq!(summary_paragraph("# Title\n"), None);
    }
}
