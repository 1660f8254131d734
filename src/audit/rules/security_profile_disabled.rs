//! `security-profile-disabled`: seccomp, AppArmor or SELinux confinement switched off.

use crate::audit::rules::{ComposeCx, Emitter, KubeCx, Rule, RuleMeta};
use crate::audit::source::compose::Service;
use crate::audit::source::kubernetes::PodSpec;
use crate::audit::yaml::Node;

crate::declare_rule! {
    /// ## What it does
    /// - Compose: flags `security_opt` entries that disable kernel confinement:
    ///   `seccomp:unconfined`, `apparmor:unconfined`, `label:disable` (SELinux) and
    ///   `systempaths=unconfined`.
    /// - Kubernetes (Pod Security Standards baseline checks `seccompProfile_baseline` and
    ///   `appArmorProfile`, and the value part of `seccompProfile_restricted`): flags
    ///   `seccompProfile.type` and `appArmorProfile.type` other than `RuntimeDefault` or
    ///   `Localhost` (that is, `Unconfined`) in the pod's `securityContext` or any
    ///   container's (regular, init, native sidecar, ephemeral), and the annotations
    ///   `container.apparmor.security.beta.kubernetes.io/<container>` with a value other
    ///   than `runtime/default`, `localhost/<profile>` or empty. A pod-level value is
    ///   reported once, at the pod. A missing seccomp profile is `seccomp-profile-missing`.
    ///
    /// ## Why it matters
    /// The default seccomp profile blocks ~44 dangerous system calls (`mount`, `kexec_load`,
    /// `bpf`, `ptrace` on older kernels...), and AppArmor/SELinux keep a process away from
    /// host files. Turning them off removes the layer that stops most container escapes.
    ///
    /// ## Example
    /// ```yaml
    /// services:
    ///   app:
    ///     security_opt: ["seccomp:unconfined"]
    /// ```
    ///
    /// ```yaml
    /// apiVersion: apps/v1
    /// kind: Deployment
    /// metadata: {name: profiler}
    /// spec:
    ///   template:
    ///     metadata:
    ///       annotations:
    ///         container.apparmor.security.beta.kubernetes.io/profiler: unconfined
    ///     spec:
    ///       securityContext:
    ///         seccompProfile: {type: Unconfined}
    ///       containers:
    ///       - name: profiler
    ///         image: registry.example.com/profiler:0.9
    /// ```
    ///
    /// ## Fix
    /// Remove the option, or ship a custom profile (`seccomp:/path/profile.json`,
    /// `seccompProfile: {type: Localhost, localhostProfile: profiles/app.json}`,
    /// `appArmorProfile: {type: Localhost, localhostProfile: app}`) that allows only the
    /// extra calls the workload needs.
    ///
    /// ## References
    /// - Docker: "Seccomp security profiles for Docker"
    /// - CIS Docker Benchmark 5.1, 5.2, 5.21
    /// - Kubernetes Pod Security Standards (baseline): Seccomp, AppArmor
    SecurityProfileDisabled {
        id: "security-profile-disabled",
        title: "Seccomp, AppArmor or SELinux confinement disabled",
        category: LeastPrivilege,
        severity: High,
        targets: [Compose, Kubernetes],
        params: [],
    }
}

/// The annotation prefix of the pre-1.30 AppArmor API, still honoured by kubelets.
const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Allowed values of `seccompProfile.type` and `appArmorProfile.type`.
fn confined(profile_type: &str) -> bool {
    matches!(profile_type, "RuntimeDefault" | "Localhost")
}

/// Allowed values of the AppArmor annotation.
fn confined_annotation(value: &str) -> bool {
    value.is_empty() || value == "runtime/default" || value.starts_with("localhost/")
}

/// Checks `seccompProfile.type` and `appArmorProfile.type` of one `securityContext`.
fn check_context(sc: Option<&Node>, who: &str, resource: &str, out: &mut Emitter<'_>) {
    let Some(sc) = sc else { return };
    for (field, what) in [
        ("seccompProfile", "seccomp"),
        ("appArmorProfile", "AppArmor"),
    ] {
        let Some(t) = sc.path(&[field, "type"]) else {
            continue;
        };
        let Some(value) = t.as_str() else { continue };
        if confined(value) {
            continue;
        }
        let message = if value == "Unconfined" {
            format!("{who} disables {what} confinement ({field}.type: Unconfined)")
        } else {
            format!(
                "{who} sets {field}.type to `{value}`, which is not RuntimeDefault or Localhost"
            )
        };
        out.emit(t.loc, message)
            .help(format!(
                "use `{field}: {{type: RuntimeDefault}}`, or `Localhost` with a profile that allows only what is needed"
            ))
            .resource(resource);
    }
}

impl Rule for SecurityProfileDisabled {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn compose_service(&self, _cx: &ComposeCx<'_>, svc: &Service<'_>, out: &mut Emitter<'_>) {
        for (opt, node) in svc.str_list("security_opt") {
            let Some((name, value)) = opt.trim().split_once([':', '=']) else {
                continue;
            };
            let what = match (name, value) {
                ("seccomp", "unconfined") => "seccomp",
                ("apparmor", "unconfined") => "AppArmor",
                ("label", "disable") => "SELinux labelling",
                ("systempaths", "unconfined") => "masked system paths",
                _ => continue,
            };
            out.emit(
                node.loc,
                format!("service `{}` disables {what} confinement", svc.name),
            )
            .help("remove the option or use a custom profile that allows only what is needed")
            .resource(svc.resource());
        }
    }

    fn kube_pod(&self, _cx: &KubeCx<'_>, pod: &PodSpec<'_>, out: &mut Emitter<'_>) {
        let resource = pod.object.resource();
        check_context(pod.security_context(), "the pod", &resource, out);
        for c in pod.containers() {
            check_context(c.security_context(), &c.describe(), &resource, out);
        }
        for (key, value) in pod.annotations() {
            let Some(container) = key.strip_prefix(APPARMOR_ANNOTATION) else {
                continue;
            };
            let Some(v) = value.as_str() else { continue };
            if confined_annotation(v) {
                continue;
            }
            out.emit(
                value.loc,
                format!("annotation sets AppArmor profile `{v}` for container `{container}`"),
            )
            .help("use `runtime/default` or `localhost/<profile>` (or `appArmorProfile` in the securityContext)")
            .resource(resource.as_str());
        }
    }
}
