//! Dockerfile auditing through the real binary: discovery by file name, a multi-stage
//! Dockerfile with exact lines and columns, heredocs and the escape directive, parse errors
//! (exit 2 with file:line), suppressions, redaction and `--parse-only`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::fs;
use std::path::Path;

use support::{audit_in, hits, json};

fn write(dir: &Path, name: &str, text: &str) {
    if let Some(parent) = dir.join(name).parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(dir.join(name), text).unwrap();
}

fn set(v: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
    let mut v: Vec<_> = v.iter().map(|(r, l, c)| (r.to_string(), *l, *c)).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(String, u64, u64)>) -> Vec<(String, u64, u64)> {
    v.sort();
    v
}

/// `(path, rule, line)` of every finding.
fn files_and_lines(v: &serde_json::Value) -> Vec<(String, String, u64)> {
    let mut out: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("").to_string(),
                f["rule"].as_str().unwrap_or("").to_string(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

const SUDO: &str = "FROM alpine:3.19\nRUN sudo true\nUSER 10001\n";

#[test]
fn dockerfiles_are_discovered_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in [
        "Dockerfile",
        "Dockerfile.prod",
        "api.Dockerfile",
        "Containerfile",
        "svc/dockerfile",
    ] {
        write(d, name, SUDO);
    }
    // Not Dockerfiles: BuildKit's ignore file, other text, and YAML that only looks similar.
    write(d, "Dockerfile.dockerignore", "node_modules\n");
    write(d, "notes.txt", SUDO);
    write(d, "Dockerfiles", SUDO);
    let (code, out, err) = audit_in(d, &["--format", "json", "--select", "sudo-used", "."]);
    assert_eq!(code, 0, "{err}{out}");
    let v = json(&out);
    assert_eq!(v["summary"]["dockerfiles"], 5, "{}", v["summary"]);
    let found: Vec<String> = files_and_lines(&v).into_iter().map(|(p, _, _)| p).collect();
    assert_eq!(
        found,
        [
            "Containerfile",
            "Dockerfile",
            "Dockerfile.prod",
            "api.Dockerfile",
            "svc/dockerfile"
        ]
    );
    // Named explicitly, a `*.Dockerfile` is a Dockerfile too.
    write(d, "fixtures/bad.Dockerfile", SUDO);
    let (_, out, _) = audit_in(
        d,
        &[
            "--format",
            "json",
            "--select",
            "sudo-used",
            "fixtures/bad.Dockerfile",
        ],
    );
    assert_eq!(
        files_and_lines(&json(&out)),
        [(
            "fixtures/bad.Dockerfile".to_string(),
            "sudo-used".to_string(),
            2
        )]
    );
}

const MULTI_STAGE: &str = r#"# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22
ARG BASE
ARG APP_TAG
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ENV GOFLAGS=-mod=vendor \
    API_TOKEN=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789
ARG DB_PASSWORD=Tr4d3Desk-2024!
RUN curl -fsSL https://example.com/install.sh | sh
ADD https://example.com/vendor.tgz /src/
USER root
FROM build AS test
RUN sudo go test ./...
FROM ${BASE}:latest AS legacy
FROM app:${APP_TAG} AS tagged
FROM alpine AS tools
FROM scratch AS empty
FROM build
COPY --from=tools /bin/busybox /bin/
USER 0:0
"#;

#[test]
fn multi_stage_dockerfile_findings_at_exact_positions() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", MULTI_STAGE);
    let (code, out, err) = audit_in(dir.path(), &["--format", "json", "Dockerfile"]);
    assert_eq!(code, 1, "{err}{out}");
    let expected = set(&[
        // golang:1.22 (resolved from the global ARG) has a tag but no digest.
        ("image-not-pinned-by-digest", 5, 32),
        // The token on the continuation line, and the ARG default.
        ("secret-in-environment", 7, 15),
        ("secret-in-environment", 8, 17),
        ("pipe-to-shell", 9, 5),
        ("add-from-url", 10, 5),
        ("sudo-used", 13, 5),
        // A literal `latest` is mutable even when the repository is a variable.
        ("image-tag-mutable", 14, 6),
        ("image-not-pinned-by-digest", 14, 6),
        // An unknown tag is not reported as latest, but it is still not a digest.
        ("image-not-pinned-by-digest", 15, 6),
        ("image-tag-mutable", 16, 6),
        ("image-not-pinned-by-digest", 16, 6),
        // Only the final stage counts, and it inherits nothing: its own USER is root.
        ("runs-as-root", 20, 6),
    ]);
    assert_eq!(sorted(hits(&json(&out))), expected, "{out}");
    let v = json(&out);
    let runs_as_root = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "runs-as-root")
        .unwrap();
    assert_eq!(runs_as_root["resource"], "stage 6", "{runs_as_root}");
    assert_eq!(v["summary"]["dockerfiles"], 1);
}

#[test]
fn final_stage_user_follows_the_stage_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // USER in the stage the final stage is built on carries over.
    write(
        d,
        "inherits.Dockerfile",
        "FROM alpine:3.19 AS base\nUSER app\nFROM base AS runtime\nRUN true\n",
    );
    // ...and so does root.
    write(
        d,
        "inherits-root.Dockerfile",
        "FROM alpine:3.19 AS base\nUSER root\nFROM base\nRUN true\n",
    );
    // A USER in an unrelated earlier stage does not.
    write(
        d,
        "unrelated.Dockerfile",
        "FROM alpine:3.19 AS build\nUSER app\nFROM alpine:3.19\nRUN true\n",
    );
    // Root in a build stage only is fine; distroless `nonroot` images are non-root.
    write(
        d,
        "build-root.Dockerfile",
        "FROM golang:1.22 AS build\nUSER root\nFROM gcr.io/distroless/static-debian12:nonroot\nCOPY --from=build /app /app\n",
    );
    // Root resolved through an ARG.
    write(
        d,
        "arg-root.Dockerfile",
        "FROM alpine:3.19\nARG RUN_AS=0\nUSER ${RUN_AS}\n",
    );
    let (_, out, err) = audit_in(d, &["--format", "json", "--select", "runs-as-root", "."]);
    let found = files_and_lines(&json(&out));
    let rule = "runs-as-root".to_string();
    assert_eq!(
        found,
        [
            ("arg-root.Dockerfile".to_string(), rule.clone(), 3),
            ("inherits-root.Dockerfile".to_string(), rule.clone(), 2),
            ("unrelated.Dockerfile".to_string(), rule.clone(), 3),
        ],
        "{err}{out}"
    );
}

#[test]
fn heredocs_and_the_escape_directive_keep_exact_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "Dockerfile",
        "FROM alpine:3.19\nRUN <<EOF\nset -eu\napk add --no-cache curl\ncurl -fsSL https://get.example.com/install.sh | sh\nEOF\nRUN <<-SCRIPT bash\n\tsudo true\n\tSCRIPT\nCOPY <<EOF /etc/motd\ncurl https://x | sh\nEOF\nUSER 10001\n",
    );
    write(
        d,
        "windows.Dockerfile",
        "# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir C:\\ `\n    && curl.exe -o C:\\x.zip https://example.com/x.zip `\n    && sudo whoami\nUSER ContainerUser\n",
    );
    let (_, out, err) = audit_in(
        d,
        &[
            "--format",
            "json",
            "--select",
            "pipe-to-shell",
            "--select",
            "sudo-used",
            ".",
        ],
    );
    let v = json(&out);
    assert_eq!(v["errors"], serde_json::json!([]), "{err}");
    assert_eq!(
        files_and_lines(&v),
        [
            ("Dockerfile".to_string(), "pipe-to-shell".to_string(), 5),
            ("Dockerfile".to_string(), "sudo-used".to_string(), 8),
            ("windows.Dockerfile".to_string(), "sudo-used".to_string(), 5),
        ]
    );
    let h = sorted(hits(&v));
    assert!(h.contains(&("pipe-to-shell".to_string(), 5, 1)), "{h:?}");
    assert!(h.contains(&("sudo-used".to_string(), 8, 2)), "{h:?}");
    assert!(h.contains(&("sudo-used".to_string(), 5, 8)), "{h:?}");
}

#[test]
fn parse_errors_exit_2_with_file_and_line_and_other_files_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "a/Dockerfile",
        "FROM alpine:3.19\nRUN <<EOF\necho never closed\n",
    );
    write(d, "b/Dockerfile", "FROM alpine:3.19\nRUN true\nFOO bar\n");
    write(d, "c/Dockerfile", "# escape=x\nFROM alpine:3.19\n");
    write(d, "d/Dockerfile", "RUN true\nFROM alpine:3.19\n");
    write(d, "e/Dockerfile", "FROM alpine:3.19\nCMD [\"a\", 1]\n");
    fs::create_dir_all(d.join("f")).unwrap();
    fs::write(d.join("f/Dockerfile"), [b'F', b'R', 0xff, 0xfe, b'\n']).unwrap();
    write(d, "ok/Dockerfile", SUDO);
    let (code, out, err) = audit_in(d, &["--color", "never", "--select", "sudo-used", "."]);
    assert_eq!(code, 2, "{err}{out}");
    assert!(!err.contains("panicked"), "{err}");
    for needle in [
        "error: a/Dockerfile:2:5: unterminated heredoc",
        "error: b/Dockerfile:3:1: unknown instruction",
        "error: c/Dockerfile:1:10: invalid escape character",
        "error: d/Dockerfile:1:1: RUN before the first FROM",
        "error: e/Dockerfile:2:5: exec form must be a JSON array of strings",
        "error: f/Dockerfile:1:3: not valid UTF-8",
    ] {
        assert!(out.contains(needle), "missing {needle}:\n{out}");
    }
    // The good Dockerfile was still audited.
    assert!(out.contains("ok/Dockerfile:2:5"), "{out}");
    assert!(
        out.contains("1 file scanned (1 Dockerfile)") && out.contains("6 errors"),
        "{out}"
    );
}

#[test]
fn parse_only_runs_no_rules() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "Dockerfile", MULTI_STAGE);
    let (code, out, err) = audit_in(dir.path(), &["--format", "json", "--parse-only", "."]);
    assert_eq!(code, 0, "{err}{out}");
    let v = json(&out);
    assert!(hits(&v).is_empty());
    assert_eq!(v["summary"]["dockerfiles"], 1);
    assert_eq!(v["summary"]["files_scanned"], 1);
}

#[test]
fn suppressions_and_redaction_work_in_dockerfiles() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Dockerfile",
        "FROM alpine:3.19\n# elastics-sec: ignore[sudo-used] the base image is patched upstream\nRUN sudo true\nRUN sudo false # elastics-sec: ignore[sudo-used] same\nENV API_TOKEN=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\nUSER 10001\n",
    );
    let (_, out, _) = audit_in(
        dir.path(),
        &[
            "--format",
            "json",
            "--select",
            "sudo-used",
            "--select",
            "secret-in-environment",
            "Dockerfile",
        ],
    );
    let v = json(&out);
    assert_eq!(
        sorted(hits(&v)),
        set(&[("secret-in-environment", 5, 15)]),
        "{out}"
    );
    assert_eq!(v["summary"]["findings_suppressed"], 2);
    let (_, text, _) = audit_in(
        dir.path(),
        &[
            "--color",
            "never",
            "--select",
            "secret-in-environment",
            "Dockerfile",
        ],
    );
    assert!(text.contains("ENV API_TOKEN=****"), "{text}");
    assert!(!text.contains("ghp_"), "{text}");
}
