//! Every registered rule has documentation and a bad and a good fixture; the bad fixture
//! fires the rule (snapshot of the rendered findings through the real binary), the good one
//! does not.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use elastics_sec::audit::rules::{docs, REGISTRY};
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

/// Fixture files of a rule: `bad*` and `good*` (any input kind: `bad.yaml` for compose,
/// `bad.k8s.yaml`, `bad.aci.yaml`, `bad.Dockerfile`...), excluding policy files.
fn fixtures(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix) && !n.ends_with(".policy.yaml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn args_for(
    m: &elastics_sec::audit::rules::RuleMeta,
    dir: &std::path::Path,
    file: &str,
    json_format: bool,
) -> Vec<String> {
    let which = if file.starts_with("bad") {
        "bad"
    } else {
        "good"
    };
    let mut args = vec!["--select".to_string(), m.id.to_string()];
    let mut extra = fixture_args(dir, which);
    if !json_format {
        extra.drain(..2);
        args.extend(["--color".to_string(), "never".to_string()]);
    }
    args.extend(extra);
    args.push(format!("tests/fixtures/rules/{}/{file}", m.id));
    args
}

#[test]
fn every_rule_has_fixtures_that_behave() {
    let mut failures = Vec::new();
    for r in REGISTRY {
        let m = r.meta();
        let dir = root().join("tests/fixtures/rules").join(m.id);
        let (bad, good) = (fixtures(&dir, "bad"), fixtures(&dir, "good"));
        if bad.is_empty() || good.is_empty() {
            failures.push(format!(
                "rule {} lacks a bad or a good fixture in {}",
                m.id,
                dir.display()
            ));
            continue;
        }
        for file in bad.iter().chain(&good) {
            let args = args_for(m, &dir, file, true);
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, out, err) = audit(&argv);
            let rel = format!("tests/fixtures/rules/{}/{file}", m.id);
            if code != 0 && code != 1 {
                failures.push(format!("{rel}: exit {code}\n{err}\n{out}"));
                continue;
            }
            let n = hits(&json(&out))
                .iter()
                .filter(|(id, _, _)| id == m.id)
                .count();
            if file.starts_with("bad") && n == 0 {
                failures.push(format!("{rel}: expected findings of {}", m.id));
            }
            if file.starts_with("good") && n != 0 {
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
        for file in fixtures(&dir, "bad") {
            let args = args_for(m, &dir, &file, false);
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let (_, out, _) = audit(&argv);
            let suffix = file.trim_start_matches("bad").trim_start_matches('.');
            let suffix = suffix.trim_end_matches(".yaml").trim_end_matches("yaml");
            let name = if suffix.is_empty() {
                format!("rule__{}", m.id)
            } else {
                format!("rule__{}__{}", m.id, suffix.replace('.', "_"))
            };
            insta::assert_snapshot!(name, out);
        }
    }
}

#[test]
fn rules_reference_is_generated_from_the_code() {
    let out = support::bin()
        .args(["rules", "--format", "markdown"])
        .output()
        .unwrap();
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(root().join("docs/rules.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/rules.md is stale; regenerate it with: cargo run -- rules --format markdown > docs/rules.md"
    );
    for r in REGISTRY {
        assert!(generated.contains(&format!("## {}\n", r.meta().id)));
    }
}
