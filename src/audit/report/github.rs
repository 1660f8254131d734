//! GitHub Actions report (`--format github`): one workflow command per finding, which the
//! runner turns into an annotation on the pull request's diff.
//!
//! ```text
//! ::error file=compose.yaml,line=5,col=9,endColumn=17,title=port-published-all-interfaces (high)::service `webapp` publishes port 80 on all interfaces%0Ahelp: Bind the port to 127.0.0.1.
//! ```
//!
//! - The command is `error` for critical and high, `warning` for medium, `notice` for low and
//!   info. `line`/`col` are 1-based (columns in characters) and left out when unknown;
//!   `endColumn` is the last blamed column (inclusive) and only present when the token's length
//!   is known.
//! - The message is the finding's message, then `help: …` on a second line when there is help.
//! - Escaping follows the runner's rules: in the message `%`, CR and LF become `%25`, `%0D`,
//!   `%0A`; in properties `:` and `,` also become `%3A` and `%2C`. Other control characters
//!   are replaced by U+FFFD, since the log viewer would interpret escape sequences. Without
//!   this, a crafted path or message could end the annotation and inject a command of its own.
//! - Input errors are `::error file=PATH,line=L,col=C::MESSAGE` (position parts when known).
//! - The output ends with the text reporter's summary and result lines, uncoloured.
//! - No source text is included, so a redacted secret cannot leak through this format.

use std::io::{self, Write};

use crate::audit::finding::Severity;
use crate::audit::report::text::{result_line, summary_line};
use crate::audit::report::Report;

/// Writes `report` as GitHub Actions workflow commands.
pub fn write(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    for f in report.findings {
        let mut props = vec![format!(
            "file={}",
            property(report.sources.path(f.loc.file))
        )];
        if f.loc.line > 0 {
            props.push(format!("line={}", f.loc.line));
            if f.loc.col > 0 {
                props.push(format!("col={}", f.loc.col));
                if f.loc.len > 0 {
                    let end = f.loc.col.saturating_add(f.loc.len - 1);
                    props.push(format!("endColumn={end}"));
                }
            }
        }
        props.push(format!(
            "title={}",
            property(&format!("{} ({})", f.rule, f.severity))
        ));
        let mut message = f.message.clone();
        if let Some(help) = &f.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        writeln!(
            out,
            "::{} {}::{}",
            command(f.severity),
            props.join(","),
            data(&message)
        )?;
    }
    for e in report.errors {
        let mut props = vec![format!("file={}", property(&e.path))];
        if let Some(line) = e.line {
            props.push(format!("line={line}"));
            if let Some(col) = e.col {
                props.push(format!("col={col}"));
            }
        }
        writeln!(out, "::error {}::{}", props.join(","), data(&e.message))?;
    }
    writeln!(out, "{}", summary_line(report))?;
    writeln!(out, "{}", result_line(report))
}

fn command(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "notice",
    }
}

/// Escapes a command's message (the part after `::`).
fn data(s: &str) -> String {
    escape(s, false)
}

/// Escapes a property value (`key=value` before `::`).
fn property(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, in_property: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if in_property => out.push_str("%3A"),
            ',' if in_property => out.push_str("%2C"),
            c if c.is_control() && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::text::fixture::{self, SECRET};

    #[test]
    fn renders_one_command_per_finding() {
        let out = fixture::render(&fixture::full(), write);
        let expected = "\
::warning file=examples/insecure/compose.yaml,line=3,col=34,endColumn=39,title=image-mutable-tag (medium)::service `webapp` uses the mutable tag `latest`%0Ahelp: Pin the image by digest: `image@sha256:<digest>` & redeploy.
::error file=examples/insecure/compose.yaml,line=5,col=9,endColumn=17,title=port-published-all-interfaces (high)::service `webapp` publishes port 80 on all interfaces%0Ahelp: Bind the port to 127.0.0.1.
::error file=examples/insecure/compose.yaml,line=7,col=20,endColumn=33,title=secret-in-environment (critical)::service `webapp` sets `DB_PASSWORD` to a literal value
::error file=k8s/broken%2C copy.yaml,line=4,col=2::did not find expected key <b> & \"c\" 'd'\u{FFFD}%0A100%25 sure
3 findings (1 critical, 1 high, 1 medium) in 1 file, 2 suppressed; 4 files scanned (1 compose, 3 Kubernetes documents), 2 skipped, 1 error
result: FAIL (findings at or above high; input errors)
";
        assert_eq!(out, expected);
    }

    #[test]
    fn clean_run_is_just_the_summary() {
        let out = fixture::render(&fixture::clean(), write);
        assert_eq!(
            out,
            "no findings; 1 file scanned (1 compose)\nresult: PASS\n"
        );
    }

    #[test]
    fn low_and_info_are_notices() {
        assert_eq!(command(Severity::Low), "notice");
        assert_eq!(command(Severity::Info), "notice");
        assert_eq!(command(Severity::Medium), "warning");
        assert_eq!(command(Severity::Critical), "error");
    }

    #[test]
    fn escapes_per_workflow_command_rules() {
        assert_eq!(data("100%\r\nnext::a,b"), "100%25%0D%0Anext::a,b");
        assert_eq!(property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        // A message cannot start a new command or colour the log.
        let injected = data("x\n::error::pwned\u{1b}[31m");
        assert!(!injected.contains('\n') && !injected.contains('\u{1b}'));
    }

    #[test]
    fn never_contains_the_secret() {
        let out = fixture::render(&fixture::full(), write);
        assert!(!out.contains(SECRET));
    }
}
