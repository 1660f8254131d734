//! `elastics-sec cert inspect` through the real binary: PEM, DER and PKCS#12 inputs, good and
//! broken, text and JSON, exit codes 0 / 1 / 2, and no key material in any output.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use elastics_sec::tls;

fn bin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("elastics-sec"))
}

struct Files {
    dir: tempfile::TempDir,
    key_canary: String,
}

fn make() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, ca_key) = tls::new_ca("inspect CA", Duration::from_secs(86400)).unwrap();
    let ca = tls::LocalCa::from_pem(ca_pem.as_bytes(), ca_key.expose()).unwrap();
    let b = ca
        .issue(
            &["svc.internal".into()],
            None,
            Duration::from_secs(3600),
            tls::KeyType::EcdsaP256,
        )
        .unwrap();
    let v = tls::validate(
        &b,
        &tls::ValidationPolicy {
            trust_roots: vec![ca.certificate().clone()],
            required_sans: vec![],
            margin: Duration::ZERO,
            now: SystemTime::now(),
        },
    )
    .unwrap();
    let r = tls::render(&v, &b.key, Some(b"pw-inspect")).unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("ca.pem"), &ca_pem).unwrap();
    std::fs::write(p("tls.crt"), r.cert_chain.expose()).unwrap();
    std::fs::write(p("tls.key"), r.key.expose()).unwrap();
    std::fs::write(p("tls.pem"), r.combined.expose()).unwrap();
    std::fs::write(p("tls.p12"), r.p12.unwrap().expose()).unwrap();
    std::fs::write(p("pw"), "pw-inspect\n").unwrap();
    std::fs::write(p("tls.der"), v.chain[0].as_ref()).unwrap();
    // Another certificate's key.
    let other = ca
        .issue(
            &["other.internal".into()],
            None,
            Duration::from_secs(3600),
            tls::KeyType::EcdsaP256,
        )
        .unwrap();
    let mut other_key = Vec::new();
    tls::render(
        &tls::validate(
            &other,
            &tls::ValidationPolicy {
                trust_roots: vec![],
                required_sans: vec![],
                margin: Duration::ZERO,
                now: SystemTime::now(),
            },
        )
        .unwrap(),
        &other.key,
        None,
    )
    .map(|r| other_key.extend_from_slice(r.key.expose()))
    .unwrap();
    std::fs::write(p("other.key"), &other_key).unwrap();
    std::fs::write(
        p("garbage.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let key_canary = String::from_utf8(r.key.expose().to_vec())
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    Files { dir, key_canary }
}

fn run(f: &Files, args: &[&str]) -> Output {
    let o = bin()
        .args(["cert", "inspect"])
        .args(args)
        .current_dir(f.dir.path())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!all.contains(&f.key_canary), "key material printed: {all}");
    assert!(!all.contains("pw-inspect"), "password printed: {all}");
    assert!(!all.contains("PRIVATE KEY"));
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn good_inputs_in_every_encoding() {
    let f = make();
    let o = run(&f, &["tls.pem", "--ca", "ca.pem", "--san", "svc.internal"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let s = stdout(&o);
    for want in [
        "CN=svc.internal",
        "inspect CA",
        "svc.internal",
        "ECDSA P-256",
        "key match    yes",
        "chain        ok",
        "sha256",
        "status       ok",
    ] {
        assert!(s.contains(want), "{want} missing: {s}");
    }
    // Certificate only, key given separately; DER; PKCS#12 with a password file.
    let o = run(&f, &["tls.crt", "--key", "tls.key", "--ca", "ca.pem"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = run(&f, &["tls.der", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["key_match"], serde_json::Value::Null);
    assert_eq!(v[0]["sans"][0], "svc.internal");
    assert!(v[0]["seconds_left"].as_i64().unwrap() > 3000);
    assert_eq!(v[0]["sha256"].as_str().unwrap().len(), 95);
    let o = run(
        &f,
        &[
            "tls.p12",
            "--password-file",
            "pw",
            "--ca",
            "ca.pem",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["key_match"], true);
    assert_eq!(v[0]["chain"], "ok");
}

#[test]
fn problems_exit_1_and_unreadable_inputs_exit_2() {
    let f = make();
    // Key of another certificate.
    let o = run(&f, &["tls.crt", "--key", "other.key", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["key_match"], false);
    // A name it does not cover.
    let o = run(&f, &["tls.pem", "--san", "nope.internal"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("does not cover `nope.internal`"));
    // Not signed by the given root.
    let d2 = tempfile::tempdir().unwrap();
    let (other_ca, _) = tls::new_ca("unrelated CA", Duration::from_secs(3600)).unwrap();
    let other_ca_path = d2.path().join("other-ca.pem");
    std::fs::write(&other_ca_path, other_ca).unwrap();
    let o = run(&f, &["tls.pem", "--ca", other_ca_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("not trusted"), "{}", stdout(&o));
    // Unparseable, missing, wrong password: 2.
    for args in [
        vec!["garbage.pem"],
        vec!["missing.pem"],
        vec!["tls.p12", "--password", "wrong"],
    ] {
        let o = run(&f, &args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains(args[0]));
    }
    // One bad file among good ones still reports the good ones.
    let o = run(&f, &["tls.pem", "garbage.pem"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("CN=svc.internal"));
    assert!(Path::new(f.dir.path()).join("tls.pem").exists());
}
