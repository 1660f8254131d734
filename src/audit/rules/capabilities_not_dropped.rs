//! `capabilities-not-dropped`: the default capability set is not dropped.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags services whose `cap_drop` does not contain `ALL`.
    ///
    /// ## Why it matters
    /// Docker grants 14 capabilities by default (`CHOWN`, `DAC_OVERRIDE`, `FOWNER`, `SETUID`,
    /// `NET_RAW`, ...). Most services need none of them; `NET_RAW` alone allows ARP and DNS
    /// spoofing on the container network.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     image: app:1.4
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///     cap_drop: [ALL]
    ///     cap_add: [NET_BIND_SERVICE]   # only if it binds a port below 1024
    /// ```
    ///
    /// ## References
    /// - Docker: "Runtime privilege and Linux capabilities"
    /// - Kubernetes Pod Security Standards (restricted): capabilities
    CapabilitiesNotDropped {
        id: "capabilities-not-dropped",
        title: "Default capabilities are not dropped",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Compose],
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
}
