//! Every registered rule has documentation and a bad and a good fixture; the bad fixture
//! fires the rule (snapshot of the rendered findings through the real binary), the good one
//! does not.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use elastics_sec::audit::rules::{docs, Target, REGISTRY};
use support::{audit, hits, json, root};

const HEADINGS: &[&str] = &[
    "## What it does",
    "## Why it matters",
    "## Example",
    "## Fix",
    "## References",
];

#[test]
fn every_rule_has_complete_docs() {
    let mut ids = std::collections::HashSet::new();
    for r in REGISTRY {
        let m = r.meta();
        assert!(ids.insert(m.id), "duplicate rule id {}", m.id);
        assert!(
            m.id.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !m.id.starts_with('-'),
            "rule id {} is not kebab-case",
            m.id
        );
        let doc = docs::doc_text(m);
        let mut last = 0;
        for h in HEADINGS {
            let pos = doc
                .find(h)
                .unwrap_or_else(|| panic!("rule {} lacks doc heading {h}", m.id));
            assert!(pos >= last, "rule {}: heading {h} out of order", m.id);
            last = pos;
        }
        assert!(!m.title.is_empty());
        for p in m.params {
            assert!(
                !p.doc.is_empty(),
                "rule {} parameter {} lacks docs",
                m.id,
                p.name
            );
        }
    }
}

fn fixture_args(dir: &std::path::Path, which: &str) -> Vec<String> {
    let mut args = vec!["--format".to_string(), "json".to_string()];
    let policy = dir.join(format!("{which}.policy.yaml"));
    if policy.exists() {
        args.push("--policy".into());
        args.push(
            policy
                .strip_prefix(root())
                .unwrap_or(&policy)
                .display()
                .to_string(),
        );
    }
    if let Ok(extra) = std::fs::read_to_string(dir.join("args.txt")) {
        args.extend(
            extra
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    args
}

#[test]
fn every_rule_has_fixtures_that_behave() {
    let mut failures = Vec::new();
    for r in REGISTRY {
        let m = r.meta();
        if !m.targets.contains(&Target::Compose) && !m.targets.contains(&Target::Policy) {
            continue;
        }
        let dir = root().join("tests/fixtures/rules").join(m.id);
        for which in ["bad", "good"] {
            let file = dir.join(format!("{which}.yaml"));
            assert!(
                file.exists(),
                "rule {} lacks fixture {}",
                m.id,
                file.display()
            );
            let rel = format!("tests/fixtures/rules/{}/{which}.yaml", m.id);
            let mut args = vec!["--select".to_string(), m.id.to_string()];
            args.extend(fixture_args(&dir, which));
            args.push(rel.clone());
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, out, err) = audit(&argv);
            assert!(code == 0 || code == 1, "{rel}: exit {code}\n{err}\n{out}");
            let n = hits(&json(&out))
                .iter()
                .filter(|(id, _, _)| id == m.id)
                .count();
            if which == "bad" && n == 0 {
                failures.push(format!("{rel}: expected findings of {}", m.id));
            }
            if which == "good" && n != 0 {
                failures.push(format!(
                    "{rel}: expected no findings of {}, got {n}\n{out}",
                    m.id
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_fixture_snapshots() {
    for r in REGISTRY {
        let m = r.meta();
        let dir = root().join("tests/fixtures/rules").join(m.id);
        if !dir.join("bad.yaml").exists() {
            continue;
        }
        let mut args = vec!["--select".to_string(), m.id.to_string()];
        let mut extra = fixture_args(&dir, "bad");
        extra.drain(..2); // text format instead of json
        args.extend(extra);
        args.push("--color".into());
        args.push("never".into());
        args.push(format!("tests/fixtures/rules/{}/bad.yaml", m.id));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, out, _) = audit(&argv);
        insta::assert_snapshot!(format!("rule__{}", m.id), out);
    }
}
