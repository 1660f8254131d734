//! `rbac-escalation-verbs`: a Role or ClusterRole grants `bind`, `escalate` or `impersonate`.

use crate::audit::rules::rbac_wildcard::{items, policy_rules};
use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;

crate::declare_rule! {
    /// ## What it does
    /// Flags the verbs `bind`, `escalate` and `impersonate` in the `rules` of a Role or
    /// ClusterRole. (A `*` verb includes them too and is reported by `rbac-wildcard`.)
    ///
    /// ## Why it matters
    /// RBAC normally stops a subject from granting permissions it does not hold. These
    /// verbs are the exceptions: `escalate` lets it edit roles beyond its own rights,
    /// `bind` lets it bind any role (including `cluster-admin`) to itself, and
    /// `impersonate` lets it act as any user, group or service account. Each is a direct
    /// path to cluster-admin.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: rbac.authorization.k8s.io/v1
    /// kind: ClusterRole
    /// metadata: {name: ci-deployer}
    /// rules:
    /// - apiGroups: [rbac.authorization.k8s.io]
    ///   resources: [clusterroles, clusterrolebindings]
    ///   verbs: [get, create, bind, escalate]
    /// ```
    ///
    /// ## Fix
    /// Remove the verbs; have an administrator create the bindings a pipeline needs, or
    /// restrict `bind` with `resourceNames` to the few roles it may hand out.
    ///
    /// ## References
    /// - Kubernetes documentation: "Using RBAC Authorization", privilege escalation
    ///   prevention and bootstrapping
    /// - Kubernetes documentation: "RBAC Good Practices", escalate and bind verbs,
    ///   impersonate verb
    RbacEscalationVerbs {
        id: "rbac-escalation-verbs",
        title: "RBAC rule grants a privilege-escalation verb",
        category: LeastPrivilege,
        severity: High,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for RbacEscalationVerbs {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_object(&self, _cx: &KubeCx<'_>, obj: &Object<'_>, out: &mut Emitter<'_>) {
        for rule in policy_rules(obj) {
            for (verb, node) in items(rule, "verbs") {
                let what = match verb.to_ascii_lowercase().as_str() {
                    "bind" => "bind any role to any subject",
                    "escalate" => "grant permissions they do not hold",
                    "impersonate" => "act as other users, groups or service accounts",
                    _ => continue,
                };
                out.emit(
                    node.loc,
                    format!(
                        "{} grants the verb `{verb}`: its subjects can {what}",
                        obj.resource()
                    ),
                )
                .help("remove the verb, or restrict it with `resourceNames` to the exact objects needed")
                .resource(obj.resource());
            }
        }
    }
}
