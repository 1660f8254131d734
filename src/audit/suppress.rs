//! Inline suppressions: `# elastics-sec: ignore[rule-id, other-id] reason`.
//!
//! A suppression written after content on a line applies to that line; one on a line of its
//! own applies to the next line. Comments are found by scanning the raw text once per file
//! (a cheap `memmem` for the marker), not by the YAML parser, so they work the same in
//! every input kind, Dockerfiles included.

use std::cell::Cell;

const MARKER: &str = "elastics-sec:";

/// One suppression comment.
#[derive(Debug, Clone)]
pub struct Suppression {
    /// The line whose findings it suppresses (1-based).
    pub target_line: u32,
    /// Where the comment is written.
    pub line: u32,
    pub col: u32,
    pub rules: Vec<String>,
    pub reason: Option<String>,
    pub used: Cell<bool>,
}

impl Suppression {
    pub fn covers(&self, rule: &str, line: u32) -> bool {
        self.target_line == line && self.rules.iter().any(|r| r == rule || r == "*")
    }
}

/// Finds every suppression comment in `text`.
pub fn scan(text: &str) -> Vec<Suppression> {
    let mut out = Vec::new();
    if memchr::memmem::find(text.as_bytes(), MARKER.as_bytes()).is_none() {
        return out;
    }
    for (i, line) in text.lines().enumerate() {
        let Some(pos) = line.find(MARKER) else {
            continue;
        };
        // The marker must open a comment: `#` then optional spaces right before it.
        let before = line[..pos].trim_end();
        let Some(hash) = before.strip_suffix('#') else {
            continue;
        };
        let rest = line[pos + MARKER.len()..].trim_start();
        let Some(after) = rest.strip_prefix("ignore[") else {
            continue;
        };
        let Some((ids, reason)) = after.split_once(']') else {
            continue;
        };
        let rules: Vec<String> = ids
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if rules.is_empty() {
            continue;
        }
        let reason = reason.trim();
        let line_no = i as u32 + 1;
        let own_line = hash.trim().is_empty();
        out.push(Suppression {
            target_line: if own_line { line_no + 1 } else { line_no },
            line: line_no,
            col: hash.chars().count() as u32 + 1,
            rules,
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            used: Cell::new(false),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_and_own_line() {
        let s =
            scan("a: 1 # elastics-sec: ignore[x] because\n# elastics-sec: ignore[y, z]\nb: 2\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].target_line, 1);
        assert_eq!(s[0].reason.as_deref(), Some("because"));
        assert_eq!(s[1].target_line, 3);
        assert_eq!(s[1].rules, vec!["y", "z"]);
        assert!(s[1].reason.is_none());
        assert_eq!(s[1].col, 1);
    }

    #[test]
    fn not_a_comment() {
        assert!(scan("a: \"elastics-sec: ignore[x]\"\n").is_empty());
    }
}
