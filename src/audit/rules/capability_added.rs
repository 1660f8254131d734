//! `capability-added`: a Linux capability is added beyond the allowed list.

use crate::audit::rules::{
    pss, ComposeCx, Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta,
};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags each added capability that is not in the `allowed` parameter (default:
    /// `NET_BIND_SERVICE`, the restricted level of the Pod Security Standards). `ALL` is
    /// always flagged.
    ///
    /// - Compose: `cap_add`. Names are compared without case and without the `CAP_` prefix,
    ///   as Docker accepts both spellings.
    /// - Kubernetes: `securityContext.capabilities.add` of every container (regular, init,
    ///   native sidecar, ephemeral). Names are compared exactly, as Pod Security Admission
    ///   does: `chown` and `CAP_CHOWN` are not `CHOWN`. Pods with `os.name: windows` are held
    ///   to the baseline set only (the restricted capability check does not apply to them).
    /// - Azure Container Instances: `properties.securityContext.capabilities.add` of every
    ///   container and init container, compared like Compose.
    ///
    /// The built-in `baseline` policy sets `allowed` to the baseline default set (AUDIT_WRITE,
    /// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID,
    /// SETPCAP, SETUID, SYS_CHROOT); `restricted` and `default` keep `[NET_BIND_SERVICE]`.
    ///
    /// ## Why it matters
    /// Capabilities such as `SYS_ADMIN`, `NET_ADMIN`, `SYS_PTRACE` or `DAC_READ_SEARCH` give a
    /// process root-like powers over the kernel, the network or other processes; several are
    /// well-known container escape paths. `NET_RAW` allows ARP and DNS spoofing of
    /// neighbouring pods.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     cap_add: [SYS_ADMIN]
    /// ```
    ///
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: packet-capture}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: capture
    ///         image: registry.example.com/capture:1.0
    ///         securityContext:
    ///           capabilities:
    ///             add: [NET_RAW, NET_ADMIN]
    /// ```
    ///
    /// ## Fix
    /// Drop the capability, or if it is truly needed, add it to the policy's
    /// `capability-added.params.allowed` with an exception for that service or workload.
    ///
    /// ## References
    /// - capabilities(7)
    /// - CIS Docker Benchmark 5.3
    /// - Kubernetes Pod Security Standards: Capabilities (baseline and restricted)
    CapabilityAdded {
        id: "capability-added",
        title: "Capability added beyond the allowed list",
        category: LeastPrivilege,
        severity: High,
        targets: [Compose, Kubernetes, Aci],
        params: [ParamMeta {
            name: "allowed",
            doc: "Capabilities that may be added (without the CAP_ prefix; exact upper-case names for Kubernetes).",
            default: ParamDefault::StrList(&["NET_BIND_SERVICE"]),
        }],
    }
}

/// `CAP_SYS_ADMIN` and `sys_admin` both name `SYS_ADMIN`.
pub fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

impl Rule for CapabilityAdded {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn aci_group(
        &self,
        cx: &crate::audit::rules::AciCx<'_>,
        group: &crate::audit::source::aci::ContainerGroup<'_>,
        out: &mut Emitter<'_>,
    ) {
        let allowed = cx.params.str_list("allowed");
        for c in group.containers() {
            let add = c
                .security_context()
                .and_then(|s| s.path(&["capabilities", "add"]));
            for item in add.and_then(Node::as_seq).unwrap_or(&[]) {
                let Some(cap) = item.as_str().map(normalize_cap) else {
                    continue;
                };
                if cap == "ALL" || !allowed.iter().any(|a| normalize_cap(a) == cap) {
                    out.emit(item.loc, format!("{} of {} adds capability {cap}", c.describe(), group.describe()))
                        .help("remove it from `securityContext.capabilities.add`, or allow it in the policy if the container truly needs it")
                        .resource(group.resource());
                }
            }
        }
    }

    fn compose_service(&self, cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let allowed = cx.params.str_list("allowed");
        for (cap, node) in svc.str_list("cap_add") {
            let cap = normalize_cap(cap);
            if cap == "ALL" || !allowed.iter().any(|a| normalize_cap(a) == cap) {
                out.emit(node.loc, format!("service `{}` adds capability {cap}", svc.name))
                    .help("remove it from `cap_add`, or allow it in the policy if the service truly needs it")
                    .resource(svc.resource());
            }
        }
    }

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let mut allowed: Vec<&str> = cx
            .params
            .str_list("allowed")
            .iter()
            .map(String::as_str)
            .collect();
        if pss::is_windows(pod) {
            allowed.extend_from_slice(pss::BASELINE_CAPABILITIES);
        }
        for c in pod.containers() {
            let Some(add) = c
                .own_setting(&["capabilities", "add"])
                .and_then(Node::as_seq)
            else {
                continue;
            };
            for item in add {
                let Some(cap) = item.as_str() else {
                    continue;
                };
                if cap != "ALL" && allowed.contains(&cap) {
                    continue;
                }
                let canonical = normalize_cap(cap);
                let (message, help) = if canonical != cap && allowed.contains(&canonical.as_str()) {
                    (
                        format!(
                            "{} adds capability `{cap}`, which is not spelled as Kubernetes expects (`{canonical}`)",
                            c.describe()
                        ),
                        format!("write `{canonical}`: Pod Security Admission compares capability names exactly"),
                    )
                } else {
                    (
                        format!("{} adds capability `{cap}`", c.describe()),
                        "remove it from `securityContext.capabilities.add`, or allow it in the policy if the container truly needs it".to_string(),
                    )
                };
                out.emit(item.loc, message)
                    .help(help)
                    .resource(pod.object.resource());
            }
        }
    }
}
