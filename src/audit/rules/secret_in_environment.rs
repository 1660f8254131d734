//! `secret-in-environment`: a literal secret is written into an environment variable.

use crate::audit::detect::{detect, is_reference, DetectorConfig};
use crate::audit::rules::{ComposeCx, Emitter, ParamDefault, ParamMeta, Params, Rule, RuleMeta};

crate::declare_rule! {
    /// ## What it does
    /// Flags environment variables (`environment:` in list or map form, including values
    /// set by override files and `extends`) whose value is a literal secret:
    /// - by **name**: the key contains PASSWORD, PASSWD, SECRET, TOKEN, API_KEY,
    ///   ACCESS_KEY, PRIVATE_KEY, CLIENT_SECRET, CONNECTION_STRING, CREDENTIAL... and the
    ///   value is a literal;
    /// - by **value**, whatever the name: AWS access key ids and secret keys, Azure storage
    ///   connection strings and SAS tokens, PEM private keys, GitHub and Slack tokens,
    ///   JWTs, URLs with an embedded password, and long high-entropy strings.
    ///
    /// `${VAR}` references and `*_FILE` / `*_PATH` indirections are not secrets and are
    /// never flagged. Findings never print the value.
    ///
    /// ## Why it matters
    /// Environment variables leak: `docker inspect`, `/proc/<pid>/environ`, crash
    /// reporters, child processes and debug endpoints all expose them, and a value in the
    /// compose file is in version control forever.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   db:
    ///     environment:
    ///       POSTGRES_PASSWORD: hunter2
    /// ```
    ///
    /// ## Fix
    /// Use Compose `secrets:` (files under `/run/secrets`) with the image's `*_FILE`
    /// variable, or let elastics-sec write the secret into a tmpfs mount:
    /// ```yaml
    ///     environment:
    ///       POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    ///     secrets: [db_password]
    /// ```
    ///
    /// ## References
    /// - Compose Specification: secrets
    /// - CWE-798: Use of Hard-coded Credentials
    SecretInEnvironment {
        id: "secret-in-environment",
        title: "Literal secret in an environment variable",
        category: SecretsHygiene,
        severity: High,
        targets: [Compose],
        params: [
            ParamMeta {
                name: "extra_names",
                doc: "Additional key-name fragments (upper case) that mark a variable as secret.",
                default: ParamDefault::StrList(&[]),
            },
            ParamMeta {
                name: "allow_names",
                doc: "Variable names never reported by name (their values are still checked).",
                default: ParamDefault::StrList(&[]),
            },
            ParamMeta {
                name: "entropy_min_length",
                doc: "Minimum length of a value for the high-entropy check.",
                default: ParamDefault::Int(32),
            },
        ],
    }
}

/// Builds the detector configuration from the rule's parameters (shared with other
/// environment-reading rules).
pub fn detector_config(params: &Params<'_>) -> DetectorConfig {
    let defaults = DetectorConfig::default();
    let entropy_min_len = params
        .int("entropy_min_length")
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(defaults.entropy_min_len);
    DetectorConfig {
        extra_name_patterns: params.str_list("extra_names").to_vec(),
        allow_names: params.str_list("allow_names").to_vec(),
        entropy_min_len,
        ..defaults
    }
}

impl Rule for SecretInEnvironment {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_project(&self, cx: &ComposeCx<'_>, out: &mut Emitter<'_>) {
        let cfg = detector_config(&cx.params);
        for svc in cx.project.services() {
            for e in svc.environment() {
                let (Some(key), Some(raw)) = (e.key.as_str(), e.value.raw_text()) else {
                    continue;
                };
                if e.value.is_null() || is_reference(raw) {
                    continue;
                }
                if let Some(kind) = detect(key, raw, &cfg) {
                    out.emit(
                        e.value.loc,
                        format!(
                            "service `{}` sets {key} to a literal secret ({})",
                            svc.name,
                            kind.describe()
                        ),
                    )
                    .help("use Compose `secrets:` with a *_FILE variable, or an elastics-sec tmpfs mount")
                    .resource(svc.resource())
                    .redact();
                }
            }
        }
    }
}
