//! `ingress-without-tls`: an Ingress serves plain HTTP.

use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags Ingresses without a `spec.tls` section. When `tls` is present, also flags
    /// each `rules[].host` that no `tls[].hosts` entry covers (exactly, or by a
    /// `*.example.com` wildcard for one label); a `tls` item without `hosts` covers every
    /// host.
    ///
    /// ## Why it matters
    /// Without TLS, credentials, session cookies and order flow cross the network in clear
    /// text and can be read or changed by anyone on the path. A host left out of `tls` is
    /// served over HTTP (or with the controller's default certificate) even when its
    /// neighbours are protected.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: networking.k8s.io/v1
    /// kind: Ingress
    /// metadata: {name: trader-portal, namespace: trading}
    /// spec:
    ///   ingressClassName: nginx
    ///   rules:
    ///   - host: portal.acme-trading.example
    ///     http:
    ///       paths:
    ///       - {path: /, pathType: Prefix, backend: {service: {name: portal, port: {number: 80}}}}
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///   tls:
    ///   - hosts: [portal.acme-trading.example]
    ///     secretName: portal-tls
    /// ```
    /// (with cert-manager or elastics-sec keeping the certificate current).
    ///
    /// ## References
    /// - Kubernetes documentation: "Ingress", TLS
    /// - OWASP Transport Layer Security Cheat Sheet
    IngressWithoutTls {
        id: "ingress-without-tls",
        title: "Ingress without TLS",
        category: TransportSecurity,
        severity: Medium,
        targets: [Kubernetes],
        params: [],
    }
}

/// Does the TLS host pattern `pattern` cover `host`? (`*.a.b` covers `x.a.b`, not `x.y.a.b`.)
fn covers(pattern: &str, host: &str) -> bool {
    let (p, h) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    if p == h {
        return true;
    }
    match (p.strip_prefix("*."), h.split_once('.')) {
        (Some(suffix), Some((_, rest))) => suffix == rest,
        _ => false,
    }
}

impl Rule for IngressWithoutTls {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_object(&self, _cx: &KubeCx<'_>, obj: &Object<'_>, out: &mut Emitter<'_>) {
        if obj.kind != "Ingress" {
            return;
        }
        let spec = obj.spec();
        let tls = spec
            .and_then(|s| s.get("tls"))
            .and_then(Node::as_seq)
            .unwrap_or(&[]);
        let help = "add a `tls` entry with the hosts and the Secret holding their certificate";
        if tls.is_empty() {
            out.emit(
                obj.kind_loc(),
                format!(
                    "{} has no tls section: it serves plain HTTP",
                    obj.resource()
                ),
            )
            .help(help)
            .resource(obj.resource());
            return;
        }
        let mut patterns = Vec::new();
        for t in tls {
            match t.get("hosts").and_then(Node::as_seq) {
                Some(hosts) if !hosts.is_empty() => {
                    patterns.extend(hosts.iter().filter_map(Node::as_str))
                }
                // A tls item without hosts applies to every host of the Ingress.
                _ => return,
            }
        }
        for rule in spec
            .and_then(|s| s.get("rules"))
            .and_then(Node::as_seq)
            .unwrap_or(&[])
        {
            let Some(host) = rule.get("host") else {
                continue;
            };
            let Some(h) = host.as_str() else { continue };
            if patterns.iter().any(|p| covers(p, h)) {
                continue;
            }
            out.emit(
                host.loc,
                format!(
                    "{} serves host {h}, which no tls entry covers",
                    obj.resource()
                ),
            )
            .help(help)
            .resource(obj.resource());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn tls_host_patterns() {
        assert!(covers("md.example.com", "MD.example.com"));
        assert!(covers("*.example.com", "md.example.com"));
        assert!(!covers("*.example.com", "a.md.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("md.example.com", "md2.example.com"));
    }
}
