//! PKCS#12 interoperability with another implementation: Python's `cryptography` (installed
//! into `.venv` by `scripts/test.sh` as a dependency of moto) writes legacy (3DES, SHA-1 MAC),
//! modern (AES-256-CBC with PBKDF2, SHA-256 MAC) and unencrypted (Key Vault's empty-password
//! export) stores with RSA and ECDSA keys and an intermediate; ours must read and validate
//! them, and Python must read the `tls.p12` we write.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use elastics_sec::tls;

fn python() -> PathBuf {
    if let Ok(m) = std::env::var("MOTO_SERVER") {
        let p = Path::new(&m).with_file_name("python");
        if p.exists() {
            return p;
        }
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        p.exists(),
        "no Python with `cryptography` at {}: run scripts/test.sh, which installs it",
        p.display()
    );
    p
}

/// Writes root.pem, and for each (key kind, encryption) a store `<kind>-<enc>.p12`.
const MAKE: &str = r#"
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)

def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

def cert(subject, issuer, pub, key, ca, sans=None):
    b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return b.sign(key, hashes.SHA256())

root_key = ec.generate_private_key(ec.SECP256R1())
root = cert("py root", "py root", root_key.public_key(), root_key, True)
int_key = ec.generate_private_key(ec.SECP256R1())
inter = cert("py intermediate", "py root", int_key.public_key(), root_key, True)
open(f"{out}/root.pem", "wb").write(root.public_bytes(serialization.Encoding.PEM))

keys = {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1())}
for kind, k in keys.items():
    leaf = cert(f"{kind}.py.internal", "py intermediate", k.public_key(), int_key, False,
                [f"{kind}.py.internal"])
    encs = {
        "legacy": serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(2048).key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1()).build(b"s3cret"),
        "modern": serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(10000).key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256()).build(b"s3cret"),
        "none": serialization.NoEncryption(),
    }
    for enc, alg in encs.items():
        data = pkcs12.serialize_key_and_certificates(b"tls", k, leaf, [inter], alg)
        open(f"{out}/{kind}-{enc}.p12", "wb").write(data)
    open(f"{out}/{kind}-leaf.der", "wb").write(leaf.public_bytes(serialization.Encoding.DER))
"#;

/// Reads a PKCS#12 with a password; prints the leaf's DER hex and the key's public DER hex.
const READ: &str = r#"
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
key, leaf, extra = pkcs12.load_key_and_certificates(open(sys.argv[1], "rb").read(), sys.argv[2].encode())
print(leaf.public_bytes(serialization.Encoding.DER).hex())
print(key.public_key().public_bytes(serialization.Encoding.DER,
      serialization.PublicFormat.SubjectPublicKeyInfo).hex())
print(len(extra))
"#;

fn make(dir: &Path) {
    let o = Command::new(python())
        .arg("-c")
        .arg(MAKE)
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn policy(dir: &Path, san: &str) -> tls::ValidationPolicy {
    tls::ValidationPolicy {
        trust_roots: tls::parse_certificates(&std::fs::read(dir.join("root.pem")).unwrap())
            .unwrap(),
        required_sans: vec![san.to_string()],
        margin: Duration::from_secs(60),
        now: SystemTime::now(),
    }
}

#[test]
fn stores_written_by_python_cryptography_are_read_and_validated() {
    let d = tempfile::tempdir().unwrap();
    make(d.path());
    for kind in ["rsa", "ec"] {
        let leaf = std::fs::read(d.path().join(format!("{kind}-leaf.der"))).unwrap();
        for enc in ["legacy", "modern", "none"] {
            let der = std::fs::read(d.path().join(format!("{kind}-{enc}.p12"))).unwrap();
            let pw: Option<&[u8]> = if enc == "none" { None } else { Some(b"s3cret") };
            let b = tls::parse_pkcs12(&der, pw).unwrap_or_else(|e| panic!("{kind}-{enc}: {e}"));
            let v = tls::validate(&b, &policy(d.path(), &format!("{kind}.py.internal")))
                .unwrap_or_else(|e| panic!("{kind}-{enc}: {e}"));
            assert_eq!(v.chain[0].as_ref(), leaf.as_slice(), "{kind}-{enc}: leaf");
            assert_eq!(v.chain.len(), 2, "{kind}-{enc}: leaf + intermediate");
            assert!(
                v.key.0.starts_with(if kind == "rsa" {
                    "RSA 2048"
                } else {
                    "ECDSA P-256"
                }),
                "{kind}-{enc}: {:?}",
                v.key
            );
            // Through the provider path too: Key Vault hands PKCS#12 over as base64 text.
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
            tls::parse_bundle(
                b64.as_bytes(),
                Some("application/x-pkcs12"),
                false,
                tls::SourceFormat::Auto,
                pw,
            )
            .unwrap_or_else(|e| panic!("{kind}-{enc} as base64: {e}"));
        }
        // A wrong password is a PKCS#12 error, not a panic or a parse of garbage.
        let der = std::fs::read(d.path().join(format!("{kind}-modern.p12"))).unwrap();
        let e = tls::parse_pkcs12(&der, Some(b"wrong")).unwrap_err();
        assert_eq!(e.class(), "pkcs12", "{e}");
        assert!(!e.to_string().contains("s3cret"));
    }
}

#[test]
fn our_p12_output_is_read_by_python_cryptography() {
    let d = tempfile::tempdir().unwrap();
    make(d.path());
    let der = std::fs::read(d.path().join("ec-modern.p12")).unwrap();
    let b = tls::parse_pkcs12(&der, Some(b"s3cret")).unwrap();
    let v = tls::validate(&b, &policy(d.path(), "ec.py.internal")).unwrap();
    let r = tls::render(&v, &b.key, Some(b"out-pw")).unwrap();
    let p12 = d.path().join("tls.p12");
    std::fs::write(&p12, r.p12.unwrap().expose()).unwrap();
    let o = Command::new(python())
        .arg("-c")
        .arg(READ)
        .arg(&p12)
        .arg("out-pw")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let mut lines = out.lines();
    let leaf_hex = lines.next().unwrap();
    let spki_hex = lines.next().unwrap();
    let extra: usize = lines.next().unwrap().parse().unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(leaf_hex, hex(&v.chain[0]));
    let (_, leaf) = x509_parser::parse_x509_certificate(&v.chain[0]).unwrap();
    assert_eq!(
        spki_hex,
        hex(leaf.public_key().raw),
        "key in our p12 is not the leaf's"
    );
    assert!(extra >= 1, "intermediate and root missing from our p12");
}
