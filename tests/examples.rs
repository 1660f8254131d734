//! Every example is a showcase: our own audit finds nothing in it at the default policy
//! (Kubernetes also at `restricted`), every daemon config in it validates, and the
//! observability files only use metrics the agent exposes. `examples/insecure/` is the
//! deliberate exception and must keep its findings.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("elastics-sec"));
    c.current_dir(root());
    // Compose interpolation must not depend on the developer's environment.
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    c
}

fn audit(dir: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let o = bin()
        .args(["audit", "--format", "json", "--fail-on", "info"])
        .args(extra)
        .arg(dir)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{dir}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code().unwrap(), v)
}

#[test]
fn every_example_passes_our_own_audit() {
    for dir in [
        "examples/local",
        "examples/secure",
        "examples/compose",
        "examples/kubernetes",
        "examples/aci",
        "examples/ci",
        "examples/observability",
    ] {
        let (code, v) = audit(dir, &[]);
        assert_eq!(
            v["findings"].as_array().map(Vec::len),
            Some(0),
            "{dir}: {:#}",
            v["findings"]
        );
        assert_eq!(code, 0, "{dir}: {v:#}");
    }
    let (code, v) = audit("examples/kubernetes", &["--policy", "restricted"]);
    assert_eq!(code, 0, "restricted: {:#}", v["findings"]);
    // Something was actually audited in each deployment example.
    let (_, v) = audit("examples/compose", &[]);
    assert!(v.to_string().contains("compose"));
}

#[test]
fn the_insecure_demo_keeps_its_findings() {
    let (code, v) = audit("examples/insecure", &[]);
    assert_eq!(code, 1);
    assert!(v["findings"].as_array().unwrap().len() >= 8);
}

/// TOML files of the examples plus the configs embedded in Kubernetes ConfigMaps.
fn configs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in [
        "examples/local",
        "examples/compose",
        "examples/aci",
        "examples/kubernetes",
    ] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            if p.extension().is_some_and(|x| x == "toml") && text.contains("[output]") {
                out.push((p.display().to_string(), text));
            } else if p.extension().is_some_and(|x| x == "yaml") {
                // `elastics-sec.toml: |` block scalars, dedented.
                let mut lines = text.lines().peekable();
                while let Some(l) = lines.next() {
                    if l.trim() == "elastics-sec.toml: |" {
                        let indent = l.len() - l.trim_start().len() + 2;
                        let mut body = String::new();
                        while let Some(n) = lines.peek() {
                            if !n.trim().is_empty() && n.len() - n.trim_start().len() < indent {
                                break;
                            }
                            body.push_str(n.get(indent..).unwrap_or(""));
                            body.push('\n');
                            lines.next();
                        }
                        out.push((format!("{} (ConfigMap)", p.display()), body));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_example_config_validates() {
    let d = tempfile::tempdir().unwrap();
    let all = configs();
    assert!(
        all.len() >= 6,
        "{:?}",
        all.iter().map(|c| &c.0).collect::<Vec<_>>()
    );
    for (i, (name, text)) in all.iter().enumerate() {
        // Configs with relative paths are checked in place, embedded ones from a file.
        let path: PathBuf = if name.ends_with("(ConfigMap)") {
            let p = d.path().join(format!("c{i}.toml"));
            std::fs::write(&p, text).unwrap();
            p
        } else {
            PathBuf::from(name)
        };
        let o = bin()
            .args(["check-config", "-c"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn observability_uses_only_exposed_metrics() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let dash =
        std::fs::read_to_string(root().join("examples/observability/grafana-dashboard.json"))
            .unwrap();
    let v: serde_json::Value = serde_json::from_str(&dash).unwrap();
    assert!(v["panels"].as_array().unwrap().len() >= 6);
    let alerts = std::fs::read_to_string(root().join("examples/observability/alerts.yml")).unwrap();
    let mut seen = 0;
    for text in [&dash, &alerts] {
        let mut rest = text.as_str();
        while let Some(i) = rest.find("elastics_sec_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // README's metrics reference is itself checked against the registry.
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not a metric the agent exposes"
            );
            seen += 1;
            rest = &rest[i + name.len()..];
        }
    }
    assert!(seen >= 10);
}
