//! `rbac-wildcard`: a Role or ClusterRole grants `*`.

use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags every `*` in the `verbs`, `resources` or `apiGroups` of a Role's or
    /// ClusterRole's `rules` (including subresource wildcards such as `pods/*`).
    ///
    /// ## Why it matters
    /// A wildcard grants everything that exists today and everything added later: every
    /// verb includes `escalate`, `bind` and `impersonate`; every resource includes Secrets,
    /// `pods/exec` and the RBAC objects themselves; every API group includes each CRD an
    /// operator installs next year. Wildcard roles are cluster-admin in all but name.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: rbac.authorization.k8s.io/v1
    /// kind: ClusterRole
    /// metadata: {name: deployer}
    /// rules:
    /// - apiGroups: ["*"]
    ///   resources: ["*"]
    ///   verbs: ["*"]
    /// ```
    ///
    /// ## Fix
    /// List exactly what the subject needs:
    /// ```yaml
    /// rules:
    /// - apiGroups: [apps]
    ///   resources: [deployments]
    ///   verbs: [get, list, watch, patch]
    /// ```
    ///
    /// ## References
    /// - Kubernetes documentation: "RBAC Good Practices", avoid wildcards
    /// - CIS Kubernetes Benchmark 5.1.3
    RbacWildcard {
        id: "rbac-wildcard",
        title: "RBAC rule grants a wildcard",
        category: LeastPrivilege,
        severity: High,
        targets: [Kubernetes],
        params: [],
    }
}

/// The `rules` of a Role or ClusterRole (empty for other kinds).
pub fn policy_rules<'a>(obj: &Object<'a>) -> &'a [Node] {
    if !matches!(obj.kind, "Role" | "ClusterRole") {
        return &[];
    }
    obj.node.get("rules").and_then(Node::as_seq).unwrap_or(&[])
}

/// The scalar items of a rule's list field (`verbs`, `resources`, `apiGroups`), as
/// `(text, node)`.
pub fn items<'a>(rule: &'a Node, field: &str) -> Vec<(&'a str, &'a Node)> {
    rule.get(field)
        .and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .filter_map(|n| n.as_str().map(|s| (s, n)))
        .collect()
}

impl Rule for RbacWildcard {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_object(&self, _cx: &KubeCx<'_>, obj: &Object<'_>, out: &mut Emitter<'_>) {
        for rule in policy_rules(obj) {
            for field in ["apiGroups", "resources", "verbs"] {
                for (text, node) in items(rule, field) {
                    if !text.contains('*') {
                        continue;
                    }
                    out.emit(
                        node.loc,
                        format!("{} grants `{text}` in {field}", obj.resource()),
                    )
                    .help("list the exact API groups, resources and verbs the subject needs")
                    .resource(obj.resource());
                }
            }
        }
    }
}
