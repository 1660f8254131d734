//! `aci-inline-secret-volume`: secret material written inline in a container group's
//! volumes.

use crate::audit::detect::{detect, DetectorConfig};
use crate::audit::rules::aci_registry_password::inline_secret;
use crate::audit::rules::{AciCx, Emitter, Rule, RuleMeta};
use crate::audit::source::aci::ContainerGroup;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags secret material written inline in the `properties.volumes` of Azure Container
    /// Instances container groups:
    /// - each file of a `secret` volume (its value is the file's content, base64-encoded,
    ///   in the YAML itself);
    /// - `azureFile.storageAccountKey`;
    /// - a `gitRepo.repository` URL with an embedded password or token.
    ///
    /// Values left to a templating step (`${VAR}`, `{{ expr }}`) or `<placeholders>` are
    /// not flagged. Findings never print the value.
    ///
    /// ## Why it matters
    /// Base64 is an encoding, not encryption: anyone who can read the deployment file (the
    /// repository, CI logs, the pipeline's artifacts) can decode a `secret` volume in one
    /// command. A storage account key is worse than a password: it grants full control of
    /// every share, blob, queue and table in the account, and it does not expire.
    ///
    /// ## Example
    /// ```yaml
    /// properties:
    ///   volumes:
    ///     - name: fix-session
    ///       secret:
    ///         session.cfg: U2VuZGVyQ29tcElEPVRSQURFUgpQYXNzd29yZD1odW50ZXIy
    ///     - name: audit-log
    ///       azureFile:
    ///         shareName: audit
    ///         storageAccountName: tradingaudit
    ///         storageAccountKey: bm90LWEtcmVhbC1rZXk=
    /// ```
    ///
    /// ## Fix
    /// Keep the secret in Key Vault and fill the values in at deploy time, so the
    /// committed file holds only references (`${FIX_SESSION_CFG_B64}`), or have the
    /// workload fetch it at start-up with the group's managed identity (elastics-sec
    /// `fetch` in an init container, `agent` in a sidecar). Rotate any key that was
    /// committed.
    ///
    /// ## References
    /// - Azure Container Instances: "Mount a secret volume in Azure Container Instances"
    /// - Azure Storage: "Manage storage account access keys"
    /// - CWE-798: Use of Hard-coded Credentials
    AciInlineSecretVolume {
        id: "aci-inline-secret-volume",
        title: "Secret written inline in a container group volume",
        category: SecretsHygiene,
        severity: Medium,
        targets: [Aci],
        params: [],
    }
}

/// The value of `key` in a mapping, ignoring case: the ACI reference's YAML examples write
/// `sharename` where the REST API says `shareName`, and ARM accepts either.
fn get_ci<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    node.str_entries()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, e)| &e.value)
}

impl Rule for AciInlineSecretVolume {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn aci_group(&self, _cx: &AciCx<'_>, group: &ContainerGroup<'_>, out: &mut Emitter<'_>) {
        for vol in group.volumes() {
            let name = vol.get("name").and_then(Node::as_str).unwrap_or("?");
            if let Some(secret) = get_ci(vol, "secret") {
                for (file, e) in secret.str_entries() {
                    if inline_secret(&e.value).is_none() {
                        continue;
                    }
                    out.emit(
                        e.value.loc,
                        format!(
                            "secret volume `{name}` of {} carries the content of `{file}` inline (base64 is not encryption)",
                            group.describe()
                        ),
                    )
                    .help("fetch the file from Key Vault at start-up with the group's managed identity, or fill it in at deploy time")
                    .resource(group.resource())
                    .redact();
                }
            }
            if let Some(af) = get_ci(vol, "azureFile") {
                if let Some(key) = get_ci(af, "storageAccountKey") {
                    if inline_secret(key).is_some() {
                        let account = get_ci(af, "storageAccountName")
                            .and_then(Node::as_str)
                            .unwrap_or("?");
                        out.emit(
                            key.loc,
                            format!(
                                "Azure Files volume `{name}` of {} embeds the access key of storage account {account}",
                                group.describe()
                            ),
                        )
                        .help("fill the key in from Key Vault at deploy time and rotate the committed key: it grants full control of the whole storage account")
                        .resource(group.resource())
                        .redact();
                    }
                }
            }
            if let Some(repo) = get_ci(vol, "gitRepo").and_then(|g| get_ci(g, "repository")) {
                let url = repo.as_str().unwrap_or("");
                if let Some(kind) = detect("repository", url, &DetectorConfig::default()) {
                    out.emit(
                        repo.loc,
                        format!(
                            "git repository volume `{name}` of {} embeds a credential in its URL ({})",
                            group.describe(),
                            kind.describe()
                        ),
                    )
                    .help("clone a public repository, or fetch private content at start-up with a credential from Key Vault")
                    .resource(group.resource())
                    .redact();
                }
            }
        }
    }
}
