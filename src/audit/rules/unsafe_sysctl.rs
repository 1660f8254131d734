//! `unsafe-sysctl`: a pod sets a kernel parameter outside the safe set.

use crate::audit::rules::{Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags every `securityContext.sysctls[*].name` of a pod that is not in the `allowed`
    /// parameter (Pod Security Standards baseline check `sysctls`). The default is the
    /// standard's safe set as of Kubernetes 1.37: `kernel.shm_rmid_forced`,
    /// `net.ipv4.ip_local_port_range`, `net.ipv4.ip_local_reserved_ports`,
    /// `net.ipv4.tcp_syncookies`, `net.ipv4.ping_group_range`,
    /// `net.ipv4.ip_unprivileged_port_start`, `net.ipv4.tcp_keepalive_time`,
    /// `net.ipv4.tcp_fin_timeout`, `net.ipv4.tcp_keepalive_intvl`,
    /// `net.ipv4.tcp_keepalive_probes`, `net.ipv4.tcp_rmem`, `net.ipv4.tcp_wmem`,
    /// `net.ipv4.tcp_slow_start_after_idle`, `net.ipv4.tcp_notsent_lowat`.
    ///
    /// ## Why it matters
    /// Sysctls outside the safe set are either not namespaced (they change the kernel of
    /// the whole node and every pod on it) or can disable security mechanisms; a pod that
    /// sets them can degrade or attack its neighbours.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: StatefulSet
    /// metadata: {name: search}
    /// spec:
    ///   template:
    ///     spec:
    ///       securityContext:
    ///         sysctls:
    ///         - {name: vm.max_map_count, value: "262144"}
    ///       containers:
    ///       - name: search
    ///         image: registry.example.com/search:8.13
    /// ```
    ///
    /// ## Fix
    /// Remove the sysctl and tune the node instead (node configuration or a privileged
    /// node-setup DaemonSet in a dedicated namespace), or use only safe sysctls.
    ///
    /// ## References
    /// - Kubernetes Pod Security Standards (baseline): Sysctls
    /// - Kubernetes documentation: Using sysctls in a Kubernetes Cluster
    UnsafeSysctl {
        id: "unsafe-sysctl",
        title: "Pod sets an unsafe sysctl",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Kubernetes],
        params: [ParamMeta {
            name: "allowed",
            doc: "Sysctls a pod may set (default: the Pod Security Standards safe set).",
            default: ParamDefault::StrList(&[
                "kernel.shm_rmid_forced",
                "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range",
                "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes",
                "net.ipv4.tcp_rmem",
                "net.ipv4.tcp_wmem",
                "net.ipv4.tcp_slow_start_after_idle",
                "net.ipv4.tcp_notsent_lowat",
            ]),
        }],
    }
}

impl Rule for UnsafeSysctl {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let allowed = cx.params.str_list("allowed");
        let sysctls = pod
            .security_context()
            .and_then(|sc| sc.get("sysctls"))
            .and_then(Node::as_seq)
            .unwrap_or(&[]);
        for s in sysctls {
            let Some(n) = s.get("name") else { continue };
            let name = n.as_str().unwrap_or("");
            if allowed.iter().any(|a| a == name) {
                continue;
            }
            out.emit(n.loc, format!("the pod sets unsafe sysctl `{name}`"))
                .help("remove it and tune the node instead, or use only sysctls of the safe set")
                .resource(pod.object.resource());
        }
    }
}
