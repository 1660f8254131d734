//! Command-line definition (clap derive). Kept separate from `main.rs` so completions and
//! the man page can be generated from the same definition.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::audit::report::Format;

/// Secrets delivery, TLS rotation and security-policy audit for containerised platforms.
#[derive(Debug, Parser)]
#[command(name = "elastics-sec", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit compose files, Kubernetes manifests and other deployment files.
    Audit(AuditArgs),
    /// List the audit rules, or print one rule's documentation.
    Rules(RulesArgs),
    /// Fetch every configured secret once, write them to the output directory, exit.
    Fetch(FetchArgs),
    /// Fetch, then keep the files fresh: refresh, rotate, notify, serve health and metrics.
    Agent(AgentArgs),
    /// Run CMD with its secrets in place; signal or restart it when they change.
    Exec(ExecArgs),
    /// Validate a daemon config and print the plan (names, files, modes, schedules; no values).
    CheckConfig(CheckConfigArgs),
    /// Add elastics-sec (init container/sidecar, memory volume, mounts) to Kubernetes
    /// manifests or a compose file, preserving comments and key order.
    Inject(InjectArgs),
    /// Certificate tools.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    ///
    /// bash: `elastics-sec completions bash > /etc/bash_completion.d/elastics-sec`;
    /// zsh: `elastics-sec completions zsh > "${fpath[1]}/_elastics-sec"`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per subcommand with `--out-dir`.
    Man(ManArgs),
}

/// Log line format on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Daemon config file (TOML).
    #[arg(long, short, value_name = "FILE", env = "ELASTICS_SEC_CONFIG")]
    pub config: PathBuf,

    /// Keep retrying a provider that is down for up to this long (e.g. `2m`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub wait: Option<std::time::Duration>,

    /// Summary format on stdout.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,

    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Daemon config file (TOML).
    #[arg(long, short, value_name = "FILE", env = "ELASTICS_SEC_CONFIG")]
    pub config: PathBuf,

    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Daemon config file (TOML).
    #[arg(long, short, value_name = "FILE", env = "ELASTICS_SEC_CONFIG")]
    pub config: PathBuf,

    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    /// Daemon config file (TOML).
    #[arg(long, short, value_name = "FILE", env = "ELASTICS_SEC_CONFIG")]
    pub config: PathBuf,

    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(s)
}

/// Severity threshold names accepted by `--fail-on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Files and directories to audit (recursive, honouring .gitignore); `-` reads stdin.
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<String>,

    /// Policy file or built-in policy name (default); repeatable, later wins.
    #[arg(long, value_name = "FILE")]
    pub policy: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit 1 when a finding at or above this severity remains.
    #[arg(long, value_enum, default_value_t = FailOn::High, value_name = "SEVERITY")]
    pub fail_on: FailOn,

    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Leave out paths matching GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Merge these compose files, in order, into one project (like `docker compose -f`).
    #[arg(long, value_name = "FILE")]
    pub compose_file: Vec<PathBuf>,

    /// Run only these rules (repeatable).
    #[arg(long, value_name = "RULE-ID")]
    pub select: Vec<String>,

    /// Largest file to read, in bytes (suffixes K, M, G, KiB, MiB, GiB).
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = parse_size)]
    pub max_file_size: u64,

    /// Deepest nesting of YAML collections accepted.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub max_depth: usize,

    /// Report `# elastics-sec: ignore[...]` comments that suppressed nothing.
    #[arg(long)]
    pub report_unused_suppressions: bool,

    /// Colour in text output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    /// Load and classify files but run no rules (for benchmarking the rule overhead).
    #[arg(long, hide = true)]
    pub parse_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Print the documentation of this rule.
    #[arg(value_name = "RULE-ID")]
    pub id: Option<String>,

    #[arg(long, value_enum, default_value_t = RulesFormat::Text)]
    pub format: RulesFormat,
}

/// Parses `16MiB`, `512K`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size `{s}`"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("invalid size unit in `{s}`")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size `{s}` is too large"))
}

/// Which elastics-sec containers `inject` adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InjectMode {
    /// `fetch` once before the app starts.
    Init,
    /// `agent` next to the app, keeping the files fresh.
    Sidecar,
    /// Both: files present at start and kept fresh.
    Both,
}

#[derive(Debug, clap::Args)]
pub struct InjectArgs {
    /// Kubernetes manifests or a compose file; `-` reads stdin.
    #[arg(value_name = "PATH", default_value = "-")]
    pub paths: Vec<String>,

    /// Daemon config (TOML): validated, embedded in a ConfigMap (Kubernetes) or
    /// bind-mounted read-only (compose; required there).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A secret the workload uses, checked against the config (repeatable).
    #[arg(long, value_name = "NAME[=FILE]")]
    pub secret: Vec<String>,

    /// Which elastics-sec containers (or compose services) to add.
    #[arg(long, value_enum, default_value_t = InjectMode::Both)]
    pub mode: InjectMode,

    /// elastics-sec image reference (pin it by digest).
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,

    /// Name of the ConfigMap holding the config (Kubernetes).
    #[arg(long, value_name = "NAME", default_value = "elastics-sec-config")]
    pub config_map: String,

    /// Compose services to inject (repeatable; default: every service with image/build).
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,

    /// Rewrite the input files instead of printing the result.
    #[arg(long, conflicts_with = "output")]
    pub in_place: bool,

    /// Write the result to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Show what certificate files hold and check them like a bundle the agent would deliver.
    ///
    /// Accepts PEM (certificates with or without a key), DER and PKCS#12. Prints subject,
    /// names, issuer, serial, validity and time left, key type and size, key match, chain
    /// check and SHA-256 fingerprint; never key material. Exit codes: 0 all good, 1 a problem
    /// found (expired, not yet valid, key mismatch, chain or trust failure, weak key, missing
    /// name), 2 an input could not be read or parsed.
    Inspect(CertInspectArgs),
}

#[derive(Debug, clap::Args)]
pub struct CertInspectArgs {
    /// Certificate files: PEM, DER or PKCS#12.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// PKCS#12 password (prefer --password-file; without either the empty password is tried).
    #[arg(long, conflicts_with = "password_file")]
    pub password: Option<String>,
    /// File holding the PKCS#12 password (trailing newline ignored).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Private key (PEM) of a certificate-only input, to check that they match.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Trust roots (PEM) the chain must build to; without, it must be self-consistent.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// A DNS name or IP address the certificate must cover (repeatable).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `elastics-sec.1` and `elastics-sec-SUBCOMMAND.1` pages into this directory.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}
