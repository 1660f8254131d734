//! The `audit` command through the real binary: the product brief's compose file, exit
//! codes, input discovery, compose semantics with exact locations, and every bad-input class.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::fs;

use support::{audit, audit_in, bin, hits, json, shared};

fn set(v: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
    let mut v: Vec<_> = v.iter().map(|(r, l, c)| (r.to_string(), *l, *c)).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(String, u64, u64)>) -> Vec<(String, u64, u64)> {
    v.sort();
    v
}

#[test]
fn brief_compose_file_gets_the_findings_a_reviewer_expects() {
    let (code, out, err) = audit(&["--format", "json", "examples/insecure/compose.yaml"]);
    assert_eq!(code, 1, "{err}");
    let expected = set(&[
        // webapp: `:latest`, unpinned
        ("image-tag-mutable", 3, 12),
        ("image-not-pinned-by-digest", 3, 12),
        // "80:8080" on all interfaces, plaintext HTTP
        ("port-published-all-interfaces", 5, 8),
        ("plaintext-http-published", 5, 8),
        // webapp lacks user, read_only, cap_drop, no-new-privileges, networks
        ("runs-as-root", 2, 3),
        ("writable-root-filesystem", 2, 3),
        ("capabilities-not-dropped", 2, 3),
        ("privilege-escalation-allowed", 2, 3),
        ("default-network-only", 2, 3),
        // redis: tag-only image, same hardening gaps, and it shares the default network
        // with a service exposed on all interfaces
        ("image-not-pinned-by-digest", 7, 12),
        ("runs-as-root", 6, 3),
        ("writable-root-filesystem", 6, 3),
        ("capabilities-not-dropped", 6, 3),
        ("privilege-escalation-allowed", 6, 3),
        ("default-network-only", 6, 3),
        ("data-service-on-exposed-network", 6, 3),
    ]);
    assert_eq!(sorted(hits(&json(&out))), expected);
}

#[test]
fn brief_compose_text_output_snapshot() {
    let (code, out, _) = audit(&["--color", "never", "examples/insecure/"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("brief_text", out);
}

#[test]
fn exit_codes_follow_fail_on() {
    let (code, _, _) = audit(&["--fail-on", "critical", "examples/insecure/compose.yaml"]);
    assert_eq!(code, 0, "no critical findings");
    let (code, _, _) = audit(&["--fail-on", "low", "examples/insecure/compose.yaml"]);
    assert_eq!(code, 1);
    let (code, _, err) = audit(&["--select", "no-such-rule", "examples/insecure/compose.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-rule"), "{err}");
    let (code, out, _) = audit(&["--color", "never", "does/not/exist.yaml"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("error: does/not/exist.yaml: no such file or directory"),
        "{out}"
    );
}

#[test]
fn clean_file_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  api:\n    image: registry.example.com/api:1.4.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n    user: \"10001:10001\"\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    ports: [\"127.0.0.1:8443:8443\"]\n    networks: [backend]\nnetworks:\n  backend:\n    internal: true\n",
    )
    .unwrap();
    let (code, out, err) = audit_in(dir.path(), &["--fail-on", "info", "--format", "json", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(hits(&json(&out)).is_empty());
}

fn write(dir: &std::path::Path, name: &str, text: &str) {
    if let Some(parent) = dir.join(name).parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(dir.join(name), text).unwrap();
}

#[test]
fn anchors_and_merge_keys_blame_the_anchor_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "compose.yaml",
        "x-hardening: &hard\n  read_only: true\n  cap_drop: [ALL]\nx-bad: &bad\n  privileged: true\n  read_only: true\nservices:\n  a:\n    <<: [*bad, *hard]\n    image: a:1\n  b:\n    <<: *hard\n    read_only: false\n    image: b:1\n",
    );
    let (_, out, _) = audit_in(
        dir.path(),
        &[
            "--format",
            "json",
            "--select",
            "privileged-mode",
            "--select",
            "writable-root-filesystem",
            "--select",
            "capabilities-not-dropped",
            "compose.yaml",
        ],
    );
    let h = sorted(hits(&json(&out)));
    assert_eq!(
        h,
        set(&[
            // privileged comes from the x-bad anchor, line 5
            ("privileged-mode", 5, 15),
            // b overrides the merged read_only with its own explicit key on line 13
            ("writable-root-filesystem", 13, 16),
        ])
    );
}

#[test]
fn multi_document_and_interpolation_with_exact_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", "WEB_PORT=8080\nTAG=latest\n");
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web:\n    image: \"web:${TAG}\"\n    ports:\n      - \"${BIND:-0.0.0.0}:${WEB_PORT}:80\"\n      - \"${BIND2-127.0.0.1}:9000:9000\"\n    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n      PRICE: $$5\n",
    );
    let (_, out, err) = audit_in(
        dir.path(),
        &[
            "--format",
            "json",
            "--select",
            "port-published-all-interfaces",
            "--select",
            "image-tag-mutable",
            "--select",
            "secret-in-environment",
            "compose.yaml",
        ],
    );
    let h = sorted(hits(&json(&out)));
    assert_eq!(
        h,
        set(&[
            ("image-tag-mutable", 3, 12),
            ("port-published-all-interfaces", 5, 9)
        ]),
        "{err}"
    );
}

#[test]
fn required_variable_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web:\n    image: \"web:${TAG:?set TAG}\"\n",
    );
    let (code, out, err) = audit_in(dir.path(), &["--format", "json", "compose.yaml"]);
    assert_eq!(code, 2);
    // Input errors are in the report and, for machine formats, echoed on stderr.
    assert!(
        err.contains("compose.yaml:3:12: required variable TAG is missing a value: set TAG"),
        "{err}"
    );
    assert_eq!(json(&out)["errors"][0]["line"], 3);
}

#[test]
fn override_file_is_merged_and_blamed() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web:\n    image: web:1.0\n    ports: [\"127.0.0.1:8080:8080\"]\n",
    );
    write(dir.path(), "compose.override.yaml", "services:\n  web:\n    privileged: true\n    ports:\n      - target: 9090\n        published: 9090\n");
    let (_, out, _) = audit_in(
        dir.path(),
        &[
            "--format",
            "json",
            "--select",
            "privileged-mode",
            "--select",
            "port-published-all-interfaces",
            ".",
        ],
    );
    let v = json(&out);
    let found: Vec<(String, String, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().into(),
                f["path"].as_str().unwrap().into(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        found.contains(&("privileged-mode".into(), "compose.override.yaml".into(), 3)),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "port-published-all-interfaces".into(),
            "compose.override.yaml".into(),
            5
        )),
        "{found:?}"
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(v["summary"]["compose_files"], 2);
}

#[test]
fn explicit_compose_files_merge_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "base.yml",
        "services:\n  web:\n    image: web:1.0\n    user: root\n",
    );
    write(
        dir.path(),
        "prod.yml",
        "services:\n  web:\n    user: \"10001\"\n",
    );
    let (_, out, _) = audit_in(
        dir.path(),
        &[
            "--format",
            "json",
            "--select",
            "runs-as-root",
            "--compose-file",
            "base.yml",
            "--compose-file",
            "prod.yml",
        ],
    );
    assert!(hits(&json(&out)).is_empty(), "{out}");
    let (_, out, _) = audit_in(
        dir.path(),
        &[
            "--format",
            "json",
            "--select",
            "runs-as-root",
            "--compose-file",
            "prod.yml",
            "--compose-file",
            "base.yml",
        ],
    );
    assert_eq!(hits(&json(&out)), vec![("runs-as-root".to_string(), 4, 11)]);
}

#[test]
fn long_syntax_ports_and_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web:\n    image: web:1\n    ports:\n      - \"[::]:443:443\"\n      - \"[::1]:8080:80\"\n      - target: 80\n        host_ip: 0.0.0.0\n        published: \"8000-8010\"\n      - target: 81\n        host_ip: 127.0.0.1\n      - \"3000\"\n      - \"192.0.2.10:53:53/udp\"\n",
    );
    let (_, out, _) = audit_in(
        dir.path(),
        &[
            "--format",
            "json",
            "--select",
            "port-published-all-interfaces",
            "--select",
            "plaintext-http-published",
            ".",
        ],
    );
    assert_eq!(
        sorted(hits(&json(&out))),
        set(&[
            ("port-published-all-interfaces", 5, 9),
            ("port-published-all-interfaces", 8, 18),
            ("plaintext-http-published", 8, 18),
            ("port-published-all-interfaces", 12, 9),
        ])
    );
}

#[test]
fn extends_within_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "compose.yaml", "services:\n  base:\n    image: b:1\n    privileged: true\n  app:\n    extends: base\n    image: a:1\n");
    let (_, out, _) = audit_in(
        dir.path(),
        &["--format", "json", "--select", "privileged-mode", "."],
    );
    // Both the base and the extending service are privileged, blamed at line 4.
    assert_eq!(
        hits(&json(&out)),
        vec![
            ("privileged-mode".to_string(), 4, 17),
            ("privileged-mode".to_string(), 4, 17)
        ]
    );
}

#[test]
fn bad_inputs_are_located_errors_and_other_files_are_still_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "good/compose.yaml",
        "services:\n  web:\n    image: web:latest\n",
    );
    write(
        d,
        "malformed.yaml",
        "services:\n  web:\n    image: [unclosed\n",
    );
    write(
        d,
        "duplicate.yaml",
        "services:\n  web:\n    image: a:1\n    image: b:2\n",
    );
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    bomb.push_str("services:\n  x:\n    image: *i\n");
    write(d, "bomb.yaml", &bomb);
    write(d, "deep.yaml", &("[".repeat(300) + &"]".repeat(300)));
    fs::write(
        d.join("binary.yaml"),
        [0x89u8, b'P', b'N', b'G', 0, 0xff, 0xfe],
    )
    .unwrap();
    write(d, "empty.yaml", "");
    write(d, "comment.yaml", "# nothing here\n");
    write(d, "big.yaml", &"# padding\n".repeat(200_000));
    let start = std::time::Instant::now();
    let (code, out, err) = audit_in(d, &["--format", "json", "--max-file-size", "1MiB", "."]);
    assert!(start.elapsed().as_secs() < 20, "bounded time");
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let v = json(&out);
    let errors: Vec<String> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}:{}: {}",
                e["path"].as_str().unwrap(),
                e["line"],
                e["column"],
                e["message"].as_str().unwrap()
            )
        })
        .collect();
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(has("malformed.yaml:"), "{errors:?}");
    assert!(
        has("duplicate.yaml:4:5: duplicate key `image` (first defined at line 3)"),
        "{errors:?}"
    );
    assert!(has("bomb.yaml:") && has("alias bomb"), "{errors:?}");
    assert!(has("deep.yaml:") && has("nesting deeper"), "{errors:?}");
    assert!(has("binary.yaml:") && has("UTF-8"), "{errors:?}");
    assert!(has("big.yaml:") && has("--max-file-size"), "{errors:?}");
    assert_eq!(errors.len(), 6, "{errors:?}");
    // The good file was still audited.
    assert!(hits(&v)
        .iter()
        .any(|(r, l, _)| r == "image-tag-mutable" && *l == 3));
    // Empty and comment-only files are skipped, not errors.
    assert_eq!(v["summary"]["files_skipped"], 2, "{}", v["summary"]);
}

#[test]
fn text_errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "compose.yaml", "services:\n  a: 1\n  a: 2\n");
    let (code, out, _) = audit_in(dir.path(), &["--color", "never", "compose.yaml"]);
    assert_eq!(code, 2);
    assert!(out.contains("compose.yaml:3:3"), "{out}");
}

#[test]
fn stdin_is_audited() {
    let out = bin()
        .args([
            "audit",
            "--format",
            "json",
            "--select",
            "privileged-mode",
            "-",
        ])
        .write_stdin("services:\n  a:\n    image: a:1\n    privileged: true\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["findings"][0]["path"], "<stdin>");
    assert_eq!(v["findings"][0]["line"], 4);
}

#[test]
fn gitignore_and_exclude_are_honoured_and_other_yaml_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, ".gitignore", "ignored/\n");
    write(
        d,
        "ignored/compose.yaml",
        "services:\n  a:\n    privileged: true\n",
    );
    write(
        d,
        "vendor/compose.yaml",
        "services:\n  a:\n    privileged: true\n",
    );
    write(
        d,
        "app/compose.yaml",
        "services:\n  a:\n    privileged: true\n",
    );
    write(d, "app/values.yaml", "replicas: 3\n");
    write(d, "k8s/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\n");
    let (_, out, _) = audit_in(
        d,
        &[
            "--format",
            "json",
            "--select",
            "privileged-mode",
            "--exclude",
            "vendor/**",
            ".",
        ],
    );
    let v = json(&out);
    let paths: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["app/compose.yaml"]);
    assert_eq!(v["summary"]["files_skipped"], 1);
    assert_eq!(v["summary"]["kubernetes_documents"], 2);
    assert_eq!(v["summary"]["compose_files"], 1);
}

#[test]
fn inline_suppressions_and_reasons() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  a:\n    image: a:1\n    privileged: true # elastics-sec: ignore[privileged-mode] hardware test rig, RISK-7\n    # elastics-sec: ignore[host-namespace-shared]\n    pid: host\n    network_mode: host\n",
    );
    let (_, out, _) = audit_in(
        dir.path(),
        &[
            "--format",
            "json",
            "--select",
            "privileged-mode",
            "--select",
            "host-namespace-shared",
            "--select",
            "suppression-missing-reason",
            ".",
        ],
    );
    let v = json(&out);
    assert_eq!(
        sorted(hits(&v)),
        set(&[
            ("host-namespace-shared", 7, 19),
            ("suppression-missing-reason", 5, 5)
        ])
    );
    assert_eq!(v["summary"]["findings_suppressed"], 2);
}

#[test]
fn policy_levels_params_exceptions_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "compose.yaml", "services:\n  web:\n    image: web:1\n    cap_add: [NET_ADMIN, SYS_TIME]\n    user: root\n  legacy:\n    image: l:1\n    user: root\n");
    write(
        d,
        "policy.yaml",
        "version: 1\nall_rules: disabled\nrules:\n  capability-added:\n    level: critical\n    params:\n      allowed: [NET_BIND_SERVICE, NET_ADMIN]\n  runs-as-root: low\n  policy-exception-expired: default\nexceptions:\n  - rule: runs-as-root\n    resources: [legacy]\n    reason: vendor image\n    expires: 2999-01-01\n",
    );
    let (code, out, err) = audit_in(
        d,
        &[
            "--format",
            "json",
            "--policy",
            "policy.yaml",
            "compose.yaml",
        ],
    );
    assert_eq!(code, 1, "{err}");
    let v = json(&out);
    let f = v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 2, "{out}");
    assert_eq!(f[0]["rule"], "capability-added");
    assert_eq!(f[0]["severity"], "critical");
    assert_eq!(f[0]["line"], 4);
    assert_eq!(f[1]["rule"], "runs-as-root");
    assert_eq!(f[1]["severity"], "low");
    assert_eq!(f[1]["line"], 5);

    // An expired exception stops applying and is itself reported.
    let expired = fs::read_to_string(d.join("policy.yaml"))
        .unwrap()
        .replace("2999-01-01", "2020-01-01");
    write(d, "expired.yaml", &expired);
    let (_, out, _) = audit_in(
        d,
        &[
            "--format",
            "json",
            "--policy",
            "expired.yaml",
            "compose.yaml",
        ],
    );
    let h = hits(&json(&out));
    assert!(
        h.contains(&("policy-exception-expired".to_string(), 14, 14)),
        "{h:?}"
    );
    assert!(h.contains(&("runs-as-root".to_string(), 8, 11)), "{h:?}");

    // Unknown keys, rule ids and parameters are errors with file:line:col.
    for (text, needle) in [
        (
            "version: 1\nrulez: {}\n",
            "policy.bad.yaml:2:1: unknown key `rulez`",
        ),
        (
            "rules:\n  no-such-rule: high\n",
            "policy.bad.yaml:2:3: unknown rule id `no-such-rule`",
        ),
        (
            "rules:\n  capability-added:\n    params:\n      allow: []\n",
            "policy.bad.yaml:4:7: rule `capability-added` has no parameter `allow`",
        ),
        (
            "rules:\n  runs-as-root: severe\n",
            "policy.bad.yaml:2:17: unknown level `severe`",
        ),
        (
            "exceptions:\n  - rule: runs-as-root\n",
            "policy.bad.yaml:2:5: an exception needs a `reason`",
        ),
    ] {
        write(d, "policy.bad.yaml", text);
        let (code, _, err) = audit_in(d, &["--policy", "policy.bad.yaml", "compose.yaml"]);
        assert_eq!(code, 2);
        assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    }
}

#[test]
fn secret_values_never_reach_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let canary = "Sup3rS3cretCanaryValue-9f8e7d";
    write(
        dir.path(),
        "compose.yaml",
        &format!("services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: {canary}\n  app:\n    image: app:1\n    environment:\n      - API_TOKEN={canary}\n"),
    );
    for format in ["text", "json", "sarif", "junit", "github"] {
        let (code, out, err) = audit_in(dir.path(), &["--format", format, "--color", "never", "."]);
        assert_eq!(code, 1, "{format}: {err}");
        assert!(out.contains("secret-in-environment"), "{format}: {out}");
        assert!(
            !out.contains(canary) && !err.contains(canary),
            "{format} leaked the secret:\n{out}"
        );
    }
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(shared("schemas/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "broken.yaml", "a: [\n");
    fs::copy(
        support::root().join("examples/insecure/compose.yaml"),
        dir.path().join("compose.yaml"),
    )
    .unwrap();
    let (code, out, _) = audit_in(dir.path(), &["--format", "sarif", "."]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 16);
    for r in results {
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
        assert!(region["startColumn"].as_u64().unwrap() >= 1);
        assert!(r["partialFingerprints"]
            .as_object()
            .is_some_and(|m| !m.is_empty()));
    }
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().all(|r| r["helpUri"].as_str().is_some()));
}

#[test]
fn other_formats_are_well_formed() {
    let (_, out, _) = audit(&["--format", "junit", "examples/insecure/compose.yaml"]);
    assert!(out.starts_with("<?xml"), "{out}");
    assert_eq!(out.matches("<failure").count(), 16);
    let (_, out, _) = audit(&["--format", "github", "examples/insecure/compose.yaml"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("::")).count(),
        16,
        "{out}"
    );
    assert!(
        out.contains("::error file=examples/insecure/compose.yaml,line=6,"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("report.json");
    let (code, out, _) = audit(&[
        "--format",
        "json",
        "--output",
        target.to_str().unwrap(),
        "examples/insecure/compose.yaml",
    ]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(json(&fs::read_to_string(&target).unwrap())["version"], 1);
}

#[test]
fn broken_pipe_exits_quietly() {
    use std::process::{Command, Stdio};
    let bin = assert_cmd::cargo::cargo_bin("elastics-sec");
    let dir = tempfile::tempdir().unwrap();
    for i in 0..200 {
        write(
            dir.path(),
            &format!("s{i}/compose.yaml"),
            "services:\n  a:\n    image: a\n",
        );
    }
    let mut child = Command::new(bin)
        .args(["audit", "--color", "never", "."])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}

#[test]
fn compose_fixtures_follow_the_compose_specification() {
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(shared("schemas/compose-spec.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let root = support::root();
    let mut files = vec![root.join("examples/insecure/compose.yaml")];
    for e in fs::read_dir(root.join("tests/fixtures/rules")).unwrap() {
        let dir = e.unwrap().path();
        for which in ["bad.yaml", "good.yaml"] {
            if dir.join(which).exists() {
                files.push(dir.join(which));
            }
        }
    }
    for f in files {
        // Convert through our own loader to JSON-ish values for the validator.
        let text = fs::read_to_string(&f).unwrap();
        let docs = elastics_sec::audit::yaml::load(&text, 0, Default::default()).unwrap();
        let v = to_json(&docs[0].root);
        let errors: Vec<String> = validator
            .iter_errors(&v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", f.display());
    }
}

/// Typed conversion the way Compose decodes YAML (plain scalars: bool, int, null).
fn to_json(n: &elastics_sec::audit::yaml::Node) -> serde_json::Value {
    use elastics_sec::audit::yaml::{Kind, Style};
    match &n.kind {
        Kind::Scalar(s) => {
            if s.style != Style::Plain {
                return serde_json::Value::String(s.text.to_string());
            }
            if n.is_null() {
                return serde_json::Value::Null;
            }
            match s.text.as_str() {
                "true" => return serde_json::Value::Bool(true),
                "false" => return serde_json::Value::Bool(false),
                _ => {}
            }
            if let Ok(i) = s.text.parse::<i64>() {
                return serde_json::Value::from(i);
            }
            if let Ok(f) = s.text.parse::<f64>() {
                return serde_json::Value::from(f);
            }
            serde_json::Value::String(s.text.to_string())
        }
        Kind::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|e| {
                    (
                        e.key
                            .as_scalar()
                            .map(|k| k.text.to_string())
                            .unwrap_or_default(),
                        to_json(&e.value),
                    )
                })
                .collect(),
        ),
    }
}

#[test]
fn helm_output_on_stdin_keeps_template_sources() {
    let rendered = "---\n# Source: trading/templates/gateway.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: gw\nspec:\n  containers:\n  - name: gw\n    image: gw:1\n    securityContext:\n      privileged: true\n";
    let out = bin()
        .args([
            "audit",
            "--format",
            "json",
            "--select",
            "privileged-mode",
            "-",
        ])
        .write_stdin(rendered)
        .output()
        .unwrap();
    let v = json(&String::from_utf8_lossy(&out.stdout));
    let f = &v["findings"][0];
    assert_eq!(f["path"], "<stdin>");
    assert_eq!(f["line"], 12);
    assert_eq!(f["related"][0]["line"], 2);
    assert!(f["related"][0]["message"]
        .as_str()
        .unwrap()
        .contains("trading/templates/gateway.yaml"));
}

#[test]
fn long_extends_chains_are_linear_and_bounded() {
    // Forward and reverse chains of 5,000 services: no quadratic blow-up, no stack overflow.
    let dir = tempfile::tempdir().unwrap();
    let n = 5000;
    let mut fwd = String::from("services:\n  s0: {image: nginx:1.27, privileged: true}\n");
    let mut rev = String::from("services:\n");
    for i in 1..n {
        fwd.push_str(&format!("  s{i}: {{extends: s{}}}\n", i - 1));
        rev.push_str(&format!("  s{}: {{extends: s{i}}}\n", i - 1));
    }
    rev.push_str(&format!(
        "  s{}: {{image: nginx:1.27, privileged: true}}\n",
        n - 1
    ));
    write(dir.path(), "fwd/compose.yaml", &fwd);
    write(dir.path(), "rev/compose.yaml", &rev);
    let start = std::time::Instant::now();
    let (code, out, err) = audit_in(
        dir.path(),
        &["--format", "json", "--select", "privileged-mode", "fwd"],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(json(&out)["findings"].as_array().unwrap().len(), n);
    let (code, _, err) = audit_in(
        dir.path(),
        &["--format", "json", "--select", "privileged-mode", "rev"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("`extends` chain longer than 64"), "{err}");
    assert!(start.elapsed().as_secs() < 30);
}

#[test]
fn secrets_stay_hidden_in_every_excerpt_and_defaults_are_judged() {
    let dir = tempfile::tempdir().unwrap();
    let canary = "Zq7-Canary-Pw-41x";
    // A suppressed secret on a line that also carries another finding (the suppression
    // without a reason), a one-line flow mapping where other findings share the secret's
    // line, an interpolated key prefix, a BOM and a bare CR before the secret.
    write(
        dir.path(),
        "a/compose.yaml",
        &format!("\u{feff}services:\r  db:\n    image: postgres:16\n    environment:\n      DB_PASSWORD: {canary} # elastics-sec: ignore[secret-in-environment]\n"),
    );
    write(
        dir.path(),
        "b/compose.yaml",
        &format!("{{\"services\": {{\"web\": {{\"image\": \"web:latest\", \"privileged\": true, \"environment\": {{\"API_TOKEN\": \"{canary}\"}}}}}}}}\n"),
    );
    write(
        dir.path(),
        "c/compose.yaml",
        &format!("services:\n  app:\n    image: app:1\n    environment:\n      - \"${{PREFIX:-}}DB_PASSWORD={canary}\"\n      - DB_PASS=${{DB_PASS:-{canary}}}\n"),
    );
    for format in ["text", "json", "sarif", "junit", "github"] {
        let (_, out, err) = audit_in(
            dir.path(),
            &[
                "--format",
                format,
                "--color",
                "never",
                "--report-unused-suppressions",
                ".",
            ],
        );
        assert!(
            !out.contains("Canary") && !err.contains("Canary"),
            "{format} leaked:\n{out}{err}"
        );
    }
    let (_, out, _) = audit_in(
        dir.path(),
        &["--format", "json", "--select", "secret-in-environment", "c"],
    );
    let lines: Vec<u64> = json(&out)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![5, 6],
        "a literal default of a reference is judged: {out}"
    );
}

#[test]
fn wide_merge_keys_are_linear() {
    // 40,000 merged keys into a mapping with 40,000 explicit ones: linear, not quadratic.
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from("x: &m {");
    s.push_str(
        &(0..40_000)
            .map(|i| format!("k{i}: 1"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    s.push_str("}\nb:\n  <<: *m\n");
    for i in 0..40_000 {
        s.push_str(&format!("  j{i}: 2\n"));
    }
    write(dir.path(), "wide.yaml", &s);
    let start = std::time::Instant::now();
    let (code, _, err) = audit_in(dir.path(), &["wide.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(start.elapsed().as_secs() < 20);
}
