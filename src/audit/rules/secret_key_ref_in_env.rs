//! `secret-key-ref-in-env`: a Secret is passed to a container as an environment variable.

use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags container `env` items whose value comes from `valueFrom.secretKeyRef` (init,
    /// sidecar and ephemeral containers included).
    ///
    /// ## Why it matters
    /// Better than a literal, but the value still ends up in the process environment:
    /// inherited by every child process, readable in `/proc/<pid>/environ`, dumped by
    /// crash reporters and debug endpoints, and fixed for the life of the container, so a
    /// rotated secret needs a restart. A mounted file can be read only by the process that
    /// needs it and is updated in place.
    ///
    /// ## Example
    /// ```yaml
    ///       containers:
    ///       - name: settlement
    ///         image: ghcr.io/acme-trading/settlement:1.9.0
    ///         env:
    ///         - name: LEDGER_DB_PASSWORD
    ///           valueFrom:
    ///             secretKeyRef: {name: ledger-db, key: password}
    /// ```
    ///
    /// ## Fix
    /// Mount the Secret (or an elastics-sec memory-backed `emptyDir`) read-only and give the
    /// application the file's path:
    /// ```yaml
    ///         env:
    ///         - name: LEDGER_DB_PASSWORD_FILE
    ///           value: /run/secrets/ledger-db/password
    ///         volumeMounts:
    ///         - {name: ledger-db, mountPath: /run/secrets/ledger-db, readOnly: true}
    ///       volumes:
    ///       - name: ledger-db
    ///         secret: {secretName: ledger-db, defaultMode: 0400}
    /// ```
    ///
    /// ## References
    /// - Kubernetes documentation: "Good practices for Kubernetes Secrets"
    /// - CIS Kubernetes Benchmark 5.4.1 (prefer secrets as files over environment
    ///   variables)
    SecretKeyRefInEnv {
        id: "secret-key-ref-in-env",
        title: "Secret passed through an environment variable",
        category: SecretsHygiene,
        severity: Low,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for SecretKeyRefInEnv {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        for c in pod.containers() {
            for item in c.get("env").and_then(Node::as_seq).unwrap_or(&[]) {
                let Some(entry) = item.get("valueFrom").and_then(|v| v.entry("secretKeyRef"))
                else {
                    continue;
                };
                let var = item.get("name").and_then(Node::as_str).unwrap_or("?");
                let secret = entry
                    .value
                    .get("name")
                    .and_then(Node::as_str)
                    .unwrap_or("?");
                let key = entry.value.get("key").and_then(Node::as_str).unwrap_or("?");
                out.emit(
                    entry.key.loc,
                    format!(
                        "{} in {} reads Secret {secret} (key {key}) into the environment variable {var}",
                        c.describe(),
                        pod.object.resource()
                    ),
                )
                .help("mount the Secret as a read-only volume and pass the file's path instead")
                .resource(pod.object.resource());
            }
        }
    }
}
