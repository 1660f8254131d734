//! Daemon configuration (`fetch`, `agent`, `exec`, `check-config`).
//!
//! Two layers: the raw TOML shape (serde, `deny_unknown_fields`, so a typo is an error and
//! not a silently ignored key) and the validated [`Config`] the rest of the program uses.
//! Every error names the file and line: serde errors carry the toml span, and validation
//! errors use the span of the table they are about (`Spanned<...>`).
//!
//! The format is documented with a full annotated example in README.md
//! ("Configuration reference") and `examples/local/elastics-sec.toml`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::secrets::SecretRef;
use crate::sink::validate_name;

/// Largest config file read; a config is a few KiB, this stops accidents (a log, a binary).
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// A config error with the file and (when known) 1-based line and column.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Where the deployment runs; `production` forbids development-only features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Environment {
    #[default]
    Development,
    Staging,
    Production,
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub environment: Environment,
    pub output: OutputConfig,
    pub agent: AgentConfig,
    pub fetch: FetchConfig,
    /// Providers by their config name, in file order.
    pub providers: BTreeMap<String, ProviderConfig>,
    pub secrets: Vec<SecretConfig>,
    pub certificates: Vec<CertificateConfig>,
    pub notify: Vec<NotifyConfig>,
    pub exec: ExecConfig,
}

#[derive(Clone, Debug)]
pub struct OutputConfig {
    pub dir: PathBuf,
    pub allow_non_tmpfs: bool,
    pub wipe_on_exit: bool,
    /// Defaults for every file; each secret can override them.
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Default refresh interval of a secret.
    pub refresh: Duration,
    /// Fraction of the interval used as +/- jitter, so a fleet does not poll in lockstep.
    pub jitter: f64,
    /// After this long without a successful refresh a secret is stale and `/readyz` fails.
    pub max_staleness: Duration,
    /// Health and metrics listener; `None` disables it.
    pub listen: Option<SocketAddr>,
    /// Longest wait between retries after errors.
    pub max_backoff: Duration,
    /// Serve the health/metrics listener over HTTPS with this `[[certificate]]`'s files.
    pub tls_certificate: Option<String>,
}

#[derive(Clone, Debug)]
pub struct FetchConfig {
    /// Attempts per secret before `fetch` gives up (when `--wait` is not given).
    pub attempts: u32,
    /// Timeout of one provider call.
    pub timeout: Duration,
    /// Secrets fetched at the same time.
    pub concurrency: usize,
}

#[derive(Clone, Debug)]
pub enum ProviderConfig {
    Aws(AwsProviderConfig),
    Azure(AzureProviderConfig),
    Local(LocalProviderConfig),
}

impl ProviderConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Aws(_) => "aws-secrets-manager",
            Self::Azure(_) => "azure-key-vault",
            Self::Local(_) => "local",
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsProviderConfig {
    /// AWS region; falls back to the default chain (AWS_REGION, profile).
    pub region: Option<String>,
    /// Endpoint override (VPC endpoint, LocalStack, moto).
    pub endpoint_url: Option<String>,
    /// Named profile from the shared config files.
    pub profile: Option<String>,
    /// Role to assume with STS on top of the base credentials.
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub external_id: Option<String>,
}

/// How the Key Vault provider authenticates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AzureCredential {
    /// Workload identity when `AZURE_FEDERATED_TOKEN_FILE` is set, else client secret when
    /// configured, else managed identity.
    #[default]
    Auto,
    WorkloadIdentity,
    ManagedIdentity,
    ClientSecret,
    /// Developer machines only; refused in production.
    AzureCli,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureProviderConfig {
    /// `https://NAME.vault.azure.net/`.
    pub vault_url: String,
    #[serde(default)]
    pub credential: AzureCredential,
    /// Entra tenant; falls back to `AZURE_TENANT_ID`.
    pub tenant_id: Option<String>,
    /// App / managed identity client id; falls back to `AZURE_CLIENT_ID`.
    pub client_id: Option<String>,
    /// File holding the client secret (for `client-secret`); `AZURE_CLIENT_SECRET` otherwise.
    pub client_secret_file: Option<PathBuf>,
    /// Entra authority host for sovereign or private clouds (https only).
    pub authority_host: Option<String>,
    /// Extra PEM CA bundle trusted for the vault and authority (private endpoints, tests).
    pub ca_file: Option<PathBuf>,
    /// Check that the 401 challenge's resource matches the vault host (default true).
    #[serde(default = "yes")]
    pub verify_challenge_resource: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalProviderConfig {
    /// A directory (one file per secret) or a `.toml` / `.json` file of name = value.
    pub path: PathBuf,
}

/// How a secret's bytes become the file's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Raw,
    Base64Decode,
    /// One value out of a JSON secret.
    JsonKey(JsonSelector),
    /// Every top-level key of a JSON object as `KEY=value` lines.
    Dotenv,
    /// A minijinja template over this and other secrets.
    Template(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonSelector {
    Key(String),
    /// RFC 6901 JSON pointer, e.g. `/db/password`.
    Pointer(String),
}

#[derive(Clone, Debug)]
pub struct SecretConfig {
    /// The config name: unique, used in logs, metrics and templates.
    pub name: String,
    pub provider: String,
    pub reference: SecretRef,
    pub format: Format,
    /// Output file name inside the output directory; `None` = not written (template input).
    pub file: Option<String>,
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub refresh: Duration,
    pub required: bool,
    /// 1-based line of the `[[secret]]` table, for messages.
    pub line: usize,
}

/// A TLS certificate the agent delivers and rotates (`[[certificate]]`).
#[derive(Clone, Debug, PartialEq)]
pub struct CertificateConfig {
    /// Unique among secrets and certificates; used in logs and metrics.
    pub name: String,
    pub source: CertSource,
    /// Names (DNS or IP) the leaf must carry; for a local CA also the names it issues.
    pub sans: Vec<String>,
    /// Trust roots the chain must build to; `None` = the chain must be self-consistent.
    pub trust_roots: Option<Material>,
    /// A certificate that expires within this margin (or is not yet valid) is refused.
    pub margin: Duration,
    pub renew: Renewal,
    /// Fraction of the renewal point used as random jitter, so replicas do not renew together.
    pub renew_jitter: f64,
    /// How often a provider-held certificate is checked for a new version.
    pub check: Duration,
    pub files: CertFiles,
    /// `[[secret]]` whose value is the password of the `tls.p12` output.
    pub p12_password_secret: Option<String>,
    pub cert_mode: u32,
    pub key_mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub required: bool,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CertSource {
    /// Certificate material held by a provider: a Key Vault certificate, or a secret holding
    /// PEM, JSON with PEM fields, or PKCS#12.
    Provider {
        provider: String,
        reference: SecretRef,
        format: CertFormat,
        /// `[[secret]]` holding the password of a PKCS#12 source.
        password_secret: Option<String>,
    },
    /// The agent issues leaf certificates itself from a CA certificate and key.
    LocalCa {
        ca_cert: Material,
        ca_key: Material,
        lifetime: Duration,
        key_type: LeafKeyType,
        common_name: Option<String>,
    },
}

/// How provider-held certificate bytes are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertFormat {
    /// By the Key Vault content type, else by sniffing (PEM, JSON, PKCS#12, DER).
    Auto,
    Pem,
    Pkcs12,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafKeyType {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

/// PEM that comes from a file or from a configured `[[secret]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Material {
    File(PathBuf),
    Secret(String),
    /// A CA generated in memory when the process starts (`local_ca.ephemeral = true`): its
    /// key never exists outside the process, and `ca.crt` is how clients learn to trust it.
    Ephemeral,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Renewal {
    /// Renew at this fraction of the lifetime (cert-manager's default is 2/3).
    Fraction(f64),
    /// Renew this long before expiry.
    Before(Duration),
}

/// Output file names of a certificate bundle; `None` = not written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub ca: Option<String>,
    pub p12: Option<String>,
    pub pem: Option<String>,
}

#[derive(Clone, Debug)]
pub enum NotifyConfig {
    Signal {
        signal: Signal,
        target: SignalTarget,
    },
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
    Http {
        url: String,
        timeout: Duration,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalTarget {
    PidFile(PathBuf),
    /// Every process whose `comm` (or argv[0] basename) equals this name.
    Process(String),
}

/// A signal by name; only those it makes sense to send to an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Hup,
    Int,
    Quit,
    Term,
    Usr1,
    Usr2,
    Winch,
}

impl Signal {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_uppercase();
        let s = s.strip_prefix("SIG").unwrap_or(&s);
        Some(match s {
            "HUP" => Self::Hup,
            "INT" => Self::Int,
            "QUIT" => Self::Quit,
            "TERM" => Self::Term,
            "USR1" => Self::Usr1,
            "USR2" => Self::Usr2,
            "WINCH" => Self::Winch,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Hup => "SIGHUP",
            Self::Int => "SIGINT",
            Self::Quit => "SIGQUIT",
            Self::Term => "SIGTERM",
            Self::Usr1 => "SIGUSR1",
            Self::Usr2 => "SIGUSR2",
            Self::Winch => "SIGWINCH",
        }
    }

    pub fn to_rustix(self) -> rustix::process::Signal {
        use rustix::process::Signal as S;
        match self {
            Self::Hup => S::HUP,
            Self::Int => S::INT,
            Self::Quit => S::QUIT,
            Self::Term => S::TERM,
            Self::Usr1 => S::USR1,
            Self::Usr2 => S::USR2,
            Self::Winch => S::WINCH,
        }
    }
}

/// What `exec` does to its child when a new generation is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnChange {
    #[default]
    Signal,
    Restart,
    None,
}

#[derive(Clone, Debug)]
pub struct ExecConfig {
    pub on_change: OnChange,
    pub signal: Signal,
    /// How long a restarted child gets between SIGTERM and SIGKILL.
    pub stop_timeout: Duration,
}

// ---------------------------------------------------------------------------------------
// Raw TOML shape.

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    environment: Environment,
    output: Spanned<RawOutput>,
    #[serde(default)]
    agent: Option<RawAgent>,
    #[serde(default)]
    fetch: Option<RawFetch>,
    #[serde(default)]
    providers: BTreeMap<String, Spanned<RawProvider>>,
    #[serde(default)]
    secret: Vec<Spanned<RawSecret>>,
    #[serde(default)]
    certificate: Vec<Spanned<RawCertificate>>,
    #[serde(default)]
    notify: Vec<Spanned<RawNotify>>,
    #[serde(default)]
    exec: Option<RawExec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    dir: PathBuf,
    #[serde(default)]
    allow_non_tmpfs: bool,
    #[serde(default)]
    wipe_on_exit: bool,
    #[serde(default, deserialize_with = "de_mode_opt")]
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    #[serde(default, deserialize_with = "de_duration_opt")]
    refresh: Option<Duration>,
    jitter: Option<f64>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    max_staleness: Option<Duration>,
    /// `"127.0.0.1:9464"`, or `"off"`.
    listen: Option<String>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    max_backoff: Option<Duration>,
    tls_certificate: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFetch {
    attempts: Option<u32>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    timeout: Option<Duration>,
    concurrency: Option<usize>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum RawProvider {
    AwsSecretsManager(AwsProviderConfig),
    AzureKeyVault(AzureProviderConfig),
    Local(LocalProviderConfig),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    name: String,
    provider: String,
    /// Provider-side name or ARN; defaults to `name`.
    id: Option<String>,
    version: Option<String>,
    stage: Option<String>,
    json_key: Option<String>,
    json_pointer: Option<String>,
    format: Option<String>,
    template: Option<String>,
    template_file: Option<PathBuf>,
    /// Output file name; defaults to `name`. `false` = not written (template input only).
    file: Option<toml::Value>,
    #[serde(default, deserialize_with = "de_mode_opt")]
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    refresh: Option<Duration>,
    #[serde(default = "yes")]
    required: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCertificate {
    name: String,
    provider: Option<String>,
    id: Option<String>,
    version: Option<String>,
    stage: Option<String>,
    format: Option<String>,
    password_secret: Option<String>,
    local_ca: Option<RawLocalCa>,
    #[serde(default)]
    sans: Vec<String>,
    trust_roots_file: Option<PathBuf>,
    trust_roots_secret: Option<String>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    margin: Option<Duration>,
    renew_at: Option<f64>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    renew_before: Option<Duration>,
    renew_jitter: Option<f64>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    check: Option<Duration>,
    cert_file: Option<toml::Value>,
    key_file: Option<toml::Value>,
    ca_file: Option<toml::Value>,
    p12_file: Option<toml::Value>,
    pem_file: Option<toml::Value>,
    p12_password_secret: Option<String>,
    #[serde(default, deserialize_with = "de_mode_opt")]
    cert_mode: Option<u32>,
    #[serde(default, deserialize_with = "de_mode_opt")]
    key_mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    #[serde(default = "yes")]
    required: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocalCa {
    #[serde(default)]
    ephemeral: bool,
    cert_file: Option<PathBuf>,
    cert_secret: Option<String>,
    key_file: Option<PathBuf>,
    key_secret: Option<String>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    lifetime: Option<Duration>,
    key_type: Option<String>,
    common_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
enum RawNotify {
    Signal {
        signal: String,
        pid_file: Option<PathBuf>,
        process: Option<String>,
    },
    Command {
        command: Vec<String>,
        #[serde(default, deserialize_with = "de_duration_opt")]
        timeout: Option<Duration>,
    },
    Http {
        url: String,
        #[serde(default, deserialize_with = "de_duration_opt")]
        timeout: Option<Duration>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExec {
    #[serde(default)]
    on_change: OnChange,
    signal: Option<String>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    stop_timeout: Option<Duration>,
}

/// Durations as `30s`, `5m`, `1h30m` (humantime); a bare integer is rejected because its unit
/// would be a guess.
fn de_duration_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map(Some).map_err(de::Error::custom)
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration `{s}` ({e}); write e.g. `30s`, `5m`, `1h`"))
}

/// File modes as the string `"0400"` or a TOML octal integer `0o400`.
fn de_mode_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum M {
        I(i64),
        S(String),
    }
    let mode = match M::deserialize(d)? {
        M::I(i) => u32::try_from(i).map_err(|_| de::Error::custom("mode out of range"))?,
        M::S(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).map_err(|_| {
            de::Error::custom(format!("mode `{s}` is not an octal number like \"0440\""))
        })?,
    };
    if mode > 0o777 {
        return Err(de::Error::custom(format!(
            "mode {mode:o} has bits beyond 0777 (setuid, setgid and sticky are not allowed)"
        )));
    }
    Ok(Some(mode))
}

// ---------------------------------------------------------------------------------------
// Loading and validation.

impl Config {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let err = |m: String| ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: m,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(err(format!(
                "file is {} bytes; a config is at most {MAX_CONFIG_BYTES}",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parse and validate config text; `path` is used in messages and to resolve relative
    /// paths (relative to the config file's directory).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_col(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        Validator { path, text }.validate(raw)
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.get(name)
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Validator<'_> {
    fn at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            line: Some(line_col(self.text, span.start)),
            message: message.into(),
        }
    }

    /// Relative paths in the config are relative to the config file, like compose does.
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let out_span = raw.output.span();
        let o = raw.output.into_inner();
        if o.dir.as_os_str().is_empty() {
            return Err(self.at(out_span, "output.dir is empty"));
        }
        let output = OutputConfig {
            dir: self.resolve(&o.dir),
            allow_non_tmpfs: o.allow_non_tmpfs,
            wipe_on_exit: o.wipe_on_exit,
            mode: o.mode.unwrap_or(0o400),
            uid: o.uid,
            gid: o.gid,
        };

        let a = raw.agent.unwrap_or(RawAgent {
            refresh: None,
            jitter: None,
            max_staleness: None,
            listen: None,
            max_backoff: None,
            tls_certificate: None,
        });
        let refresh = a.refresh.unwrap_or(Duration::from_secs(300));
        let whole = 0..self.text.len().min(1);
        if refresh < Duration::from_secs(1) {
            return Err(self.at(whole.clone(), "agent.refresh must be at least 1s"));
        }
        let jitter = a.jitter.unwrap_or(0.1);
        if !(0.0..=0.5).contains(&jitter) {
            return Err(self.at(whole.clone(), "agent.jitter must be between 0.0 and 0.5"));
        }
        let max_staleness = a.max_staleness.unwrap_or(Duration::from_secs(3600));
        let listen = match a.listen.as_deref() {
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            Some("off") | Some("") => None,
            Some(s) => Some(s.parse::<SocketAddr>().map_err(|_| {
                self.at(
                    whole.clone(),
                    format!(
                        "agent.listen `{s}` is not an address like 127.0.0.1:9464 (or \"off\")"
                    ),
                )
            })?),
        };
        let agent = AgentConfig {
            refresh,
            jitter,
            max_staleness,
            listen,
            max_backoff: a.max_backoff.unwrap_or(Duration::from_secs(300)),
            tls_certificate: a.tls_certificate,
        };

        let f = raw.fetch.unwrap_or(RawFetch {
            attempts: None,
            timeout: None,
            concurrency: None,
        });
        let fetch = FetchConfig {
            attempts: f.attempts.unwrap_or(5).clamp(1, 100),
            timeout: f.timeout.unwrap_or(Duration::from_secs(10)),
            concurrency: f.concurrency.unwrap_or(16).clamp(1, 256),
        };

        let mut providers = BTreeMap::new();
        for (name, p) in raw.providers {
            let span = p.span();
            if !is_ident(&name) {
                return Err(self.at(
                    span,
                    format!("provider name `{name}`: use letters, digits, `-` and `_`"),
                ));
            }
            let p = match p.into_inner() {
                RawProvider::AwsSecretsManager(c) => ProviderConfig::Aws(c),
                RawProvider::AzureKeyVault(mut c) => {
                    if !c.vault_url.starts_with("https://") {
                        return Err(self.at(
                            span,
                            format!("provider `{name}`: vault_url must start with https://"),
                        ));
                    }
                    if c.credential == AzureCredential::AzureCli
                        && raw.environment == Environment::Production
                    {
                        return Err(self.at(span, format!("provider `{name}`: credential `azure-cli` is for development; refused with environment = \"production\"")));
                    }
                    c.client_secret_file = c.client_secret_file.map(|p| self.resolve(&p));
                    c.ca_file = c.ca_file.map(|p| self.resolve(&p));
                    ProviderConfig::Azure(c)
                }
                RawProvider::Local(c) => {
                    if raw.environment == Environment::Production {
                        return Err(self.at(span, format!("provider `{name}`: the local provider is for development and demos; refused with environment = \"production\"")));
                    }
                    ProviderConfig::Local(LocalProviderConfig {
                        path: self.resolve(&c.path),
                    })
                }
            };
            providers.insert(name, p);
        }

        let mut secrets = Vec::new();
        let mut names = HashSet::new();
        let mut files = HashSet::new();
        for s in raw.secret {
            let span = s.span();
            let line = line_col(self.text, span.start).0;
            let s = s.into_inner();
            let e = |m: String| self.at(span.clone(), format!("secret `{}`: {m}", s.name));
            if !is_ident(&s.name) {
                return Err(e("name: use letters, digits, `.`, `-` and `_`".into()));
            }
            if !names.insert(s.name.clone()) {
                return Err(e("a secret with this name is already defined".into()));
            }
            let Some(provider) = providers.get(&s.provider) else {
                return Err(e(format!("unknown provider `{}`", s.provider)));
            };
            if s.stage.is_some() && !matches!(provider, ProviderConfig::Aws(_)) {
                return Err(e("`stage` is an AWS Secrets Manager staging label; use `version` for other providers".into()));
            }
            if s.stage.is_some() && s.version.is_some() {
                return Err(e("give `version` or `stage`, not both".into()));
            }
            let format = self.format(&s).map_err(&e)?;
            let file = match &s.file {
                None => Some(s.name.clone()),
                Some(toml::Value::Boolean(false)) => None,
                Some(toml::Value::String(f)) => Some(f.clone()),
                Some(_) => return Err(e("`file` is a file name or `false`".into())),
            };
            if let Some(f) = &file {
                validate_name(f).map_err(|err| e(format!("file: {err}")))?;
                if !files.insert(f.clone()) {
                    return Err(e(format!("file `{f}` is written by another secret too")));
                }
            }
            let refresh = s.refresh.unwrap_or(agent.refresh);
            if refresh < Duration::from_secs(1) {
                return Err(e("refresh must be at least 1s".into()));
            }
            secrets.push(SecretConfig {
                reference: SecretRef {
                    id: s.id.clone().unwrap_or_else(|| s.name.clone()),
                    version: s.version.clone(),
                    stage: s.stage.clone(),
                },
                provider: s.provider.clone(),
                format,
                file,
                mode: s.mode.unwrap_or(output.mode),
                uid: s.uid.or(output.uid),
                gid: s.gid.or(output.gid),
                refresh,
                required: s.required,
                line,
                name: s.name,
            });
        }
        // Templates may only name secrets that exist; checked here so a typo is a config
        // error at start, not a render failure at 3 a.m.
        for s in &secrets {
            if let Format::Template(t) = &s.format {
                for r in template_refs(t) {
                    if !names.contains(&r) {
                        return Err(ConfigError {
                            path: self.path.to_path_buf(),
                            line: Some((s.line, 1)),
                            message: format!(
                                "secret `{}`: template uses unknown secret `{r}`",
                                s.name
                            ),
                        });
                    }
                }
            }
        }

        let mut certificates = Vec::new();
        for c in raw.certificate {
            let span = c.span();
            let line = line_col(self.text, span.start).0;
            let c = c.into_inner();
            let e = |m: String| self.at(span.clone(), format!("certificate `{}`: {m}", c.name));
            if !is_ident(&c.name) {
                return Err(e("name: use letters, digits, `.`, `-` and `_`".into()));
            }
            if !names.insert(c.name.clone()) {
                return Err(e(
                    "a secret or certificate with this name is already defined".into(),
                ));
            }
            let secret_ref =
                |field: &str, n: &Option<String>| -> Result<Option<String>, ConfigError> {
                    match n {
                        Some(n) if !secrets.iter().any(|s: &SecretConfig| &s.name == n) => {
                            Err(e(format!("{field}: no [[secret]] named `{n}`")))
                        }
                        _ => Ok(n.clone()),
                    }
                };
            let source = match (&c.provider, &c.local_ca) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(e("give `provider` (certificate held by a provider) or a `[certificate.local_ca]` table, exactly one".into()))
                }
                (Some(p), None) => {
                    let Some(provider) = providers.get(p) else {
                        return Err(e(format!("unknown provider `{p}`")));
                    };
                    if c.stage.is_some() && !matches!(provider, ProviderConfig::Aws(_)) {
                        return Err(e("`stage` is an AWS Secrets Manager staging label".into()));
                    }
                    if c.stage.is_some() && c.version.is_some() {
                        return Err(e("give `version` or `stage`, not both".into()));
                    }
                    let format = match c.format.as_deref().unwrap_or("auto") {
                        "auto" => CertFormat::Auto,
                        "pem" => CertFormat::Pem,
                        "pkcs12" => CertFormat::Pkcs12,
                        "json" => CertFormat::Json,
                        other => return Err(e(format!("unknown format `{other}` (auto, pem, pkcs12, json)"))),
                    };
                    CertSource::Provider {
                        provider: p.clone(),
                        reference: SecretRef {
                            id: c.id.clone().unwrap_or_else(|| c.name.clone()),
                            version: c.version.clone(),
                            stage: c.stage.clone(),
                        },
                        format,
                        password_secret: secret_ref("password_secret", &c.password_secret)?,
                    }
                }
                (None, Some(ca)) => {
                    for (k, set) in [("id", c.id.is_some()), ("version", c.version.is_some()), ("stage", c.stage.is_some()), ("format", c.format.is_some()), ("password_secret", c.password_secret.is_some())] {
                        if set {
                            return Err(e(format!("`{k}` applies to provider-held certificates, not to a local CA")));
                        }
                    }
                    let material = |what: &str, file: &Option<PathBuf>, secret: &Option<String>| -> Result<Material, ConfigError> {
                        if ca.ephemeral {
                            return match (file, secret) {
                                (None, None) => Ok(Material::Ephemeral),
                                _ => Err(e(format!("local_ca: `ephemeral = true` generates the CA; drop `{what}_file`/`{what}_secret`"))),
                            };
                        }
                        match (file, secret) {
                            (Some(f), None) => Ok(Material::File(self.resolve(f))),
                            (None, Some(_)) => Ok(Material::Secret(secret_ref(&format!("local_ca.{what}_secret"), secret)?.unwrap_or_default())),
                            _ => Err(e(format!("local_ca: give `{what}_file` or `{what}_secret`, exactly one (or `ephemeral = true`)"))),
                        }
                    };
                    let lifetime = ca.lifetime.unwrap_or(Duration::from_secs(24 * 3600));
                    if lifetime < Duration::from_secs(5) || lifetime > Duration::from_secs(397 * 24 * 3600) {
                        return Err(e("local_ca.lifetime must be between 5s and 397 days".into()));
                    }
                    if c.margin.unwrap_or(Duration::from_secs(300)) >= lifetime {
                        return Err(e("`margin` must be shorter than local_ca.lifetime, or every issued certificate is refused".into()));
                    }
                    if c.sans.is_empty() {
                        return Err(e("a local CA needs `sans`, the names it issues the certificate for".into()));
                    }
                    let key_type = match ca.key_type.as_deref().unwrap_or("ecdsa-p256") {
                        "ecdsa-p256" => LeafKeyType::EcdsaP256,
                        "ecdsa-p384" => LeafKeyType::EcdsaP384,
                        "ed25519" => LeafKeyType::Ed25519,
                        other => return Err(e(format!("local_ca.key_type `{other}` (ecdsa-p256, ecdsa-p384, ed25519)"))),
                    };
                    CertSource::LocalCa {
                        ca_cert: material("cert", &ca.cert_file, &ca.cert_secret)?,
                        ca_key: material("key", &ca.key_file, &ca.key_secret)?,
                        lifetime,
                        key_type,
                        common_name: ca.common_name.clone(),
                    }
                }
            };
            for n in &c.sans {
                if n.is_empty()
                    || n.len() > 253
                    || n.chars()
                        .any(|ch| ch.is_whitespace() || ch.is_control() || ch == '/')
                {
                    return Err(e(format!("sans: `{n}` is not a DNS name or IP address")));
                }
            }
            let trust_roots = match (&c.trust_roots_file, &c.trust_roots_secret) {
                (Some(_), Some(_)) => {
                    return Err(e(
                        "give `trust_roots_file` or `trust_roots_secret`, not both".into(),
                    ))
                }
                (Some(f), None) => Some(Material::File(self.resolve(f))),
                (None, Some(_)) => {
                    secret_ref("trust_roots_secret", &c.trust_roots_secret)?.map(Material::Secret)
                }
                (None, None) => None,
            };
            let renew = match (c.renew_at, c.renew_before) {
                (Some(_), Some(_)) => {
                    return Err(e("give `renew_at` or `renew_before`, not both".into()))
                }
                (Some(f), None) if f > 0.0 && f < 1.0 => Renewal::Fraction(f),
                (Some(f), None) => {
                    return Err(e(format!(
                        "renew_at {f} must be a fraction of the lifetime between 0 and 1"
                    )))
                }
                (None, Some(d)) => Renewal::Before(d),
                (None, None) => Renewal::Fraction(2.0 / 3.0),
            };
            let renew_jitter = c.renew_jitter.unwrap_or(0.05);
            if !(0.0..=0.2).contains(&renew_jitter) {
                return Err(e("renew_jitter must be between 0.0 and 0.2".into()));
            }
            let check = c.check.unwrap_or(agent.refresh);
            if check < Duration::from_secs(1) {
                return Err(e("check must be at least 1s".into()));
            }
            let mut file = |field: &str,
                            v: &Option<toml::Value>,
                            default: Option<&str>|
             -> Result<Option<String>, ConfigError> {
                let f = match v {
                    None => default.map(str::to_string),
                    Some(toml::Value::Boolean(false)) => None,
                    Some(toml::Value::String(f)) => Some(f.clone()),
                    Some(_) => return Err(e(format!("`{field}` is a file name or `false`"))),
                };
                if let Some(f) = &f {
                    validate_name(f).map_err(|err| e(format!("{field}: {err}")))?;
                    if !files.insert(f.clone()) {
                        return Err(e(format!("{field} `{f}` is written by another secret or certificate too; give each certificate its own file names")));
                    }
                }
                Ok(f)
            };
            let files_cfg = CertFiles {
                cert: file("cert_file", &c.cert_file, Some("tls.crt"))?,
                key: file("key_file", &c.key_file, Some("tls.key"))?,
                ca: file("ca_file", &c.ca_file, Some("ca.crt"))?,
                p12: file("p12_file", &c.p12_file, None)?,
                pem: file("pem_file", &c.pem_file, None)?,
            };
            let p12_password_secret = secret_ref("p12_password_secret", &c.p12_password_secret)?;
            if files_cfg.p12.is_some() && p12_password_secret.is_none() {
                return Err(e(
                    "p12_file needs `p12_password_secret`, the [[secret]] holding its password"
                        .into(),
                ));
            }
            certificates.push(CertificateConfig {
                source,
                sans: c.sans.clone(),
                trust_roots,
                margin: c.margin.unwrap_or(Duration::from_secs(300)),
                renew,
                renew_jitter,
                check,
                files: files_cfg,
                p12_password_secret,
                cert_mode: c.cert_mode.unwrap_or(0o444),
                key_mode: c.key_mode.unwrap_or(0o400),
                uid: c.uid.or(output.uid),
                gid: c.gid.or(output.gid),
                required: c.required,
                line,
                name: c.name,
            });
        }
        if let Some(t) = &agent.tls_certificate {
            match certificates.iter().find(|c| &c.name == t) {
                None => return Err(self.at(whole.clone(), format!("agent.tls_certificate: no [[certificate]] named `{t}`"))),
                Some(c) if c.files.cert.is_none() || c.files.key.is_none() => {
                    return Err(self.at(whole.clone(), format!("agent.tls_certificate: certificate `{t}` must write cert_file and key_file")))
                }
                Some(_) => {}
            }
        }

        let mut notify = Vec::new();
        for n in raw.notify {
            let span = n.span();
            notify.push(match n.into_inner() {
                RawNotify::Signal { signal, pid_file, process } => {
                    let sig = Signal::parse(&signal)
                        .ok_or_else(|| self.at(span.clone(), format!("notify: unknown signal `{signal}`")))?;
                    let target = match (pid_file, process) {
                        (Some(p), None) => SignalTarget::PidFile(self.resolve(&p)),
                        (None, Some(n)) if !n.is_empty() => SignalTarget::Process(n),
                        _ => return Err(self.at(span, "notify signal: give exactly one of `pid_file` or `process`")),
                    };
                    NotifyConfig::Signal { signal: sig, target }
                }
                RawNotify::Command { command, timeout } => {
                    if command.is_empty() || command[0].is_empty() {
                        return Err(self.at(span, "notify command: `command` is an argv list like [\"nginx\", \"-s\", \"reload\"]"));
                    }
                    NotifyConfig::Command { argv: command, timeout: timeout.unwrap_or(Duration::from_secs(30)) }
                }
                RawNotify::Http { url, timeout } => {
                    if !is_loopback_http_url(&url) {
                        return Err(self.at(span, format!("notify http: `{url}` must be an http:// URL on a loopback address (127.0.0.1, [::1] or localhost)")));
                    }
                    NotifyConfig::Http { url, timeout: timeout.unwrap_or(Duration::from_secs(10)) }
                }
            });
        }

        let x = raw.exec.unwrap_or(RawExec {
            on_change: OnChange::Signal,
            signal: None,
            stop_timeout: None,
        });
        let signal = match x.signal {
            None => Signal::Hup,
            Some(s) => Signal::parse(&s).ok_or_else(|| {
                self.at(whole.clone(), format!("exec.signal: unknown signal `{s}`"))
            })?,
        };
        let exec = ExecConfig {
            on_change: x.on_change,
            signal,
            stop_timeout: x.stop_timeout.unwrap_or(Duration::from_secs(10)),
        };

        Ok(Config {
            path: self.path.to_path_buf(),
            environment: raw.environment,
            output,
            agent,
            fetch,
            providers,
            secrets,
            certificates,
            notify,
            exec,
        })
    }

    fn format(&self, s: &RawSecret) -> Result<Format, String> {
        let json = match (&s.json_key, &s.json_pointer) {
            (Some(_), Some(_)) => return Err("give `json_key` or `json_pointer`, not both".into()),
            (Some(k), None) => Some(JsonSelector::Key(k.clone())),
            (None, Some(p)) if p.is_empty() || p.starts_with('/') => {
                Some(JsonSelector::Pointer(p.clone()))
            }
            (None, Some(p)) => return Err(format!("json_pointer `{p}` must start with `/`")),
            (None, None) => None,
        };
        let template = match (&s.template, &s.template_file) {
            (Some(_), Some(_)) => return Err("give `template` or `template_file`, not both".into()),
            (Some(t), None) => Some(t.clone()),
            (None, Some(f)) => {
                let p = self.resolve(f);
                Some(
                    std::fs::read_to_string(&p)
                        .map_err(|e| format!("template_file {}: {e}", p.display()))?,
                )
            }
            (None, None) => None,
        };
        let name = s.format.as_deref().unwrap_or(match (&json, &template) {
            (Some(_), _) => "json-key",
            (_, Some(_)) => "template",
            _ => "raw",
        });
        let needs = |what: &str| Err(format!("format `{name}` needs {what}"));
        let f = match name {
            "raw" => Format::Raw,
            "base64-decode" => Format::Base64Decode,
            "dotenv" => Format::Dotenv,
            "json-key" => match json.clone() {
                Some(j) => Format::JsonKey(j),
                None => return needs("`json_key` or `json_pointer`"),
            },
            "template" => match template.clone() {
                Some(t) => {
                    crate::render::check_template(&t).map_err(|e| format!("template: {e}"))?;
                    Format::Template(t)
                }
                None => return needs("`template` or `template_file`"),
            },
            other => {
                return Err(format!(
                    "unknown format `{other}` (raw, base64-decode, json-key, dotenv, template)"
                ))
            }
        };
        if json.is_some() && !matches!(f, Format::JsonKey(_)) {
            return Err(format!(
                "`json_key`/`json_pointer` only apply to format json-key, not `{name}`"
            ));
        }
        if template.is_some() && !matches!(f, Format::Template(_)) {
            return Err(format!(
                "`template` only applies to format template, not `{name}`"
            ));
        }
        Ok(f)
    }
}

/// Secret names referenced as `secrets.NAME` or `secrets["NAME"]` in a template.
pub fn template_refs(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find("secrets") {
        let after = &rest[i + "secrets".len()..];
        let name: String = if let Some(a) = after.strip_prefix('.') {
            a.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        } else if let Some(a) = after
            .strip_prefix("[\"")
            .or_else(|| after.strip_prefix("['"))
        {
            a.chars().take_while(|c| *c != '"' && *c != '\'').collect()
        } else {
            String::new()
        };
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
        rest = after;
    }
    out
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !s.starts_with('.')
}

/// Notifications by HTTP only go to the local host: the agent must not become a way to
/// send requests elsewhere.
pub fn is_loopback_http_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("c.toml"), t)
    }

    const BASE: &str =
        "[output]\ndir = \"/dev/shm/x\"\n[providers.dev]\ntype = \"local\"\npath = \"s.toml\"\n";

    #[test]
    fn certificate_local_ca_defaults() {
        let c = parse(&format!(
            "{BASE}[[secret]]\nname = \"ca-key\"\nprovider = \"dev\"\nfile = false\n\
             [[certificate]]\nname = \"api\"\nsans = [\"api.internal\", \"127.0.0.1\"]\n\
             [certificate.local_ca]\ncert_file = \"ca.pem\"\nkey_secret = \"ca-key\"\nlifetime = \"1h\"\n"
        ))
        .unwrap();
        let cert = &c.certificates[0];
        assert_eq!(cert.files.cert.as_deref(), Some("tls.crt"));
        assert_eq!(cert.files.key.as_deref(), Some("tls.key"));
        assert_eq!(cert.files.ca.as_deref(), Some("ca.crt"));
        assert_eq!(cert.files.p12, None);
        assert_eq!(cert.key_mode, 0o400);
        assert_eq!(cert.cert_mode, 0o444);
        assert_eq!(cert.renew, Renewal::Fraction(2.0 / 3.0));
        match &cert.source {
            CertSource::LocalCa {
                ca_cert,
                ca_key,
                lifetime,
                key_type,
                ..
            } => {
                assert_eq!(ca_cert, &Material::File(PathBuf::from("ca.pem")));
                assert_eq!(ca_key, &Material::Secret("ca-key".into()));
                assert_eq!(*lifetime, Duration::from_secs(3600));
                assert_eq!(*key_type, LeafKeyType::EcdsaP256);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn certificate_errors_name_the_line() {
        let cases = [
            // neither provider nor local CA
            ("[[certificate]]\nname = \"a\"\n", "exactly one"),
            // unknown password secret
            (
                "[[certificate]]\nname = \"a\"\nprovider = \"dev\"\npassword_secret = \"nope\"\n",
                "no [[secret]] named `nope`",
            ),
            // p12 output without a password
            (
                "[[certificate]]\nname = \"a\"\nprovider = \"dev\"\np12_file = \"tls.p12\"\n",
                "p12_password_secret",
            ),
            // renew_at out of range
            (
                "[[certificate]]\nname = \"a\"\nprovider = \"dev\"\nrenew_at = 1.5\n",
                "between 0 and 1",
            ),
            // path traversal in an output name
            (
                "[[certificate]]\nname = \"a\"\nprovider = \"dev\"\nkey_file = \"../k\"\n",
                "key_file",
            ),
            // unknown key
            (
                "[[certificate]]\nname = \"a\"\nprovider = \"dev\"\nrenew = \"1h\"\n",
                "renew",
            ),
        ];
        for (body, want) in cases {
            let e = parse(&format!("{BASE}{body}")).unwrap_err();
            assert!(e.to_string().contains(want), "{body}: {e}");
            assert!(e.line.map(|l| l.0).unwrap_or(0) >= 6, "{body}: {e}");
        }
        // Two certificates with default file names collide.
        let two = "[[certificate]]\nname = \"a\"\nprovider = \"dev\"\n[[certificate]]\nname = \"b\"\nprovider = \"dev\"\n";
        let e = parse(&format!("{BASE}{two}")).unwrap_err();
        assert!(e.to_string().contains("tls.crt"), "{e}");
        assert_eq!(e.line.map(|l| l.0), Some(9), "{e}");
        // The listener certificate must exist.
        let e = parse(&format!("{BASE}[agent]\ntls_certificate = \"x\"\n")).unwrap_err();
        assert!(e.to_string().contains("tls_certificate"), "{e}");
    }

    #[test]
    fn unknown_key_names_line() {
        let e = parse(&format!(
            "{BASE}[[secret]]\nname = \"a\"\nprovider = \"dev\"\nfiel = \"x\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.line.map(|l| l.0), Some(9), "{e}");
        assert!(e.to_string().contains("fiel"), "{e}");
    }

    #[test]
    fn durations_and_modes() {
        let c = parse(&format!("{BASE}[[secret]]\nname = \"a\"\nprovider = \"dev\"\nrefresh = \"1m30s\"\nmode = \"0440\"\n")).unwrap();
        assert_eq!(c.secrets[0].refresh, Duration::from_secs(90));
        assert_eq!(c.secrets[0].mode, 0o440);
        let e = parse(&format!(
            "{BASE}[[secret]]\nname = \"a\"\nprovider = \"dev\"\nrefresh = \"90\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.line.map(|l| l.0), Some(9), "{e}");
        let e = parse(&format!(
            "{BASE}[[secret]]\nname = \"a\"\nprovider = \"dev\"\nmode = \"4755\"\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("beyond 0777"), "{e}");
    }

    #[test]
    fn local_refused_in_production() {
        let e = parse(&format!("environment = \"production\"\n{BASE}")).unwrap_err();
        assert!(e.message.contains("production"), "{e}");
    }

    #[test]
    fn bad_names_and_templates() {
        let e = parse(&format!(
            "{BASE}[[secret]]\nname = \"a\"\nprovider = \"dev\"\nfile = \"../etc/passwd\"\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("file"), "{e}");
        let e = parse(&format!("{BASE}[[secret]]\nname = \"a\"\nprovider = \"dev\"\ntemplate = \"{{{{ secrets.nope }}}}\"\n")).unwrap_err();
        assert!(e.message.contains("unknown secret `nope`"), "{e}");
    }

    #[test]
    fn loopback_urls() {
        assert!(is_loopback_http_url("http://127.0.0.1:8080/reload"));
        assert!(is_loopback_http_url("http://[::1]:80/"));
        assert!(is_loopback_http_url("http://localhost/x"));
        assert!(!is_loopback_http_url("http://10.0.0.1/"));
        assert!(!is_loopback_http_url("http://127.0.0.1.evil.com/"));
        assert!(!is_loopback_http_url("https://127.0.0.1/"));
    }
}
