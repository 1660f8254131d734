//! `secret-manifest-committed`: a Secret manifest carries its values inline.

use crate::audit::detect::is_reference;
use crate::audit::finding::Loc;
use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::Object;

crate::declare_rule! {
    /// ## What it does
    /// Flags every key under `data` or `stringData` of a `kind: Secret` manifest that holds
    /// a value. Empty values, and placeholders left for a templating step (`${VAR}`,
    /// `{{ ... }}`), are not flagged. Findings point at the key and never print the value.
    ///
    /// ## Why it matters
    /// `data` is base64, not encryption: a Secret manifest in a repository is the secret in
    /// clear text, in every clone, fork, CI cache and backup, forever (rewriting history
    /// does not recall copies). Rotating it means finding every place it leaked.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: v1
    /// kind: Secret
    /// metadata: {name: exchange-api, namespace: trading}
    /// type: Opaque
    /// stringData:
    ///   api-key: not-a-real-key-0000
    /// ```
    ///
    /// ## Fix
    /// Keep the value in a secret store (AWS Secrets Manager, Azure Key Vault) and let
    /// elastics-sec write it into a memory-backed volume at runtime, or commit only an
    /// encrypted form (Sealed Secrets, SOPS) or an External Secrets `ExternalSecret`.
    ///
    /// ## References
    /// - Kubernetes documentation: "Good practices for Kubernetes Secrets"
    /// - CWE-798: Use of Hard-coded Credentials
    SecretManifestCommitted {
        id: "secret-manifest-committed",
        title: "Secret manifest with inline values",
        category: SecretsHygiene,
        severity: Medium,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for SecretManifestCommitted {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_object(&self, _cx: &KubeCx<'_>, obj: &Object<'_>, out: &mut Emitter<'_>) {
        if obj.kind != "Secret" {
            return;
        }
        for field in ["data", "stringData"] {
            let Some(map) = obj.node.get(field) else {
                continue;
            };
            for (key, e) in map.str_entries() {
                let Some(raw) = e.value.raw_text() else {
                    continue;
                };
                if e.value.is_null()
                    || raw.trim().is_empty()
                    || is_reference(raw)
                    || raw.contains("{{")
                {
                    continue;
                }
                // Blame the key, with an unknown length: a redacted finding then masks
                // everything from the key to the end of the line, value included.
                let loc = Loc {
                    len: 0,
                    ..e.key.loc
                };
                out.emit(
                    loc,
                    format!(
                        "{} commits the value of {field}.{key} in the manifest",
                        obj.resource()
                    ),
                )
                .help("keep the value in a secret store and let elastics-sec or External Secrets materialise it, or commit it encrypted (Sealed Secrets, SOPS)")
                .resource(obj.resource())
                .redact();
            }
        }
    }
}
