//! Azure Container Instances container groups through the real binary: recognition by
//! `type` and by shape, exact locations of every ACI rule, multi-document files, secrets
//! never printed, and Kubernetes manifests that look similar but are not container groups.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use std::fs;

use support::{audit_in, hits, json};

/// Every rule with an ACI hook.
const ACI_RULES: &[&str] = &[
    "aci-public-ip",
    "aci-registry-password",
    "aci-inline-secret-volume",
    "aci-no-managed-identity",
    "secret-in-environment",
    "privileged-mode",
    "capability-added",
    "image-tag-mutable",
    "image-not-pinned-by-digest",
];

fn set(v: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
    let mut v: Vec<_> = v.iter().map(|(r, l, c)| (r.to_string(), *l, *c)).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(String, u64, u64)>) -> Vec<(String, u64, u64)> {
    v.sort();
    v
}

/// Audits `text` as `name` in a fresh directory with the ACI rules selected; returns
/// (exit code, parsed JSON report).
fn run(name: &str, text: &str) -> (i32, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(name), text).unwrap();
    let mut args = vec!["--format", "json"];
    for r in ACI_RULES {
        args.extend(["--select", r]);
    }
    args.push(name);
    let (code, out, err) = audit_in(dir.path(), &args);
    assert!(code == 0 || code == 1, "exit {code}: {err}\n{out}");
    (code, json(&out))
}

/// Lines joined with newlines, so a test can count lines by index.
fn lines(v: &[&str]) -> String {
    let mut s = v.join("\n");
    s.push('\n');
    s
}

/// An order gateway with one instance of every ACI hazard. Line numbers in comments.
fn insecure_gateway() -> String {
    lines(&[
        "apiVersion: '2023-05-01'",                                  // 1
        "location: westeurope",                                      // 2
        "name: order-gateway",                                       // 3
        "type: Microsoft.ContainerInstance/containerGroups",         // 4
        "properties:",                                               // 5
        "  osType: Linux",                                           // 6
        "  containers:",                                             // 7
        "    - name: gateway",                                       // 8
        "      properties:",                                         // 9
        "        image: tradingacr.azurecr.io/order-gateway:latest", // 10
        "        environmentVariables:",                             // 11
        "          - name: ORDERS_DB_PASSWORD",                      // 12
        "            value: s3cr3t-Orders-2024",                     // 13
        "          - name: LOG_LEVEL",                               // 14
        "            value: info",                                   // 15
        "        securityContext:",                                  // 16
        "          privileged: true",                                // 17
        "          capabilities:",                                   // 18
        "            add: [NET_ADMIN]",                              // 19
        "        resources:",                                        // 20
        "          requests: {cpu: 1, memoryInGB: 1.5}",             // 21
        "  imageRegistryCredentials:",                               // 22
        "    - server: tradingacr.azurecr.io",                       // 23
        "      username: tradingacr",                                // 24
        "      password: FakeAdminPassw0rd",                         // 25
        "  volumes:",                                                // 26
        "    - name: session",                                       // 27
        "      secret:",                                             // 28
        "        session.cfg: U2Vzc2lvbkZha2U=",                     // 29
        "  ipAddress:",                                              // 30
        "    type: Public",                                          // 31
        "    ports:",                                                // 32
        "      - port: 443",                                         // 33
        "tags:",                                                     // 34
        "  system: trading",                                         // 35
    ])
}

#[test]
fn every_aci_rule_blames_the_offending_token() {
    let (code, v) = run("order-gateway.yaml", &insecure_gateway());
    assert_eq!(code, 1);
    assert_eq!(v["summary"]["aci_groups"], 1);
    assert_eq!(
        sorted(hits(&v)),
        set(&[
            ("aci-no-managed-identity", 3, 7),
            ("image-tag-mutable", 10, 16),
            ("image-not-pinned-by-digest", 10, 16),
            ("secret-in-environment", 13, 20),
            ("privileged-mode", 17, 23),
            ("capability-added", 19, 19),
            ("aci-registry-password", 25, 17),
            ("aci-inline-secret-volume", 29, 22),
            ("aci-public-ip", 31, 11),
        ])
    );
    // Every finding names the group, so policy exceptions can target it.
    for f in v["findings"].as_array().unwrap() {
        assert_eq!(f["resource"], "container group order-gateway", "{f}");
    }
}

#[test]
fn recognised_by_type_without_os_type() {
    // `osType` missing: only the resource type says this is a container group.
    let text = lines(&[
        "name: risk-engine",
        "type: microsoft.containerinstance/containerGroups",
        "properties:",
        "  containers:",
        "    - name: risk",
        "      properties:",
        "        image: tradingacr.azurecr.io/risk-engine:7.4.0",
        "  ipAddress:",
        "    type: Public",
        "    ports: [{port: 8080}]",
    ]);
    let (_, v) = run("risk.yaml", &text);
    assert_eq!(v["summary"]["aci_groups"], 1);
    assert_eq!(v["summary"]["kubernetes_documents"], 0);
    assert_eq!(
        sorted(hits(&v)),
        set(&[
            ("aci-no-managed-identity", 1, 7),
            ("image-not-pinned-by-digest", 7, 16),
            ("aci-public-ip", 9, 11),
        ])
    );
}

#[test]
fn recognised_by_shape_without_type() {
    // What `az container export` leaves out: no `type`, but containers and osType.
    let text = lines(&[
        "apiVersion: '2023-05-01'",
        "location: westeurope",
        "name: market-data-feed",
        "properties:",
        "  osType: Linux",
        "  containers:",
        "    - name: feed",
        "      properties:",
        "        image: docker.io/tradingvendor/feed:5.0.2",
        "        environmentVariables:",
        "          - name: FEED_API_KEY",
        "            value: fake-feed-api-key-0042",
        "          - name: FEED_API_TOKEN",
        "            secureValue: fake-but-secure",
    ]);
    let (_, v) = run("feed.yaml", &text);
    assert_eq!(v["summary"]["aci_groups"], 1);
    assert_eq!(
        sorted(hits(&v)),
        set(&[
            ("image-not-pinned-by-digest", 9, 16),
            // `value`, not `secureValue`; the secureValue line does not fire
            ("secret-in-environment", 12, 20),
        ])
    );
}

#[test]
fn multi_document_file_audits_every_group_at_its_own_lines() {
    let text = lines(&[
        "# gateway, by type",                                  // 1
        "name: order-gateway",                                 // 2
        "type: Microsoft.ContainerInstance/containerGroups",   // 3
        "identity: {type: SystemAssigned}",                    // 4
        "properties:",                                         // 5
        "  osType: Linux",                                     // 6
        "  containers:",                                       // 7
        "    - name: gateway",                                 // 8
        "      properties:",                                   // 9
        "        image: ghcr.io/trading/order-gateway:2.3.1",  // 10
        "  ipAddress: {type: Public, ports: [{port: 443}]}",   // 11
        "---",                                                 // 12
        "# feed, by shape",                                    // 13
        "name: market-data-feed",                              // 14
        "properties:",                                         // 15
        "  osType: Linux",                                     // 16
        "  initContainers:",                                   // 17
        "    - name: warmup",                                  // 18
        "      properties:",                                   // 19
        "        image: tradingacr.azurecr.io/feed-warmup",    // 20
        "  containers:",                                       // 21
        "    - name: feed",                                    // 22
        "      properties:",                                   // 23
        "        image: tradingacr.azurecr.io/feed@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", // 24
        "  ipAddress:",                                        // 25
        "    type: Private",                                   // 26
        "    ports: [{port: 7000, protocol: UDP}]",            // 27
    ]);
    let (_, v) = run("groups.yaml", &text);
    assert_eq!(v["summary"]["aci_groups"], 2);
    assert_eq!(
        sorted(hits(&v)),
        set(&[
            ("image-not-pinned-by-digest", 10, 16),
            ("aci-public-ip", 11, 21),
            ("aci-no-managed-identity", 14, 7),
            ("image-tag-mutable", 20, 16),
            ("image-not-pinned-by-digest", 20, 16),
        ])
    );
    let resources: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["resource"].as_str().unwrap())
        .collect();
    assert!(resources.contains(&"container group order-gateway"));
    assert!(resources.contains(&"container group market-data-feed"));
}

#[test]
fn kubernetes_manifests_are_not_container_groups() {
    // A custom resource whose body mimics a container group: it has a `kind`, so it is a
    // Kubernetes object and no ACI rule may read it.
    let crd = lines(&[
        "apiVersion: containerinstance.example.com/v1",
        "kind: ContainerGroup",
        "metadata:",
        "  name: order-gateway",
        "properties:",
        "  osType: Linux",
        "  containers:",
        "    - name: gateway",
        "      properties:",
        "        image: tradingacr.azurecr.io/order-gateway:latest",
        "  imageRegistryCredentials:",
        "    - server: tradingacr.azurecr.io",
        "      password: FakeAdminPassw0rd",
        "  ipAddress: {type: Public}",
    ]);
    let (_, v) = run("crd.yaml", &crd);
    assert_eq!(v["summary"]["aci_groups"], 0);
    assert_eq!(v["summary"]["kubernetes_documents"], 1);
    let aci_only: Vec<_> = hits(&v)
        .into_iter()
        .filter(|(r, _, _)| r.starts_with("aci-"))
        .collect();
    assert!(aci_only.is_empty(), "{aci_only:?}");

    let deployment = lines(&[
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        "  name: order-gateway",
        "spec:",
        "  selector: {matchLabels: {app: gw}}",
        "  template:",
        "    metadata: {labels: {app: gw}}",
        "    spec:",
        "      containers:",
        "        - name: gateway",
        "          image: tradingacr.azurecr.io/order-gateway:2.3.1",
    ]);
    let (_, v) = run("deployment.yaml", &deployment);
    assert_eq!(v["summary"]["aci_groups"], 0);
    assert_eq!(v["summary"]["kubernetes_documents"], 1);
    assert!(hits(&v).iter().all(|(r, _, _)| !r.starts_with("aci-")));
}

#[test]
fn aci_secret_values_never_reach_any_output() {
    let canary = "Sup3rS3cretAciCanary-7c6b5a";
    let b64 = "QWNpQ2FuYXJ5RmFrZVNlY3JldA==";
    let text = lines(&[
        "name: order-gateway",
        "type: Microsoft.ContainerInstance/containerGroups",
        "properties:",
        "  osType: Linux",
        "  containers:",
        "    - name: gateway",
        "      properties:",
        "        image: tradingacr.azurecr.io/order-gateway:2.3.1",
        "        environmentVariables:",
        &format!("          - {{name: ORDERS_DB_PASSWORD, value: {canary}}}"),
        "  imageRegistryCredentials:",
        &format!("    - {{server: tradingacr.azurecr.io, username: u, password: {canary}}}"),
        "  volumes:",
        &format!("    - {{name: s, secret: {{session.cfg: {b64}}}}}"),
        &format!("    - {{name: f, azureFile: {{shareName: a, storageAccountName: b, storageAccountKey: {b64}}}}}"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("group.yaml"), &text).unwrap();
    for format in ["text", "json", "sarif", "junit", "github"] {
        let (code, out, err) = audit_in(
            dir.path(),
            &["--format", format, "--color", "never", "group.yaml"],
        );
        assert_eq!(code, 1, "{format}: {err}");
        for rule in [
            "secret-in-environment",
            "aci-registry-password",
            "aci-inline-secret-volume",
        ] {
            assert!(out.contains(rule), "{format} lacks {rule}: {out}");
        }
        for secret in [canary, b64] {
            assert!(
                !out.contains(secret) && !err.contains(secret),
                "{format} leaked a secret:\n{out}"
            );
        }
    }
}
