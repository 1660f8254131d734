//! `proc-mount-unmasked`: a container asks for an unmasked `/proc`.

use crate::audit::rules::{Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags `securityContext.procMount` other than `Default` on any container (regular,
    /// init, native sidecar, ephemeral). The field exists per container only.
    ///
    /// With `allow_in_user_namespace: true` a pod with `hostUsers: false` may use any
    /// value: that is the Pod Security Standards baseline check `procMount`, and the
    /// built-in `baseline` policy sets it. The default (`false`) is the restricted check
    /// `procMount_restricted`, which requires `Default` even in a user namespace.
    ///
    /// ## Why it matters
    /// The container runtime masks and makes read-only the parts of `/proc` and `/sys` that
    /// expose the host kernel (`/proc/kcore`, `/proc/sysrq-trigger`, `/proc/keys`,
    /// `/sys/firmware`...). `Unmasked` removes that protection: a process can read kernel
    /// memory and keys, or trigger host-wide actions.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: build-runner}
    /// spec:
    ///   template:
    ///     spec:
    ///       containers:
    ///       - name: runner
    ///         image: registry.example.com/build-runner:7.0
    ///         securityContext:
    ///           procMount: Unmasked
    /// ```
    ///
    /// ## Fix
    /// Remove `procMount` (or set `Default`). Nested container builds that need an
    /// unmasked `/proc` should run in a user namespace (`hostUsers: false`) under the
    /// baseline level, or use a rootless builder.
    ///
    /// ## References
    /// - Kubernetes Pod Security Standards: /proc Mount Type (baseline and restricted)
    /// - Kubernetes documentation: User Namespaces
    ProcMountUnmasked {
        id: "proc-mount-unmasked",
        title: "Container uses an unmasked /proc",
        category: LeastPrivilege,
        severity: High,
        targets: [Kubernetes],
        params: [ParamMeta {
            name: "allow_in_user_namespace",
            doc: "Allow any procMount in pods with `hostUsers: false` (true in the baseline level, false in restricted).",
            default: ParamDefault::Bool(false),
        }],
    }
}

impl Rule for ProcMountUnmasked {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let user_ns = pod.in_user_namespace();
        if user_ns && cx.params.bool("allow_in_user_namespace") == Some(true) {
            return;
        }
        for c in pod.containers() {
            let Some(n) = c.own_setting(&["procMount"]) else {
                continue;
            };
            let Some(value) = n.as_str() else { continue };
            if value == "Default" {
                continue;
            }
            let help = if user_ns {
                "remove `procMount` (or set `Default`): the restricted level requires the default /proc masks even with `hostUsers: false`"
            } else {
                "remove `procMount` (or set `Default`); if an unmasked /proc is truly needed, run the pod with `hostUsers: false`"
            };
            out.emit(
                n.loc,
                format!("{} mounts /proc with procMount: {value}", c.describe()),
            )
            .help(help)
            .resource(pod.object.resource());
        }
    }
}
