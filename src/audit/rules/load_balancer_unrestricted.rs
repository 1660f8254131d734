//! `load-balancer-unrestricted`: a LoadBalancer Service accepts traffic from anywhere.

use crate::audit::rules::{Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;
use crate::audit::yaml::Node;

/// The cloud annotation that some providers read instead of `loadBalancerSourceRanges`.
const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

crate::declare_rule! {
    /// ## What it does
    /// Flags Services of `type: LoadBalancer` that do not restrict their clients: no
    /// `spec.loadBalancerSourceRanges` (nor the
    /// `service.beta.kubernetes.io/load-balancer-source-ranges` annotation), or a range
    /// list containing `0.0.0.0/0` or `::/0`. Internal load balancers, marked by one of the
    /// `internal_annotations` (`key=value`, value compared without regard to case), are
    /// not flagged: they get no public address.
    ///
    /// ## Why it matters
    /// A LoadBalancer Service gets a public IP on most clouds. Without source ranges, every
    /// scanner on the internet can reach the pods behind it: an order-entry FIX port or an
    /// admin API becomes an attack surface with no network control in front of it.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: fix-gateway, namespace: trading}
    /// spec:
    ///   type: LoadBalancer
    ///   selector: {app: fix-gateway}
    ///   ports: [{port: 9876, targetPort: 9876}]
    /// ```
    ///
    /// ## Fix
    /// Allow only the counterparties' ranges, or make the load balancer internal:
    /// ```yaml
    /// spec:
    ///   type: LoadBalancer
    ///   loadBalancerSourceRanges: [203.0.113.0/28, 198.51.100.64/29]
    /// ```
    ///
    /// ## References
    /// - Kubernetes documentation: "Services", type LoadBalancer; "Create an External Load
    ///   Balancer", preserving the client source IP
    /// - Azure AKS documentation: "Use an internal load balancer"
    LoadBalancerUnrestricted {
        id: "load-balancer-unrestricted",
        title: "LoadBalancer Service open to any source",
        category: NetworkIsolation,
        severity: High,
        targets: [Kubernetes],
        params: [ParamMeta {
            name: "internal_annotations",
            doc: "Annotations (`key=value`) that make a load balancer internal (no public address).",
            default: ParamDefault::StrList(&[
                "service.beta.kubernetes.io/azure-load-balancer-internal=true",
                "service.beta.kubernetes.io/aws-load-balancer-internal=true",
                "service.beta.kubernetes.io/aws-load-balancer-scheme=internal",
                "networking.gke.io/load-balancer-type=Internal",
                "cloud.google.com/load-balancer-type=Internal",
                "service.beta.kubernetes.io/oci-load-balancer-internal=true",
            ]),
        }],
    }
}

/// Is this CIDR "anywhere"?
fn is_open(cidr: &str) -> bool {
    matches!(cidr.trim(), "0.0.0.0/0" | "::/0" | "0::0/0")
}

/// The Service's `type` value node when it is `want`.
pub fn service_type<'a>(obj: &Object<'a>, want: &str) -> Option<&'a Node> {
    if obj.kind != "Service" {
        return None;
    }
    obj.spec()?.get("type").filter(|t| t.as_str() == Some(want))
}

impl Rule for LoadBalancerUnrestricted {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_object(&self, cx: &KubeCx<'_>, obj: &Object<'_>, out: &mut Emitter<'_>) {
        let Some(ty) = service_type(obj, "LoadBalancer") else {
            return;
        };
        let annotations = obj.metadata().and_then(|m| m.get("annotations"));
        let annotation = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .and_then(Node::as_str)
                .map(str::trim)
        };
        let internal = cx.params.str_list("internal_annotations").iter().any(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
            annotation(k).is_some_and(|a| a.eq_ignore_ascii_case(v))
        });
        if internal {
            return;
        }
        let ranges: Vec<&Node> = obj
            .spec()
            .and_then(|s| s.get("loadBalancerSourceRanges"))
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .filter(|n| n.as_str().is_some())
            .collect();
        let help = "list the client ranges in `loadBalancerSourceRanges`, or make the load balancer internal";
        if !ranges.is_empty() {
            for r in ranges
                .into_iter()
                .filter(|r| r.as_str().is_some_and(is_open))
            {
                out.emit(
                    r.loc,
                    format!(
                        "{} allows {} in loadBalancerSourceRanges: any address can connect",
                        obj.resource(),
                        r.as_str().unwrap_or("")
                    ),
                )
                .help(help)
                .resource(obj.resource());
            }
            return;
        }
        if let Some(value) = annotation(SOURCE_RANGES_ANNOTATION).filter(|v| !v.is_empty()) {
            if value.split(',').any(is_open) {
                let node = annotations
                    .and_then(|a| a.get(SOURCE_RANGES_ANNOTATION))
                    .map_or(ty.loc, |n| n.loc);
                out.emit(
                    node,
                    format!(
                        "{} allows any address in its load-balancer-source-ranges annotation",
                        obj.resource()
                    ),
                )
                .help(help)
                .resource(obj.resource());
            }
            return;
        }
        out.emit(
            ty.loc,
            format!(
                "{} is a LoadBalancer without loadBalancerSourceRanges: any address can connect",
                obj.resource()
            ),
        )
        .help(help)
        .resource(obj.resource());
    }
}
