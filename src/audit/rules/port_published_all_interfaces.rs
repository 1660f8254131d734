//! `port-published-all-interfaces`: a port is published on every host interface.

use crate::audit::rules::{ComposeCx, Emitter, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags `ports` entries that bind every host interface: short syntax without a host IP
    /// (`"80:8080"`, `"3000"`), with `0.0.0.0` or `::`/`[::]`, and long syntax without
    /// `host_ip` (or with one of those addresses). Ports bound to loopback (`127.0.0.1`,
    /// `::1`) or to one specific address are fine.
    ///
    /// ## Why it matters
    /// Docker publishes ports by inserting its own firewall rules ahead of the host's, so a
    /// port on `0.0.0.0` is reachable from every network the host is on even when `ufw` or
    /// `firewalld` says otherwise. Services meant for a reverse proxy or for local debugging
    /// end up on the internet.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   web:
    ///     ports: ["80:8080"]
    /// ```
    ///
    /// ## Fix
    /// Bind to loopback and put a TLS-terminating proxy in front, or to the one interface
    /// that should serve traffic:
    /// ```yaml
    ///     ports: ["127.0.0.1:8080:8080"]
    /// ```
    ///
    /// ## References
    /// - Docker: "Packet filtering and firewalls" (published ports bypass host firewalls)
    PortPublishedAllInterfaces {
        id: "port-published-all-interfaces",
        title: "Port published on all host interfaces",
        category: NetworkIsolation,
        severity: Medium,
        targets: [Compose],
        params: [],
    }
}

impl Rule for PortPublishedAllInterfaces {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        for p in svc.ports() {
            if !p.all_interfaces() {
                continue;
            }
            let published = p.published.unwrap_or("an ephemeral port");
            out.emit(
                p.blame.loc,
                format!(
                    "service `{}` publishes {published} (container {}/{}) on all host interfaces",
                    svc.name, p.target, p.protocol
                ),
            )
            .help("bind to loopback (\"127.0.0.1:HOST:CONTAINER\") or to the one interface that should serve it")
            .resource(svc.resource());
        }
    }
}
