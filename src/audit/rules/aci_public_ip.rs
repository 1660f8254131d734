//! `aci-public-ip`: a container group gets a public IP address instead of a VNet subnet.

use crate::audit::rules::{AciCx, Emitter, Rule, RuleMeta};
use crate::audit::source::aci::ContainerGroup;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags Azure Container Instances container groups whose `properties.ipAddress.type`
    /// is `Public` (any case). The finding points at the `type` value, lists the ports
    /// published on that address (`ipAddress.ports`) and the DNS name (`dnsNameLabel`), if
    /// any. Groups with a `Private` address in a subnet (`subnetIds`) and groups without an
    /// `ipAddress` (no inbound traffic at all) are not flagged.
    ///
    /// ## Why it matters
    /// A public container group is reachable from the whole internet on every published
    /// port: ACI puts no network security group, firewall or WAF in front of it, and the
    /// `azurecontainer.io` DNS name makes it easy to find. An order gateway, an admin or a
    /// metrics port published this way is scanned within minutes. A group in a VNet subnet
    /// gets a private address instead, and NSGs, Azure Firewall or an Application Gateway
    /// decide who may connect.
    ///
    /// ## Example
    /// ```yaml
    /// properties:
    ///   ipAddress:
    ///     type: Public
    ///     dnsNameLabel: order-gateway
    ///     ports: [{protocol: TCP, port: 443}]
    /// ```
    ///
    /// ## Fix
    /// Deploy into a subnet delegated to `Microsoft.ContainerInstance/containerGroups` with
    /// a private address, and publish what must be public through an Application Gateway
    /// or a load balancer you control:
    /// ```yaml
    /// properties:
    ///   subnetIds:
    ///     - id: /subscriptions/<sub>/resourceGroups/trading/providers/Microsoft.Network/virtualNetworks/trading-vnet/subnets/aci
    ///   ipAddress:
    ///     type: Private
    ///     ports: [{protocol: TCP, port: 443}]
    /// ```
    ///
    /// ## References
    /// - Azure Container Instances: "Deploy container instances into an Azure virtual network"
    /// - Azure security baseline for Container Instances: network security (NS-1, NS-2)
    AciPublicIp {
        id: "aci-public-ip",
        title: "Container group has a public IP address",
        category: NetworkIsolation,
        severity: Medium,
        targets: [Aci],
        params: [],
    }
}

impl Rule for AciPublicIp {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn aci_group(&self, _cx: &AciCx<'_>, group: &ContainerGroup<'_>, out: &mut Emitter<'_>) {
        let Some(ip) = group.prop("ipAddress") else {
            return;
        };
        let Some(ty) = ip.get("type") else { return };
        if !ty
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("Public"))
        {
            return;
        }
        let ports: Vec<(&Node, String)> = ip
            .get("ports")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .filter_map(|p| {
                let port = p.get("port")?;
                let proto = p
                    .get("protocol")
                    .and_then(Node::as_str)
                    .unwrap_or("TCP")
                    .to_ascii_uppercase();
                Some((port, format!("{}/{proto}", port.as_str()?)))
            })
            .collect();
        let mut msg = format!("{} has a public IP address", group.describe());
        if let Some(label) = ip.get("dnsNameLabel").and_then(Node::as_str) {
            // ACI's FQDN is `<label>.<region>.azurecontainer.io`; say so when the region is
            // written down, because that name is what scanners and attackers will use.
            match group.node.get("location").and_then(Node::as_str) {
                Some(region) => msg.push_str(&format!(
                    " ({label}.{}.azurecontainer.io)",
                    region.to_ascii_lowercase()
                )),
                None => msg.push_str(&format!(" (DNS label {label})")),
            }
        }
        if !ports.is_empty() {
            let list: Vec<&str> = ports.iter().map(|(_, s)| s.as_str()).collect();
            msg.push_str(&format!(" publishing {} to the internet", list.join(", ")));
        }
        let mut f = out
            .emit(ty.loc, msg)
            .help("deploy into a VNet subnet (`subnetIds`) with `ipAddress.type: Private` and publish through an Application Gateway or load balancer")
            .resource(group.resource());
        for (node, text) in &ports {
            f = f.related(
                node.loc,
                format!("{text} is published on the public address"),
            );
        }
    }
}
