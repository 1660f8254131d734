//! `secret-volume-writable`: an application container can rewrite the secrets elastics-sec
//! writes.

use crate::audit::rules::secret_on_disk_emptydir::{is_elastics_sec, mount_loc, mounts};
use crate::audit::rules::{Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Finds the volumes an elastics-sec container writes (its `volumeMounts` without
    /// `readOnly: true`; the container is recognised by an image named `elastics-sec` or a
    /// `command`/`args` starting with `elastics-sec`) and flags every other container that
    /// mounts the same volume without `readOnly: true`.
    ///
    /// ## Why it matters
    /// The application only needs to read its secrets and certificates. With a writable
    /// mount, a compromised or buggy application can replace them (a CA bundle that trusts
    /// the attacker, a key it chose), plant files that elastics-sec's notifications or
    /// templates then pick up, or delete them and break every other reader of the volume.
    ///
    /// ## Example
    /// ```yaml
    ///       containers:
    ///       - name: order-gateway
    ///         image: ghcr.io/acme-trading/order-gateway:2.4.1
    ///         volumeMounts: [{name: secrets, mountPath: /run/secrets/app}]
    ///       - name: secrets-agent
    ///         image: ghcr.io/elastics-sec/elastics-sec:1.0.0
    ///         args: [agent, --config, /etc/elastics-sec/config.toml]
    ///         volumeMounts: [{name: secrets, mountPath: /run/secrets/app}]
    /// ```
    ///
    /// ## Fix
    /// ```yaml
    ///         volumeMounts: [{name: secrets, mountPath: /run/secrets/app, readOnly: true}]
    /// ```
    ///
    /// ## References
    /// - Kubernetes documentation: "Volumes", `readOnly` volume mounts
    /// - Kubernetes documentation: "Good practices for Kubernetes Secrets"
    SecretVolumeWritable {
        id: "secret-volume-writable",
        title: "Secret volume mounted writable into the application",
        category: SecretsHygiene,
        severity: Low,
        targets: [Kubernetes],
        params: [],
    }
}

fn read_only(mount: &Node) -> bool {
    mount.get("readOnly").and_then(Node::as_bool) == Some(true)
}

impl Rule for SecretVolumeWritable {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let containers: Vec<_> = pod.containers().collect();
        // Volumes elastics-sec writes, with the writer and its mount.
        let mut written = Vec::new();
        for c in containers.iter().filter(|c| is_elastics_sec(c)) {
            for (vol, m) in mounts(c) {
                if !read_only(m) && !written.iter().any(|(v, _, _)| *v == vol) {
                    written.push((vol, c, m));
                }
            }
        }
        for c in containers.iter().filter(|c| !is_elastics_sec(c)) {
            for (vol, m) in mounts(c) {
                let Some((_, writer, wm)) = written.iter().find(|(v, _, _)| *v == vol) else {
                    continue;
                };
                if read_only(m) {
                    continue;
                }
                // An explicit `readOnly: false` is the offending field; otherwise the mount
                // that lacks `readOnly: true`, by its `name:` value.
                let loc = m.get("readOnly").map_or_else(|| mount_loc(m), |n| n.loc);
                let path = m.get("mountPath").and_then(Node::as_str).unwrap_or("");
                out.emit(
                    loc,
                    format!(
                        "{} in {} mounts volume `{vol}`, which elastics-sec writes, without readOnly at {path}",
                        c.describe(),
                        pod.object.resource()
                    ),
                )
                .help("add `readOnly: true` to the application's mount of the secret volume")
                .related(mount_loc(wm), format!("elastics-sec {} writes it here", writer.describe()))
                .resource(pod.object.resource());
            }
        }
    }
}
