//! `elastics-sec fetch` and `check-config` through the real binary, with the local provider
//! and a real tmpfs (/dev/shm): files and modes, summary, exit codes, and a canary value that
//! must never reach stdout or stderr.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;

const CANARY: &str = "CANARY-3b9e-secret-value";

fn bin() -> Command {
    let mut c = Command::cargo_bin("elastics-sec").unwrap();
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("ELASTICS_SEC_CONFIG");
    c
}

/// A config dir (on /tmp) with a local values file, writing into `out`.
fn setup(out: &Path, extra: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("values.toml"),
        format!("api = \"{CANARY}\"\n[db]\nuser = \"app\"\npassword = \"{CANARY}-db\"\n"),
    )
    .unwrap();
    std::fs::write(
        d.path().join("c.toml"),
        format!(
            "[output]\ndir = \"{}\"\n\n[providers.dev]\ntype = \"local\"\npath = \"values.toml\"\n\n\
             [[secret]]\nname = \"api\"\nprovider = \"dev\"\nfile = \"api_key\"\nmode = \"0440\"\n\n\
             [[secret]]\nname = \"db_password\"\nprovider = \"dev\"\nid = \"db\"\njson_key = \"password\"\n{extra}",
            out.display()
        ),
    )
    .unwrap();
    d
}

fn shm() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("es-fetch")
        .tempdir_in("/dev/shm")
        .unwrap()
}

fn assert_no_canary(out: &std::process::Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(CANARY), "canary leaked:\n{all}");
}

#[test]
fn fetch_writes_files_with_modes_and_prints_summary_without_values() {
    let out = shm();
    let target = out.path().join("secrets");
    let d = setup(&target, "");
    let o = bin()
        .arg("fetch")
        .arg("--config")
        .arg(d.path().join("c.toml"))
        .output()
        .unwrap();
    assert_no_canary(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(stdout.contains("wrote 2 file(s)"), "{stdout}");
    assert!(
        stdout.contains("api_key") && stdout.contains("mode 0440"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("api_key")).unwrap(),
        CANARY
    );
    assert_eq!(
        std::fs::read_to_string(target.join("db_password")).unwrap(),
        format!("{CANARY}-db")
    );
    let mode = |n: &str| {
        std::fs::metadata(target.join(n))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("api_key"), 0o440);
    assert_eq!(mode("db_password"), 0o400);

    // JSON summary, and a second fetch replaces the generation (the previous one stays
    // until the next write, for a reader that resolved `..data` just before the swap).
    let o = bin()
        .args(["fetch", "--format", "json", "--config"])
        .arg(d.path().join("c.toml"))
        .output()
        .unwrap();
    assert_no_canary(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["secrets"].as_array().unwrap().len(), 2);
    let gens = generation_dirs(&target);
    assert_eq!(gens, 2);
    // A third run removes the first generation: never more than current + previous.
    let o = bin()
        .args(["fetch", "--config"])
        .arg(d.path().join("c.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let gens = generation_dirs(&target);
    assert_eq!(gens, 2);
}

#[test]
fn exit_codes() {
    let out = shm();
    // 3: config error, with file:line.
    let d = setup(&out.path().join("s"), "colour = \"blue\"\n");
    let o = bin()
        .arg("fetch")
        .arg("-c")
        .arg(d.path().join("c.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("c.toml:19:1:") && err.contains("colour"),
        "{err}"
    );

    // 5: a required secret that does not exist.
    let d = setup(
        &out.path().join("s"),
        "\n[[secret]]\nname = \"gone\"\nprovider = \"dev\"\n",
    );
    let o = bin()
        .arg("fetch")
        .arg("-c")
        .arg(d.path().join("c.toml"))
        .output()
        .unwrap();
    assert_no_canary(&o);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !out.path().join("s").join("api_key").exists(),
        "nothing is written when a required secret fails"
    );

    // ...but an optional one is skipped.
    let d = setup(
        &out.path().join("s"),
        "\n[[secret]]\nname = \"gone\"\nprovider = \"dev\"\nrequired = false\n",
    );
    let o = bin()
        .arg("fetch")
        .arg("-c")
        .arg(d.path().join("c.toml"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // 7: the output directory is on a disk filesystem (/tmp is not tmpfs here)...
    let disk = tempfile::tempdir().unwrap();
    let is_tmpfs = elastics_sec::sink::is_memory_fs(disk.path()).unwrap();
    if !is_tmpfs {
        let d = setup(&disk.path().join("s"), "");
        let o = bin()
            .arg("fetch")
            .arg("-c")
            .arg(d.path().join("c.toml"))
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(7),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!disk.path().join("s").join("api_key").exists());
        // ...accepted when explicitly allowed, with a warning.
        let c = std::fs::read_to_string(d.path().join("c.toml")).unwrap();
        std::fs::write(
            d.path().join("c.toml"),
            c.replacen("[output]\n", "[output]\nallow_non_tmpfs = true\n", 1),
        )
        .unwrap();
        let o = bin()
            .arg("fetch")
            .arg("-c")
            .arg(d.path().join("c.toml"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&o.stderr).contains("allow_non_tmpfs"));
    }

    // 8: a value that does not have the shape the format needs.
    let d = setup(
        &out.path().join("s"),
        "\n[[secret]]\nname = \"bad\"\nprovider = \"dev\"\nid = \"api\"\nformat = \"dotenv\"\n",
    );
    let o = bin()
        .arg("fetch")
        .arg("-c")
        .arg(d.path().join("c.toml"))
        .output()
        .unwrap();
    assert_no_canary(&o);
    assert_eq!(o.status.code(), Some(8));
}

#[test]
fn check_config_prints_plan_never_values() {
    let out = shm();
    let d = setup(&out.path().join("s"), "");
    let o = bin()
        .arg("check-config")
        .arg("-c")
        .arg(d.path().join("c.toml"))
        .output()
        .unwrap();
    assert_no_canary(&o);
    assert_eq!(o.status.code(), Some(0));
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(
        s.contains("api_key") && s.contains("0440") && s.contains("refresh 5m"),
        "{s}"
    );
    assert!(
        !out.path().join("s").exists(),
        "check-config writes nothing"
    );
    let o = bin()
        .args(["check-config", "--format", "json", "-c"])
        .arg(d.path().join("c.toml"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["secrets"][1]["format"], "json-key");
}

#[test]
fn readme_demo_config_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = bin()
        .arg("check-config")
        .arg("-c")
        .arg(root.join("examples/local/elastics-sec.toml"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The README's first command, exactly: the demo writes its secrets and a TLS bundle.
#[test]
fn readme_main_command_writes_the_demo_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = bin()
        .arg("fetch")
        .arg("--config")
        .arg(root.join("examples/local/elastics-sec.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = Path::new("/dev/shm/elastics-sec-demo");
    for f in [
        "exchange_api_key",
        "db_password",
        "database_url",
        "broker.env",
        "tls.crt",
        "tls.key",
        "ca.crt",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
        assert!(stdout.contains(f), "{f} not in the summary: {stdout}");
    }
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    let crt = std::fs::read_to_string(dir.join("tls.crt")).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(crt.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(!stdout.contains("PRIVATE KEY"));
}

/// Generation directories in an output directory.
fn generation_dirs(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name().into_string().unwrap();
            n.starts_with("..") && n != "..data"
        })
        .count()
}
