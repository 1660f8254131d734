//! `host-path-volume`: a pod mounts a directory or file of the node (`hostPath`).

use crate::audit::rules::{pss, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags every pod volume with a `hostPath` source (Pod Security Standards baseline
    /// check `hostPathVolumes`, also part of the restricted `restrictedVolumes` check).
    /// `hostPath: null` counts as unset.
    ///
    /// ## Why it matters
    /// A hostPath volume reaches outside the container's filesystem into the node's: the
    /// container runtime socket, kubelet credentials, `/etc`, other pods' volumes under
    /// `/var/lib/kubelet`. Even a read-only mount leaks secrets, and a writable one is a
    /// direct node takeover. Pods are also tied to whatever happens to be on one node.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: log-collector}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: collector
    ///         image: registry.example.com/collector:2.3
    ///         volumeMounts: [{name: varlog, mountPath: /var/log}]
    ///       volumes:
    ///       - name: varlog
    ///         hostPath: {path: /var/log}
    /// ```
    ///
    /// ## Fix
    /// Use an `emptyDir`, a `persistentVolumeClaim`, a `configMap`/`secret`, or a CSI
    /// driver. Node agents that truly need the host's files belong in a dedicated
    /// namespace with a policy exception.
    ///
    /// ## References
    /// - Kubernetes Pod Security Standards (baseline): HostPath Volumes
    /// - Kubernetes documentation: Volumes, hostPath
    HostPathVolume {
        id: "host-path-volume",
        title: "Pod mounts a hostPath volume",
        category: LeastPrivilege,
        severity: High,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for HostPathVolume {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        for (name, v) in pod.volumes() {
            let Some(host_path) = v.get("hostPath").filter(|n| !n.is_null()) else {
                continue;
            };
            let path = host_path.get("path").and_then(|p| p.as_str()).unwrap_or("");
            let loc = pss::key_loc(v, "hostPath").unwrap_or(host_path.loc);
            out.emit(
                loc,
                format!("volume `{name}` mounts the node's `{path}` (hostPath)"),
            )
            .help("use an emptyDir, a persistentVolumeClaim, a configMap/secret or a CSI volume instead")
            .resource(pod.object.resource());
        }
    }
}
