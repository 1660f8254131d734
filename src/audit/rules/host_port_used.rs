//! `host-port-used`: a container binds a port of the node (`hostPort`).

use crate::audit::rules::{Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags every `ports[*].hostPort` other than 0 of every container (regular, init,
    /// native sidecar, ephemeral) that is not in the `allowed` parameter (Pod Security
    /// Standards baseline check `hostPorts`; the standard allows none by default).
    ///
    /// ## Why it matters
    /// A host port is published on every address of the node, outside the Service and
    /// NetworkPolicy model: it bypasses policies that protect the pod network, exposes the
    /// workload on the node's external interfaces, and pins the pod to nodes where the
    /// port is free.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: metrics-gateway}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: gateway
    ///         image: registry.example.com/metrics-gateway:1.2
    ///         ports:
    ///         - containerPort: 9091
    ///           hostPort: 9091
    /// ```
    ///
    /// ## Fix
    /// Remove `hostPort` and expose the port through a Service (ClusterIP, or NodePort /
    /// LoadBalancer when it must be reachable from outside).
    ///
    /// ## References
    /// - Kubernetes Pod Security Standards (baseline): Host Ports
    /// - Kubernetes documentation: Configuration Best Practices, Services
    HostPortUsed {
        id: "host-port-used",
        title: "Container binds a host port",
        category: NetworkIsolation,
        severity: Medium,
        targets: [Kubernetes],
        params: [ParamMeta {
            name: "allowed",
            doc: "Host ports that may be used (the Pod Security Standards allow none).",
            default: ParamDefault::IntList(&[]),
        }],
    }
}

impl Rule for HostPortUsed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let allowed = cx.params.int_list("allowed");
        for c in pod.containers() {
            for p in c.get("ports").and_then(Node::as_seq).unwrap_or(&[]) {
                let Some(n) = p.get("hostPort").filter(|n| !n.is_null()) else {
                    continue;
                };
                let port = n.as_i64();
                if port == Some(0) || port.is_some_and(|p| allowed.contains(&p)) {
                    continue;
                }
                let shown = n.as_str().unwrap_or("?");
                out.emit(n.loc, format!("{} binds host port {shown}", c.describe()))
                    .help("remove `hostPort` and expose the port through a Service")
                    .resource(pod.object.resource());
            }
        }
    }
}
