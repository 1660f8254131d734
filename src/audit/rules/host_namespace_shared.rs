//! `host-namespace-shared`: the container shares a namespace with the host.

use crate::audit::rules::{ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// - Compose: flags `network_mode: host`, `pid: host`, `ipc: host`, `uts: host`,
    ///   `userns_mode: host` and `cgroup: host`.
    /// - Kubernetes (Pod Security Standards baseline check `hostNamespaces`): flags pods
    ///   with `hostNetwork: true`, `hostPID: true` or `hostIPC: true`.
    ///
    /// ## Why it matters
    /// Host namespaces remove the isolation that makes a container a container: with the
    /// host PID namespace a process can signal or ptrace host processes and read their
    /// environments; with the host network it can bind any host port and reach services
    /// bound to the host's loopback; host IPC exposes shared memory of host processes.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     network_mode: host
    /// ```
    ///
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: log-shipper}
    /// spec:
    ///   template:
    ///     spec:
    ///       hostPID: true
    ///       hostNetwork: true
    ///       containers:
    ///       - name: shipper
    ///         image: registry.example.com/log-shipper:1.8
    /// ```
    ///
    /// ## Fix
    /// Remove the setting; publish the ports the service needs, or share a namespace with
    /// one other service (`network_mode: "service:proxy"`) instead of the host. In
    /// Kubernetes, remove the field and expose the pod through a Service.
    ///
    /// ## References
    /// - CIS Docker Benchmark 5.9, 5.15, 5.16, 5.20, 5.30
    /// - Kubernetes Pod Security Standards (baseline): Host Namespaces
    HostNamespaceShared {
        id: "host-namespace-shared",
        title: "Container shares a host namespace",
        category: LeastPrivilege,
        severity: High,
        targets: [Compose, Kubernetes],
        params: [],
    }
}

const FIELDS: &[(&str, &str)] = &[
    ("network_mode", "network"),
    ("pid", "PID"),
    ("ipc", "IPC"),
    ("uts", "UTS"),
    ("userns_mode", "user"),
    ("cgroup", "cgroup"),
];

/// Pod spec fields that share a host namespace when true.
const POD_FIELDS: &[(&str, &str)] = &[
    ("hostNetwork", "network"),
    ("hostPID", "PID"),
    ("hostIPC", "IPC"),
];

impl Rule for HostNamespaceShared {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        for (field, ns) in FIELDS {
            if let Some(n) = svc.get(field) {
                if n.as_str() == Some("host") {
                    out.emit(
                        n.loc,
                        format!(
                            "service `{}` shares the host {ns} namespace ({field}: host)",
                            svc.name
                        ),
                    )
                    .help("remove it; containers should keep their own namespaces")
                    .resource(svc.resource());
                }
            }
        }
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        for (field, ns) in POD_FIELDS {
            let Some(n) = pod.get(field) else { continue };
            if n.as_bool() == Some(true) {
                out.emit(
                    n.loc,
                    format!("the pod shares the host {ns} namespace ({field}: true)"),
                )
                .help("remove it; pods should keep their own namespaces")
                .resource(pod.object.resource());
            }
        }
    }
}
