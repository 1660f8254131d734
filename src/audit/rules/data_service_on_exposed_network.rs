//! `data-service-on-exposed-network`: a data service shares a non-internal network with an
//! internet-facing service.

use crate::audit::rules::image::{is_one_of, DATA_SERVICE_IMAGES};
use crate::audit::rules::{ComposeCx, Emitter, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::compose::Service;

crate::declare_rule! {
    /// ## What it does
    /// Reasons over the whole project: for every data service (see
    /// `data-service-port-published` for how they are recognised) and every service that
    /// publishes a port on all host interfaces, it flags each network they share that is
    /// not `internal: true` (services without `networks:` share `default`). The finding
    /// points at the data service and names the exposed service as related location.
    ///
    /// ## Why it matters
    /// An exposed service is the first thing an attacker compromises. If it shares a
    /// regular network with the database, the database is one hop away *and* that network
    /// gives the database a route to the outside for exfiltration. An `internal` back-end
    /// network keeps the path from the front end to the data service but removes the
    /// external route, and makes the segmentation explicit.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   web:
    ///     image: web:1.4
    ///     ports: ["80:8080"]
    ///   redis:
    ///     image: redis:7.2
    /// ```
    ///
    /// ## Fix
    /// Put the data service only on a network declared `internal: true`, and attach the
    /// front end to it as a second network.
    ///
    /// ## References
    /// - Compose Specification: networks, `internal`
    DataServiceOnExposedNetwork {
        id: "data-service-on-exposed-network",
        title: "Data service shares a non-internal network with an exposed service",
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

impl Rule for DataServiceOnExposedNetwork {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_project(&self, cx: &ComposeCx<'_>, out: &mut Emitter<'_>) {
        let images = cx.params.str_list("images");
        let services: Vec<Service<'_>> = cx.project.services().collect();
        let exposed: Vec<&Service<'_>> = services
            .iter()
            .filter(|s| s.publishes_on_all_interfaces())
            .collect();
        if exposed.is_empty() {
            return;
        }
        for data in &services {
            let Some(image) = data.image().and_then(|n| n.as_str()) else {
                continue;
            };
            if !is_one_of(image, images) {
                continue;
            }
            let data_nets = data.effective_networks();
            for front in &exposed {
                if front.name == data.name {
                    continue;
                }
                for net in front.effective_networks() {
                    if !data_nets.contains(&net) || cx.project.network_is_internal(net) {
                        continue;
                    }
                    out.emit(
                        data.key.loc,
                        format!(
                            "data service `{}` shares network `{net}` with `{}`, which publishes ports on all interfaces, and `{net}` is not internal",
                            data.name, front.name
                        ),
                    )
                    .help("move the data service to a network declared `internal: true`")
                    .related(front.key.loc, format!("`{}` is exposed here", front.name))
                    .resource(data.resource());
                }
            }
        }
    }
}
