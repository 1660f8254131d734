//! `inject` through the real binary: snapshots of the injected output (Kubernetes
//! multi-document with comments, a Deployment with its own init containers and volumes,
//! stdin, compose with comments and anchors), idempotence (injecting the output again is
//! byte-identical), the output passing `audit` with no findings at the default policy, the
//! input surviving line by line, and located errors for inputs that cannot be edited safely.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FIX: &str = "tests/fixtures/inject";
const CONFIG: &str = "tests/fixtures/inject/elastics-sec.toml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_elastics-sec"));
    c.current_dir(root());
    c
}

/// Runs `elastics-sec inject ARGS` with optional stdin: (exit code, stdout, stderr).
fn inject(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut c = bin();
    c.arg("inject").args(args);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let (code, out, err) = inject(args, stdin);
    assert_eq!(code, 0, "inject {args:?} failed: {err}");
    out
}

/// Injects `out` again (through stdin, with the same options) and expects no change.
fn assert_idempotent(opts: &[&str], out: &str) {
    let mut args = opts.to_vec();
    args.push("-");
    let again = ok(&args, Some(out));
    assert!(again == out, "second inject changed the output:\n{again}");
}

/// Audits `text` (written as `name` in a fresh directory) at the default policy and
/// expects zero findings.
fn assert_audit_clean(name: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let out = bin()
        .args(["audit", "--fail-on", "info"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "audit of the injected output: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no findings"), "{stdout}");
}

/// Every line of the input appears in the output, in order: inject only adds.
fn assert_input_kept(input: &str, output: &str) {
    let mut lines = output.lines();
    for want in input.lines() {
        assert!(
            lines.any(|l| l == want),
            "input line {want:?} missing from the output"
        );
    }
}

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap()
}

#[test]
fn inputs_are_clean_before_injection() {
    // The audit tests below are meaningful only if the inputs had no findings already.
    for f in [
        "k8s-multi.yaml",
        "k8s-existing.yaml",
        "compose/compose.yaml",
    ] {
        assert_audit_clean(
            Path::new(f).file_name().unwrap().to_str().unwrap(),
            &read(&format!("{FIX}/{f}")),
        );
    }
}

#[test]
fn kubernetes_multi_document_with_comments() {
    let opts = ["--config", CONFIG];
    let input = read(&format!("{FIX}/k8s-multi.yaml"));
    let out = ok(
        &[&opts[..], &[&format!("{FIX}/k8s-multi.yaml")]].concat(),
        None,
    );
    insta::assert_snapshot!("k8s_multi", out);
    assert_input_kept(&input, &out);
    // Deployment and CronJob injected, Service and NetworkPolicy untouched, one ConfigMap.
    assert_eq!(out.matches("elastics-sec.io/injected: \"true\"").count(), 2);
    assert_eq!(out.matches("- name: elastics-sec-fetch").count(), 2);
    assert_eq!(out.matches("kind: ConfigMap").count(), 1);
    let service = input.split("---\n").nth(1).unwrap();
    assert!(out.contains(service));
    assert_idempotent(&opts, &out);
    assert_audit_clean("k8s-multi.yaml", &out);
}

#[test]
fn kubernetes_deployment_with_its_own_init_containers_and_volumes() {
    let opts = ["--config", CONFIG, "--secret", "db_password=db_password"];
    let input = read(&format!("{FIX}/k8s-existing.yaml"));
    let out = ok(
        &[&opts[..], &[&format!("{FIX}/k8s-existing.yaml")]].concat(),
        None,
    );
    insta::assert_snapshot!("k8s_existing", out);
    assert_input_kept(&input, &out);
    // elastics-sec runs before the app's own init container, which gets the mount too.
    let fetch = out.find("- name: elastics-sec-fetch").unwrap();
    let migrate = out.find("- name: migrate").unwrap();
    assert!(fetch < migrate);
    assert_eq!(out.matches("readOnly: true\n").count(), 3 + 2);
    assert!(out.contains("elastics-sec.io/secrets: \"db_password\""));
    assert_idempotent(&opts, &out);
    assert_audit_clean("k8s-existing.yaml", &out);
}

#[test]
fn kubernetes_shapes_list_indentation_empty_flow_block_scalars() {
    let opts = ["--config", CONFIG, "--mode", "init"];
    let input = read(&format!("{FIX}/k8s-shapes.yaml"));
    let out = ok(
        &[&opts[..], &[&format!("{FIX}/k8s-shapes.yaml")]].concat(),
        None,
    );
    insta::assert_snapshot!("k8s_shapes", out);
    // The script keeps its comment-like line, and nothing lands inside the literal block.
    assert!(out.contains(
        "        echo start\n        # this line is part of the script\n      volumeMounts:\n"
    ));
    assert!(out.contains("    annotations: # none yet\n      elastics-sec.io/injected"));
    assert!(out.contains("    volumes:\n      - name: elastics-sec-secrets\n"));
    // One ConfigMap for the namespace of both pods.
    assert_eq!(out.matches("kind: ConfigMap").count(), 1);
    assert!(!input.ends_with('\n'));
    assert_idempotent(&opts, &out);
}

#[test]
fn kubernetes_from_stdin_init_only_without_config() {
    let input = read(&format!("{FIX}/k8s-multi.yaml"));
    let opts = ["--mode", "init"];
    let out = ok(&[&opts[..], &["-"]].concat(), Some(&input));
    insta::assert_snapshot!("k8s_stdin_init", out);
    assert!(!out.contains("elastics-sec-agent"));
    // Without --config the ConfigMap is referenced, not generated.
    assert!(!out.contains("kind: ConfigMap"));
    assert!(out.contains("name: elastics-sec-config"));
    assert_idempotent(&opts, &out);
    assert_audit_clean("stdin.yaml", &out);
}

#[test]
fn compose_with_comments_and_anchors() {
    let cfg = format!("{FIX}/compose/elastics-sec.toml");
    let path = format!("{FIX}/compose/compose.yaml");
    let out = ok(&["--config", &cfg, &path], None);
    insta::assert_snapshot!("compose", out);
    // The bind-mount source is relative to the compose file.
    assert!(out.contains("\"./elastics-sec.toml:/etc/elastics-sec/elastics-sec.toml:ro\""));
    // Both app services wait for the one-shot fetch and mount the volume read-only.
    assert_eq!(
        out.matches("condition: service_completed_successfully")
            .count(),
        3
    );
    assert_eq!(
        out.matches("- elastics-sec-secrets:/run/secrets/elastics-sec:ro")
            .count(),
        2
    );
    // The anchor and its comments are untouched.
    assert!(out.starts_with(&read(&path)[..200]));
    // Idempotence, from a file next to the config so the relative source is the same.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join(&cfg), dir.path().join("elastics-sec.toml")).unwrap();
    let injected = dir.path().join("compose.yaml");
    std::fs::write(&injected, &out).unwrap();
    let again = ok(
        &[
            "--config",
            dir.path().join("elastics-sec.toml").to_str().unwrap(),
            injected.to_str().unwrap(),
        ],
        None,
    );
    assert!(again == out, "second inject changed the output:\n{again}");
    assert_audit_clean("compose.yaml", &out);
}

#[test]
fn compose_flow_depends_on_is_rewritten_to_the_long_syntax() {
    let cfg = format!("{FIX}/compose/elastics-sec.toml");
    let path = format!("{FIX}/compose/flow-depends.yaml");
    let out = ok(&["--config", &cfg, "--mode", "init", &path], None);
    insta::assert_snapshot!("compose_flow_depends", out);
    // The short syntax means `service_started`; the comment after the list stays.
    assert!(out.contains(
        "    depends_on: # both\n      api:\n        condition: service_started\n      cache:\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join(&cfg), dir.path().join("elastics-sec.toml")).unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, &out).unwrap();
    let cfg2 = dir.path().join("elastics-sec.toml");
    let again = ok(
        &[
            "--config",
            cfg2.to_str().unwrap(),
            "--mode",
            "init",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(again == out, "second inject changed the output:\n{again}");
}

#[test]
fn several_kubernetes_inputs_are_joined_and_output_goes_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("all.yaml");
    let a = format!("{FIX}/k8s-multi.yaml");
    let b = format!("{FIX}/k8s-existing.yaml");
    let out = ok(
        &["--config", CONFIG, "-o", target.to_str().unwrap(), &a, &b],
        None,
    );
    assert!(out.is_empty());
    let all = std::fs::read_to_string(&target).unwrap();
    let first = ok(&["--config", CONFIG, &a], None);
    assert!(all.starts_with(&first));
    // Both files' workloads are in namespace `trading`: one ConfigMap for the whole stream.
    assert_eq!(all.matches("kind: ConfigMap").count(), 1);
    assert_eq!(all.matches("elastics-sec.io/injected").count(), 3);
    assert_audit_clean("all.yaml", &all);
}

#[test]
fn compose_service_selection_and_sidecar_mode() {
    let cfg = format!("{FIX}/compose/elastics-sec.toml");
    let path = format!("{FIX}/compose/compose.yaml");
    let out = ok(
        &[
            "--config",
            &cfg,
            "--service",
            "api",
            "--mode",
            "sidecar",
            &path,
        ],
        None,
    );
    assert!(!out.contains("elastics-sec-init"));
    assert!(out.contains("  elastics-sec-agent:\n"));
    assert_eq!(out.matches(":/run/secrets/elastics-sec:ro").count(), 1);
    assert!(out.contains("      elastics-sec-agent:\n        condition: service_started\n"));
    let (code, _, err) = inject(&["--config", &cfg, "--service", "nope", &path], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("compose.yaml:9:") && err.contains("--service nope"),
        "{err}"
    );
}

#[test]
fn in_place_rewrites_files_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::copy(root().join(FIX).join("k8s-existing.yaml"), &path).unwrap();
    let expected = ok(&[&format!("{FIX}/k8s-existing.yaml")], None);
    let out = ok(&["--in-place", path.to_str().unwrap()], None);
    assert!(out.is_empty());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    ok(&["--in-place", path.to_str().unwrap()], None);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}

#[test]
fn opted_out_workloads_are_left_alone() {
    let input = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    elastics-sec.io/inject: disabled\nspec:\n  containers:\n    - name: app\n      image: x\n";
    let (code, out, err) = inject(&["-"], Some(input));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, input);
    assert!(err.contains("opted out"), "{err}");
}

fn fails(args: &[&str], want: &[&str]) {
    let (code, out, err) = inject(args, None);
    assert_eq!(code, 2, "expected failure, got output:\n{out}");
    assert!(out.is_empty(), "nothing may be written on failure");
    for w in want {
        assert!(err.contains(w), "stderr lacks {w:?}: {err}");
    }
}

#[test]
fn errors_are_located_and_nothing_is_written() {
    fails(
        &[&format!("{FIX}/broken.yaml")],
        &["broken.yaml:7:1: cannot parse"],
    );
    fails(
        &[&format!("{FIX}/flow-spec.yaml")],
        &["flow-spec.yaml:11:11:", "flow style"],
    );
    fails(
        &[&format!("{FIX}/deployment.json")],
        &["deployment.json:1:1:", "JSON", "yq -P"],
    );
    fails(
        &[
            "--config",
            &format!("{FIX}/compose/elastics-sec.toml"),
            &format!("{FIX}/compose/merged-volumes.yaml"),
        ],
        &["merged-volumes.yaml:7:5:", "merge key"],
    );
    fails(
        &[&format!("{FIX}/compose/compose.yaml")],
        &["compose.yaml:", "needs --config"],
    );
    fails(
        &[
            "--config",
            CONFIG,
            "--secret",
            "nope",
            &format!("{FIX}/k8s-multi.yaml"),
        ],
        &["--secret nope", "db_password, exchange-api-key"],
    );
    fails(
        &[
            "--config",
            CONFIG,
            "--secret",
            "db_password=elsewhere",
            &format!("{FIX}/k8s-multi.yaml"),
        ],
        &["--secret db_password=elsewhere", "writes it to db_password"],
    );
    fails(
        &["--secret", "db_password", &format!("{FIX}/k8s-multi.yaml")],
        &["--secret needs --config"],
    );
    // A second, broken input: the first is not printed either.
    fails(
        &[
            &format!("{FIX}/k8s-multi.yaml"),
            &format!("{FIX}/broken.yaml"),
        ],
        &["broken.yaml:7:1"],
    );
}

#[test]
fn an_existing_config_map_that_differs_is_left_alone_with_a_note() {
    let out = ok(
        &["--config", CONFIG, &format!("{FIX}/k8s-existing.yaml")],
        None,
    );
    let edited = out.replace("refresh = \"5m\"", "refresh = \"6m\"");
    let (code, again, err) = inject(&["--config", CONFIG, "-"], Some(&edited));
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, edited);
    assert!(
        err.contains("ConfigMap trading/elastics-sec-config differs from"),
        "{err}"
    );
}

#[test]
fn anchored_services_and_shared_pod_specs() {
    // An anchor on a service that another merges: the anchored service is edited past its
    // anchor, the merging one gets its own keys.
    let cfg = format!("{FIX}/compose/elastics-sec.toml");
    let input = "services:\n  api: &api\n    image: api\n  worker:\n    <<: *api\n    command: [\"work\"]\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join(&cfg), dir.path().join("elastics-sec.toml")).unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, input).unwrap();
    let cfg2 = dir.path().join("elastics-sec.toml");
    let args = [
        "--config",
        cfg2.to_str().unwrap(),
        "--mode",
        "init",
        file.to_str().unwrap(),
    ];
    let out = ok(&args, None);
    assert!(out.starts_with(
        "services:\n  api: &api\n    image: api\n    volumes:\n      - elastics-sec-secrets:"
    ));
    assert_eq!(
        out.matches("condition: service_completed_successfully")
            .count(),
        2
    );
    std::fs::write(&file, &out).unwrap();
    assert_eq!(ok(&args, None), out);

    // One pod spec shared by two workloads through an alias cannot be edited once for both.
    let shared = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n  spec: &s\n    containers:\n    - name: app\n      image: i\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: b\n  spec: *s\n";
    let (code, out, err) = inject(&["--mode", "init", "-"], Some(shared));
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("<stdin>:8:9:") && err.contains("YAML alias"),
        "{err}"
    );
}

#[test]
fn compose_empty_top_level_maps_become_blocks() {
    let cfg = format!("{FIX}/compose/elastics-sec.toml");
    let input = "services:\n  api:\n    image: api\nnetworks: {}\nvolumes: {}  # none\n";
    let out = ok(&["--config", &cfg, "--mode", "init", "-"], Some(input));
    assert!(out
        .contains("\nnetworks:\n  elastics-sec: {}\nvolumes:  # none\n  elastics-sec-secrets:\n"));
    assert_idempotent(&["--config", &cfg, "--mode", "init"], &out);
}
