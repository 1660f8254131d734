//! `plaintext-http-published`: a plaintext HTTP port is published on all interfaces.

use crate::audit::rules::{ComposeCx, Emitter, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags ports published on all host interfaces where the host port or the container
    /// port is a conventional plaintext-HTTP port, from the `http_ports` parameter:
    /// 80 (HTTP), 591 (HTTP alternate), 8000 and 8008 (common development/alternate
    /// HTTP), 8080 and 8081 (HTTP alternate / proxies), 8888 (HTTP alternate, notebooks).
    /// Ports such as 3000 or 5000 are deliberately not listed: they are used as often for
    /// non-HTTP protocols and would make the rule noisy. Loopback-bound ports are not
    /// flagged (a local TLS proxy in front of them is the recommended pattern).
    ///
    /// ## Why it matters
    /// The platform requires encryption in transit everywhere. A plaintext HTTP listener
    /// reachable from outside carries credentials, session cookies and order flow in the
    /// clear and invites downgrade attacks.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   web:
    ///     ports: ["80:8080"]
    /// ```
    ///
    /// ## Fix
    /// Publish only a TLS port (443) from a TLS-terminating proxy, and keep the HTTP
    /// listener on loopback or an internal network. If port 80 only redirects to HTTPS,
    /// record a policy exception saying so.
    ///
    /// ## References
    /// - OWASP Transport Layer Security Cheat Sheet
    PlaintextHttpPublished {
        id: "plaintext-http-published",
        title: "Plaintext HTTP port published on all interfaces",
        category: TransportSecurity,
        severity: Low,
        targets: [Compose],
        params: [ParamMeta {
            name: "http_ports",
            doc: "Ports treated as plaintext HTTP.",
            default: ParamDefault::IntList(&[80, 591, 8000, 8008, 8080, 8081, 8888]),
        }],
    }
}

impl Rule for PlaintextHttpPublished {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let http = cx.params.int_list("http_ports");
        for p in svc.ports() {
            if !p.all_interfaces() || p.protocol != "tcp" {
                continue;
            }
            let hit = p
                .published_ports()
                .into_iter()
                .chain(p.target_ports())
                .find(|port| http.contains(&i64::from(*port)));
            if let Some(port) = hit {
                out.emit(p.blame.loc, format!("service `{}` publishes plaintext HTTP port {port} on all interfaces", svc.name))
                    .help("serve TLS (443) from a proxy and keep plaintext HTTP on loopback or an internal network")
                    .resource(svc.resource());
            }
        }
    }
}
