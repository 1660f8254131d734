//! `default-service-account`: the pod runs as its namespace's `default` service account.

use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags pods (and the pod templates of workloads) that run as the `default` service
    /// account: `serviceAccountName` (or the deprecated `serviceAccount`) unset or set to
    /// `default`.
    ///
    /// ## Why it matters
    /// Every pod of a namespace that does not choose an account shares `default`. Any role
    /// bound to it (often added "just to make one thing work") is granted to all of them,
    /// and audit logs cannot tell which workload made a call. A dedicated account per
    /// workload keeps permissions and accountability per workload.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: order-gateway, namespace: trading}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: order-gateway
    ///         image: ghcr.io/acme-trading/order-gateway:2.4.1
    /// ```
    ///
    /// ## Fix
    /// Create one ServiceAccount per workload and reference it:
    /// ```yaml
    /// apiVersion: v1
    /// kind: ServiceAccount
    /// metadata: {name: order-gateway, namespace: trading}
    /// automountServiceAccountToken: false
    /// ---
    /// # in the Deployment's pod template
    ///     spec:
    ///       serviceAccountName: order-gateway
    /// ```
    ///
    /// ## References
    /// - Kubernetes documentation: "Service Accounts", "RBAC Good Practices"
    /// - CIS Kubernetes Benchmark 5.1.5
    DefaultServiceAccount {
        id: "default-service-account",
        title: "Pod uses the default service account",
        category: LeastPrivilege,
        severity: Low,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for DefaultServiceAccount {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        if pod.service_account() != "default" {
            return;
        }
        // Blame an explicit `default`; when the field is missing, the pod spec that lacks it.
        let explicit = pod
            .get("serviceAccountName")
            .or_else(|| pod.get("serviceAccount"))
            .filter(|n| n.as_str().is_some());
        let msg = match explicit {
            Some(_) => format!(
                "{} runs as the `default` service account",
                pod.object.resource()
            ),
            None => format!(
                "{} sets no serviceAccountName, so it runs as the `default` service account",
                pod.object.resource()
            ),
        };
        out.emit(explicit.map_or(pod.loc(), |n: &Node| n.loc), msg)
            .help("create a ServiceAccount for this workload and set `serviceAccountName`")
            .resource(pod.object.resource());
    }
}
