//! `host-namespace-shared`: the container shares a namespace with the host.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags `network_mode: host`, `pid: host`, `ipc: host`, `uts: host`,
    /// `userns_mode: host` and `cgroup: host`.
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
    /// ## Fix
    /// Remove the setting; publish the ports the service needs, or share a namespace with
    /// one other service (`network_mode: "service:proxy"`) instead of the host.
    ///
    /// ## References
    /// - CIS Docker Benchmark 5.9, 5.15, 5.16, 5.20, 5.30
    HostNamespaceShared {
        id: "host-namespace-shared",
        title: "Container shares a host namespace",
        category: LeastPrivilege,
        severity: High,
        targets: [Compose],
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
}
