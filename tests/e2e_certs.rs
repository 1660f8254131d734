//! Provider-held certificates end to end through the real binary:
//! - Azure Key Vault (the HTTPS test server): GetCertificate, then the secret its `sid` names,
//!   as `application/x-pem-file` and as base64 `application/x-pkcs12` with an empty password
//!   (Key Vault's export); a new certificate version is picked up by the agent.
//! - AWS Secrets Manager (moto): a PEM bundle string, JSON with PEM fields, and a PKCS#12
//!   SecretBinary with its password in another secret.
//!
//! Every written bundle is re-read and validated against the CA (key matches, chain, SANs),
//! and the private key's base64 never appears in any output.
#![cfg(all(feature = "azure", feature = "aws"))]
#![allow(clippy::unwrap_used)]

#[path = "support/keyvault.rs"]
mod keyvault;
#[path = "support/moto.rs"]
mod moto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use elastics_sec::tls;
use keyvault::{KeyVault, CLIENT_ID, CLIENT_SECRET, TENANT};
use moto::Moto;

struct Ca {
    pem: String,
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

fn make_ca() -> Ca {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "e2e cert CA");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        cert,
        key,
    }
}

/// (leaf DER, leaf PEM, key PEM)
fn leaf(ca: &Ca, san: &str) -> (Vec<u8>, String, String) {
    let mut p = rcgen::CertificateParams::new(vec![san.to_string()]).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, san);
    let key = rcgen::KeyPair::generate().unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(ca.cert.der(), &ca.key).unwrap();
    let c = p.signed_by(&key, &issuer).unwrap();
    (c.der().to_vec(), c.pem(), key.serialize_pem())
}

/// The base64 body of a PEM key: what must never leak.
fn key_canary(key_pem: &str) -> String {
    key_pem.lines().nth(1).unwrap().to_string()
}

fn bin() -> Command {
    moto::test_env();
    moto::bin_with_test_env()
}

fn no_leak(o: &Output, canaries: &[&str]) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for c in canaries {
        assert!(!all.contains(c), "key material in the output: {all}");
    }
    assert!(!all.contains("PRIVATE KEY"), "{all}");
}

/// The written bundle is the expected leaf, its key matches, and it chains to `ca`.
fn check_bundle(out: &Path, ca: &Ca, leaf_der: &[u8], san: &str) {
    let crt = std::fs::read(out.join("tls.crt")).unwrap();
    let key = std::fs::read(out.join("tls.key")).unwrap();
    let mut both = crt.clone();
    both.extend_from_slice(&key);
    let b = tls::parse_pem(&both).unwrap();
    let v = tls::validate(
        &b,
        &tls::ValidationPolicy {
            trust_roots: tls::parse_certificates(ca.pem.as_bytes()).unwrap(),
            required_sans: vec![san.to_string()],
            margin: Duration::from_secs(60),
            now: SystemTime::now(),
        },
    )
    .unwrap();
    assert_eq!(v.chain[0].as_ref(), leaf_der);
    assert!(std::str::from_utf8(&key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
}

fn shm() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("es-e2e-certs")
        .tempdir_in("/dev/shm")
        .unwrap()
}

fn kv_config(kv: &KeyVault, dir: &Path, out: &Path, body: &str) -> PathBuf {
    let cs = dir.join("client_secret");
    std::fs::write(&cs, CLIENT_SECRET).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[output]\ndir = \"{}\"\n\n[agent]\nlisten = \"off\"\n\n[providers.kv]\ntype = \"azure-key-vault\"\n\
             vault_url = \"{}\"\ncredential = \"client-secret\"\ntenant_id = \"{TENANT}\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nauthority_host = \"{}\"\n\
             ca_file = \"{}\"\nverify_challenge_resource = false\n\n{body}",
            out.display(),
            kv.url,
            cs.display(),
            kv.authority(),
            kv.ca_file.display()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn key_vault_certificates_pem_and_pfx_and_a_new_version() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let kv = rt.block_on(KeyVault::start());
    let ca = make_ca();

    // PEM: leaf, CA and key in the certificate's secret.
    let (der1, pem1, key1) = leaf(&ca, "api.internal");
    kv.import_certificate(
        "api-tls",
        der1.clone(),
        &format!("{pem1}{}{key1}", ca.pem),
        "application/x-pem-file",
    );
    // PFX with an empty password, base64 in the secret, like a Key Vault export.
    let (der2, pem2, key2) = leaf(&ca, "pfx.internal");
    let b = tls::parse_pem(format!("{pem2}{}{key2}", ca.pem).as_bytes()).unwrap();
    let v = tls::validate(
        &b,
        &tls::ValidationPolicy {
            trust_roots: vec![],
            required_sans: vec![],
            margin: Duration::ZERO,
            now: SystemTime::now(),
        },
    )
    .unwrap();
    let pfx = tls::render(&v, &b.key, Some(b"")).unwrap().p12.unwrap();
    use base64::Engine as _;
    kv.import_certificate(
        "pfx-tls",
        der2.clone(),
        &base64::engine::general_purpose::STANDARD.encode(pfx.expose()),
        "application/x-pkcs12",
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    for (id, san, der, key) in [
        ("api-tls", "api.internal", &der1, &key1),
        ("pfx-tls", "pfx.internal", &der2, &key2),
    ] {
        let s = shm();
        let out = s.path().join("s");
        let cfg = kv_config(
            &kv,
            dir.path(),
            &out,
            &format!(
                "[[certificate]]\nname = \"api\"\nprovider = \"kv\"\nid = \"{id}\"\n\
                 sans = [\"{san}\"]\ntrust_roots_file = \"ca.pem\"\ncheck = \"1s\"\n"
            ),
        );
        let o = bin()
            .arg("fetch")
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        no_leak(&o, &[&key_canary(key)]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        check_bundle(&out, &ca, der, san);
        assert_eq!(
            std::fs::read_to_string(out.join("ca.crt")).unwrap().trim(),
            ca.pem.trim()
        );
    }

    // The agent follows a new certificate version.
    let s = shm();
    let out = s.path().join("s");
    let cfg = kv_config(
        &kv,
        dir.path(),
        &out,
        "[[certificate]]\nname = \"api\"\nprovider = \"kv\"\nid = \"api-tls\"\n\
         sans = [\"api.internal\"]\ntrust_roots_file = \"ca.pem\"\ncheck = \"1s\"\n",
    );
    let log = dir.path().join("agent.log");
    let mut agent = bin()
        .arg("agent")
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !out.join("tls.crt").exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    check_bundle(&out, &ca, &der1, "api.internal");
    let (der3, pem3, key3) = leaf(&ca, "api.internal");
    kv.import_certificate(
        "api-tls",
        der3.clone(),
        &format!("{pem3}{key3}"),
        "application/x-pem-file",
    );
    let t = Instant::now();
    loop {
        let crt = std::fs::read(out.join("tls.crt")).unwrap();
        let first = tls::parse_certificates(&crt).unwrap().remove(0);
        if first.as_ref() == der3.as_slice() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "new version not picked up: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    check_bundle(&out, &ca, &der3, "api.internal");
    let pid = rustix::process::Pid::from_raw(agent.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert_eq!(agent.wait().unwrap().code(), Some(0));
    let logs = std::fs::read_to_string(&log).unwrap();
    for k in [&key1, &key3] {
        assert!(
            !logs.contains(&key_canary(k)),
            "key material in the agent log"
        );
    }
}

#[test]
fn secrets_manager_pem_json_and_pkcs12_binary() {
    moto::test_env();
    let m = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ca = make_ca();
    let (der1, pem1, key1) = leaf(&ca, "pem.internal");
    let (der2, pem2, key2) = leaf(&ca, "json.internal");
    let (der3, pem3, key3) = leaf(&ca, "p12.internal");
    let b = tls::parse_pem(format!("{pem3}{key3}").as_bytes()).unwrap();
    let v = tls::validate(
        &b,
        &tls::ValidationPolicy {
            trust_roots: tls::parse_certificates(ca.pem.as_bytes()).unwrap(),
            required_sans: vec![],
            margin: Duration::ZERO,
            now: SystemTime::now(),
        },
    )
    .unwrap();
    let p12 = tls::render(&v, &b.key, Some(b"p12-CANARY-pw-77"))
        .unwrap()
        .p12
        .unwrap();
    rt.block_on(async {
        let c = m.client();
        c.create_secret()
            .name("tls/pem")
            .secret_string(format!("{pem1}{}{key1}", ca.pem))
            .send()
            .await
            .unwrap();
        c.create_secret()
            .name("tls/json")
            .secret_string(
                serde_json::json!({"certificate": pem2, "private_key": key2, "chain": ca.pem})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        c.create_secret()
            .name("tls/p12")
            .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
                p12.expose().to_vec(),
            ))
            .send()
            .await
            .unwrap();
        c.create_secret()
            .name("tls/p12-password")
            .secret_string("p12-CANARY-pw-77")
            .send()
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
    for (id, san, der, key, extra) in [
        ("tls/pem", "pem.internal", &der1, &key1, ""),
        (
            "tls/json",
            "json.internal",
            &der2,
            &key2,
            "format = \"json\"\n",
        ),
        (
            "tls/p12",
            "p12.internal",
            &der3,
            &key3,
            "format = \"pkcs12\"\npassword_secret = \"p12-password\"\n",
        ),
    ] {
        let s = shm();
        let out = s.path().join("s");
        let cfg = dir.path().join("aws.toml");
        std::fs::write(
            &cfg,
            format!(
                "[output]\ndir = \"{}\"\n\n[providers.aws]\ntype = \"aws-secrets-manager\"\n\
                 region = \"us-east-1\"\nendpoint_url = \"http://127.0.0.1:{}\"\n\n\
                 [[secret]]\nname = \"p12-password\"\nprovider = \"aws\"\nid = \"tls/p12-password\"\nfile = false\n\n\
                 [[certificate]]\nname = \"api\"\nprovider = \"aws\"\nid = \"{id}\"\nsans = [\"{san}\"]\n\
                 trust_roots_file = \"ca.pem\"\n{extra}",
                out.display(),
                m.port
            ),
        )
        .unwrap();
        let o = bin()
            .arg("fetch")
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        no_leak(&o, &[&key_canary(key), "p12-CANARY-pw-77"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        check_bundle(&out, &ca, der, san);
        assert!(!out.join("p12-password").exists());
    }
}
