//! `privileged-mode`: a container runs privileged.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags services with `privileged: true`.
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
    /// ## Fix
    /// Remove `privileged`; grant the one capability or device the workload needs instead
    /// (`cap_add: [NET_ADMIN]`, `devices: [...]`).
    ///
    /// ## References
    /// - Docker: "Runtime privilege and Linux capabilities"
    /// - CIS Docker Benchmark 5.4
    PrivilegedMode {
        id: "privileged-mode",
        title: "Container runs in privileged mode",
        category: LeastPrivilege,
        severity: Critical,
        targets: [Compose],
        params: [],
    }
}

impl Rule for PrivilegedMode {
    fn meta(&self) -> &'static RuleMeta {
        &META
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
}
