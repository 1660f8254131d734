//! `network-policy-selects-nothing`: a NetworkPolicy matches no pod of the run.

use std::collections::HashMap;

use crate::audit::rules::pod_not_selected_by_network_policy::{network_policies, pods};
use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};

crate::declare_rule! {
    /// ## What it does
    /// Reasons over every document of every file of the run. Flags each NetworkPolicy whose
    /// `podSelector` matches no Pod or workload pod template of its namespace (objects
    /// without `metadata.namespace` are in `default`). Namespaces without any workload in
    /// the run are skipped: their pods are deployed from elsewhere, so nothing can be
    /// concluded. `podSelector: {}` selects every pod and is never reported.
    ///
    /// ## Why it matters
    /// A policy that selects nothing protects nothing, and usually means a label was
    /// renamed on one side (`app: order-gw` in the policy, `app: order-gateway` on the
    /// pods). The reviewer sees an isolation policy; the cluster runs the pods open.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: gateway-ingress, namespace: trading}
    /// spec:
    ///   podSelector: {matchLabels: {app: order-gw}}
    /// ---
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: order-gateway, namespace: trading}
    /// spec:
    ///   template:
    ///     metadata: {labels: {app: order-gateway}}
    /// ```
    ///
    /// ## Fix
    /// Make the selector match the pod template's labels (or delete the stale policy).
    ///
    /// ## References
    /// - Kubernetes documentation: "Network Policies", the NetworkPolicy resource
    /// - Kubernetes documentation: "Labels and Selectors"
    NetworkPolicySelectsNothing {
        id: "network-policy-selects-nothing",
        title: "NetworkPolicy selects no pod",
        category: NetworkIsolation,
        severity: Info,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for NetworkPolicySelectsNothing {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_workspace(&self, cx: &KubeCx<'_>, out: &mut Emitter<'_>) {
        // Pod labels by namespace, read once: large runs have thousands of both.
        let mut labels_by_ns: HashMap<&str, Vec<Vec<(&str, &str)>>> = HashMap::new();
        for pod in pods(cx.objects) {
            labels_by_ns
                .entry(pod.object.effective_namespace())
                .or_default()
                .push(pod.labels());
        }
        for p in network_policies(cx.objects) {
            let ns = p.namespace();
            let Some(in_ns) = labels_by_ns.get(ns) else {
                continue;
            };
            if in_ns.iter().any(|labels| p.selects(labels)) {
                continue;
            }
            // Blame the `podSelector:` key itself: its value may start on the next line.
            let loc = p
                .object
                .spec()
                .and_then(|s| s.entry("podSelector"))
                .map_or(p.object.kind_loc(), |e| e.key.loc);
            out.emit(
                loc,
                format!(
                    "{} selects no pod: no workload of namespace {ns} in this run has matching labels",
                    p.object.resource()
                ),
            )
            .help("make the podSelector match the labels of the pod templates it is meant to isolate, or remove the policy")
            .resource(p.object.resource());
        }
    }
}
