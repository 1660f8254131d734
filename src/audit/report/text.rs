//! Human-readable report (`--format text`, the default).
//!
//! Each finding is printed in the style of compiler diagnostics:
//!
//! ```text
//! high[port-published-all-interfaces]: service `webapp` publishes port 80 on all interfaces
//!   --> examples/insecure/compose.yaml:5:8
//!    |
//!  5 |      - "80:8080"
//!    |        ^^^^^^^^^
//!    = help: bind the port to 127.0.0.1 or put the service behind a proxy
//!    = note: examples/insecure/compose.yaml:12:3: network `front` is defined here
//! ```
//!
//! - The gutter is as wide as the finding's line number. Columns are 1-based characters; tabs
//!   in the source line are shown as four spaces and the carets follow that, so alignment does
//!   not depend on the terminal's tab stops. There is one caret per blamed character, at least
//!   one. The source block is left out when the line is not available.
//! - A finding marked `redact` never shows the blamed token: it is replaced by `****` (the key
//!   before it stays visible) and the carets sit under the mask. When the token's length is
//!   unknown, everything from the column to the end of the line is masked; when the column lies
//!   past the end of the line, the source block is left out altogether.
//! - Control characters coming from inputs (file text, paths, messages) are neutralised (line
//!   breaks become spaces, anything else U+FFFD) so a hostile file cannot drive the terminal.
//! - Colour (ANSI SGR) only when asked: critical and high bold red, medium yellow, low cyan,
//!   info dim; the rule id bold; `error` bold red; `FAIL` bold red and `PASS` bold green.
//!
//! After the findings come the input errors, one per line as `error: path:line:col: message`,
//! then a blank line and two closing lines. Their wording is stable (scripts may match it):
//!
//! ```text
//! 3 findings (1 high, 2 medium) in 1 file, 2 suppressed; 4 files scanned (1 compose, 3 Kubernetes documents), 2 skipped, 1 error
//! result: FAIL (findings at or above high)
//! ```
//!
//! - Before the `;`: `no findings`, or `N finding(s) (counts) in F file(s)` with the non-zero
//!   counts per severity from critical down to info; then `, S suppressed` when S > 0.
//! - After it: `N file(s) scanned`, then ` (C compose, K Kubernetes document(s))` listing the
//!   non-zero kinds, then `, S skipped` and `, E error(s)` when non-zero.
//! - The result is `result: PASS`, or `result: FAIL (REASONS)` where REASONS is
//!   `findings at or above SEVERITY` (the `--fail-on` threshold), `input errors`, or both
//!   joined by `; `. Input errors fail the run because unread files were not audited.
//!
//! The GitHub reporter ends with the same two lines, uncoloured.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::audit::finding::{Finding, Severity};
use crate::audit::report::{Report, TextOptions};

/// What a redacted token is shown as.
const MASK: &str = "****";
/// Tabs are expanded so carets line up whatever the terminal's tab stops are.
const TAB_WIDTH: usize = 4;

const SGR_BOLD: &str = "1";
const SGR_BOLD_RED: &str = "1;31";
const SGR_BOLD_GREEN: &str = "1;32";

/// Writes `report` as human-readable text.
pub fn write(report: &Report<'_>, opts: TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let style = Style { color: opts.color };
    for (i, finding) in report.findings.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_finding(report, finding, style, out)?;
    }
    if !report.findings.is_empty() && !report.errors.is_empty() {
        writeln!(out)?;
    }
    for error in report.errors {
        let label = style.paint(SGR_BOLD_RED, "error");
        writeln!(out, "{label}: {}", clean(&error.to_string()))?;
    }
    if !report.findings.is_empty() || !report.errors.is_empty() {
        writeln!(out)?;
    }
    writeln!(out, "{}", summary_line(report))?;
    let (verdict, reasons) = result_parts(report);
    let code = if verdict == "PASS" {
        SGR_BOLD_GREEN
    } else {
        SGR_BOLD_RED
    };
    writeln!(out, "result: {}{reasons}", style.paint(code, verdict))
}

fn write_finding(
    report: &Report<'_>,
    f: &Finding,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let sev_code = severity_sgr(f.severity);
    let path = clean(report.sources.path(f.loc.file));
    writeln!(
        out,
        "{}[{}]: {}",
        style.paint(sev_code, f.severity.as_str()),
        style.paint(SGR_BOLD, f.rule),
        clean(&f.message)
    )?;

    let width = digits(f.loc.line);
    let gutter = " ".repeat(width + 1);
    writeln!(
        out,
        "{gutter}--> {}",
        position(&path, f.loc.line, f.loc.col)
    )?;

    let line = if f.loc.line == 0 {
        None
    } else {
        report.sources.line(f.loc.file, f.loc.line)
    };
    if let Some(snip) = line.and_then(|l| snippet(l, f.loc.col, f.loc.len, f.redact)) {
        writeln!(out, "{gutter} |")?;
        if snip.text.is_empty() {
            writeln!(out, " {:>width$} |", f.loc.line)?;
        } else {
            writeln!(out, " {:>width$} | {}", f.loc.line, snip.text)?;
        }
        let carets = "^".repeat(snip.caret_len);
        writeln!(
            out,
            "{gutter} | {}{}",
            " ".repeat(snip.caret_start),
            style.paint(sev_code, &carets)
        )?;
    }
    if let Some(help) = &f.help {
        writeln!(out, "{gutter} = help: {}", clean(help))?;
    }
    for rel in &f.related {
        let rel_path = clean(report.sources.path(rel.loc.file));
        writeln!(
            out,
            "{gutter} = note: {}: {}",
            position(&rel_path, rel.loc.line, rel.loc.col),
            clean(&rel.message)
        )?;
    }
    Ok(())
}

/// `path:line:col`, dropping the parts that are unknown (0).
pub(super) fn position(path: &str, line: u32, col: u32) -> String {
    match (line, col) {
        (0, _) => path.to_owned(),
        (l, 0) => format!("{path}:{l}"),
        (l, c) => format!("{path}:{l}:{c}"),
    }
}

fn digits(mut n: u32) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// A source line made ready for display, with where its carets go (in display columns).
#[derive(Debug, PartialEq, Eq)]
struct Snippet {
    text: String,
    caret_start: usize,
    caret_len: usize,
}

/// Prepares `line` for display with the blamed token at 1-based character column `col`, `len`
/// characters long (0: unknown). Returns `None` when a redacted token cannot be located, since
/// printing the line could then reveal the secret.
fn snippet(line: &str, col: u32, len: u32, redact: bool) -> Option<Snippet> {
    let chars: Vec<char> = line.chars().collect();
    let start = col.saturating_sub(1) as usize;
    if start > chars.len() {
        if redact {
            return None;
        }
        // The token is past the line end (e.g. a missing value); point just after the text.
        return Some(Snippet {
            text: display(&chars),
            caret_start: display_width(&chars),
            caret_len: 1,
        });
    }
    let end = match (len, redact) {
        // Unknown length of a secret: mask the rest of the line rather than risk a leak.
        (0, true) => chars.len(),
        (0, false) => start,
        (n, _) => start.saturating_add(n as usize).min(chars.len()),
    };
    let before = &chars[..start];
    let caret_start = display_width(before);
    if redact {
        let mut text = display(before);
        text.push_str(MASK);
        text.push_str(&display(&chars[end..]));
        Some(Snippet {
            text,
            caret_start,
            caret_len: MASK.len(),
        })
    } else {
        Some(Snippet {
            text: display(&chars),
            caret_start,
            caret_len: display_width(&chars[start..end]).max(1),
        })
    }
}

fn char_width(c: char) -> usize {
    if c == '\t' {
        TAB_WIDTH
    } else {
        1
    }
}

fn display_width(chars: &[char]) -> usize {
    chars.iter().map(|&c| char_width(c)).sum()
}

fn display(chars: &[char]) -> String {
    let mut s = String::with_capacity(chars.len());
    for &c in chars {
        match c {
            '\t' => s.extend(std::iter::repeat_n(' ', TAB_WIDTH)),
            c if c.is_control() => s.push('\u{FFFD}'),
            c => s.push(c),
        }
    }
    s
}

/// Neutralises control characters in text that came from inputs, so it cannot move the cursor
/// or recolour the terminal; line breaks become spaces to keep one item per line.
fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\n' | '\r' => ' ',
                '\t' => '\t',
                c if c.is_control() => '\u{FFFD}',
                c => c,
            })
            .collect(),
    )
}

#[derive(Clone, Copy)]
struct Style {
    color: bool,
}

impl Style {
    fn paint<'s>(self, sgr: &str, s: &'s str) -> Cow<'s, str> {
        if self.color {
            Cow::Owned(format!("\x1b[{sgr}m{s}\x1b[0m"))
        } else {
            Cow::Borrowed(s)
        }
    }
}

fn severity_sgr(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical | Severity::High => SGR_BOLD_RED,
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    }
}

/// Whether some finding is at or above the `--fail-on` threshold.
pub(super) fn has_blocking_findings(report: &Report<'_>) -> bool {
    report.findings.iter().any(|f| f.severity >= report.fail_on)
}

/// Whether the run fails: a finding at or above the threshold, or an input that could not be
/// audited.
pub(super) fn failed(report: &Report<'_>) -> bool {
    has_blocking_findings(report) || !report.errors.is_empty()
}

/// Number of findings of severity `sev`.
pub(super) fn count(findings: &[Finding], sev: Severity) -> usize {
    findings.iter().filter(|f| f.severity == sev).count()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The stable one-line summary documented in the module header.
pub(super) fn summary_line(report: &Report<'_>) -> String {
    let s = report.summary;
    let mut line = if report.findings.is_empty() {
        "no findings".to_owned()
    } else {
        let by_sev: Vec<String> = Severity::ALL
            .iter()
            .map(|&sev| (sev, count(report.findings, sev)))
            .filter(|&(_, n)| n > 0)
            .map(|(sev, n)| format!("{n} {sev}"))
            .collect();
        let mut files: Vec<_> = report.findings.iter().map(|f| f.loc.file).collect();
        files.sort_unstable();
        files.dedup();
        format!(
            "{} ({}) in {}",
            plural(report.findings.len(), "finding", "findings"),
            by_sev.join(", "),
            plural(files.len(), "file", "files")
        )
    };
    if s.findings_suppressed > 0 {
        line.push_str(&format!(", {} suppressed", s.findings_suppressed));
    }
    line.push_str("; ");
    line.push_str(&plural(s.files_scanned, "file", "files"));
    line.push_str(" scanned");
    let mut kinds = Vec::new();
    if s.compose_files > 0 {
        kinds.push(format!("{} compose", s.compose_files));
    }
    if s.kubernetes_documents > 0 {
        kinds.push(plural(
            s.kubernetes_documents,
            "Kubernetes document",
            "Kubernetes documents",
        ));
    }
    if s.aci_groups > 0 {
        kinds.push(plural(
            s.aci_groups,
            "ACI container group",
            "ACI container groups",
        ));
    }
    if s.dockerfiles > 0 {
        kinds.push(plural(s.dockerfiles, "Dockerfile", "Dockerfiles"));
    }
    if !kinds.is_empty() {
        line.push_str(&format!(" ({})", kinds.join(", ")));
    }
    if s.files_skipped > 0 {
        line.push_str(&format!(", {} skipped", s.files_skipped));
    }
    if !report.errors.is_empty() {
        line.push_str(", ");
        line.push_str(&plural(report.errors.len(), "error", "errors"));
    }
    line
}

/// The verdict word and what follows it (empty, or ` (reasons)`).
fn result_parts(report: &Report<'_>) -> (&'static str, String) {
    let mut reasons = Vec::new();
    if has_blocking_findings(report) {
        reasons.push(format!("findings at or above {}", report.fail_on));
    }
    if !report.errors.is_empty() {
        reasons.push("input errors".to_owned());
    }
    if reasons.is_empty() {
        ("PASS", String::new())
    } else {
        ("FAIL", format!(" ({})", reasons.join("; ")))
    }
}

/// The stable last line documented in the module header, without colour.
pub(super) fn result_line(report: &Report<'_>) -> String {
    let (verdict, reasons) = result_parts(report);
    format!("result: {verdict}{reasons}")
}

/// A small hand-built run shared by the reporters' tests, so every format is checked against
/// the same findings (including a redacted secret, a related location, a multibyte prefix and
/// an input error full of characters that need escaping).
#[cfg(test)]
pub(super) mod fixture {
    use std::io;
    use std::sync::Arc;

    use crate::audit::finding::{Category, Finding, InputError, Loc, Related, Severity};
    use crate::audit::report::{Report, Summary};
    use crate::audit::rules::meta::{RuleMeta, Target};
    use crate::audit::sources::SourceMap;

    /// The secret in the fixture; no output may contain it.
    pub const SECRET: &str = "s3cr3t-hunter2";

    pub const COMPOSE: &str = "services:
  webapp:
    image: \"registrý.example/äpp:latest\"
    ports:
      - \"80:8080\"
    environment:
      DB_PASSWORD: s3cr3t-hunter2
networks:
  front: {}
";

    pub static MUTABLE_TAG: RuleMeta = RuleMeta {
        id: "image-mutable-tag",
        title: "Image referenced by a mutable tag",
        category: Category::SupplyChain,
        severity: Severity::Medium,
        targets: &[Target::Compose, Target::Kubernetes],
        doc: "## What it does\n\nFlags images pulled by a tag\nthat can move.\n\n## Why it matters\n\nA moved tag changes what runs.\n",
        params: &[],
    };
    pub static PUBLISHED_PORT: RuleMeta = RuleMeta {
        id: "port-published-all-interfaces",
        title: "Port published on all interfaces",
        category: Category::NetworkIsolation,
        severity: Severity::High,
        targets: &[Target::Compose],
        doc: "## What it does\n\nFlags ports bound to 0.0.0.0.\n",
        params: &[],
    };
    pub static LITERAL_SECRET: RuleMeta = RuleMeta {
        id: "secret-in-environment",
        title: "Secret value in the environment",
        category: Category::SecretsHygiene,
        severity: Severity::Critical,
        targets: &[Target::Compose],
        doc: "## What it does\n\nFlags literal secrets.\n",
        params: &[],
    };
    /// Enabled but without findings: SARIF must still list it.
    pub static PRIVILEGED: RuleMeta = RuleMeta {
        id: "privileged-container",
        title: "Privileged container",
        category: Category::LeastPrivilege,
        severity: Severity::Critical,
        targets: &[Target::Compose, Target::Kubernetes],
        doc: "Flags `privileged: true`.",
        params: &[],
    };

    pub struct Fixture {
        pub sources: SourceMap,
        pub findings: Vec<Finding>,
        pub errors: Vec<InputError>,
        pub rules: Vec<&'static RuleMeta>,
        pub summary: Summary,
        pub fail_on: Severity,
    }

    impl Fixture {
        pub fn report(&self) -> Report<'_> {
            Report {
                findings: &self.findings,
                errors: &self.errors,
                sources: &self.sources,
                rules: &self.rules,
                summary: &self.summary,
                fail_on: self.fail_on,
            }
        }
    }

    /// Three findings (medium, high with a related location, critical redacted) and one
    /// input error.
    pub fn full() -> Fixture {
        let mut sources = SourceMap::default();
        let file = sources.add(
            "examples/insecure/compose.yaml".to_owned(),
            Arc::from(COMPOSE),
        );
        let findings = vec![
            Finding {
                rule: MUTABLE_TAG.id,
                category: MUTABLE_TAG.category,
                severity: Severity::Medium,
                message: "service `webapp` uses the mutable tag `latest`".to_owned(),
                help: Some("Pin the image by digest: `image@sha256:<digest>` & redeploy.".into()),
                loc: Loc {
                    file,
                    line: 3,
                    col: 34,
                    len: 6,
                },
                related: vec![],
                resource: Some("service webapp".to_owned()),
                redact: false,
            },
            Finding {
                rule: PUBLISHED_PORT.id,
                category: PUBLISHED_PORT.category,
                severity: Severity::High,
                message: "service `webapp` publishes port 80 on all interfaces".to_owned(),
                help: Some("Bind the port to 127.0.0.1.".into()),
                loc: Loc {
                    file,
                    line: 5,
                    col: 9,
                    len: 9,
                },
                related: vec![Related {
                    loc: Loc {
                        file,
                        line: 9,
                        col: 3,
                        len: 5,
                    },
                    message: "network `front` is defined here".into(),
                }],
                resource: Some("service webapp".to_owned()),
                redact: false,
            },
            Finding {
                rule: LITERAL_SECRET.id,
                category: LITERAL_SECRET.category,
                severity: Severity::Critical,
                message: "service `webapp` sets `DB_PASSWORD` to a literal value".to_owned(),
                help: None,
                loc: Loc {
                    file,
                    line: 7,
                    col: 20,
                    len: 14,
                },
                related: vec![],
                resource: Some("service webapp".to_owned()),
                redact: true,
            },
        ];
        let errors = vec![InputError {
            path: "k8s/broken, copy.yaml".to_owned(),
            line: Some(4),
            col: Some(2),
            message: "did not find expected key <b> & \"c\" 'd'\u{1}\n100% sure".to_owned(),
        }];
        Fixture {
            sources,
            findings,
            errors,
            rules: vec![&MUTABLE_TAG, &PUBLISHED_PORT, &LITERAL_SECRET, &PRIVILEGED],
            summary: Summary {
                files_scanned: 4,
                files_skipped: 2,
                compose_files: 1,
                kubernetes_documents: 3,
                findings_suppressed: 2,
                ..Summary::default()
            },
            fail_on: Severity::High,
        }
    }

    /// A clean run: one compose file, nothing found.
    pub fn clean() -> Fixture {
        let mut sources = SourceMap::default();
        sources.add("compose.yaml".to_owned(), Arc::from("services: {}\n"));
        Fixture {
            sources,
            findings: vec![],
            errors: vec![],
            rules: vec![&PRIVILEGED],
            summary: Summary {
                files_scanned: 1,
                compose_files: 1,
                ..Summary::default()
            },
            fail_on: Severity::High,
        }
    }

    /// Runs a reporter into a string.
    pub fn render(
        fx: &Fixture,
        write: impl Fn(&Report<'_>, &mut dyn io::Write) -> io::Result<()>,
    ) -> String {
        let mut out = Vec::new();
        write(&fx.report(), &mut out).expect("writing to a Vec cannot fail");
        String::from_utf8(out).expect("reporters write UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::fixture::{self, SECRET};
    use super::*;
    use crate::audit::report::Format;

    fn plain(fx: &fixture::Fixture) -> String {
        fixture::render(fx, |r, out| write(r, TextOptions { color: false }, out))
    }

    #[test]
    fn renders_findings_errors_and_summary() {
        let expected = "\
medium[image-mutable-tag]: service `webapp` uses the mutable tag `latest`
  --> examples/insecure/compose.yaml:3:34
   |
 3 |     image: \"registrý.example/äpp:latest\"
   |                                  ^^^^^^
   = help: Pin the image by digest: `image@sha256:<digest>` & redeploy.

high[port-published-all-interfaces]: service `webapp` publishes port 80 on all interfaces
  --> examples/insecure/compose.yaml:5:9
   |
 5 |       - \"80:8080\"
   |         ^^^^^^^^^
   = help: Bind the port to 127.0.0.1.
   = note: examples/insecure/compose.yaml:9:3: network `front` is defined here

critical[secret-in-environment]: service `webapp` sets `DB_PASSWORD` to a literal value
  --> examples/insecure/compose.yaml:7:20
   |
 7 |       DB_PASSWORD: ****
   |                    ^^^^

error: k8s/broken, copy.yaml:4:2: did not find expected key <b> & \"c\" 'd'\u{FFFD} 100% sure

3 findings (1 critical, 1 high, 1 medium) in 1 file, 2 suppressed; 4 files scanned (1 compose, 3 Kubernetes documents), 2 skipped, 1 error
result: FAIL (findings at or above high; input errors)
";
        assert_eq!(plain(&fixture::full()), expected);
    }

    #[test]
    fn clean_run_passes() {
        assert_eq!(
            plain(&fixture::clean()),
            "no findings; 1 file scanned (1 compose)\nresult: PASS\n"
        );
    }

    #[test]
    fn below_threshold_passes_with_findings() {
        let mut fx = fixture::full();
        fx.errors.clear();
        fx.fail_on = Severity::Critical;
        fx.findings.truncate(2);
        let out = plain(&fx);
        assert!(out.ends_with(
            "2 findings (1 high, 1 medium) in 1 file, 2 suppressed; \
             4 files scanned (1 compose, 3 Kubernetes documents), 2 skipped\nresult: PASS\n"
        ));
    }

    #[test]
    fn gutter_grows_with_the_line_number() {
        let mut fx = fixture::full();
        let text = format!("{}{}", "\n".repeat(120), "key: value\n");
        let file = fx.sources.add("long.yaml".to_owned(), text.into());
        fx.findings.truncate(1);
        fx.findings[0].loc = crate::audit::finding::Loc {
            file,
            line: 121,
            col: 6,
            len: 0,
        };
        fx.findings[0].help = None;
        let out = plain(&fx);
        assert!(out.contains("    --> long.yaml:121:6\n     |\n 121 | key: value\n     |      ^\n"));
    }

    #[test]
    fn colour_only_when_asked() {
        let fx = fixture::full();
        let coloured = fixture::render(&fx, |r, out| write(r, TextOptions { color: true }, out));
        assert!(coloured.contains("\x1b[1;31mhigh\x1b[0m[\x1b[1mport-published-all-interfaces"));
        assert!(coloured.contains("\x1b[33mmedium\x1b[0m"));
        assert!(coloured.contains("result: \x1b[1;31mFAIL\x1b[0m"));
        assert!(!plain(&fx).contains('\x1b'));
    }

    #[test]
    fn snippet_counts_characters_and_expands_tabs() {
        // Byte offsets would put the carets two columns too far right after `é` and `ü`.
        let s = snippet("é ü\tkey: v", 5, 3, false).expect("in range");
        assert_eq!(s.text, "é ü    key: v");
        assert_eq!((s.caret_start, s.caret_len), (7, 3));
        // Past the end of the line: one caret just after the text.
        let s = snippet("key:", 9, 2, false).expect("in range");
        assert_eq!((s.caret_start, s.caret_len), (4, 1));
    }

    #[test]
    fn snippet_masks_secrets() {
        let s = snippet("  TOKEN=abc123 # note", 9, 6, true).expect("in range");
        assert_eq!(s.text, "  TOKEN=**** # note");
        assert_eq!((s.caret_start, s.caret_len), (8, 4));
        // Unknown length: mask to the end of the line.
        let s = snippet("  password: hunter2 trailing", 13, 0, true).expect("in range");
        assert_eq!(s.text, "  password: ****");
        // A secret that cannot be located is not shown at all.
        assert_eq!(snippet("  password:", 40, 3, true), None);
        // Control characters from the file are neutralised.
        assert_eq!(
            snippet("a\u{1b}[2Jb", 1, 1, false).map(|s| s.text),
            Some("a\u{FFFD}[2Jb".to_owned())
        );
    }

    #[test]
    fn no_format_prints_the_secret() {
        let fx = fixture::full();
        for &format in Format::value_variants() {
            for color in [false, true] {
                let out = fixture::render(&fx, |r, out| {
                    crate::audit::report::write(format, r, TextOptions { color }, out)
                });
                assert!(!out.contains(SECRET), "{format:?} leaks the secret:\n{out}");
                assert!(
                    !out.contains("hunter2"),
                    "{format:?} leaks part of the secret"
                );
            }
        }
    }
}
