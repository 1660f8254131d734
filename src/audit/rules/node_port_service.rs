//! `node-port-service`: a Service opens a port on every node.

use crate::audit::rules::load_balancer_unrestricted::service_type;
use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;

crate::declare_rule! {
    /// ## What it does
    /// Flags Services of `type: NodePort`.
    ///
    /// ## Why it matters
    /// A NodePort Service listens on a port of every node's address, bypassing the ingress
    /// controller and its TLS, authentication and rate limits. Node addresses are often
    /// reachable from wider networks than the pods (the office VPN, peered VPCs, sometimes
    /// the internet), and NetworkPolicies are applied after the node has already accepted
    /// the connection, in ways that depend on the CNI and `externalTrafficPolicy`.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: market-data, namespace: trading}
    /// spec:
    ///   type: NodePort
    ///   selector: {app: market-data-feed}
    ///   ports: [{port: 8080, nodePort: 30080}]
    /// ```
    ///
    /// ## Fix
    /// Use `type: ClusterIP` and expose the workload through an Ingress (or Gateway) with
    /// TLS, or through an internal LoadBalancer with `loadBalancerSourceRanges`.
    ///
    /// ## References
    /// - Kubernetes documentation: "Services", type NodePort
    /// - NSA/CISA Kubernetes Hardening Guide: network separation and hardening
    NodePortService {
        id: "node-port-service",
        title: "Service of type NodePort",
        category: NetworkIsolation,
        severity: Medium,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for NodePortService {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_object(&self, _cx: &KubeCx<'_>, obj: &Object<'_>, out: &mut Emitter<'_>) {
        let Some(ty) = service_type(obj, "NodePort") else {
            return;
        };
        out.emit(
            ty.loc,
            format!(
                "{} is of type NodePort: its ports are opened on every node's address",
                obj.resource()
            ),
        )
        .help("use type ClusterIP behind an Ingress with TLS, or an internal LoadBalancer with source ranges")
        .resource(obj.resource());
    }
}
