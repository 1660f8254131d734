//! `namespace-without-default-deny`: a namespace with workloads has no default-deny policy.

use indexmap::IndexMap;

use crate::audit::rules::pod_not_selected_by_network_policy::{network_policies, pods};
use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;

crate::declare_rule! {
    /// ## What it does
    /// Reasons over every document of every file of the run. For each namespace that has
    /// workloads (Pods or pod templates; objects without `metadata.namespace` are in
    /// `default`), looks for a default-deny NetworkPolicy: `podSelector: {}` (which selects
    /// every pod of the namespace), `Ingress` among its effective `policyTypes`, and no
    /// ingress rules. Without one, the namespace is reported at the rule's severity. The
    /// same check for `Egress` gives a second finding one severity step lower (low by
    /// default).
    ///
    /// Effective `policyTypes` follow the API's defaulting: without the field a policy
    /// affects `Ingress`, and `Egress` only when it has a non-empty `egress` section, so
    /// `egress: []` without `policyTypes` is not an egress default deny. The finding points
    /// at the run's `Namespace` object when there is one, otherwise at the namespace's
    /// first workload.
    ///
    /// ## Why it matters
    /// Allow-lists only protect the pods they select. A default deny makes isolation the
    /// starting point: a new workload, or one whose labels changed, is unreachable until a
    /// policy allows its flows, instead of silently open. Egress default deny stops a
    /// compromised pod from exfiltrating data or reaching the cloud metadata endpoint.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: allow-gateway, namespace: trading}
    /// spec:
    ///   podSelector: {matchLabels: {app: order-gateway}}
    ///   ingress: [{from: [{namespaceSelector: {matchLabels: {name: edge}}}]}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: default-deny, namespace: trading}
    /// spec:
    ///   podSelector: {}
    ///   policyTypes: [Ingress, Egress]
    /// ```
    /// then allow DNS egress and each workload's flows with further policies.
    ///
    /// ## References
    /// - Kubernetes documentation: "Network Policies", default policies
    /// - CIS Kubernetes Benchmark 5.3.2
    NamespaceWithoutDefaultDeny {
        id: "namespace-without-default-deny",
        title: "Namespace without a default-deny NetworkPolicy",
        category: NetworkIsolation,
        severity: Medium,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for NamespaceWithoutDefaultDeny {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_workspace(&self, cx: &KubeCx<'_>, out: &mut Emitter<'_>) {
        use std::collections::HashMap;
        // Everything is indexed in one pass over the run: a large run has hundreds of
        // namespaces and tens of thousands of objects, and a scan of all objects per
        // namespace would be quadratic.
        // Namespaces in order of their first workload, so findings follow the files: the
        // workload count and the first workload of each.
        let mut namespaces: IndexMap<&str, (usize, Object<'_>)> = IndexMap::new();
        for pod in pods(cx.objects) {
            let ns = pod.object.effective_namespace();
            namespaces.entry(ns).or_insert((0, pod.object)).0 += 1;
        }
        // (denies all ingress, denies all egress) per namespace, over all its policies.
        let mut denies: HashMap<&str, (bool, bool)> = HashMap::new();
        for p in network_policies(cx.objects) {
            let d = denies.entry(p.namespace()).or_default();
            d.0 |= p.denies_all_ingress();
            d.1 |= p.denies_all_egress();
        }
        // The first Namespace object of each name, as the blamed location.
        let mut ns_objects: HashMap<&str, &Object<'_>> = HashMap::new();
        for o in cx.objects.iter().filter(|o| o.kind == "Namespace") {
            ns_objects.entry(o.name).or_insert(o);
        }
        for (ns, (count, first_workload)) in namespaces {
            let (ingress_ok, egress_ok) = denies.get(ns).copied().unwrap_or_default();
            if ingress_ok && egress_ok {
                continue;
            }
            let blamed = ns_objects.get(ns).copied().unwrap_or(&first_workload);
            let workloads = if count == 1 {
                "1 workload".to_string()
            } else {
                format!("{count} workloads")
            };
            for (ok, direction, ty) in [
                (ingress_ok, "ingress", "Ingress"),
                (egress_ok, "egress", "Egress"),
            ] {
                if ok {
                    continue;
                }
                let msg = format!(
                    "namespace {ns} ({workloads}) has no default-deny {direction} NetworkPolicy (`podSelector: {{}}`, {ty} in policyTypes, no {direction} rules)"
                );
                let f = out
                    .emit(blamed.kind_loc(), msg)
                    .help(format!("add a NetworkPolicy with `podSelector: {{}}` and `policyTypes: [{ty}]` to namespace {ns}, then allow the needed flows"))
                    .resource(format!("Namespace {ns}"));
                if direction == "egress" {
                    // Egress isolation is the lesser half of the hazard (see the docs).
                    f.one_level_lower();
                }
            }
        }
    }
}
