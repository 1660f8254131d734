//! Pod Security Standards parity: the upstream Pod Security Admission fixtures (v1.37),
//! audited with `policies/baseline.yaml` and `policies/restricted.yaml`. Every `fail`
//! fixture must be flagged by a rule mapped to the check its file name names; no `pass`
//! fixture may be flagged by any rule of the policy.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use elastics_sec::audit::rules::pss;
use support::{audit, json, root, shared};

fn check_of(file_stem: &str) -> String {
    file_stem
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_string()
}

fn run_level(level: &str) {
    let policy = root().join(format!("policies/{level}.yaml"));
    let mut problems = Vec::new();
    let mut counted = 0;
    for outcome in ["pass", "fail"] {
        let dir = shared(&format!("conformance/psa/v1.37/{level}/{outcome}"));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            counted += 1;
            let stem = f.file_stem().unwrap().to_str().unwrap().to_string();
            let (code, out, err) = audit(&[
                "--format",
                "json",
                "--policy",
                policy.to_str().unwrap(),
                f.to_str().unwrap(),
            ]);
            assert!(
                code == 0 || code == 1,
                "{}: exit {code}: {err}",
                f.display()
            );
            let v = json(&out);
            let rules: Vec<String> = v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["rule"].as_str().unwrap().to_string())
                .collect();
            if outcome == "pass" {
                if !rules.is_empty() {
                    problems.push(format!(
                        "{level}/pass/{stem}: unexpected findings {rules:?}"
                    ));
                }
                continue;
            }
            let check = check_of(&stem);
            let Some(mapped) = pss::rules_for(&check) else {
                problems.push(format!(
                    "{level}/fail/{stem}: no rule mapped to check {check}"
                ));
                continue;
            };
            if !rules.iter().any(|r| mapped.contains(&r.as_str())) {
                problems.push(format!(
                    "{level}/fail/{stem}: expected one of {mapped:?}, got {rules:?}"
                ));
            }
        }
    }
    assert!(counted > 30, "fixtures not found");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn baseline_fixtures() {
    run_level("baseline");
}

#[test]
fn restricted_fixtures() {
    run_level("restricted");
}

#[test]
fn policies_enable_exactly_the_mapped_rules() {
    for (level, levels) in [
        ("baseline", vec![pss::Level::Baseline]),
        (
            "restricted",
            vec![pss::Level::Baseline, pss::Level::Restricted],
        ),
    ] {
        let mut expected: Vec<&str> = pss::MAPPING
            .iter()
            .filter(|(_, l, _)| levels.contains(l))
            .flat_map(|(_, _, r)| r.iter().copied())
            .collect();
        expected.sort();
        expected.dedup();
        let text = std::fs::read_to_string(root().join(format!("policies/{level}.yaml"))).unwrap();
        let docs = elastics_sec::audit::yaml::load(&text, 0, Default::default()).unwrap();
        let root_node = &docs[0].root;
        assert_eq!(
            root_node.get("all_rules").and_then(|n| n.as_str()),
            Some("disabled"),
            "{level}"
        );
        let mut enabled: Vec<String> = root_node
            .get("rules")
            .unwrap()
            .str_entries()
            .filter(|(_, e)| {
                let lvl = e
                    .value
                    .as_str()
                    .or_else(|| e.value.get("level").and_then(|l| l.as_str()));
                lvl != Some("off")
            })
            .map(|(k, _)| k.to_string())
            .collect();
        enabled.sort();
        assert_eq!(enabled, expected, "{level}.yaml");
    }
}

/// `(rule, line, column)` of every finding of `file` under the restricted policy.
fn restricted_hits(file: &std::path::Path) -> Vec<(String, u64, u64)> {
    let policy = root().join("policies/restricted.yaml");
    let (code, out, err) = audit(&[
        "--format",
        "json",
        "--policy",
        policy.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(
        code == 0 || code == 1,
        "{}: exit {code}: {err}",
        file.display()
    );
    let mut v = support::hits(&json(&out));
    v.sort();
    v
}

#[test]
fn findings_in_a_multi_document_file_point_into_their_own_document() {
    // Three fail fixtures whose findings sit at the pod level, in a container and in an
    // init container, joined into one stream.
    let parts = [
        "restricted/fail/runasuser0.yaml",
        "restricted/fail/capabilities_baseline1.yaml",
        "restricted/fail/seccompprofile_restricted4.yaml",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut joined = String::new();
    let mut expected = Vec::new();
    // (first line, last line) of each document in the joined file, 1-based.
    let mut ranges = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let path = shared(&format!("conformance/psa/v1.37/{part}"));
        let text = std::fs::read_to_string(&path).unwrap();
        if i > 0 {
            if !joined.ends_with('\n') {
                joined.push('\n');
            }
            joined.push_str("---\n");
        }
        let offset = joined.lines().count() as u64;
        let lines = text.lines().count() as u64;
        ranges.push((offset + 1, offset + lines));
        joined.push_str(&text);
        let alone = restricted_hits(&path);
        assert!(!alone.is_empty(), "{part} has no findings");
        expected.extend(alone.into_iter().map(|(r, l, c)| (r, l + offset, c)));
    }
    let file = dir.path().join("pods.yaml");
    std::fs::write(&file, &joined).unwrap();
    let got = restricted_hits(&file);
    expected.sort();
    assert_eq!(got, expected, "findings of the joined stream\n{joined}");
    // Every document got its own findings, and none point at a `---` separator.
    for (first, last) in &ranges {
        assert!(
            got.iter().any(|(_, l, _)| l >= first && l <= last),
            "no finding in lines {first}..={last}"
        );
    }
    for (rule, line, _) in &got {
        assert!(
            ranges.iter().any(|(a, b)| line >= a && line <= b),
            "{rule} at line {line} lies outside every document"
        );
    }
}
