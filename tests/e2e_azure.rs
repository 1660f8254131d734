//! End-to-end: the real `elastics-sec` binary against the in-process Key Vault test server
//! (token endpoint and vault over TLS on loopback): a fetched secret, a refused client
//! secret (exit 4) and a missing secret (exit 5), with a canary value kept out of the output.
#![cfg(feature = "azure")]
#![allow(clippy::unwrap_used)]

#[path = "support/child.rs"]
mod child;
#[path = "support/keyvault.rs"]
mod keyvault;

use std::path::PathBuf;
use std::process::Output;

use keyvault::{KeyVault, CLIENT_ID, CLIENT_SECRET, TENANT};

const CANARY: &str = "CANARY-5b3a-azure-e2e";

struct Setup {
    _dir: tempfile::TempDir,
    _shm: tempfile::TempDir,
    cfg: PathBuf,
    out: PathBuf,
}

fn setup(kv: &KeyVault, client_secret: &str, id: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let shm = tempfile::Builder::new()
        .prefix("es-e2e-kv")
        .tempdir_in("/dev/shm")
        .unwrap();
    let out = shm.path().join("s");
    let cs = dir.path().join("client_secret");
    std::fs::write(&cs, client_secret).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[output]\ndir = \"{}\"\n\n[providers.kv]\ntype = \"azure-key-vault\"\n\
             vault_url = \"{}\"\ncredential = \"client-secret\"\ntenant_id = \"{TENANT}\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nauthority_host = \"{}\"\n\
             ca_file = \"{}\"\nverify_challenge_resource = false\n\n\
             [[secret]]\nname = \"api\"\nprovider = \"kv\"\nid = \"{id}\"\n",
            out.display(),
            kv.url,
            cs.display(),
            kv.authority(),
            kv.ca_file.display()
        ),
    )
    .unwrap();
    Setup {
        _dir: dir,
        _shm: shm,
        cfg,
        out,
    }
}

fn fetch(s: &Setup) -> Output {
    let o = child::command()
        .arg("fetch")
        .arg("--config")
        .arg(&s.cfg)
        .env("ELASTICS_SEC_LOG", "debug")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!all.contains(CANARY), "canary leaked: {all}");
    // The client secret is a credential too: it must not be echoed either.
    assert!(!all.contains(CLIENT_SECRET), "client secret leaked: {all}");
    assert!(
        !all.contains("wrong-client-secret"),
        "client secret leaked: {all}"
    );
    o
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fetch_ok_wrong_client_secret_and_missing() {
    // The server runs on the runtime's worker threads while the binary is a child process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let kv = rt.block_on(KeyVault::start());
    kv.set_secret("api-key", CANARY);

    let s = setup(&kv, CLIENT_SECRET, "api-key");
    let o = fetch(&s);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(s.out.join("api")).unwrap(), CANARY);

    let s = setup(&kv, "wrong-client-secret", "api-key");
    let o = fetch(&s);
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    assert!(!s.out.join("api").exists());

    let s = setup(&kv, CLIENT_SECRET, "no-such-secret");
    let o = fetch(&s);
    assert_eq!(o.status.code(), Some(5), "{}", err(&o));
    assert!(!s.out.join("api").exists());
}
