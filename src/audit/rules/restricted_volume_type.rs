//! `restricted-volume-type`: a pod uses a volume type outside the restricted allow-list.

use crate::audit::rules::{Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags every pod volume whose source is not in the `allowed` parameter (Pod Security
    /// Standards restricted check `restrictedVolumes`). The default allow-list is the
    /// standard's: `configMap`, `csi`, `downwardAPI`, `emptyDir`, `ephemeral`, `image`,
    /// `persistentVolumeClaim`, `projected`, `secret`. A volume with only a `name` is an
    /// `emptyDir` (the API's default). `hostPath` is left to `host-path-volume`, which the
    /// restricted policy also enables, so it is reported once.
    ///
    /// ## Why it matters
    /// Inline volume sources such as `nfs`, `iscsi`, `rbd`, `cephfs`, `gitRepo` or cloud
    /// disks are mounted by the node on the pod's behalf, with the node's network position
    /// and credentials: a pod author can attach storage that is not theirs, reach storage
    /// networks, or (with `gitRepo`) make the kubelet run `git` on untrusted input.
    /// Persistent volumes should go through a claim, where an administrator controls them.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: reports}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: reports
    ///         image: registry.example.com/reports:2.2
    ///       volumes:
    ///       - name: archive
    ///         nfs: {server: nas.internal, path: /exports/reports}
    /// ```
    ///
    /// ## Fix
    /// Use a `persistentVolumeClaim` bound to a PersistentVolume (or a CSI driver), and
    /// `configMap`/`secret`/`projected`/`emptyDir` for everything else.
    ///
    /// ## References
    /// - Kubernetes Pod Security Standards (restricted): Volume Types
    /// - Kubernetes documentation: Volumes
    RestrictedVolumeType {
        id: "restricted-volume-type",
        title: "Volume type outside the restricted allow-list",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Kubernetes],
        params: [ParamMeta {
            name: "allowed",
            doc: "Volume source fields a pod may use.",
            default: ParamDefault::StrList(&[
                "configMap",
                "csi",
                "downwardAPI",
                "emptyDir",
                "ephemeral",
                "image",
                "persistentVolumeClaim",
                "projected",
                "secret",
            ]),
        }],
    }
}

impl Rule for RestrictedVolumeType {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let allowed = cx.params.str_list("allowed");
        for (name, v) in pod.volumes() {
            for (source, e) in v.str_entries() {
                // `name` is the volume's name; `hostPath` is host-path-volume's.
                if source == "name"
                    || source == "hostPath"
                    || e.value.is_null()
                    || allowed.iter().any(|a| a == source)
                {
                    continue;
                }
                out.emit(
                    e.key.loc,
                    format!("volume `{name}` uses the `{source}` volume type"),
                )
                .help("use a persistentVolumeClaim (or a CSI volume) instead of an inline volume source")
                .resource(pod.object.resource());
            }
        }
    }
}
