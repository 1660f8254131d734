//! Local provider: secrets from a directory (one file per secret) or from one `.toml` /
//! `.json` file of `name = value`. For development and the no-cloud demo; config validation
//! refuses it when `environment = "production"`.
//!
//! The version of a value is derived from the file's modification time and size, never from
//! its contents: a content hash would be a fingerprint of the secret that ends up in logs.
//! A string value is delivered as-is; a table/object value as compact JSON, so `json-key`
//! and `dotenv` work the same as with a JSON secret in a cloud provider.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use zeroize::Zeroize;

use super::{ErrorClass, Fetched, ProviderError, SecretBytes, SecretRef, SecretSource};
use crate::config::LocalProviderConfig;

const KIND: &str = "local";
/// A local secret file larger than this is a mistake, not a secret.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

pub struct LocalProvider {
    path: PathBuf,
}

impl LocalProvider {
    pub fn new(cfg: &LocalProviderConfig) -> Self {
        Self {
            path: cfg.path.clone(),
        }
    }

    fn err(&self, class: ErrorClass, m: String) -> ProviderError {
        ProviderError::new(KIND, class, format!("{}: {m}", self.path.display()))
    }

    fn version_of(&self, p: &Path) -> Result<String, ProviderError> {
        let meta = std::fs::metadata(p).map_err(|e| self.io_err(p, e))?;
        if meta.len() > MAX_BYTES {
            return Err(self.err(
                ErrorClass::Invalid,
                format!("{} is larger than 16 MiB", p.display()),
            ));
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(format!("{mtime:x}-{:x}", meta.len()))
    }

    fn io_err(&self, p: &Path, e: std::io::Error) -> ProviderError {
        let class = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorClass::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorClass::AccessDenied,
            _ => ErrorClass::Unavailable,
        };
        ProviderError::new(KIND, class, format!("{}: {e}", p.display()))
    }

    /// The file a secret lives in, for the directory layout. Names are checked so a secret id
    /// cannot walk out of the directory.
    fn file_in_dir(&self, id: &str) -> Result<PathBuf, ProviderError> {
        if id.is_empty() || id.contains('/') || id.contains('\\') || id.starts_with('.') {
            return Err(self.err(
                ErrorClass::Invalid,
                format!("secret id `{id}` is not a plain file name"),
            ));
        }
        Ok(self.path.join(id))
    }

    fn read_map_value(&self, id: &str) -> Result<SecretBytes, ProviderError> {
        let mut text =
            std::fs::read_to_string(&self.path).map_err(|e| self.io_err(&self.path, e))?;
        let is_json = self.path.extension().is_some_and(|e| e == "json");
        let parsed: Result<serde_json::Value, String> = if is_json {
            serde_json::from_str(&text).map_err(|e| format!("line {}: invalid JSON", e.line()))
        } else {
            toml::from_str::<toml::Table>(&text)
                .map_err(|e| format!("invalid TOML: {}", e.message()))
                .and_then(|t| serde_json::to_value(t).map_err(|_| "invalid TOML".to_string()))
        };
        text.zeroize();
        let mut doc = parsed.map_err(|m| self.err(ErrorClass::Invalid, m))?;
        let out = match doc.get(id) {
            None => Err(self.err(ErrorClass::NotFound, format!("no secret `{id}`"))),
            Some(serde_json::Value::String(s)) => Ok(SecretBytes::new(s.as_bytes().to_vec())),
            Some(v) => Ok(SecretBytes::new(v.to_string().into_bytes())),
        };
        wipe(&mut doc);
        out
    }
}

fn wipe(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(wipe),
        serde_json::Value::Object(m) => m.values_mut().for_each(wipe),
        _ => {}
    }
}

#[async_trait::async_trait]
impl SecretSource for LocalProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn current_version(&self, secret: &SecretRef) -> Result<String, ProviderError> {
        let (version, _) = self.read(secret, false)?;
        Ok(version)
    }

    async fn fetch(&self, secret: &SecretRef) -> Result<Fetched, ProviderError> {
        let (version, value) = self.read(secret, true)?;
        Ok(Fetched {
            value: value.unwrap_or_default(),
            version,
            content_type: None,
            binary: false,
        })
    }
}

impl LocalProvider {
    /// Version, and the value when `with_value`. A pinned version that is not the file's
    /// current one is "not found": the local provider keeps no history.
    fn read(
        &self,
        secret: &SecretRef,
        with_value: bool,
    ) -> Result<(String, Option<SecretBytes>), ProviderError> {
        let is_dir = std::fs::metadata(&self.path)
            .map_err(|e| self.io_err(&self.path, e))?
            .is_dir();
        let file = if is_dir {
            self.file_in_dir(&secret.id)?
        } else {
            self.path.clone()
        };
        let version = self.version_of(&file)?;
        let value = if !with_value {
            None
        } else if is_dir {
            Some(SecretBytes::new(
                std::fs::read(&file).map_err(|e| self.io_err(&file, e))?,
            ))
        } else {
            Some(self.read_map_value(&secret.id)?)
        };
        if !is_dir && !with_value {
            // Check the key exists, so `current_version` reports a missing secret too.
            self.read_map_value(&secret.id)?;
        }
        if let Some(pinned) = &secret.version {
            if *pinned != version {
                return Err(self.err(
                    ErrorClass::NotFound,
                    format!("secret `{}` has no version `{pinned}`", secret.id),
                ));
            }
        }
        Ok((version, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dir_and_file_layouts() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("api-key"), "k1").unwrap();
        let p = LocalProvider::new(&LocalProviderConfig {
            path: d.path().to_path_buf(),
        });
        let f = p.fetch(&SecretRef::latest("api-key")).await.unwrap();
        assert_eq!(f.value.expose(), b"k1");
        assert_eq!(
            p.current_version(&SecretRef::latest("api-key"))
                .await
                .unwrap(),
            f.version
        );
        let e = p
            .fetch(&SecretRef::latest("../etc/passwd"))
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::Invalid);
        let e = p.fetch(&SecretRef::latest("missing")).await.unwrap_err();
        assert_eq!(e.class, ErrorClass::NotFound);

        let t = d.path().join("s.toml");
        std::fs::write(
            &t,
            "db = { user = \"app\", password = \"pw\" }\ntoken = \"t\"\n",
        )
        .unwrap();
        let p = LocalProvider::new(&LocalProviderConfig { path: t });
        assert_eq!(
            p.fetch(&SecretRef::latest("token"))
                .await
                .unwrap()
                .value
                .expose(),
            b"t"
        );
        let db = p.fetch(&SecretRef::latest("db")).await.unwrap();
        assert_eq!(db.value.expose(), br#"{"password":"pw","user":"app"}"#);
        let e = p
            .current_version(&SecretRef::latest("nope"))
            .await
            .unwrap_err();
        assert_eq!(e.class, ErrorClass::NotFound);
    }
}
