//! `selinux-options-custom`: a pod or container sets a custom SELinux type, user or role.

use crate::audit::rules::{Emitter, KubeCx, ParamDefault, ParamMeta, Rule, RuleMeta};
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// Flags `seLinuxOptions` in the pod's `securityContext` or any container's (regular,
    /// init, native sidecar, ephemeral) that set a `type` outside the `allowed_types`
    /// parameter (default: the Pod Security Standards list `container_t`,
    /// `container_init_t`, `container_kvm_t`, `container_engine_t`), or any non-empty `user`
    /// or `role` (baseline check `seLinuxOptions`). `level` is not restricted.
    ///
    /// ## Why it matters
    /// The SELinux type decides what a container process may touch on the host. Types such
    /// as `spc_t` ("super privileged container") or `unconfined_t` turn SELinux off for the
    /// workload, and a custom user or role can grant host-level domains.
    ///
    /// ## Example
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: DaemonSet
    /// metadata: {name: storage-agent}
    /// spec:
    ///   template:
    ///     spec:
    ///       securityContext:
    ///         seLinuxOptions: {type: spc_t}
    ///       containers:
    ///       - name: agent
    ///         image: registry.example.com/storage-agent:1.4
    /// ```
    ///
    /// ## Fix
    /// Remove `type`, `user` and `role` (the runtime picks `container_t`); keep `level` if
    /// the workload needs a fixed MCS category for shared volumes.
    ///
    /// ## References
    /// - Kubernetes Pod Security Standards (baseline): SELinux
    /// - Kubernetes documentation: Configure a Security Context, SELinux labels
    SelinuxOptionsCustom {
        id: "selinux-options-custom",
        title: "Custom SELinux type, user or role",
        category: LeastPrivilege,
        severity: High,
        targets: [Kubernetes],
        params: [ParamMeta {
            name: "allowed_types",
            doc: "SELinux types that may be set (an empty type is always allowed).",
            default: ParamDefault::StrList(&[
                "container_t",
                "container_init_t",
                "container_kvm_t",
                "container_engine_t",
            ]),
        }],
    }
}

fn check(opts: &Node, who: &str, allowed: &[String], resource: &str, out: &mut Emitter<'_>) {
    if let Some(t) = opts.get("type") {
        if let Some(v) = t.as_str().filter(|v| !v.is_empty()) {
            if !allowed.iter().any(|a| a == v) {
                out.emit(t.loc, format!("{who} sets SELinux type `{v}`"))
                    .help("remove `seLinuxOptions.type`, or use an allowed container type such as container_t")
                    .resource(resource);
            }
        }
    }
    for field in ["user", "role"] {
        let Some(n) = opts.get(field) else { continue };
        if let Some(v) = n.as_str().filter(|v| !v.is_empty()) {
            out.emit(n.loc, format!("{who} sets SELinux {field} `{v}`"))
                .help(format!(
                    "remove `seLinuxOptions.{field}`: custom SELinux users and roles are forbidden"
                ))
                .resource(resource);
        }
    }
}

impl Rule for SelinuxOptionsCustom {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn kube_pod(&self, cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let allowed = cx.params.str_list("allowed_types");
        let resource = pod.object.resource();
        if let Some(opts) = pod
            .security_context()
            .and_then(|sc| sc.get("seLinuxOptions"))
        {
            check(opts, "the pod", allowed, &resource, out);
        }
        for c in pod.containers() {
            // Only the container's own options: the pod's are reported once, above.
            if let Some(opts) = c.own_setting(&["seLinuxOptions"]) {
                check(opts, &c.describe(), allowed, &resource, out);
            }
        }
    }
}
