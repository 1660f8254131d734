//! `elastics-sec completions SHELL` and `elastics-sec man`, generated from the CLI definition.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn bin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("elastics-sec"))
}

#[test]
fn completion_scripts_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = bin().args(["completions", shell]).output().unwrap();
        assert!(o.status.success(), "{shell}");
        let s = String::from_utf8(o.stdout).unwrap();
        for sub in ["audit", "fetch", "agent", "inject", "cert"] {
            assert!(s.contains(sub), "{shell} completion lacks `{sub}`");
        }
    }
    let bash = bin().args(["completions", "bash"]).output().unwrap();
    let s = String::from_utf8(bash.stdout).unwrap();
    assert!(
        s.contains("complete -F") && s.contains("--fail-on"),
        "{s:.200}"
    );
    let bad = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_page_on_stdout_and_one_page_per_subcommand() {
    let o = bin().arg("man").output().unwrap();
    assert!(o.status.success());
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(s.contains(".TH elastics-sec 1"), "{s:.200}");
    assert!(s.contains("audit") && s.contains("fetch"));
    let d = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["man", "--out-dir"])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    for page in [
        "elastics-sec.1",
        "elastics-sec-audit.1",
        "elastics-sec-cert-inspect.1",
        "elastics-sec-agent.1",
    ] {
        let text = std::fs::read_to_string(d.path().join(page)).unwrap();
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }
}
