//! `writable-root-filesystem`: the container's root filesystem is writable.

use crate::audit::rules::{ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags compose services without `read_only: true`, and Kubernetes containers (init,
    /// sidecar and ephemeral containers included) without
    /// `securityContext.readOnlyRootFilesystem: true`. The field exists only per container:
    /// a pod-level value does not count. Windows pods (`spec.os.name: windows`) are skipped,
    /// as Windows does not support the field.
    ///
    /// ## Why it matters
    /// A writable root filesystem lets an attacker drop tools, modify binaries or plant
    /// persistence inside the container. A read-only root with explicit `tmpfs` mounts for
    /// scratch space makes the image immutable at runtime.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     image: app:1.4
    /// ```
    ///
    ///
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
    ///         securityContext:
    ///           readOnlyRootFilesystem: false
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     read_only: true
    ///     tmpfs: [/tmp]
    /// ```
    /// In Kubernetes, set `readOnlyRootFilesystem: true` and mount an `emptyDir` where the
    /// container must write:
    /// ```yaml
    ///         securityContext:
    ///           readOnlyRootFilesystem: true
    ///         volumeMounts: [{name: tmp, mountPath: /tmp}]
    ///       volumes: [{name: tmp, emptyDir: {}}]
    /// ```
    ///
    /// ## References
    /// - CIS Docker Benchmark 5.12
    /// - CIS Kubernetes Benchmark 5.7.3 (apply security contexts)
    WritableRootFilesystem {
        id: "writable-root-filesystem",
        title: "Root filesystem is writable",
        category: LeastPrivilege,
        severity: Low,
        targets: [Compose, Kubernetes],
        params: [],
    }
}

impl Rule for WritableRootFilesystem {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let node = svc.get("read_only");
        if node.and_then(|n| n.as_bool()) == Some(true) {
            return;
        }
        let loc = node.map_or(svc.key.loc, |n| n.loc);
        out.emit(
            loc,
            format!("service `{}` has a writable root filesystem", svc.name),
        )
        .help("set `read_only: true` and mount `tmpfs` where the service must write")
        .resource(svc.resource());
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        if pod.spec.path(&["os", "name"]).and_then(Node::as_str) == Some("windows") {
            return;
        }
        for c in pod.containers() {
            let node = c.own_setting(&["readOnlyRootFilesystem"]);
            if node.and_then(Node::as_bool) == Some(true) {
                continue;
            }
            let loc = node.map_or(c.loc(), |n| n.loc);
            out.emit(
                loc,
                format!(
                    "{} in {} has a writable root filesystem",
                    c.describe(),
                    pod.object.resource()
                ),
            )
            .help("set `securityContext.readOnlyRootFilesystem: true` and mount an `emptyDir` where the container must write")
            .resource(pod.object.resource());
        }
    }
}
