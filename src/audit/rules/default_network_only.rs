//! `default-network-only`: a service sits on the project's default network.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags services that declare no `networks:` (and no `network_mode`), so Compose puts
    /// them on the project's single `default` network together with every other such
    /// service. A project whose top-level `networks.default` is itself declared
    /// `internal: true` is not flagged.
    ///
    /// ## Why it matters
    /// On one flat network every container can reach every other one: the web front end can
    /// talk to the database's admin port, a compromised sidecar can reach the broker.
    /// Segmentation (a front-end network, an `internal` back-end network) limits what an
    /// attacker reaches from the first foothold.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   web:
    ///     image: web:1.4
    ///   db:
    ///     image: postgres:16
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    /// services:
    ///   web:
    ///     networks: [frontend, backend]
    ///   db:
    ///     networks: [backend]
    /// networks:
    ///   frontend: {}
    ///   backend:
    ///     internal: true
    /// ```
    ///
    /// ## References
    /// - Compose Specification: networks, `internal`
    DefaultNetworkOnly {
        id: "default-network-only",
        title: "Service left on the default network only",
        category: NetworkIsolation,
        severity: Low,
        targets: [Compose],
        params: [],
    }
}

impl Rule for DefaultNetworkOnly {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        if svc.get("network_mode").is_some() || svc.networks().is_some() {
            return;
        }
        if cx.project.network_is_internal("default") {
            return;
        }
        out.emit(
            svc.key.loc,
            format!("service `{}` is only on the default network", svc.name),
        )
        .help("attach it to user-defined networks, with back-end networks marked `internal: true`")
        .resource(svc.resource());
    }
}
