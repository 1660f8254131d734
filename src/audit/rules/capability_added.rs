//! `capability-added`: a Linux capability is added beyond the allowed list.

use crate::audit::rules::{ComposeCx, Emitter, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags each capability in `cap_add` that is not in the `allowed` parameter
    /// (default: `NET_BIND_SERVICE`). `ALL` is always flagged.
    ///
    /// ## Why it matters
    /// Capabilities such as `SYS_ADMIN`, `NET_ADMIN`, `SYS_PTRACE` or `DAC_READ_SEARCH` give a
    /// process root-like powers over the kernel, the network or other processes; several are
    /// well-known container escape paths.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     cap_add: [SYS_ADMIN]
    /// ```
    ///
    /// ## Fix
    /// Drop the capability, or if it is truly needed, add it to the policy's
    /// `capability-added.params.allowed` with an exception for that service.
    ///
    /// ## References
    /// - capabilities(7)
    /// - CIS Docker Benchmark 5.3
    CapabilityAdded {
        id: "capability-added",
        title: "Capability added beyond the allowed list",
        category: LeastPrivilege,
        severity: High,
        targets: [Compose],
        params: [ParamMeta {
            name: "allowed",
            doc: "Capabilities that may be added (without the CAP_ prefix).",
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
}
