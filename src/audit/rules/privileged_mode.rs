//! `privileged-mode`: a container runs privileged.

use crate::audit::rules::{ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags compose services with `privileged: true`, and Kubernetes containers (regular,
    /// init, native sidecar and ephemeral) with `securityContext.privileged: true`
    /// (Pod Security Standards baseline check `privileged`; the field is per container and
    /// not inherited from the pod). Azure Container Instances containers are flagged for
    /// `properties.securityContext.privileged: true`.
    ///
    /// ## Why it matters
    /// A privileged container gets every capability, all host devices and no seccomp or
    /// AppArmor confinement: escaping to the host is trivial, so one compromised process owns
    /// the node and every secret on it.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     image: app:1.4
    ///     privileged: true
    /// ```
    ///
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: node-agent}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: agent
    ///         image: registry.example.com/node-agent:3.2
    ///         securityContext:
    ///           privileged: true
    /// ```
    ///
    /// ## Fix
    /// Remove `privileged`; grant the one capability or device the workload needs instead
    /// (`cap_add: [NET_ADMIN]`, `devices: [...]`; in Kubernetes
    /// `securityContext.capabilities.add: [NET_ADMIN]`, or a device plugin).
    ///
    /// ## References
    /// - Docker: "Runtime privilege and Linux capabilities"
    /// - CIS Docker Benchmark 5.4
    /// - Kubernetes Pod Security Standards (baseline): Privileged Containers
    PrivilegedMode {
        id: "privileged-mode",
        title: "Container runs in privileged mode",
        category: LeastPrivilege,
        severity: Critical,
        targets: [Compose, Kubernetes, Aci],
        params: [],
    }
}

impl Rule for PrivilegedMode {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn aci_group(
        &self,
        _cx: &crate::audit::rules::AciCx<'_>,
        group: &crate::audit::source::aci::ContainerGroup<'_>,
        out: &mut Emitter<'_>,
    ) {
        for c in group.containers() {
            let Some(n) = c.security_context().and_then(|s| s.get("privileged")) else {
                continue;
            };
            if n.as_bool() == Some(true) {
                let msg = format!("{} of {} runs privileged", c.describe(), group.describe());
                out.emit(n.loc, msg)
                    .help("remove `securityContext.privileged: true` and add only the capability the container needs")
                    .resource(group.resource());
            }
        }
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        if let Some(n) = svc.get("privileged") {
            if n.as_bool() == Some(true) {
                out.emit(n.loc, format!("service `{}` runs privileged", svc.name))
                    .help("remove `privileged: true` and add only the capabilities or devices the service needs")
                    .resource(svc.resource());
            }
        }
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        for c in pod.containers() {
            let Some(n) = c.own_setting(&["privileged"]) else {
                continue;
            };
            if n.as_bool() == Some(true) {
                out.emit(n.loc, format!("{} runs privileged", c.describe()))
                    .help("remove `securityContext.privileged: true` and add only the capability the container needs")
                    .resource(pod.object.resource());
            }
        }
    }
}
