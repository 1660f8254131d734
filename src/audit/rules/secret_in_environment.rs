//! `secret-in-environment`: a literal secret is written into an environment variable.

use crate::audit::detect::{detect, DetectorConfig};
use crate::audit::rules::{
    ComposeCx, Emitter, KubeCx, ParamDefault, ParamMeta, Params, Rule, RuleMeta,
};
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

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
    /// In Kubernetes, the same detector reads every container's `env` items with a literal
    /// `value` (init, sidecar and ephemeral containers included); `valueFrom` references and
    /// `$(VAR)` expansions are never flagged (see `secret-key-ref-in-env` for
    /// `secretKeyRef`).
    ///
    /// In Azure Container Instances groups, `environmentVariables` items set with `value`
    /// are read the same way; items set with `secureValue` are not flagged.
    ///
    /// In Dockerfiles, `ENV K=V` (several per line, or the legacy `ENV K V`) and `ARG K=V`
    /// defaults are read the same way (`ONBUILD` ones too): both are stored in the image
    /// configuration and history, visible to anyone who can pull the image.
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
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: risk-engine, namespace: trading}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: risk-engine
    ///         image: ghcr.io/acme-trading/risk-engine:3.1.0
    ///         env:
    ///         - name: PRICING_API_KEY
    ///           value: 9f86d081884c7d659a2feaa0c55ad015
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
    /// In Kubernetes, mount the secret as a file (a `secret` volume, or an elastics-sec
    /// sidecar writing into a memory-backed `emptyDir`) and point the application at it:
    /// ```yaml
    ///         env:
    ///         - name: PRICING_API_KEY_FILE
    ///           value: /run/secrets/pricing/api-key
    ///         volumeMounts: [{name: pricing, mountPath: /run/secrets/pricing, readOnly: true}]
    /// ```
    ///
    /// ## References
    /// - Compose Specification: secrets
    /// - CWE-798: Use of Hard-coded Credentials
    /// - Kubernetes documentation: "Good practices for Kubernetes Secrets"
    SecretInEnvironment {
        id: "secret-in-environment",
        title: "Literal secret in an environment variable",
        category: SecretsHygiene,
        severity: High,
        targets: [Compose, Kubernetes, Aci, Dockerfile],
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

/// The detector decides on the value as written: its by-value checks (AWS keys, PEM keys,
/// tokens, URLs with passwords) fire even next to a `${VAR}`, while by-name and entropy
/// checks never fire on references. A value that is exactly one reference with a literal
/// default (`${DB_PASSWORD:-hunter2}`) is judged by its default: that default is what runs
/// whenever the variable is unset.
pub fn judge(
    key: &str,
    raw: &str,
    cfg: &DetectorConfig,
) -> Option<crate::audit::detect::SecretKind> {
    detect(key, raw, cfg).or_else(|| literal_default(raw).and_then(|d| detect(key, d, cfg)))
}

/// `${NAME:-default}` / `${NAME-default}` → `default`, when the default holds no `$`.
fn literal_default(raw: &str) -> Option<&str> {
    let inner = raw.trim().strip_prefix("${")?.strip_suffix('}')?;
    let name_end = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let rest = &inner[name_end..];
    let default = rest.strip_prefix(":-").or_else(|| rest.strip_prefix('-'))?;
    (!default.is_empty() && !default.contains('$') && !default.contains('}')).then_some(default)
}

impl Rule for SecretInEnvironment {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn dockerfile(
        &self,
        cx: &crate::audit::rules::DockerfileCx<'_>,
        df: &crate::audit::source::dockerfile::Dockerfile<'_>,
        out: &mut Emitter<'_>,
    ) {
        use crate::audit::source::dockerfile::Keyword;
        let cfg = detector_config(&cx.params);
        for (idx, inst) in df.instructions.iter().enumerate() {
            let inst = inst.effective();
            let what = match inst.keyword {
                Keyword::Env => "ENV sets",
                Keyword::Arg => "ARG defaults",
                _ => continue,
            };
            for p in &inst.pairs {
                let Some(v) = &p.value else { continue };
                if let Some(kind) = judge(&p.key.text, &v.text, &cfg) {
                    out.emit(
                        v.loc,
                        format!(
                            "{what} {} to a literal secret ({})",
                            p.key.text,
                            kind.describe()
                        ),
                    )
                    .help("pass build secrets with `RUN --mount=type=secret` and runtime secrets as files, never as ENV or ARG values")
                    .resource(df.resource_of(idx))
                    .redact();
                }
            }
        }
    }

    fn aci_group(
        &self,
        cx: &crate::audit::rules::AciCx<'_>,
        group: &crate::audit::source::aci::ContainerGroup<'_>,
        out: &mut Emitter<'_>,
    ) {
        let cfg = detector_config(&cx.params);
        for c in group.containers() {
            for item in c.env() {
                // `secureValue` is the ACI way to pass a secret; only `value` is read back
                // in clear text by the API, the portal and `az container show`.
                let (Some(key), Some(value)) =
                    (item.get("name").and_then(Node::as_str), item.get("value"))
                else {
                    continue;
                };
                let Some(raw) = value.as_str() else {
                    continue;
                };
                if let Some(kind) = judge(key, raw, &cfg) {
                    out.emit(
                        value.loc,
                        format!(
                            "{} of {} sets {key} to a literal secret ({}) with `value`",
                            c.describe(),
                            group.describe(),
                            kind.describe()
                        ),
                    )
                    .help("use `secureValue`, or let an elastics-sec sidecar fetch it from Key Vault with the group's managed identity")
                    .resource(group.resource())
                    .redact();
                }
            }
        }
    }

    fn compose_project(&self, cx: &ComposeCx<'_>, out: &mut Emitter<'_>) {
        let cfg = detector_config(&cx.params);
        for svc in cx.project.services() {
            for e in svc.environment() {
                let (Some(key), Some(raw)) = (e.key.as_str(), e.value.raw_text()) else {
                    continue;
                };
                if e.value.is_null() {
                    continue;
                }
                if let Some(kind) = judge(key, raw, &cfg) {
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

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let cfg = detector_config(&cx.params);
        for c in pod.containers() {
            for item in c.get("env").and_then(Node::as_seq).unwrap_or(&[]) {
                let (Some(key), Some(value)) =
                    (item.get("name").and_then(Node::as_str), item.get("value"))
                else {
                    continue;
                };
                let Some(raw) = value.raw_text() else {
                    continue;
                };
                if value.is_null() {
                    continue;
                }
                if let Some(kind) = judge(key, raw, &cfg) {
                    out.emit(
                        value.loc,
                        format!(
                            "{} in {} sets {key} to a literal secret ({})",
                            c.describe(),
                            pod.object.resource(),
                            kind.describe()
                        ),
                    )
                    .help("mount the secret as a file (a secret volume or an elastics-sec memory-backed emptyDir) instead of a literal value")
                    .resource(pod.object.resource())
                    .redact();
                }
            }
        }
    }
}
