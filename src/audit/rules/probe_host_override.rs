//! `probe-host-override`: a probe or lifecycle hook sends the kubelet to another host.

use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags a non-empty `host` in the `httpGet` or `tcpSocket` handler of
    /// `livenessProbe`, `readinessProbe`, `startupProbe`, `lifecycle.postStart` and
    /// `lifecycle.preStop` of every container (regular, init, native sidecar, ephemeral):
    /// Pod Security Standards baseline check `hostProbesAndHostLifecycle`. Any value is
    /// flagged, loopback included: the field is meant to stay empty (the pod's IP).
    ///
    /// ## Why it matters
    /// Probes and hooks are run by the kubelet from the node, with the node's network
    /// position. A `host` lets anyone who can create a pod make the kubelet connect to an
    /// arbitrary address (cloud metadata, the node's loopback services, other tenants):
    /// a server-side request forgery from inside the cluster's trust boundary.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: web}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: web
    ///         image: registry.example.com/web:5.1
    ///         livenessProbe:
    ///           httpGet: {host: 169.254.169.254, path: /latest/meta-data/, port: 80}
    /// ```
    ///
    /// ## Fix
    /// Remove `host` so the probe targets the pod itself; to check a dependency, do it
    /// from inside the container (an `exec` probe or the application's health endpoint).
    ///
    /// ## References
    /// - Kubernetes Pod Security Standards (baseline): Probes / Lifecycle Hooks
    /// - Kubernetes documentation: Configure Liveness, Readiness and Startup Probes
    ProbeHostOverride {
        id: "probe-host-override",
        title: "Probe or lifecycle hook targets another host",
        category: NetworkIsolation,
        severity: Medium,
        targets: [Kubernetes],
        params: [],
    }
}

/// Handlers (container field path) that the kubelet runs against a host.
const HANDLERS: &[&[&str]] = &[
    &["livenessProbe"],
    &["readinessProbe"],
    &["startupProbe"],
    &["lifecycle", "postStart"],
    &["lifecycle", "preStop"],
];

impl Rule for ProbeHostOverride {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        for c in pod.containers() {
            for handler in HANDLERS {
                let Some(h) = c.node.path(handler) else {
                    continue;
                };
                for action in ["httpGet", "tcpSocket"] {
                    let Some(host) = h.path(&[action, "host"]) else {
                        continue;
                    };
                    let Some(value) = host.as_str().filter(|v| !v.is_empty()) else {
                        continue;
                    };
                    out.emit(
                        host.loc,
                        format!(
                            "{} {} {action} targets host `{value}`",
                            c.describe(),
                            handler.join(".")
                        ),
                    )
                    .help("remove `host` so the kubelet checks the pod itself")
                    .resource(pod.object.resource());
                }
            }
        }
    }
}
