//! The audit progress bar: drawn on a terminal for large runs, never when stderr is a pipe
//! (CI logs, redirects), and never on stdout (the report).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn corpus(dir: &Path, n: usize) {
    for i in 0..n {
        let d = dir.join(format!("p{i:04}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("compose.yaml"),
            "services:\n  app:\n    image: nginx:1.27\n    ports:\n      - \"127.0.0.1:8080:80\"\n",
        )
        .unwrap();
    }
}

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin!("elastics-sec").to_path_buf()
}

#[test]
fn no_progress_output_when_stderr_is_not_a_terminal() {
    let d = tempfile::tempdir().unwrap();
    corpus(d.path(), 400);
    let o = Command::new(bin())
        .args(["audit", "--format", "json"])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(o.status.code().is_some_and(|c| c < 2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("auditing"), "progress on a pipe: {err}");
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(out.is_object());
}

#[test]
fn progress_bar_on_a_terminal_for_a_large_run() {
    // util-linux `script` gives the command a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        panic!("`script` (util-linux) is needed for this test");
    }
    let d = tempfile::tempdir().unwrap();
    corpus(d.path(), 400);
    let out = d.path().join("report.json");
    let cmd = format!(
        "{} audit --format json --output {} {}",
        bin().display(),
        out.display(),
        d.path().display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(
        tty.contains("auditing"),
        "no progress bar on a terminal: {tty:.300}"
    );
    // The report itself is untouched by the bar.
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(report.is_object());

    // A small run stays quiet even on a terminal.
    let small = tempfile::tempdir().unwrap();
    corpus(small.path(), 5);
    let cmd = format!("{} audit {}", bin().display(), small.path().display());
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("auditing"));
}
