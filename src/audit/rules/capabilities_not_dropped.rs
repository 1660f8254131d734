//! `capabilities-not-dropped`: the default capability set is not dropped.

use crate::audit::rules::{pss, ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags compose services whose `cap_drop` does not contain `ALL`, and Kubernetes
    /// containers (regular, init, native sidecar, ephemeral) whose
    /// `securityContext.capabilities.drop` does not contain `ALL` (Pod Security Standards
    /// restricted check `capabilities_restricted`; Pod Security Admission requires the exact
    /// string `ALL`). Pods with `os.name: windows` are skipped, as Pod Security Admission
    /// does: Windows has no Linux capabilities.
    ///
    /// ## Why it matters
    /// Container runtimes grant about 14 capabilities by default (`CHOWN`, `DAC_OVERRIDE`,
    /// `FOWNER`, `SETUID`, `NET_RAW`, ...). Most services need none of them; `NET_RAW` alone
    /// allows ARP and DNS spoofing on the container network.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     image: app:1.4
    /// ```
    ///
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: api}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: api
    ///         image: registry.example.com/api:2.0
    ///         securityContext:
    ///           capabilities:
    ///             drop: [NET_RAW]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     cap_drop: [ALL]
    ///     cap_add: [NET_BIND_SERVICE]   # only if it binds a port below 1024
    /// ```
    ///
    /// ```yaml
    ///         securityContext:
    ///           capabilities:
    ///             drop: [ALL]
    /// ```
    ///
    /// ## References
    /// - Docker: "Runtime privilege and Linux capabilities"
    /// - Kubernetes Pod Security Standards (restricted): Capabilities
    CapabilitiesNotDropped {
        id: "capabilities-not-dropped",
        title: "Default capabilities are not dropped",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Compose, Kubernetes],
        params: [],
    }
}

impl Rule for CapabilitiesNotDropped {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let drops = svc.str_list("cap_drop");
        if drops.iter().any(|(c, _)| c.eq_ignore_ascii_case("ALL")) {
            return;
        }
        let loc = svc.get("cap_drop").map_or(svc.key.loc, |n| n.loc);
        out.emit(
            loc,
            format!("service `{}` does not drop all capabilities", svc.name),
        )
        .help("add `cap_drop: [ALL]` and add back only what the service needs")
        .resource(svc.resource());
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        if pss::is_windows(pod) {
            return;
        }
        for c in pod.containers() {
            let caps = c.own_setting(&["capabilities"]);
            let drop = caps.and_then(|n| n.get("drop")).filter(|n| !n.is_null());
            let items = drop.and_then(Node::as_seq).unwrap_or(&[]);
            if items.iter().any(|i| i.as_str() == Some("ALL")) {
                continue;
            }
            // Blame the `drop:` list when there is one, else the container.
            let loc = caps
                .filter(|_| drop.is_some())
                .and_then(|n| pss::key_loc(n, "drop"))
                .unwrap_or_else(|| c.loc());
            let help = if items
                .iter()
                .any(|i| i.as_str().is_some_and(|s| s.eq_ignore_ascii_case("all")))
            {
                "write `ALL` in upper case: Pod Security Admission compares it exactly"
            } else {
                "add `securityContext.capabilities.drop: [ALL]` and add back only what the container needs"
            };
            out.emit(
                loc,
                format!("{} does not drop all capabilities", c.describe()),
            )
            .help(help)
            .resource(pod.object.resource());
        }
    }
}
