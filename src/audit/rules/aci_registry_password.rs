//! `aci-registry-password`: a container group's registry credential carries a plaintext
//! password.

use crate::audit::detect::is_reference;
use crate::audit::rules::{AciCx, Emitter, Rule, RuleMeta};
use crate::audit::source::aci::ContainerGroup;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags `properties.imageRegistryCredentials` entries of Azure Container Instances
    /// container groups whose `password` is written in the file. Values that are left to
    /// a templating step (`${ACR_PASSWORD}`, `{{ .password }}`) or are `<placeholders>`
    /// are not flagged. Findings never print the value.
    ///
    /// ## Why it matters
    /// A registry password in a deployment file lives in version control, CI logs and
    /// every copy of the repository. For Azure Container Registry it is usually the admin
    /// user's password or a service principal secret: it can push as well as pull, so
    /// whoever reads the file can replace the image the trading platform runs.
    ///
    /// ## Example
    /// ```yaml
    /// properties:
    ///   imageRegistryCredentials:
    ///     - server: tradingacr.azurecr.io
    ///       username: tradingacr
    ///       password: 3xAmPlE+pAsSwOrD
    /// ```
    ///
    /// ## Fix
    /// For ACR, pull with a user-assigned managed identity that has the `AcrPull` role:
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
    /// For other registries, keep a pull-only token in Key Vault and fill it in at deploy
    /// time so it never lands in the file. Rotate any password that was committed.
    ///
    /// ## References
    /// - Azure Container Instances: "Deploy to Azure Container Instances from Azure
    ///   Container Registry using a managed identity"
    /// - CWE-798: Use of Hard-coded Credentials
    AciRegistryPassword {
        id: "aci-registry-password",
        title: "Plaintext registry password in a container group",
        category: SecretsHygiene,
        severity: High,
        targets: [Aci],
        params: [],
    }
}

/// Is `v` a value written in the file, as opposed to one left for a templating step to
/// fill in (`${VAR}`, `{{ expr }}`) or a `<placeholder>`? Used for fields that are secret
/// whatever their content (passwords, account keys), where any literal is a leak.
pub fn is_inline_literal(v: &str) -> bool {
    let v = v.trim();
    !(v.is_empty()
        || is_reference(v)
        || (v.contains("{{") && v.contains("}}"))
        || (v.len() > 2 && v.starts_with('<') && v.ends_with('>')))
}

/// The literal text of a scalar node that is an inline secret, if it is one.
pub fn inline_secret(node: &Node) -> Option<&str> {
    node.as_str().filter(|v| is_inline_literal(v))
}

impl Rule for AciRegistryPassword {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn aci_group(&self, _cx: &AciCx<'_>, group: &ContainerGroup<'_>, out: &mut Emitter<'_>) {
        for cred in group.registry_credentials() {
            let Some(pw) = cred.get("password") else {
                continue;
            };
            if inline_secret(pw).is_none() {
                continue;
            }
            let server = cred.get("server").and_then(Node::as_str).unwrap_or("?");
            out.emit(
                pw.loc,
                format!(
                    "{} writes the password for registry {server} in plaintext",
                    group.describe()
                ),
            )
            .help("pull with a managed identity (`identity:` on the credential, AcrPull role) or fill the password in from Key Vault at deploy time; rotate the committed one")
            .resource(group.resource())
            .redact();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_inline_literal;

    #[test]
    fn literals_versus_templated_values() {
        assert!(is_inline_literal("hunter2"));
        assert!(is_inline_literal("1234"));
        assert!(!is_inline_literal(""));
        assert!(!is_inline_literal("  "));
        assert!(!is_inline_literal("${ACR_PASSWORD}"));
        assert!(!is_inline_literal("$ACR_PASSWORD"));
        assert!(!is_inline_literal("{{ .Values.acrPassword }}"));
        assert!(!is_inline_literal("<registry password>"));
    }
}
