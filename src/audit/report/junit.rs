//! JUnit XML report (`--format junit`), in the dialect GitLab, Jenkins and Azure DevOps read.
//!
//! ```xml
//! <testsuites name="elastics-sec" tests="4" failures="3" errors="1">
//!   <testsuite name="compose.yaml" tests="3" failures="3" errors="0">
//!     <testcase classname="compose.yaml" name="port-published-all-interfaces compose.yaml:5:9">
//!       <failure message="service `webapp` publishes port 80 on all interfaces" type="high">…</failure>
//!     </testcase>
//!   </testsuite>
//!   <testsuite name="k8s/broken.yaml" tests="1" failures="0" errors="1">
//!     <testcase classname="k8s/broken.yaml" name="input-error k8s/broken.yaml:4:2">
//!       <error message="…" type="input-error">…</error>
//!     </testcase>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! - One `<testsuite>` per file that has findings or input errors, named by its path, in
//!   report order; one `<testcase>` per finding (a `<failure>` whose `type` is the severity)
//!   and per input error (an `<error>` of type `input-error`).
//! - Every finding is a failure whatever its severity, so CI lists them all; the `type` lets a
//!   reader tell them apart. The failure body holds the message, rule, location, resource,
//!   help and related locations, one per line.
//! - With no findings and no errors there is a single passing `<testcase name="audit">`, so CI
//!   shows a green test rather than an empty report.
//! - Text is escaped for XML 1.0: the five predefined entities, line breaks and tabs in
//!   attributes as character references (parsers would otherwise fold them into spaces), and
//!   characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF) are dropped.
//! - No source text is included, so a redacted secret cannot leak through this format.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

use crate::audit::finding::{Finding, InputError};
use crate::audit::report::text::position;
use crate::audit::report::Report;

/// The findings and errors of one file.
struct Suite<'a> {
    path: &'a str,
    findings: Vec<&'a Finding>,
    errors: Vec<&'a InputError>,
}

/// Writes `report` as JUnit XML.
pub fn write(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let suites = group(report);
    let failures = report.findings.len();
    let errors = report.errors.len();
    // The synthetic passing test case counts as a test.
    let tests = (failures + errors).max(1);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="elastics-sec" tests="{tests}" failures="{failures}" errors="{errors}">"#
    )?;
    if suites.is_empty() {
        writeln!(
            out,
            r#"  <testsuite name="elastics-sec" tests="1" failures="0" errors="0">"#
        )?;
        writeln!(
            out,
            r#"    <testcase classname="elastics-sec" name="audit"/>"#
        )?;
        writeln!(out, "  </testsuite>")?;
    }
    for suite in &suites {
        let path = attr(suite.path);
        writeln!(
            out,
            r#"  <testsuite name="{path}" tests="{}" failures="{}" errors="{}">"#,
            suite.findings.len() + suite.errors.len(),
            suite.findings.len(),
            suite.errors.len()
        )?;
        for f in &suite.findings {
            write_finding(report, f, out)?;
        }
        for e in &suite.errors {
            let at = position(&e.path, e.line.unwrap_or(0), e.col.unwrap_or(0));
            writeln!(
                out,
                r#"    <testcase classname="{path}" name="input-error {}">"#,
                attr(&at)
            )?;
            writeln!(
                out,
                r#"      <error message="{}" type="input-error">{}</error>"#,
                attr(&e.message),
                text(&e.to_string())
            )?;
            writeln!(out, "    </testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

fn write_finding(report: &Report<'_>, f: &Finding, out: &mut dyn Write) -> io::Result<()> {
    let path = report.sources.path(f.loc.file);
    let at = position(path, f.loc.line, f.loc.col);
    writeln!(
        out,
        r#"    <testcase classname="{}" name="{} {}">"#,
        attr(path),
        attr(f.rule),
        attr(&at)
    )?;
    let mut body = format!(
        "{}\nrule: {} ({}, {})\nlocation: {at}",
        f.message, f.rule, f.category, f.severity
    );
    if let Some(resource) = &f.resource {
        body.push_str(&format!("\nresource: {resource}"));
    }
    if let Some(help) = &f.help {
        body.push_str(&format!("\nhelp: {help}"));
    }
    for rel in &f.related {
        let rel_at = position(report.sources.path(rel.loc.file), rel.loc.line, rel.loc.col);
        body.push_str(&format!("\nrelated: {rel_at}: {}", rel.message));
    }
    writeln!(
        out,
        r#"      <failure message="{}" type="{}">{}</failure>"#,
        attr(&f.message),
        f.severity,
        text(&body)
    )?;
    writeln!(out, "    </testcase>")
}

/// Groups findings and errors by file, in order of first appearance.
fn group<'a>(report: &Report<'a>) -> Vec<Suite<'a>> {
    let mut suites: Vec<Suite<'a>> = Vec::new();
    let mut index: HashMap<&'a str, usize> = HashMap::new();
    let mut slot = |path: &'a str, suites: &mut Vec<Suite<'a>>| {
        *index.entry(path).or_insert_with(|| {
            suites.push(Suite {
                path,
                findings: Vec::new(),
                errors: Vec::new(),
            });
            suites.len() - 1
        })
    };
    for f in report.findings {
        let i = slot(report.sources.path(f.loc.file), &mut suites);
        suites[i].findings.push(f);
    }
    for e in report.errors {
        let i = slot(&e.path, &mut suites);
        suites[i].errors.push(e);
    }
    suites
}

/// Escapes an attribute value (always written between double quotes).
fn attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// Escapes character data.
fn text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production); Rust chars are never
/// surrogates, so only controls and the two non-characters are left out.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

fn escape(s: &str, in_attr: bool) -> Cow<'_, str> {
    let needs_work = s
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '"' | '\'' | '\r') || !is_xml_char(c))
        || (in_attr && s.contains(['\n', '\t']));
    if !needs_work {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A raw CR is normalised away by parsers, in text as well as in attributes.
            '\r' => out.push_str("&#13;"),
            // Attribute-value normalisation would turn these into spaces.
            '\n' if in_attr => out.push_str("&#10;"),
            '\t' if in_attr => out.push_str("&#9;"),
            c if !is_xml_char(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::text::fixture::{self, SECRET};

    /// A small well-formedness check, enough for what this reporter writes: declaration,
    /// one root, balanced tags, quoted attributes, no stray `<`/`&`, only XML 1.0 characters.
    fn check_well_formed(xml: &str) -> Result<(), String> {
        if let Some(c) = xml.chars().find(|&c| !is_xml_char(c)) {
            return Err(format!("character {c:?} is not allowed in XML 1.0"));
        }
        let mut rest = xml
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .ok_or("missing XML declaration")?;
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        loop {
            let lt = rest.find('<');
            let data = &rest[..lt.unwrap_or(rest.len())];
            if stack.is_empty() && !data.trim().is_empty() {
                return Err(format!("text outside the root element: {data:?}"));
            }
            check_references(data)?;
            let Some(lt) = lt else { break };
            rest = &rest[lt + 1..];
            let gt = rest.find('>').ok_or("unterminated tag")?;
            let tag = &rest[..gt];
            rest = &rest[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name => continue,
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            }
            if stack.is_empty() {
                roots += 1;
            }
            let (tag, self_closing) = match tag.strip_suffix('/') {
                Some(t) => (t, true),
                None => (tag, false),
            };
            let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("bad element name {name:?}"));
            }
            while !attrs.trim().is_empty() {
                let (key, after) = attrs
                    .trim_start()
                    .split_once("=\"")
                    .ok_or_else(|| format!("unquoted attribute in <{name}>"))?;
                if !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!("bad attribute name {key:?}"));
                }
                let (value, after) = after
                    .split_once('"')
                    .ok_or_else(|| format!("unterminated attribute {key}"))?;
                if value.contains('<') {
                    return Err(format!("`<` in attribute {key}"));
                }
                check_references(value)?;
                attrs = after;
            }
            if !self_closing {
                stack.push(name);
            }
        }
        match (stack.is_empty(), roots) {
            (true, 1) => Ok(()),
            _ => Err(format!("unbalanced: open {stack:?}, {roots} roots")),
        }
    }

    fn check_references(s: &str) -> Result<(), String> {
        for (i, _) in s.match_indices('&') {
            let entity = s[i + 1..].split(';').next().unwrap_or("");
            let numeric = entity
                .strip_prefix('#')
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if !numeric && !matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos") {
                return Err(format!("bad reference at {:?}", &s[i..]));
            }
        }
        Ok(())
    }

    #[test]
    fn renders_suites_per_file() {
        let out = fixture::render(&fixture::full(), write);
        check_well_formed(&out).expect("well-formed");
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="elastics-sec" tests="4" failures="3" errors="1">
  <testsuite name="examples/insecure/compose.yaml" tests="3" failures="3" errors="0">
    <testcase classname="examples/insecure/compose.yaml" name="image-mutable-tag examples/insecure/compose.yaml:3:34">
      <failure message="service `webapp` uses the mutable tag `latest`" type="medium">service `webapp` uses the mutable tag `latest`
rule: image-mutable-tag (supply-chain, medium)
location: examples/insecure/compose.yaml:3:34
resource: service webapp
help: Pin the image by digest: `image@sha256:&lt;digest&gt;` &amp; redeploy.</failure>
    </testcase>
    <testcase classname="examples/insecure/compose.yaml" name="port-published-all-interfaces examples/insecure/compose.yaml:5:9">
      <failure message="service `webapp` publishes port 80 on all interfaces" type="high">service `webapp` publishes port 80 on all interfaces
rule: port-published-all-interfaces (network-isolation, high)
location: examples/insecure/compose.yaml:5:9
resource: service webapp
help: Bind the port to 127.0.0.1.
related: examples/insecure/compose.yaml:9:3: network `front` is defined here</failure>
    </testcase>
    <testcase classname="examples/insecure/compose.yaml" name="secret-in-environment examples/insecure/compose.yaml:7:20">
      <failure message="service `webapp` sets `DB_PASSWORD` to a literal value" type="critical">service `webapp` sets `DB_PASSWORD` to a literal value
rule: secret-in-environment (secrets-hygiene, critical)
location: examples/insecure/compose.yaml:7:20
resource: service webapp</failure>
    </testcase>
  </testsuite>
  <testsuite name="k8s/broken, copy.yaml" tests="1" failures="0" errors="1">
    <testcase classname="k8s/broken, copy.yaml" name="input-error k8s/broken, copy.yaml:4:2">
      <error message="did not find expected key &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;&#10;100% sure" type="input-error">k8s/broken, copy.yaml:4:2: did not find expected key &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;
100% sure</error>
    </testcase>
  </testsuite>
</testsuites>
"#;
        assert_eq!(out, expected);
    }

    #[test]
    fn clean_run_is_one_passing_test() {
        let out = fixture::render(&fixture::clean(), write);
        check_well_formed(&out).expect("well-formed");
        assert!(
            out.contains(r#"<testsuites name="elastics-sec" tests="1" failures="0" errors="0">"#)
        );
        assert!(out.contains(r#"<testcase classname="elastics-sec" name="audit"/>"#));
        assert!(!out.contains("<failure"));
    }

    #[test]
    fn escapes_for_xml() {
        assert_eq!(attr("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        assert_eq!(attr("x\ny\tz\r"), "x&#10;y&#9;z&#13;");
        assert_eq!(text("x\ny\tz\r"), "x\ny\tz&#13;");
        // Not representable in XML 1.0: dropped.
        assert_eq!(text("a\u{0}b\u{1b}c\u{FFFE}d\u{FFFF}"), "abcd");
        assert!(matches!(text("plain ü 🦀"), Cow::Borrowed(_)));
        assert!(
            check_well_formed("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>&b</a>").is_err()
        );
        assert!(
            check_well_formed("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a><b></a>").is_err()
        );
    }

    #[test]
    fn never_contains_the_secret() {
        let out = fixture::render(&fixture::full(), write);
        assert!(!out.contains(SECRET));
    }
}
