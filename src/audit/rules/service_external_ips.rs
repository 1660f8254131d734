//! `service-external-ips`: a Service claims external IP addresses.

use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags Services with a non-empty `spec.externalIPs`.
    ///
    /// ## Why it matters
    /// Every node accepts traffic for the listed addresses and forwards it to the Service,
    /// outside any load balancer's access control. Anyone allowed to create Services can
    /// also use `externalIPs` to intercept traffic meant for another address
    /// (CVE-2020-8554), which is why clusters increasingly block the field altogether.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: pricing-api, namespace: trading}
    /// spec:
    ///   selector: {app: pricing-engine}
    ///   ports: [{port: 443, targetPort: 8443}]
    ///   externalIPs: [10.20.0.15]
    /// ```
    ///
    /// ## Fix
    /// Remove `externalIPs`; expose the Service through an Ingress, or a LoadBalancer with
    /// `loadBalancerSourceRanges`.
    ///
    /// ## References
    /// - Kubernetes documentation: "Services", external IPs
    /// - CVE-2020-8554: man in the middle using LoadBalancer or ExternalIPs
    ServiceExternalIps {
        id: "service-external-ips",
        title: "Service uses externalIPs",
        category: NetworkIsolation,
        severity: Medium,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for ServiceExternalIps {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_object(&self, _cx: &KubeCx<'_>, obj: &Object<'_>, out: &mut Emitter<'_>) {
        if obj.kind != "Service" {
            return;
        }
        let Some(entry) = obj.spec().and_then(|s| s.entry("externalIPs")) else {
            return;
        };
        let ips: Vec<&str> = entry
            .value
            .as_seq()
            .unwrap_or(&[])
            .iter()
            .filter_map(Node::as_str)
            .collect();
        if ips.is_empty() {
            return;
        }
        out.emit(
            entry.key.loc,
            format!(
                "{} claims externalIPs {}: every node forwards traffic for them to the Service",
                obj.resource(),
                ips.join(", ")
            ),
        )
        .help("remove `externalIPs` and expose the Service through an Ingress or a restricted LoadBalancer")
        .resource(obj.resource());
    }
}
