//! `pod-not-selected-by-network-policy`: no NetworkPolicy of the run isolates a pod.
//!
//! Also home of the NetworkPolicy semantics shared by the other network-isolation rules
//! (which pods a policy selects, which directions it affects, what is a default deny).

use std::collections::HashMap;

use crate::audit::rules::{Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::kubernetes::{selector_matches, Object, PodSpec};
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Reasons over every document of every file of the run. Flags each pod and workload
    /// pod template that no NetworkPolicy of its namespace isolates, for each direction
    /// listed in the `directions` parameter (default: `Ingress` only; add `Egress` to require
    /// egress isolation per pod as well).
    ///
    /// A policy selects the pods whose labels match its `podSelector` (`matchLabels` and
    /// `matchExpressions`; `podSelector: {}` selects every pod of the namespace). It
    /// isolates them for the directions in `policyTypes`; without `policyTypes`, Kubernetes
    /// defaults to `Ingress`, plus `Egress` when the policy has a non-empty `egress`
    /// section. Objects without `metadata.namespace` are in `default`. Pods with
    /// `hostNetwork: true` are skipped, since NetworkPolicies do not apply to them.
    ///
    /// Only the run is known: a policy applied to the cluster from elsewhere is not seen, so
    /// audit the workloads and their policies together.
    ///
    /// ## Why it matters
    /// A pod that no policy selects accepts connections from every pod of every namespace:
    /// one compromised pod (a build job, a dashboard) can reach the order gateway's admin
    /// port or the risk database directly. Kubernetes networking is flat and allow-all
    /// until a policy selects a pod.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: risk-engine, namespace: trading}
    /// spec:
    ///   template:
    ///     metadata: {labels: {app: risk-engine}}
    /// ---
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: gateway-ingress, namespace: trading}
    /// spec:
    ///   podSelector: {matchLabels: {app: order-gateway}}
    /// ```
    ///
    /// ## Fix
    /// Add a default-deny policy for the namespace and allow the flows each workload needs:
    /// ```yaml
    /// apiVersion: networking.k8s.io/v1
    /// kind: NetworkPolicy
    /// metadata: {name: default-deny, namespace: trading}
    /// spec:
    ///   podSelector: {}
    ///   policyTypes: [Ingress, Egress]
    /// ```
    ///
    /// ## References
    /// - Kubernetes documentation: "Network Policies", isolated and non-isolated pods
    /// - CIS Kubernetes Benchmark 5.3.2
    PodNotSelectedByNetworkPolicy {
        id: "pod-not-selected-by-network-policy",
        title: "Pod not isolated by any NetworkPolicy",
        category: NetworkIsolation,
        severity: Medium,
        targets: [Kubernetes],
        params: [ParamMeta {
            name: "directions",
            doc: "Directions a pod must be isolated for: `Ingress`, `Egress` or both.",
            default: ParamDefault::StrList(&["Ingress"]),
        }],
    }
}

/// A NetworkPolicy with its defaulted semantics.
#[derive(Clone, Copy, Debug)]
pub struct NetPol<'a> {
    pub object: Object<'a>,
    /// `spec.podSelector`; `None` (absent) decodes as the empty selector.
    pub selector: Option<&'a Node>,
    pub ingress: bool,
    pub egress: bool,
}

impl<'a> NetPol<'a> {
    /// Reads a NetworkPolicy object (`None` for other kinds).
    pub fn from_object(object: &Object<'a>) -> Option<NetPol<'a>> {
        if object.kind != "NetworkPolicy" {
            return None;
        }
        let spec = object.spec();
        let selector = spec
            .and_then(|s| s.get("podSelector"))
            .filter(|n| !n.is_null());
        let types: Vec<&str> = spec
            .and_then(|s| s.get("policyTypes"))
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .filter_map(Node::as_str)
            .collect();
        let (ingress, egress) = if types.is_empty() {
            // The API server's defaulting: Ingress always, Egress only when there are
            // egress rules (an empty `egress: []` does not count).
            (true, !rules(spec, "egress").is_empty())
        } else {
            (types.contains(&"Ingress"), types.contains(&"Egress"))
        };
        Some(NetPol {
            object: *object,
            selector,
            ingress,
            egress,
        })
    }

    pub fn namespace(&self) -> &'a str {
        self.object.effective_namespace()
    }

    /// Does the policy select a pod with these labels?
    pub fn selects(&self, labels: &[(&str, &str)]) -> bool {
        self.selector.is_none_or(|s| selector_matches(s, labels))
    }

    /// `podSelector: {}` (or absent): every pod of the namespace.
    pub fn selects_all(&self) -> bool {
        self.selector.is_none_or(|s| {
            s.get("matchLabels")
                .is_none_or(|m| m.str_entries().next().is_none())
                && rules_of(s.get("matchExpressions")).is_empty()
        })
    }

    /// A default deny for ingress: selects all pods, affects Ingress, allows nothing.
    pub fn denies_all_ingress(&self) -> bool {
        self.selects_all() && self.ingress && rules(self.object.spec(), "ingress").is_empty()
    }

    /// A default deny for egress: selects all pods, affects Egress, allows nothing.
    pub fn denies_all_egress(&self) -> bool {
        self.selects_all() && self.egress && rules(self.object.spec(), "egress").is_empty()
    }
}

fn rules_of(n: Option<&Node>) -> &[Node] {
    n.and_then(Node::as_seq).unwrap_or(&[])
}

/// The items of `spec.ingress` / `spec.egress` (empty when absent or null).
fn rules<'a>(spec: Option<&'a Node>, field: &str) -> &'a [Node] {
    rules_of(spec.and_then(|s| s.get(field)))
}

/// Every NetworkPolicy of the run.
pub fn network_policies<'a>(objects: &[Object<'a>]) -> Vec<NetPol<'a>> {
    objects.iter().filter_map(NetPol::from_object).collect()
}

/// Every pod and pod template of the run.
pub fn pods<'a>(objects: &[Object<'a>]) -> Vec<PodSpec<'a>> {
    objects.iter().filter_map(Object::pod_spec).collect()
}

impl Rule for PodNotSelectedByNetworkPolicy {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_workspace(&self, cx: &KubeCx<'_>, out: &mut Emitter<'_>) {
        let directions = cx.params.str_list("directions");
        let want_in = directions.iter().any(|d| d.eq_ignore_ascii_case("ingress"));
        let want_out = directions.iter().any(|d| d.eq_ignore_ascii_case("egress"));
        let mut by_ns: HashMap<&str, Vec<NetPol<'_>>> = HashMap::new();
        for p in network_policies(cx.objects) {
            by_ns.entry(p.namespace()).or_default().push(p);
        }
        for pod in pods(cx.objects) {
            if pod.get("hostNetwork").and_then(Node::as_bool) == Some(true) {
                continue;
            }
            let ns = pod.object.effective_namespace();
            let labels = pod.labels();
            let selecting: Vec<&NetPol<'_>> = by_ns
                .get(ns)
                .map(|ps| ps.iter().filter(|p| p.selects(&labels)).collect())
                .unwrap_or_default();
            let open_in = want_in && !selecting.iter().any(|p| p.ingress);
            let open_out = want_out && !selecting.iter().any(|p| p.egress);
            let what = match (open_in, open_out) {
                (false, false) => continue,
                (true, true) => "ingress and egress",
                (true, false) => "ingress",
                (false, true) => "egress",
            };
            let msg = if selecting.is_empty() {
                format!(
                    "{} is selected by no NetworkPolicy in namespace {ns}: its {what} is unrestricted",
                    pod.object.resource()
                )
            } else {
                format!(
                    "{} is selected only by NetworkPolicies of namespace {ns} that do not cover {what}: its {what} is unrestricted",
                    pod.object.resource()
                )
            };
            let mut f = out
                .emit(pod.object.kind_loc(), msg)
                .help("add a default-deny NetworkPolicy (`podSelector: {}`) to the namespace and allow the flows this workload needs")
                .resource(pod.object.resource());
            for p in selecting {
                f = f.related(
                    p.object.kind_loc(),
                    format!("{} selects it without covering {what}", p.object.resource()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::source::kubernetes::objects;
    use crate::audit::yaml::{load, Limits};

    fn policy(spec: &str) -> (bool, bool, bool, bool) {
        let text = format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p}}\nspec: {spec}\n"
        );
        let docs = load(&text, 0, Limits::default()).unwrap();
        let objs = objects(0, &docs);
        let p = NetPol::from_object(&objs[0]).unwrap();
        (
            p.ingress,
            p.egress,
            p.denies_all_ingress(),
            p.denies_all_egress(),
        )
    }

    #[test]
    fn policy_types_default_like_the_api_server() {
        // No policyTypes: Ingress; Egress only with a non-empty egress section.
        assert_eq!(policy("{podSelector: {}}"), (true, false, true, false));
        assert_eq!(
            policy("{podSelector: {}, egress: []}"),
            (true, false, true, false)
        );
        assert_eq!(
            policy("{podSelector: {}, egress: [{to: [{podSelector: {}}]}]}"),
            (true, true, true, false)
        );
        assert_eq!(
            policy("{podSelector: {}, policyTypes: [Egress]}"),
            (false, true, false, true)
        );
        assert_eq!(
            policy("{podSelector: {}, policyTypes: [], ingress: [{}]}"),
            (true, false, false, false)
        );
        // A selector with labels is not a default deny, whatever it allows.
        assert_eq!(
            policy("{podSelector: {matchLabels: {app: x}}, policyTypes: [Ingress, Egress]}"),
            (true, true, false, false)
        );
        assert_eq!(
            policy("{podSelector: {matchLabels: {}, matchExpressions: []}, policyTypes: [Ingress, Egress]}"),
            (true, true, true, true)
        );
    }
}
