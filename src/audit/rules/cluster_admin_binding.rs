//! `cluster-admin-binding`: a binding grants the `cluster-admin` role.

use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags every RoleBinding and ClusterRoleBinding whose `roleRef` names
    /// `cluster-admin`. A RoleBinding limits it to one namespace, but within it the
    /// subjects still get full control, Secrets and RBAC included, so both are reported.
    ///
    /// ## Why it matters
    /// `cluster-admin` is the superuser role: it can read every Secret, exec into every
    /// pod, and create privileged pods that own the nodes. Bound to a workload's service
    /// account, a single compromised pod owns the cluster; bound to a group, every member
    /// does.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: rbac.authorization.k8s.io/v1
    /// kind: ClusterRoleBinding
    /// metadata: {name: ci-deployer-admin}
    /// roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
    /// subjects:
    /// - {kind: ServiceAccount, name: ci-deployer, namespace: ci}
    /// ```
    ///
    /// ## Fix
    /// Bind a role that lists what the subject actually does, in the namespaces where it
    /// does it (a RoleBinding of the built-in `edit` or `view` ClusterRole, or a custom
    /// Role).
    ///
    /// ## References
    /// - Kubernetes documentation: "Using RBAC Authorization", user-facing roles
    /// - CIS Kubernetes Benchmark 5.1.1
    ClusterAdminBinding {
        id: "cluster-admin-binding",
        title: "Subjects bound to cluster-admin",
        category: LeastPrivilege,
        severity: Critical,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for ClusterAdminBinding {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_object(&self, _cx: &KubeCx<'_>, obj: &Object<'_>, out: &mut Emitter<'_>) {
        if !matches!(obj.kind, "RoleBinding" | "ClusterRoleBinding") {
            return;
        }
        let Some(name) = obj.node.path(&["roleRef", "name"]) else {
            return;
        };
        if name.as_str() != Some("cluster-admin") {
            return;
        }
        let subjects: Vec<String> = obj
            .node
            .get("subjects")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .map(|s| {
                let kind = s.get("kind").and_then(Node::as_str).unwrap_or("subject");
                let n = s.get("name").and_then(Node::as_str).unwrap_or("?");
                match s.get("namespace").and_then(Node::as_str) {
                    Some(ns) => format!("{kind} {ns}/{n}"),
                    None => format!("{kind} {n}"),
                }
            })
            .collect();
        let whom = if subjects.is_empty() {
            "its subjects".to_string()
        } else {
            subjects.join(", ")
        };
        let scope = if obj.kind == "RoleBinding" {
            format!("in namespace {}", obj.effective_namespace())
        } else {
            "cluster-wide".to_string()
        };
        out.emit(
            name.loc,
            format!("{} grants cluster-admin {scope} to {whom}", obj.resource()),
        )
        .help("bind a role that lists only the verbs and resources the subjects need")
        .resource(obj.resource());
    }
}
