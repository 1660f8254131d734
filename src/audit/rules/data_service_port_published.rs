//! `data-service-port-published`: a database, cache or broker publishes a port.

use crate::audit::rules::image::{is_one_of, DATA_SERVICE_IMAGES};
use crate::audit::rules::{ComposeCx, Emitter, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Flags data services (databases, caches, message brokers, recognised by the image
    /// name against the `images` parameter: redis, postgres, mysql, mariadb, mongo,
    /// memcached, elasticsearch, opensearch, rabbitmq, kafka, zookeeper, cassandra,
    /// clickhouse, questdb, etcd, minio, nats...) that publish any port to the host, on any
    /// interface. On loopback the message says so, but it is still a finding: other
    /// containers should reach data services over a private network, not via the host.
    ///
    /// ## Why it matters
    /// Exposed Redis, MongoDB and Elasticsearch instances are among the most common causes
    /// of data breaches; many of these images ship without authentication by default, and
    /// a published port makes them reachable by anything that can reach the host.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   redis:
    ///     image: redis:7.2
    ///     ports: ["6379:6379"]
    /// ```
    ///
    /// ## Fix
    /// Remove `ports`; application services reach the data service by name on a shared
    /// (ideally `internal: true`) network.
    ///
    /// ## References
    /// - OWASP Docker Security Cheat Sheet, rule 5 (limit network exposure)
    DataServicePortPublished {
        id: "data-service-port-published",
        title: "Data service publishes a port to the host",
        category: NetworkIsolation,
        severity: High,
        targets: [Compose],
        params: [ParamMeta {
            name: "images",
            doc: "Image names (last path component, without tag) that are data services.",
            default: ParamDefault::StrList(DATA_SERVICE_IMAGES),
        }],
    }
}

impl Rule for DataServicePortPublished {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        let Some(image) = svc.image().and_then(|n| n.as_str()) else {
            return;
        };
        if !is_one_of(image, cx.params.str_list("images")) {
            return;
        }
        for p in svc.ports() {
            let scope = if p.all_interfaces() {
                "on all host interfaces"
            } else if p.loopback() {
                "on host loopback"
            } else {
                "on a host interface"
            };
            out.emit(
                p.blame.loc,
                format!(
                    "data service `{}` ({image}) publishes port {} {scope}",
                    svc.name, p.target
                ),
            )
            .help("remove `ports`; let application services reach it over a private network")
            .resource(svc.resource());
        }
    }
}
