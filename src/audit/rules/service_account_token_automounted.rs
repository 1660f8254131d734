//! `service-account-token-automounted`: the pod gets a Kubernetes API token it may not need.

use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags pods (and the pod templates of workloads) that do not opt out of the
    /// automatically mounted service-account token. The pod's own
    /// `automountServiceAccountToken` wins, as in Kubernetes: `false` satisfies the rule,
    /// `true` is flagged. When the pod does not say, a ServiceAccount of the same name and
    /// namespace elsewhere in the audited files with `automountServiceAccountToken: false`
    /// satisfies it; otherwise the pod is flagged.
    ///
    /// ## Why it matters
    /// The token at `/var/run/secrets/kubernetes.io/serviceaccount/token` authenticates to
    /// the API server as the pod's service account. Most application pods (order gateways,
    /// pricing engines) never talk to the API; for them the token is only something an
    /// attacker with code execution can use to enumerate or change the cluster.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: pricing-engine, namespace: trading}
    /// spec:
    ///   template:
    ///     spec:
    ///       serviceAccountName: pricing-engine
    ///       containers:
    ///       - name: pricing-engine
    ///         image: ghcr.io/acme-trading/pricing-engine:4.2.0
    /// ```
    ///
    /// ## Fix
    /// Opt out on the pod, or on its ServiceAccount:
    /// ```yaml
    ///     spec:
    ///       automountServiceAccountToken: false
    /// ---
    /// apiVersion: v1
    /// kind: ServiceAccount
    /// metadata: {name: pricing-engine, namespace: trading}
    /// automountServiceAccountToken: false
    /// ```
    /// Pods that do call the API can mount a short-lived, audience-bound token through a
    /// `projected` volume instead.
    ///
    /// ## References
    /// - Kubernetes documentation: "Configure Service Accounts for Pods", opt out of API
    ///   credential automounting
    /// - CIS Kubernetes Benchmark 5.1.6
    ServiceAccountTokenAutomounted {
        id: "service-account-token-automounted",
        title: "Service-account token mounted automatically",
        category: LeastPrivilege,
        severity: Low,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for ServiceAccountTokenAutomounted {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let own = pod
            .get("automountServiceAccountToken")
            .filter(|n| !n.is_null());
        let sa = pod.service_account();
        let ns = pod.object.effective_namespace();
        let msg = match own {
            Some(n) if n.as_bool() == Some(false) => return,
            Some(_) => format!(
                "{} sets automountServiceAccountToken to true: every container gets an API token for service account `{sa}`",
                pod.object.resource()
            ),
            None => {
                let sa_opts_out = cx.service_accounts.get(&(ns, sa)).is_some_and(|sas| {
                    sas.iter().any(|o| {
                        o.node
                        .get("automountServiceAccountToken")
                        .and_then(Node::as_bool)
                        == Some(false)
                    })
                });
                if sa_opts_out {
                    return;
                }
                format!(
                    "{} mounts an API token for service account `{sa}` (automountServiceAccountToken is not false on the pod or its ServiceAccount)",
                    pod.object.resource()
                )
            }
        };
        out.emit(own.map_or(pod.loc(), |n| n.loc), msg)
            .help("set `automountServiceAccountToken: false` on the pod or its ServiceAccount; use a projected token volume where the API is needed")
            .resource(pod.object.resource());
    }
}
