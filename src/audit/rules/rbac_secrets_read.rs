//! `rbac-secrets-read`: a Role or ClusterRole can read Secrets.

use crate::audit::rules::rbac_wildcard::{items, policy_rules};
use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;

crate::declare_rule! {
    /// ## What it does
    /// Flags `secrets` in the `resources` of a Role or ClusterRole rule whose `verbs`
    /// include `get`, `list`, `watch` or `*`, in the core API group (`""`, `*`, or no
    /// `apiGroups` at all). Wildcard resources are reported by `rbac-wildcard`.
    ///
    /// ## Why it matters
    /// Reading Secrets reads every credential in their scope: database passwords, exchange
    /// API keys, TLS keys and other service accounts' tokens. `list` and `watch` return
    /// the values, not only the names, so "just list" is as bad as `get`. In a ClusterRole
    /// bound cluster-wide this is every secret of the cluster.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: rbac.authorization.k8s.io/v1
    /// kind: Role
    /// metadata: {name: risk-engine, namespace: trading}
    /// rules:
    /// - apiGroups: [""]
    ///   resources: [configmaps, secrets]
    ///   verbs: [get, list, watch]
    /// ```
    ///
    /// ## Fix
    /// Mount the one secret the workload needs as a volume (or let elastics-sec fetch it),
    /// and drop the RBAC grant. If the API must be used, restrict it to named secrets:
    /// ```yaml
    /// - apiGroups: [""]
    ///   resources: [secrets]
    ///   resourceNames: [risk-engine-db]
    ///   verbs: [get]
    /// ```
    ///
    /// ## References
    /// - Kubernetes documentation: "RBAC Good Practices", listing secrets
    /// - CIS Kubernetes Benchmark 5.1.2
    RbacSecretsRead {
        id: "rbac-secrets-read",
        title: "RBAC rule can read Secrets",
        category: SecretsHygiene,
        severity: Medium,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for RbacSecretsRead {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_object(&self, _cx: &KubeCx<'_>, obj: &Object<'_>, out: &mut Emitter<'_>) {
        for rule in policy_rules(obj) {
            // A rule without apiGroups is rejected by the API server's validation; treat it
            // as the core group so the intent is still reported.
            let core = rule.get("apiGroups").is_none()
                || items(rule, "apiGroups")
                    .iter()
                    .any(|(g, _)| g.is_empty() || *g == "*");
            if !core {
                continue;
            }
            let verbs: Vec<&str> = items(rule, "verbs")
                .into_iter()
                .map(|(v, _)| v)
                .filter(|v| {
                    matches!(
                        v.to_ascii_lowercase().as_str(),
                        "get" | "list" | "watch" | "*"
                    )
                })
                .collect();
            if verbs.is_empty() {
                continue;
            }
            let scope = if rule.get("resourceNames").is_some() {
                "named Secrets"
            } else if obj.kind == "ClusterRole" {
                "every Secret of the namespaces it is bound in (all of them with a ClusterRoleBinding)"
            } else {
                "every Secret of its namespace"
            };
            for (_, node) in items(rule, "resources")
                .into_iter()
                .filter(|(r, _)| r.eq_ignore_ascii_case("secrets"))
            {
                out.emit(
                    node.loc,
                    format!(
                        "{} grants `{}` on {scope}",
                        obj.resource(),
                        verbs.join(", ")
                    ),
                )
                .help("mount the secret the workload needs as a volume instead, or restrict the rule with `resourceNames`")
                .resource(obj.resource());
            }
        }
    }
}
