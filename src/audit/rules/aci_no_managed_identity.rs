//! `aci-no-managed-identity`: a container group pulls from Azure Container Registry without
//! a managed identity.

use crate::audit::rules::image::ImageRef;
use crate::audit::rules::{AciCx, Emitter, Rule, RuleMeta};
use crate::audit::source::aci::ContainerGroup;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags Azure Container Instances container groups that use Azure Container Registry
    /// (an image or a registry credential on `*.azurecr.io`, `*.azurecr.cn` or
    /// `*.azurecr.us`) without managed identities:
    /// - the group has no managed identity (`identity` absent or `type: None`): the
    ///   finding points at the group's `name`;
    /// - the group has one, but an `imageRegistryCredentials` entry for an ACR server
    ///   authenticates with `username`/`password` instead of `identity`: the finding points
    ///   at the entry's `server`.
    ///
    /// Credentials for other registries (Docker Hub, GHCR...) are not flagged: they cannot
    /// use a managed identity.
    ///
    /// ## Why it matters
    /// Without a managed identity, pulling from ACR needs a password: the registry's admin
    /// password (which can push too), a service principal secret or a repository token. It
    /// is long-lived, has to be stored and rotated somewhere, and ends up in deployment
    /// files and pipeline variables.
    /// A user-assigned identity with only the `AcrPull` role has no secret at all, can be
    /// scoped to one registry, and is the same identity the containers use to read Key
    /// Vault (through elastics-sec) instead of carrying secrets in their environment.
    ///
    /// ## Example
    /// ```yaml
    /// name: order-gateway
    /// properties:
    ///   containers:
    ///     - name: gateway
    ///       properties:
    ///         image: tradingacr.azurecr.io/order-gateway:2.3.1
    ///   imageRegistryCredentials:
    ///     - server: tradingacr.azurecr.io
    ///       username: tradingacr
    ///       password: ${ACR_PASSWORD}
    /// ```
    ///
    /// ## Fix
    /// Create a user-assigned identity, grant it `AcrPull` on the registry, assign it to the
    /// group and reference it from the credential:
    /// ```yaml
    /// identity:
    ///   type: UserAssigned
    ///   userAssignedIdentities:
    ///     /subscriptions/<sub>/resourceGroups/trading/providers/Microsoft.ManagedIdentity/userAssignedIdentities/acr-pull: {}
    /// properties:
    ///   imageRegistryCredentials:
    ///     - server: tradingacr.azurecr.io
    ///       identity: /subscriptions/<sub>/resourceGroups/trading/providers/Microsoft.ManagedIdentity/userAssignedIdentities/acr-pull
    /// ```
    /// A system-assigned identity does not exist yet when the group first pulls its
    /// images, so image pulls need a user-assigned one.
    ///
    /// ## References
    /// - Azure Container Instances: "Deploy to Azure Container Instances from Azure
    ///   Container Registry using a managed identity"
    /// - Azure Container Registry: "Authenticate with a managed identity"
    AciNoManagedIdentity {
        id: "aci-no-managed-identity",
        title: "Container group pulls from ACR without a managed identity",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Aci],
        params: [],
    }
}

/// Is `host` an Azure Container Registry login server (public cloud, China, US Government)?
pub fn is_acr_host(host: &str) -> bool {
    let h = host.trim().to_ascii_lowercase();
    [".azurecr.io", ".azurecr.cn", ".azurecr.us"]
        .iter()
        .any(|suffix| h.len() > suffix.len() && h.ends_with(suffix))
}

/// The registry host of an image reference (`tradingacr.azurecr.io` for
/// `tradingacr.azurecr.io/gw:1`), `None` for Docker Hub short names such as `redis:7`.
pub fn registry_host(image: &str) -> Option<&str> {
    let repo = ImageRef::parse(image).repository;
    let (first, _) = repo.split_once('/')?;
    // Docker's rule: the first component is a registry only if it looks like a host name.
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

impl Rule for AciNoManagedIdentity {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn aci_group(&self, _cx: &AciCx<'_>, group: &ContainerGroup<'_>, out: &mut Emitter<'_>) {
        let acr_images: Vec<(&Node, &str)> = group
            .containers()
            .iter()
            .filter_map(|c| {
                let node = c.image()?;
                let host = registry_host(node.as_str()?)?;
                is_acr_host(host).then_some((node, host))
            })
            .collect();
        let acr_creds: Vec<(&Node, &Node)> = group
            .registry_credentials()
            .iter()
            .filter_map(|cred| {
                let server = cred.get("server")?;
                is_acr_host(server.as_str()?).then_some((cred, server))
            })
            .collect();

        if !group.has_identity() {
            let mut hosts: Vec<String> = acr_images
                .iter()
                .map(|(_, h)| h.to_ascii_lowercase())
                .chain(
                    acr_creds
                        .iter()
                        .filter_map(|(_, s)| s.as_str())
                        .map(str::to_ascii_lowercase),
                )
                .collect();
            hosts.sort();
            hosts.dedup();
            if hosts.is_empty() {
                return;
            }
            let mut f = out
                .emit(
                    group.loc(),
                    format!(
                        "{} pulls from Azure Container Registry {} without a managed identity",
                        group.describe(),
                        hosts.join(", ")
                    ),
                )
                .help("assign a user-assigned identity with AcrPull (`identity:`) and reference it in `imageRegistryCredentials[].identity`")
                .resource(group.resource());
            for (node, _) in &acr_images {
                f = f.related(node.loc, "image pulled from ACR");
            }
            for (cred, server) in &acr_creds {
                if cred.get("identity").is_none_or(Node::is_null) {
                    f = f.related(server.loc, "registry credential without `identity`");
                }
            }
            return;
        }

        for (cred, server) in &acr_creds {
            if cred.get("identity").is_some_and(|i| !i.is_null()) {
                continue;
            }
            out.emit(
                server.loc,
                format!(
                    "{} authenticates to {} with a username and password instead of a managed identity",
                    group.describe(),
                    server.as_str().unwrap_or("?")
                ),
            )
            .help("replace `username`/`password` with `identity:` set to a user-assigned identity of the group that has AcrPull")
            .resource(group.resource());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_acr_host, registry_host};

    #[test]
    fn acr_hosts_and_registry_hosts() {
        assert!(is_acr_host("tradingacr.azurecr.io"));
        assert!(is_acr_host("TradingACR.AzureCR.io"));
        assert!(is_acr_host("tradingacr.azurecr.cn"));
        assert!(!is_acr_host(".azurecr.io"));
        assert!(!is_acr_host("azurecr.io.evil.example"));
        assert!(!is_acr_host("ghcr.io"));
        assert_eq!(
            registry_host("tradingacr.azurecr.io/team/gw:1@sha256:00"),
            Some("tradingacr.azurecr.io")
        );
        assert_eq!(registry_host("localhost:5000/gw"), Some("localhost:5000"));
        assert_eq!(registry_host("bitnami/redis:7"), None);
        assert_eq!(registry_host("redis"), None);
    }
}
