//! `seccomp-profile-missing`: a container runs without an explicit seccomp profile.

use crate::audit::rules::{pss, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;

crate::declare_rule! {
    /// ## What it does
    /// Flags every container (regular, init, native sidecar, ephemeral) that has no
    /// effective `seccompProfile.type`: neither its own `securityContext` nor the pod's
    /// sets one (Pod Security Standards restricted check `seccompProfile_restricted`). A
    /// profile set to something other than `RuntimeDefault` or `Localhost` is reported by
    /// `security-profile-disabled`. Pods with `os.name: windows` are skipped, as Pod
    /// Security Admission does: Windows has no seccomp.
    ///
    /// ## Why it matters
    /// Kubernetes runs containers `Unconfined` unless a profile is set (or the kubelet's
    /// opt-in `seccompDefault` is on): every system call of the kernel is reachable,
    /// including the rarely used ones where most kernel escape bugs live.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: batch/v1
    /// kind: CronJob
    /// metadata: {name: nightly-export}
    /// spec:
    ///   schedule: "0 2 * * *"
    ///   jobTemplate:
    ///     spec:
    ///       template:
    ///         spec:
    ///           restartPolicy: OnFailure
    ///           containers:
    ///           - name: export
    ///             image: registry.example.com/export:1.9
    /// ```
    ///
    /// ## Fix
    /// Set it once for the whole pod:
    /// ```yaml
    ///         spec:
    ///           securityContext:
    ///             seccompProfile: {type: RuntimeDefault}
    /// ```
    ///
    /// ## References
    /// - Kubernetes Pod Security Standards (restricted): Seccomp
    /// - Kubernetes documentation: Restrict a Container's Syscalls with seccomp
    SeccompProfileMissing {
        id: "seccomp-profile-missing",
        title: "No seccomp profile",
        category: LeastPrivilege,
        severity: Medium,
        targets: [Kubernetes],
        params: [],
    }
}

impl Rule for SeccompProfileMissing {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        if pss::is_windows(pod) {
            return;
        }
        for c in pod.containers() {
            let profile = c.setting("seccompProfile");
            let has_type = profile
                .and_then(|s| s.node.get("type"))
                .is_some_and(|t| !t.is_null());
            if has_type {
                continue;
            }
            // A profile without a type: blame it; no profile at all: blame the container.
            let loc = profile.map_or_else(|| c.loc(), |s| s.node.loc);
            out.emit(
                loc,
                format!("{} has no seccomp profile", c.describe()),
            )
            .help("set `securityContext.seccompProfile.type: RuntimeDefault` on the pod (or the container)")
            .resource(pod.object.resource());
        }
    }
}
